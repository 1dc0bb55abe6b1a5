"""Fault isolation: one bad scenario is recorded with its reason and every other scenario still runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

FAULTS_PLUGIN = '''
"""Injects faults into chosen scenarios (loaded with -p faults), through diffbench's hooks."""
import inspect, os, signal, time
import pytest
import torch

FAULT, TARGET = os.environ["FAULT"].split(":", 1)
SIGNALLED = []  # the controller signalled already (the scenario's next calls send nothing)
if FAULT == "hang":  # import what building FLUX imports (2-3 s on CPU) now, outside every scenario's timeout:
    import diffusers  # a short --scenario-timeout then times each scenario, not the first one's imports
    diffusers.FluxPipeline, diffusers.FluxTransformer2DModel, diffusers.AutoencoderKL


class LosesSignal:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler's KeyboardInterrupt is raised here, and ignored


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_call(scenario, call):
    if scenario.id == TARGET:
        if FAULT == "oom":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        if FAULT == "hang":
            time.sleep(120)
        if FAULT == "interrupt":  # what Ctrl-C or `timeout -s INT` does to a session
            os.kill(os.getpid(), signal.SIGINT)
        if FAULT == "terminate":  # what `timeout` or a cancelled CI job does to a session
            os.kill(os.getpid(), signal.SIGTERM)
        if FAULT == "terminate-timing" and any(f.function == "timed_round" for f in inspect.stack()):
            os.kill(os.getpid(), signal.SIGTERM)  # inside pytest-benchmark's timed rounds, not the first call
        if FAULT == "terminate-lost":  # the signal lands in a finalizer, where Python reports the exception only
            LosesSignal()
        if FAULT == "terminate-group":  # `timeout` signals the command's whole process group: -n's workers too
            os.killpg(os.getpgrp(), signal.SIGTERM)
        if FAULT == "terminate-controller" and not SIGNALLED:  # `kill` of the -n controller alone, once
            SIGNALLED.append(os.getppid())
            os.kill(os.getppid(), signal.SIGTERM)
        if FAULT == "xfail":
            raise RuntimeError("the known error (injected)")
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_build(scenario, options):
    if FAULT == "compile" and scenario.id == TARGET:
        raise torch._dynamo.exc.InternalTorchDynamoError("injected compile failure")
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_diffbench_known_failure(scenario, target, weights, suite):
    known = dict(notrun=("too slow here (injected)", False), xfail=("fails here (injected)", True),
                 xpass=("fixed now (injected)", True))
    return known.get(FAULT) if scenario.id == TARGET else None


def pytest_runtest_teardown(item):
    if FAULT == "terminate-teardown" and item.nodeid.endswith(f"[{TARGET}]"):  # its result is recorded by now
        os.kill(os.getpid(), signal.SIGTERM)
'''

COMMON = ("benchmarks", "-p", "faults", "--models", "flux-dev", "--quant", "bf16,int8wo", "--batch", "1,2",
          "--steps", "2", "--rounds", "1", "--benchmark-json", "out.json")


def _run(suite, fault, *extra):
    suite.makepyfile(faults=FAULTS_PLUGIN)
    with pytest.MonkeyPatch.context() as env:  # the sessions' environment (xdist workers import the plugin too)
        env.setenv("FAULT", fault)
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(suite.path), os.environ.get("PYTHONPATH")])))
        result = suite.runpytest_subprocess(*COMMON, *extra)
    return result, json.loads((suite.path / "out.json").read_text())


def _check_isolated(data, failed_id: str, error_type: str):
    ran = {b["extra_info"]["scenario"] for b in data["benchmarks"]}
    everything = {f"flux-dev-{s}-eager-nofuse-bs{b}" for s in ("bf16", "int8wo") for b in (1, 2)}
    assert ran == everything - {failed_id}
    [failure] = data["diffbench"]["failures"]
    assert failure["scenario"] == failed_id and failure["error_type"] == error_type
    assert "peak_memory_gib" in failure
    return failure


def test_an_oom_in_one_scenario_does_not_stop_the_others(suite):
    result, data = _run(suite, "oom:flux-dev-bf16-eager-nofuse-bs2")
    result.assert_outcomes(passed=3, failed=1)
    failure = _check_isolated(data, "flux-dev-bf16-eager-nofuse-bs2", "OutOfMemoryError")
    assert "Tried to allocate 20.00 GiB (injected)" in failure["message"]


def test_a_compile_error_is_recorded_for_every_batch_of_that_build(suite):
    result, data = _run(suite, "compile:flux-dev-int8wo-eager-nofuse-bs1")
    result.assert_outcomes(passed=2, errors=2)  # the failed build is not retried for bs2
    ran = {b["extra_info"]["scenario"] for b in data["benchmarks"]}
    assert ran == {"flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs2"}
    failures = {f["scenario"]: f for f in data["diffbench"]["failures"]}
    assert set(failures) == {"flux-dev-int8wo-eager-nofuse-bs1", "flux-dev-int8wo-eager-nofuse-bs2"}
    assert all(f["error_type"] == "InternalTorchDynamoError" for f in failures.values())
    # Wrapped errors hide where they came from: the record keeps the end of the traceback.
    assert all("in pytest_diffbench_build" in f["traceback"] for f in failures.values())  # the fault plugin's


def test_failures_are_saved_when_no_scenario_completes(suite):
    """pytest-benchmark writes nothing without a completed benchmark; the suite still writes the failures."""
    result, data = _run(suite, "compile:flux-dev-bf16-eager-nofuse-bs1", "--quant", "bf16", "--batch", "1")
    result.assert_outcomes(errors=1)
    assert data["benchmarks"] == []
    [failure] = data["diffbench"]["failures"]
    assert failure["scenario"] == "flux-dev-bf16-eager-nofuse-bs1"
    assert failure["error_type"] == "InternalTorchDynamoError"
    assert data["machine_info"]["diffbench"]["weights"] == "tiny"


def test_a_hang_past_the_scenario_timeout_is_recorded(suite):
    """A 120 s hang against a 15 s limit (a healthy tiny scenario takes about 1 s, setup included, but a loaded
    2-core machine can stretch that several times: the limit leaves room for it)."""
    result, data = _run(suite, "hang:flux-dev-int8wo-eager-nofuse-bs1", "--scenario-timeout", "15")
    result.assert_outcomes(passed=3, failed=1)
    failure = _check_isolated(data, "flux-dev-int8wo-eager-nofuse-bs1", "Failed")
    assert "Timeout" in failure["message"]


@pytest.mark.parametrize("fault", ["interrupt", "terminate", "terminate-timing", "terminate-teardown"])
def test_an_interrupted_session_names_the_scenario_it_stopped_in(suite, fault):
    """Stopped in a scenario's first call or in its timed rounds (where pytest-benchmark has begun its record of
    the scenario, with no round in it yet), the session writes what it timed before; stopped after the call, in
    teardown, the scenario's own result is written too, and the record says which phase it was."""
    result, data = _run(suite, f"{fault}:flux-dev-int8wo-eager-nofuse-bs1")
    assert result.ret == 2  # pytest's "interrupted"
    timed_before = {"flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs2"}
    after_call = fault == "terminate-teardown"
    assert {b["extra_info"]["scenario"] for b in data["benchmarks"]} == \
        timed_before | ({"flux-dev-int8wo-eager-nofuse-bs1"} if after_call else set())
    interrupted = data["diffbench"]["interrupted"]
    assert interrupted["scenario"] == "flux-dev-int8wo-eager-nofuse-bs1"
    assert interrupted["phase"] == ("teardown" if after_call else "call")
    assert interrupted["elapsed_s"] > 0


def test_a_terminate_lost_in_a_finalizer_still_stops_the_session(suite):
    """The KeyboardInterrupt a SIGTERM raises is lost where it lands in a finalizer; the session still stops after
    the scenario it was in (as --maxfail stops it), instead of running on until `timeout` kills it."""
    result, data = _run(suite, "terminate-lost:flux-dev-int8wo-eager-nofuse-bs1")
    assert result.ret == 2, result.stdout.str()[-3000:]  # pytest's "interrupted"
    assert "stopped by signal SIGTERM" in result.stdout.str()
    assert {b["extra_info"]["scenario"] for b in data["benchmarks"]} == \
        {"flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs2", "flux-dev-int8wo-eager-nofuse-bs1"}


def test_a_completed_session_has_no_interrupted_record(suite):
    result, data = _run(suite, "oom:none", "--quant", "bf16", "--batch", "1")
    result.assert_outcomes(passed=1)
    assert "interrupted" not in data["diffbench"]


def test_a_failed_scenario_releases_its_pipeline(suite):
    """The failing test's traceback must not keep the pipeline alive into the next scenario."""
    suite.makepyfile(test_release='''
import gc, weakref
import pytest
from diffbench.spec.matrix import Scenario

refs = []

@pytest.fixture
def next_build(pipeline_cache):
    # Setup of the next scenario is where its pipeline gets built: the old one must be gone by then.
    gc.collect()
    return None if not refs else refs[0]()

@pytest.mark.parametrize("n", [0, 1])
def test_step(n, pipeline_cache, next_build):
    if n == 0:
        built = pipeline_cache.get(Scenario("flux-dev", "bf16"))
        refs.append(weakref.ref(built.pipe.transformer))
        raise RuntimeError("fails while holding the pipeline")
    assert next_build is None, "the failed scenario's pipeline is still alive"
''')
    result = suite.runpytest_subprocess("test_release.py", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


def test_known_failures_are_recorded_with_their_reason(suite):
    result, data = _run(suite, "notrun:flux-dev-int8wo-eager-nofuse-bs1")
    result.assert_outcomes(passed=3, xfailed=1)
    [known] = data["diffbench"]["skipped"]
    assert known["scenario"] == "flux-dev-int8wo-eager-nofuse-bs1"
    assert known["reason"] == "known failure: [NOTRUN] too slow here (injected)"
    result, data = _run(suite, "xfail:flux-dev-int8wo-eager-nofuse-bs1")
    result.assert_outcomes(passed=3, xfailed=1)
    assert [k["reason"] for k in data["diffbench"]["skipped"]] == ["known failure: fails here (injected)"]


def test_a_fixed_known_failure_fails_the_session_as_xpass(suite):
    result, data = _run(suite, "xpass:flux-dev-int8wo-eager-nofuse-bs1")
    result.assert_outcomes(passed=3, failed=1)
    [failure] = data["diffbench"]["failures"]
    assert failure["error_type"] == "XPASS(strict)" and "fixed now (injected)" in failure["message"]


@pytest.mark.slow  # a -n 2 session of tiny CPU pipelines, started in a process group of its own
@pytest.mark.parametrize("fault", ["terminate-group", "terminate-controller"])
def test_a_terminated_session_under_xdist_still_merges_what_the_workers_timed(suite, fault):
    """SIGTERM to the whole group (each worker stops in its scenario) or to the controller alone (each worker
    finishes its scenario, then stops): either way the controller collects the workers' results and merges them."""
    suite.makepyfile(faults=FAULTS_PLUGIN)
    env = dict(os.environ, FAULT=f"{fault}:flux-dev-int8wo-eager-nofuse-bs2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(suite.path), os.environ.get("PYTHONPATH")])))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "pytest", *COMMON, "-n", "2", "-p", "no:cacheprovider"],
                          cwd=suite.path, env=env, capture_output=True, text=True, timeout=600,
                          start_new_session=True)  # a group of its own: the signal must not reach this test
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]  # pytest's "interrupted"
    assert "xdist worker results into out.json" in done.stdout, done.stdout[-3000:]  # merged
    data = json.loads((suite.path / "out.json").read_text())
    ran = {b["extra_info"]["scenario"] for b in data["benchmarks"]}
    assert "flux-dev-int8wo-eager-nofuse-bs1" in ran  # timed on that worker before the signal
    if fault == "terminate-group":  # stopped inside the scenario it was timing, and says so
        assert "flux-dev-int8wo-eager-nofuse-bs2" not in ran
        # (each worker stopped in a scenario, the merged file names one of them: a worker stopped after its
        # scenario's call, in teardown, has that scenario's result written, and its record says so)
        stopped = data["diffbench"]["interrupted"]
        assert stopped["phase"] in ("setup", "call", "teardown")
        assert (stopped["scenario"] in ran) == (stopped["phase"] == "teardown"), stopped
