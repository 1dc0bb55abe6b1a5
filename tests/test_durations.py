"""Expected pipeline durations from earlier results (`--durations-from`): the order xdist hands pipelines out in."""

from __future__ import annotations

import json

import pytest
from fake_results import write_results

from diffbench.pytest_plugin import durations
from diffbench.pytest_plugin.durations import Expected
from diffbench.spec.matrix import Scenario, UsageError
from diffbench.store.results import load

BF16, INT8 = Scenario("flux-dev", "bf16"), Scenario("flux-dev", "int8wo")
BF16_BS2 = Scenario("flux-dev", "bf16", batch=2)
SDXL = Scenario("sdxl", "bf16")  # a model no file below records


def _recorded(tmp_path, rounds: dict[Scenario, list[float]], info=None) -> dict:
    path = write_results(tmp_path / "run.json", {s.id: r for s, r in rounds.items()},
                         info={s.id: i for s, i in (info or {}).items()})
    return load(path).measurements


def test_a_scenario_takes_its_first_call_then_the_profiled_and_timed_calls(tmp_path):
    recorded = _recorded(tmp_path, {BF16: [2.0, 2.0, 2.0]}, {BF16: {"first_call_s": 8.0, "steps": 28}})
    assert durations.scenario_seconds(recorded[BF16.id], rounds=3, steps=None) == pytest.approx(8.0 + 2.0 * 4)
    # --steps 7 where the file ran 28: each call a quarter as long (the first call's compile does not scale)
    assert durations.scenario_seconds(recorded[BF16.id], rounds=3, steps=7) == pytest.approx(8.0 + 0.5 * 4)


def test_a_pipeline_sums_its_scenarios_and_counts_its_build_once(tmp_path):
    recorded = _recorded(tmp_path, {BF16: [1.0] * 3, BF16_BS2: [2.0] * 3},
                         {BF16: {"first_call_s": 4.0, "build_s": 10.0},
                          BF16_BS2: {"first_call_s": 5.0, "build_s": 10.0}})
    expected = durations.expected_groups({"flux-dev/bf16": [BF16, BF16_BS2]}, recorded, rounds=1,
                                         steps_for=lambda model: None)
    assert expected == {"flux-dev/bf16": Expected(10.0 + (4.0 + 1.0 * 2) + (5.0 + 2.0 * 2), measured=True)}


def test_a_scenario_never_measured_takes_its_models_mean_else_a_guess(tmp_path):
    recorded = _recorded(tmp_path, {BF16: [1.0] * 3, BF16_BS2: [3.0] * 3},
                         {BF16: {"first_call_s": 0.0}, BF16_BS2: {"first_call_s": 0.0}})
    expected = durations.expected_scenarios([BF16, INT8, SDXL], recorded, rounds=1, steps_for=lambda model: None)
    assert expected[BF16.id] == Expected(2.0, measured=True)
    assert expected[INT8.id] == Expected((2.0 + 6.0) / 2, measured=True)  # flux-dev's mean
    assert expected[SDXL.id] == durations.UNKNOWN and not durations.UNKNOWN.measured


def test_pipelines_go_longest_first_then_the_guessed_ones_by_count():
    expected = {"short": Expected(5.0, True), "long": Expected(50.0, True), "guess-1": durations.UNKNOWN,
                "guess-2": durations.UNKNOWN + durations.UNKNOWN, "mixed": Expected(500.0, True) + durations.UNKNOWN}
    order = durations.longest_first(["short", "guess-1", "mixed", "long", "guess-2", "lone-test"], expected)
    # a pipeline with any guessed scenario counts as guessed; a test of no pipeline as one guessed scenario
    assert order == ["long", "short", "mixed", "guess-2", "guess-1", "lone-test"]
    assert durations.longest_first(["b", "a", "c"], {}) == ["b", "a", "c"]  # nothing known: the order given


def test_longest_first_shortens_the_session_of_two_workers():
    # Each free worker takes the next pipeline of the queue: the queue's order decides when the last one ends.
    seconds = {"a": 3.0, "b": 3.0, "c": 2.0, "d": 2.0, "e": 2.0, "f": 8.0}

    def makespan(order: list[str], workers: int = 2) -> float:
        ends = [0.0] * workers
        for scope in order:
            ends[ends.index(min(ends))] += seconds[scope]
        return max(ends)

    ordered = durations.longest_first(seconds, {s: Expected(v, True) for s, v in seconds.items()})
    assert ordered[0] == "f" and makespan(ordered) == 10.0 < makespan(list(seconds)) == 13.0


def test_a_folder_holds_results_files_the_newest_record_wins(tmp_path):
    write_results(tmp_path / "old.json", {BF16.id: [9.0] * 3, INT8.id: [4.0] * 3}, datetime="2026-01-01T00:00:00")
    write_results(tmp_path / "a-new.json", {BF16.id: [1.0] * 3}, datetime="2026-06-01T00:00:00")
    (tmp_path / "error-rates.json").write_text(json.dumps({"rates": []}))  # a store folder's other JSON
    (tmp_path / "sub").mkdir()
    write_results(tmp_path / "sub" / "deeper.json", {SDXL.id: [1.0] * 3})  # not read: directly in the folder only
    recorded = durations.read_recorded(tmp_path)
    assert sorted(recorded) == sorted([BF16.id, INT8.id])
    assert recorded[BF16.id].median == 1.0 and recorded[INT8.id].median == 4.0


def test_a_path_without_results_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file or folder"):
        durations.read_recorded(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no pytest-benchmark results file directly in that folder"):
        durations.read_recorded(tmp_path / "empty")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="broken.json: not valid JSON"):
        durations.read_recorded(tmp_path / "broken.json")


def test_a_bad_durations_path_stops_the_session_before_anything_is_built(suite):
    result = suite.runpytest_subprocess("benchmarks", "--models", "flux-dev", "--quant", "bf16",
                                        "--durations-from", "nowhere/results.json")
    assert result.ret == 4  # a usage error, at configure
    result.stderr.fnmatch_lines(["*--durations-from nowhere/results.json: no such file or folder*"])


def test_a_recorded_test_call_counts_whole_with_its_rounds_adjusted(tmp_path):
    """A file that recorded its test's call (first call, profiled call, the denoiser floor, rounds) is taken at
    that, its timed rounds added or taken away to this session's count."""
    info = {"first_call_s": 8.0, "steps": 28, "test_phases_s": {"setup": 5.0, "call": 30.0, "teardown": 0.1}}
    recorded = _recorded(tmp_path, {BF16: [2.0, 2.0, 2.0]}, {BF16: info})
    assert durations.scenario_seconds(recorded[BF16.id], rounds=3, steps=None) == pytest.approx(30.0)
    assert durations.scenario_seconds(recorded[BF16.id], rounds=5, steps=None) == pytest.approx(30.0 + 2 * 2.0)
    assert durations.scenario_seconds(recorded[BF16.id], rounds=3, steps=7) == pytest.approx(8.0 + 22.0 / 4)
