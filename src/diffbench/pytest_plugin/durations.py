"""Expected durations of the matrix's pipelines, from earlier results (`--durations-from PATH`), so that under
pytest-xdist the longest pipelines are handed out first.

Longest-processing-time-first: xdist hands the next pipeline to whichever worker is free, so a queue sorted by
expected duration, longest first, keeps the last worker to finish close to the others (a long pipeline handed out
last would run alone at the end).

A scenario recorded in the file is expected to take what it took then; one never recorded, its model's mean;
one of a model never recorded, a constant. Pipelines holding a constant's guess are handed out after every
pipeline with a recorded estimate: a guess cannot be compared with measurements, and with no file at all every
scenario counts the same constant, so the order is by number of tests, as xdist's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from diffbench.spec.matrix import Scenario, UsageError
from diffbench.store.results import Measurement, Results, ResultsError, load

UNMEASURED_S = 60.0  # the guess for a scenario of a model never measured (only its count matters in the order)


@dataclass(frozen=True)
class Expected:
    """How long a scenario or a pipeline (a group of scenarios) is expected to take."""

    seconds: float
    measured: bool  # from recorded results (its own or its model's), not the constant guess

    def __add__(self, other: Expected) -> Expected:
        return Expected(self.seconds + other.seconds, self.measured and other.measured)


UNKNOWN = Expected(UNMEASURED_S, measured=False)


def read_recorded(path: Path) -> dict[str, Measurement]:
    """Scenario id → its latest measurement, from a results file or from the results files directly in a folder
    (a store folder's per-model files; its other JSON files are passed over). UsageError when there is none."""
    if not path.exists():
        raise UsageError(f"--durations-from {path}: no such file or folder")
    runs = [_read(path)] if path.is_file() else _read_folder(path)
    recorded: dict[str, Measurement] = {}
    for results in sorted(runs, key=lambda r: str(r.datetime or "")):  # the newest run's measurement wins
        recorded.update(results.measurements)
    return recorded


def _read(path: Path) -> Results:
    try:
        return load(path)
    except ResultsError as exc:
        raise UsageError(f"--durations-from: {exc}") from None


def _read_folder(folder: Path) -> list[Results]:
    runs = []
    for path in sorted(folder.glob("*.json")):
        try:
            runs.append(load(path))
        except ResultsError:
            continue  # not a results file (a store folder also holds other JSON)
    if not runs:
        raise UsageError(f"--durations-from {folder}: no pytest-benchmark results file directly in that folder")
    return runs


def scenario_seconds(measured: Measurement, rounds: int, steps: int | None) -> float:
    """What a recorded scenario takes past its build: where its test's call was recorded (test_phases_s), that,
    its timed calls added or taken away to this session's `rounds`; else the first (compiling, warming) call,
    then the profiled call and `rounds` timed calls at its median. Calls scale to this session's --steps when
    both step counts are known (the first call's compile does not)."""
    recorded_steps = measured.number("steps")
    scale = steps / recorded_steps if steps and recorded_steps else 1.0
    first_call = measured.number("first_call_s") or 0.0
    call = (measured.get("test_phases_s") or {}).get("call")
    if isinstance(call, (int, float)) and call > first_call and measured.count:
        return first_call + (call - first_call) * scale + measured.median * scale * (rounds - measured.count)
    return first_call + measured.median * scale * (rounds + 1)


def expected_scenarios(scenarios: Iterable[Scenario], recorded: dict[str, Measurement], rounds: int,
                       steps_for: Callable[[str], int | None]) -> dict[str, Expected]:
    """Scenario id → its expected duration: its own record, else its model's mean, else the constant guess
    (`steps_for`: the steps this session runs a model at, None for its default)."""
    scenarios = list(scenarios)
    own = {s.id: scenario_seconds(recorded[s.id], rounds, steps_for(s.model)) for s in scenarios if s.id in recorded}
    per_model: dict[str, list[float]] = {}
    for model, seconds in ((m.get("model"), scenario_seconds(m, rounds, steps_for(m.get("model"))))
                           for m in recorded.values()):
        per_model.setdefault(model, []).append(seconds)
    model_mean = {model: fmean(values) for model, values in per_model.items()}

    def expected(scenario: Scenario) -> Expected:
        if scenario.id in own:
            return Expected(own[scenario.id], measured=True)
        if scenario.model in model_mean:
            return Expected(model_mean[scenario.model], measured=True)
        return UNKNOWN

    return {s.id: expected(s) for s in scenarios}


def expected_groups(groups: dict[str, list[Scenario]], recorded: dict[str, Measurement], rounds: int,
                    steps_for: Callable[[str], int | None]) -> dict[str, Expected]:
    """Group (pipeline) → its expected duration: its scenarios' sum, plus its build once where one was recorded
    (its scenarios share one build, each recording the same build_s)."""
    every = expected_scenarios((s for members in groups.values() for s in members), recorded, rounds, steps_for)
    expected = {}
    for group, members in groups.items():
        builds = [recorded[s.id].number("build_s") or 0.0 for s in members if s.id in recorded]
        total = Expected(max(builds, default=0.0), measured=True)
        for scenario in members:
            total += every[scenario.id]
        expected[group] = total
    return expected


def longest_first(scopes: Iterable[str], expected: dict[str, Expected]) -> list[str]:
    """The units of work in the order they are to be handed out: pipelines with a recorded estimate, longest
    first, then the guessed ones (a test that is no scenario's counts as one guessed scenario). Stable: ties keep
    the order given."""
    return sorted(scopes, key=lambda scope: _order_key(expected.get(scope, UNKNOWN)))


def _order_key(expected: Expected) -> tuple[bool, float]:
    return (not expected.measured, -expected.seconds)
