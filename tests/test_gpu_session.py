"""tools/gpu_session.sh, the device sessions' commands: every phase's suites parse their options and collect.

A phase that fails on the device only after the machine has started costs device time (a store phase once spent
its turn on `--fuse off,on`, which the option does not take); here each suite is collected on the CPU instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_session.sh"


def phases() -> list[str]:
    """The phases the script's case statement names (those that run suites: not start, collect, side)."""
    names = re.findall(r"^([a-z0-9|-]+)\)$", SCRIPT.read_text(), re.MULTILINE)
    return [p for name in names for p in name.split("|") if p not in ("start", "collect", "side")]


def test_the_script_names_its_phases():
    assert {"store-flux-eager", "store-models", "store-n2", "nightly-n0-cold", "parallel", "box-n2"} <= set(phases())


@pytest.mark.slow  # some twenty pytest sessions collecting the suite
def test_every_phase_collects_its_suites(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), DIFFBENCH_DRY_RUN="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    done = subprocess.run(["bash", str(SCRIPT), *phases()], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    failed = tmp_path / "dry-run-failed"
    assert not failed.exists(), "suites that did not collect:\n" + failed.read_text()
    assert len(list(tmp_path.glob("*.log"))) >= len(phases())  # every phase ran a suite at least
