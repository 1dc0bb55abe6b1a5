"""What the suite says while it runs and where its results go (issue 33): a line as each scenario starts and
ends, warnings for a load the machine cannot carry well, one coherent line when nothing was timed, and no result
lost when the results file cannot be written where asked."""

from __future__ import annotations

import json
import re

import pytest

TINY = ("--models", "flux-dev", "--steps", "1", "--rounds", "1")


def test_each_scenario_says_what_it_does_and_a_lost_folder_loses_no_result(suite):
    """The --benchmark-json folder turns into a file while the session runs (a test after the scenarios does
    it): the results go to the working directory, said in the session's last line."""
    suite.makepyfile(**{"benchmarks/test_zz_folder_goes": """
import pathlib
import shutil


def test_the_results_folder_goes_away():
    shutil.rmtree("runs")
    pathlib.Path("runs").write_text("a file now")
"""})
    (suite.path / "runs").mkdir()
    result = suite.runpytest_subprocess("benchmarks", *TINY, "--quant", "bf16", "--benchmark-json", "runs/out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "diffbench: tiny pipelines are saved in * for the next sessions (--cache-dir or $DIFFBENCH_CACHE *)",
        "diffbench: [[]1/1] flux-dev-bf16-eager-nofuse-bs1: build, first call, 1 timed round",
        "diffbench: [[]1/1] flux-dev-bf16-eager-nofuse-bs1: passed in * s (setup * s, call * s); session at *",
        "diffbench: could not write --benchmark-json runs/out.json (Not a directory): wrote it to * instead",
    ])
    assert any("could not write --benchmark-json" in line for line in result.stdout.lines[-3:])  # said last
    [fallback] = re.findall(r"wrote it to (\S+) instead", result.stdout.str())
    assert fallback.startswith(str(suite.path))  # the working directory
    data = json.loads(open(fallback).read())
    assert [b["extra_info"]["scenario"] for b in data["benchmarks"]] == ["flux-dev-bf16-eager-nofuse-bs1"]


def test_nothing_timed_is_said_once_coherently_and_q_keeps_scenario_lines_out(suite):
    result = suite.runpytest_subprocess("benchmarks", "-q", "--models", "flux-dev", "-k", "autoquant",
                                        "--benchmark-json", "out.json")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["diffbench: no benchmark completed, so pytest-benchmark saved no timings; the "
                                 "session's failure and skip records are in out.json"])
    assert "diffbench: [" not in result.stdout.str()  # -q: no per-scenario lines
    assert "wrote the session's records" not in result.stdout.str()
    assert json.loads((suite.path / "out.json").read_text())["diffbench"]["skipped"]


def test_a_load_the_machine_cannot_carry_is_warned_about_before_it_runs(suite):
    """-n on a CPU, and a batch over the batch rule's bound (docs/errors.md): warnings; the session goes on."""
    result = suite.runpytest_subprocess("benchmarks", "-n", "2", "--models", "flux-dev", "--quant", "bf16",
                                        "--batch", "10000000", "--collect-only", "-q")
    assert result.ret == 0
    # said at configure time, before pytest's terminal reporter exists: on stderr
    pytest.LineMatcher(result.outlines + result.errlines).fnmatch_lines([
        "diffbench: warning: -n 2 on a CPU: the workers share its cores, so latencies come out about 1.9x *",
        "diffbench: warning: --batch 10000000 cannot fit for flux-dev on cpu: one call needs at least * GiB, "
        "* GiB is available (the batch rule: docs/errors.md)"])
