"""Results the suite must not pass off as measurements: NaN outputs, and rounds too far apart to trust."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from diffbench.measure import metrics, runner

TARGET = "flux-dev-int8wo-eager-nofuse-bs1"

SUSPECT_PLUGIN = '''
"""Makes one scenario suspect (loaded with -p suspect), through diffbench's hooks: SUSPECT=nan or
SUSPECT=slow-first-round."""
import inspect, os, time
import pytest

MODE, TARGET = os.environ["SUSPECT"].split(":", 1)
SLOWED = []  # the target's first timed round was slowed


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_build(scenario, options):
    built = yield
    if MODE == "nan" and scenario.id == TARGET:  # a denoiser that overflows, as a broken kernel would
        denoiser = getattr(built.pipe, scenario.spec.denoiser)
        denoiser.register_forward_hook(lambda module, args, out: (out[0] * float("nan"), *out[1:]))
    return built


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_call(scenario, call):
    slow = (MODE == "slow-first-round" and scenario.id == TARGET and not SLOWED
            and any(f.function == "timed_round" for f in inspect.stack()))  # pytest-benchmark's first round
    start = time.perf_counter()
    result = yield
    if slow:
        SLOWED.append(scenario.id)
        time.sleep(5 * (time.perf_counter() - start))  # 6x its own duration: stays past 1.5x on a loaded machine
    return result
'''


def _run(suite, mode: str, *args):
    suite.makepyfile(suspect=SUSPECT_PLUGIN)
    with pytest.MonkeyPatch.context() as env:  # the session's environment
        env.setenv("SUSPECT", f"{mode}:{TARGET}")
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(suite.path), os.environ.get("PYTHONPATH")])))
        return suite.runpytest_subprocess("-p", "suspect", "--models", "flux-dev", "--quant", "bf16,int8wo",
                                          "--steps", "2", *args)


def test_guard_finite_counts_the_bad_values():
    images = np.zeros((2, 4, 4, 3), dtype=np.float32)
    metrics.guard_finite(images, "ok")
    images[1, 0, 0] = [np.nan, np.inf, 0.5]
    with pytest.raises(metrics.BadOutput, match=r"^s: output has NaN/Inf values \(2 of 96 elements\) — nothing"):
        metrics.guard_finite(images, "s")


def test_nan_outputs_fail_the_benchmark_and_are_recorded(suite):
    result = _run(suite, "nan", "benchmarks", "--rounds", "1", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*BadOutput: {TARGET}: output has NaN/Inf values (* of * elements)*"])
    data = json.loads((suite.path / "out.json").read_text())
    assert [b["extra_info"]["scenario"] for b in data["benchmarks"]] == ["flux-dev-bf16-eager-nofuse-bs1"]
    [failure] = data["diffbench"]["failures"]
    assert failure["scenario"] == TARGET and failure["error_type"] == "BadOutput"
    assert "NaN/Inf" in failure["message"] and "nothing to time or judge" in failure["message"]


def test_nan_outputs_fail_the_quality_gate_as_nan_not_as_black(suite):
    result = _run(suite, "nan", "quality", "--quality-prompts", "1", "--quality-control", "none",
                  "--baselines-dir", "store")
    result.assert_outcomes(failed=2)  # bf16 writes the missing reference; int8wo has NaN outputs
    result.stdout.fnmatch_lines([f"*{TARGET}: output has NaN/Inf values (* of * elements)*"])
    assert "all black" not in result.stdout.str()


def test_rounds_spread_is_recorded_and_a_wide_one_warned(suite):
    result = _run(suite, "slow-first-round", "benchmarks", "--rounds", "2", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*UnstableTiming: {TARGET}: unstable timing: rounds range *–* s (*×); "
                                 "first run warming caches? rerun or raise --rounds"])
    spread = {b["extra_info"]["scenario"]: b["extra_info"]["rounds_spread"]
              for b in json.loads((suite.path / "out.json").read_text())["benchmarks"]}
    assert spread[TARGET] > runner.UNSTABLE_SPREAD and spread["flux-dev-bf16-eager-nofuse-bs1"] >= 1


def test_unstable_timing_message():
    assert runner.unstable_timing("s", [1.0, 1.4, 1.2]) is None
    assert runner.unstable_timing("s", [0.53, 4.19, 0.6]) == (
        "s: unstable timing: rounds range 0.53–4.19 s (7.9×); first run warming caches? rerun or raise --rounds")
    assert runner.spread([2.0]) == 1.0 and runner.spread([]) is None
