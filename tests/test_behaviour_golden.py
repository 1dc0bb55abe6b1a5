"""The suite's observable behaviour, held against a committed golden file: the scenario ids a CPU command
writes, every result's `extra_info` keys, the session record's keys and each skip's reason. Moving code must not
change them; a change made on purpose is regenerated on purpose (pytest-regressions' habit): rerun with
`--force-regen`, review the diff and commit it. A missing golden file is written and the test fails, as with
--force-regen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "cpu-benchmarks.json"
COMMAND = ("benchmarks", "--models", "flux-dev,pixart-sigma", "--quant", "all",
           "--fuse", "both", "--vae", "default,tiling", "--offload", "none,model", "--compile", "eager,regional",
           "-k", "(bf16 or int8wo or fp8dqrow) and (eager or regional-fuse)", "--steps", "1", "--rounds", "1",
           "--benchmark-json", "out.json")


def observed(data: dict) -> dict:
    """What the golden file holds: names and keys, no measured value."""
    benchmarks = sorted(data["benchmarks"], key=lambda b: b["extra_info"]["scenario"])
    return dict(
        command=list(COMMAND),
        scenarios=[b["extra_info"]["scenario"] for b in benchmarks],
        extra_info_keys={b["extra_info"]["scenario"]: sorted(b["extra_info"]) for b in benchmarks},
        session_keys=sorted(data["diffbench"]),
        environment_keys=sorted(data["machine_info"]["diffbench"]),
        skipped={s["scenario"]: s["reason"] for s in sorted(data["diffbench"]["skipped"], key=lambda s: s["scenario"])},
        failures=sorted(f["scenario"] for f in data["diffbench"]["failures"]),
    )


@pytest.mark.slow
def test_a_cpu_run_keeps_its_ids_keys_and_skip_reasons(suite, request):
    suite.runpytest_subprocess(*COMMAND)
    got = observed(json.loads((suite.path / "out.json").read_text()))
    if request.config.getoption("force_regen") or not GOLDEN.exists():
        why = "--force-regen" if GOLDEN.exists() else "no golden file"
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
        pytest.fail(f"{why}: wrote {GOLDEN}; review the diff and commit it")
    want = json.loads(GOLDEN.read_text())
    for field in want:
        assert got[field] == want[field], field
