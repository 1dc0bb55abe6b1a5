"""The device sessions' phases (spec/sessions.py, run by tools/gpu_session.sh): every phase's suites parse their
options and collect.

A phase that fails on the device only after the machine has started costs device time (a store phase once spent
its turn on `--fuse off,on`, which the option does not take); here each suite is collected on the CPU instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from diffbench.spec.selections import SELECTIONS
from diffbench.spec.sessions import PHASES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_session.sh"


def phases() -> list[str]:
    return list(PHASES)


def test_every_phase_runs_named_selections_into_files_of_its_own():
    assert {"store-flux-eager", "store-models", "store-n2", "nightly-n0-cold", "parallel", "box-n2"} <= set(phases())
    # no run overwrites another's JSON or log: an output file is one run's, though phases may share that run
    runs_by_out = {}
    for run in (run for phase in PHASES.values() for run in phase.runs):
        assert runs_by_out.setdefault(run.out, run) == run, run.out
    for phase in PHASES.values():
        for run in phase.runs:
            assert run.selection in SELECTIONS, (phase.name, run.selection)
            argv = run.argv()
            assert argv[argv.index("--benchmark-json") + 1] == f"$OUT/{run.out}.json"
            assert ("--quality-json" in argv) == ("quality" in run.suites)


def test_the_script_runs_what_the_phase_prints(tmp_path):
    """The script evaluates a phase's shell lines: `suite` with the run's arguments, its log under $OUT."""
    env = dict(os.environ, OUT=str(tmp_path), DIFFBENCH_SETUP_DONE="1",
               PATH=f"{tmp_path}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    fake = tmp_path / "python3"  # records the pytest call instead of running it; passes the phase lookup through
    fake.write_text(f'#!/bin/sh\n[ "$2" = pytest ] && {{ echo "$@" >> "{tmp_path}/calls"; exit 0; }}\n'
                    f'exec "{sys.executable}" "$@"\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(SCRIPT), "store-models", "nosuch"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "unknown phase 'nosuch'" in done.stderr
    (call,) = (tmp_path / "calls").read_text().splitlines()
    assert "--selection store -k not flux-dev --rounds 3" in call and f"{tmp_path}/store-models.json" in call
    assert (tmp_path / "store-models.log").exists()


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
