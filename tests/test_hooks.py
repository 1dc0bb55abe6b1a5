"""diffbench's hooks (pytest_plugin/hookspecs.py): a plugin wraps the build and each pipeline call, and declares
known failures, through pluggy, with no module global patched; tools/slowdown_plugin.py is one such plugin."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]

RECORDER = '''
"""Notes every build and call diffbench makes, through its hooks."""
import json, os
import pytest

LOG = os.environ["HOOK_LOG"]


def _note(**entry):
    with open(LOG, "a") as log:
        log.write(json.dumps(entry) + "\\n")


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_build(scenario, options):
    built = yield
    _note(hook="build", scenario=scenario.id, built=built.scenario.id)
    return built


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_call(scenario, call):
    result = yield
    _note(hook="call", scenario=scenario.id)
    return result
'''


@pytest.mark.slow
def test_a_plugin_wraps_each_build_and_each_call(suite, monkeypatch, tmp_path):
    suite.makepyfile(recorder=RECORDER)
    log = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("HOOK_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(suite.path), os.environ.get("PYTHONPATH")])))
    result = suite.runpytest_subprocess("benchmarks", "-p", "recorder", "--models", "flux-dev", "--quant", "bf16",
                                        "--batch", "1,2", "--steps", "1", "--rounds", "2",
                                        "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    notes = [json.loads(line) for line in log.read_text().splitlines()]
    builds = [n for n in notes if n["hook"] == "build"]
    assert builds == [dict(hook="build", scenario="flux-dev-bf16-eager-nofuse-bs1",
                           built="flux-dev-bf16-eager-nofuse-bs1")]  # one pipeline for both batch sizes
    calls = {}
    for note in notes:
        if note["hook"] == "call":
            calls[note["scenario"]] = calls.get(note["scenario"], 0) + 1
    # each scenario: the first call, the profiled call, and its 2 timed rounds at least
    assert set(calls) == {"flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs2"}
    assert all(count >= 4 for count in calls.values()), calls


def _slowdown_plugin():
    spec = importlib.util.spec_from_file_location("slowdown_plugin", ROOT / "tools" / "slowdown_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("wanted", "scenario", "slept"), [
    ("flux-dev-bf16-eager-nofuse-bs1=0.5", "flux-dev-bf16-eager-nofuse-bs1", [1.0]),  # half of a 2 s call
    ("flux-dev-bf16-eager-nofuse-bs1=0.5", "sdxl-bf16-eager-nofuse-bs1", []),  # not listed: untouched
    ("*=0.25", "sdxl-bf16-eager-nofuse-bs1", [0.5])])
def test_the_slowdown_plugin_sleeps_a_fraction_of_each_call(monkeypatch, wanted, scenario, slept):
    plugin = _slowdown_plugin()
    monkeypatch.setenv("DIFFBENCH_SLOWDOWN", wanted)
    plugin.pytest_configure(None)
    clock, sleeps = iter([10.0, 12.0]), []
    monkeypatch.setattr(plugin.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(plugin.time, "sleep", sleeps.append)
    wrapper = plugin.pytest_diffbench_call(SimpleNamespace(id=scenario), call=None)
    next(wrapper)  # up to the call (the inner implementations run it)
    with pytest.raises(StopIteration) as done:
        wrapper.send("the call's output")
    assert done.value.value == "the call's output" and sleeps == slept


def test_a_bad_slowdown_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv("DIFFBENCH_SLOWDOWN", "flux-dev-bf16=fast")
    with pytest.raises(ValueError):
        _slowdown_plugin().pytest_configure(None)
