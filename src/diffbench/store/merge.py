"""Merging results files of one GPU and weights source into one, still shaped like pytest-benchmark's JSON.

This builds the baseline store (`baselines/<gpu-slug>/<model>.json`, one file per GPU and model, updated only
on purpose with `diffbench merge`) and lets `diffbench report` read several runs at once.

Files are taken in the order given: on a scenario measured twice, the later file wins (and a note says so).
Failures and skips are merged; a failure or skip recorded in one file is dropped when a later file measured
the scenario (a quality-test failure only when the later measurement carries quality metrics). The environment
(`machine_info`, `commit_info`, `datetime`, `version`) is the newest file's, and `machine_info.diffbench.sources`
lists every run merged, with its date, suite revision, library versions and its session's own facts (the
command, wall time, memory cap, where it was stopped); each benchmark's `extra_info.source_file` names the run it
came from.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from diffbench.store.atomic import atomic_write_bytes
from diffbench.store.results import (MismatchError, Results, ResultsError, is_scenario_records, parse, read_json,
                                     scenario_of)

# Differences in these between merged runs are pointed out (gpu and weights must agree).
VERSION_KEYS = ("torch", "torchao", "diffusers", "transformers", "cuda", "driver")
SOURCE_KEYS = ("datetime", "diffbench_git", "torch", "torchao", "diffusers", "gpu", "weights")
TOP_LEVEL = ("machine_info", "commit_info", "benchmarks", "datetime", "version")  # what pytest-benchmark writes
# One session's facts (the diffbench section's): a merged file keeps them in each run's `sources` entry, since
# a later run's wall time or command is not the store's, nor is an earlier run's stop one a later run ended
SESSION_KEYS = ("command", "session_wall_s", "memory_cap_gib", "interrupted")


@dataclass
class Merged:
    data: dict[str, Any]  # the merged results, pytest-benchmark-shaped
    notes: list[str] = field(default_factory=list)  # replaced scenarios, dropped failures, version differences


@dataclass(frozen=True)
class _Run:
    path: Path
    data: dict[str, Any]
    results: Results

    def date(self) -> datetime | None:
        try:
            return datetime.fromisoformat(str(self.data.get("datetime")))
        except ValueError:
            return None


def read_run(path: Path) -> _Run:
    return run_of(read_json(path), path)


def run_of(data: Any, name: str | Path) -> _Run:
    """A run from results already read (from a file, or received from an xdist worker), named `name` in notes
    and errors."""
    path = Path(name)
    return _Run(path, data, parse(data, path))


def check_same_setup(runs: list[Any]) -> list[str]:
    """The GPU and weights-source differences between runs (each `run` has .path and .results)."""
    first = runs[0]
    return [f"{key}: {getattr(first.results, key)!r} ({first.path.name}) vs {getattr(run.results, key)!r} "
            f"({run.path.name})"
            for run in runs[1:] for key in ("gpu", "weights")
            if getattr(run.results, key) != getattr(first.results, key)]


def merge_files(paths: list[Path], allow_mismatch: bool = False) -> Merged:
    if not paths:
        raise ResultsError("no results files to merge")
    return merge_runs([read_run(Path(p)) for p in paths], allow_mismatch)


def merge_runs(runs: list[_Run], allow_mismatch: bool = False) -> Merged:
    mismatches = check_same_setup(runs)
    if mismatches and not allow_mismatch:
        raise MismatchError(f"runs from different setups ({'; '.join(mismatches)}); "
                            "pass --allow-mismatch to merge anyway")
    notes = [f"merging across setups: {line}" for line in mismatches]
    notes += _version_differences(runs)
    benchmarks: dict[str, dict[str, Any]] = {}
    origin: dict[str, _Run] = {}
    failures: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}  # other keys of the top-level diffbench section (quality_controls, ...)
    for run in runs:
        measured = run.results.measurements
        for bench in run.data["benchmarks"]:
            scenario = scenario_of(bench)
            if scenario in benchmarks:
                notes.append(f"{scenario}: {run.path.name} ({run.data.get('datetime')}) replaces "
                             f"{origin[scenario].path.name} ({origin[scenario].data.get('datetime')})")
            bench = copy.deepcopy(bench)
            if isinstance(bench.get("extra_info"), dict):
                bench["extra_info"].setdefault("source_file", run.path.name)
            benchmarks[scenario] = bench
            origin[scenario] = run
        kept = []
        for failure in failures:
            if _superseded(failure, measured.get(failure["scenario"])):
                notes.append(f"{failure['scenario']}: earlier failure ({failure.get('error_type', 'error')}) "
                             f"dropped, measured in {run.path.name}")
            else:
                kept.append(failure)
        failures = kept
        skipped = [record for record in skipped if record["scenario"] not in measured]
        section = run.data.get("diffbench") or {}
        failures += _unseen(section.get("failures", []), failures)
        skipped += _unseen(section.get("skipped", []), skipped)
        for key, value in section.items():
            if key not in ("failures", "skipped", *SESSION_KEYS):
                extra[key] = _merged_section(extra.get(key), value)
    newest = _newest(runs)
    machine_info = copy.deepcopy(newest.data["machine_info"])
    env = machine_info.get("diffbench")
    if not isinstance(env, dict):
        env = machine_info["diffbench"] = {}
    # A run cut into model files (--models) comes back once when those files are merged again (a report of them)
    env["sources"] = []
    for run in runs:
        env["sources"] += [source for source in _sources(run) if source not in env["sources"]]
    data = dict(
        machine_info=machine_info,
        commit_info=copy.deepcopy(newest.data.get("commit_info", {})),
        benchmarks=list(benchmarks.values()),
        datetime=newest.data.get("datetime"),
        version=newest.data.get("version") or next((r.data["version"] for r in reversed(runs)
                                                   if r.data.get("version")), None),
        diffbench=dict(failures=failures, skipped=skipped, **extra),
    )
    parse(data, Path("merged results"))  # still a results file we can read
    return Merged(data, notes)


def of_model(scenario: Any, models: set[str]) -> bool:
    """Whether a scenario id belongs to one of `models` (an id starts with its model's name and a dash)."""
    return any(str(scenario).startswith(f"{model}-") for model in models)


def only_models(merged: Merged, models: set[str]) -> Merged:
    """The merged results cut to `models`' scenarios (the store holds one file per GPU kind and model, a run
    such as `--selection store` spans several): benchmarks and every list of scenario records."""
    data = copy.deepcopy(merged.data)
    data["benchmarks"] = [b for b in data["benchmarks"] if of_model(scenario_of(b), models)]
    section = data["diffbench"]
    for key, value in section.items():
        if is_scenario_records(value):
            section[key] = [r for r in value if of_model(r["scenario"], models)]
    dropped = len(merged.data["benchmarks"]) - len(data["benchmarks"])
    return Merged(data, [*merged.notes, f"kept {', '.join(sorted(models))}: {dropped} other benchmarks left out"])


def _merged_section(earlier: Any, later: Any) -> Any:
    """Dicts merge key by key and lists of scenario records record by record (a later file's record of a
    scenario replaces an earlier one's); anything else is replaced by the later value."""
    if isinstance(earlier, dict) and isinstance(later, dict):
        return {**earlier, **copy.deepcopy(later)}
    if is_scenario_records(earlier) and is_scenario_records(later):
        replaced = {r["scenario"] for r in later}
        return [r for r in earlier if r["scenario"] not in replaced] + copy.deepcopy(later)
    return copy.deepcopy(later)


def write(merged: Merged, out: Path) -> None:
    atomic_write_bytes(out, (json.dumps(merged.data, indent=4) + "\n").encode())


def _superseded(failure: dict[str, Any], later: Any) -> bool:
    """Whether a later measurement of the failed scenario replaces the failure record."""
    if later is None:
        return False
    test = str(failure.get("nodeid", "")).rpartition("::")[2]
    return bool(later.get("quality")) if test.startswith("test_quality") else True


def _unseen(records: list[dict[str, Any]], have: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {json.dumps(r, sort_keys=True, default=str) for r in have}
    return [copy.deepcopy(r) for r in records if json.dumps(r, sort_keys=True, default=str) not in keys]


def _newest(runs: list[_Run]) -> _Run:
    """The run with the latest datetime (on a tie, or without dates, the later one given)."""
    dated = [(run.date(), i) for i, run in enumerate(runs)]
    if all(date is None for date, _ in dated):
        return runs[-1]
    _, index = max(((date, i) for date, i in dated if date is not None), key=lambda pair: (pair[0], pair[1]))
    return runs[index]


def _sources(run: _Run) -> list[dict[str, Any]]:
    """A run's entry in `sources`; a merged file contributes the runs it was made of."""
    if run.results.sources:
        return copy.deepcopy(run.results.sources)
    env, section = run.results.env, run.data.get("diffbench") or {}
    return [dict(file=run.path.name, **{key: run.data.get("datetime") if key == "datetime" else env.get(key)
                                        for key in SOURCE_KEYS},
                 **{key: copy.deepcopy(section[key]) for key in SESSION_KEYS if key in section})]


def _version_differences(runs: list[_Run]) -> list[str]:
    notes = []
    for key in VERSION_KEYS:
        values: dict[Any, list[str]] = {}
        for run in runs:
            values.setdefault(run.results.env.get(key), []).append(run.path.name)
        if len(values) > 1:
            notes.append(f"{key} differs between the runs: "
                         + "; ".join(f"{value} ({', '.join(names)})" for value, names in values.items()))
    return notes
