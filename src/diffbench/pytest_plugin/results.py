"""This process's results JSON: pytest-benchmark's file annotated with diffbench's records (failures, skips,
quality, the session), written even when no benchmark completed, and never lost to a write error (a fallback in
the working directory, said in the session's last lines); and the quality log.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from diffbench.measure import machine, quality
from diffbench.pytest_plugin import compat, paths, scheduling
from diffbench.pytest_plugin.session import get_session
from diffbench.pytest_plugin.terminal import say_last
from diffbench.store import quality_logs
from diffbench.store.schema import FailureRecord, InterruptedRecord, SCHEMA_VERSION, ScenarioRecord, SessionRecord, \
    SkipRecord


def json_path(value: Any) -> Path:
    """The path of a --benchmark-json value: a path from pytest-benchmark 5.3 on, before that a file it opened
    while parsing the options (argparse.FileType). (A Path has a `.name` too: its last part only.)"""
    return Path(value.name if hasattr(value, "write") else value)


def results_json(config: pytest.Config) -> Path | None:
    """Where this process's results go: --benchmark-json, on an xdist worker its own file (`worker_results_file`);
    None when no JSON was asked for."""
    asked = config.getoption("benchmark_json", None)
    if not asked:
        return None
    worker = scheduling.worker_id()
    return json_path(asked) if worker is None else worker_results_file(worker)


def worker_results_file(worker: str) -> Path:
    """Where a worker writes its results before sending them to the controller: a file of its own in its host's
    temporary folder (the --benchmark-json folder may not exist on another host), named by the run and worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "run")
    return Path(tempfile.gettempdir()) / f"diffbench-{run}-{worker}.json"


def describe_machine(config: pytest.Config, machine_info: dict) -> None:
    """pytest_benchmark_update_machine_info: the environment fingerprint, the weights and where it ran."""
    weights = get_session(config).settings.build.source.name
    where = scheduling.placement(config)
    machine_info["diffbench"] = machine.environment(config.rootpath) | dict(weights=weights) | where


def annotate_results(config: pytest.Config, output_json: dict) -> None:
    """Add failures, skips and quality metrics to pytest-benchmark's JSON (still readable by its compare)."""
    session = get_session(config)
    running = session.running  # the session was stopped inside this scenario (setup: building it; call: timing)
    quality_session = session.quality
    output_json["diffbench"] = SessionRecord(
        schema_version=SCHEMA_VERSION,
        failures=tuple(FailureRecord.from_json(r, strict=True) for r in session.outcomes["failures"]),
        skipped=tuple(SkipRecord.from_json(r, strict=True) for r in session.outcomes["skipped"]),
        serialization=session.serialization,
        quantization_cost=session.quantization_cost, memory_cap_gib=session.settings.memory_cap_gib,
        command=["pytest", *config.invocation_params.args],  # how this file was made
        # from configure to the JSON: imports, builds, compiles and timed calls (cold vs warm compile caches)
        session_wall_s=time.perf_counter() - session.started,
        interrupted=None if running is None else InterruptedRecord(
            scenario=running["scenario"], nodeid=running["nodeid"], phase=running["phase"],
            elapsed_s=time.perf_counter() - running["started"]),
        quality_controls=None if quality_session is None else quality.jsonable(quality_session.controls),
    ).to_json()
    round_trips = {r["scenario"]: r for r in session.serialization}
    by_scenario = {r["scenario"]: r for r in quality_session.records} if quality_session is not None else {}
    for bench in output_json["benchmarks"]:
        scenario = bench["extra_info"].get("scenario")
        if scenario is None:  # not a diffbench scenario's benchmark
            continue
        record = ScenarioRecord.from_json(bench["extra_info"], strict=True)  # a key it does not declare fails
        if phases := session.phase_s.get(bench.get("fullname")):
            record = replace(record, test_phases_s=dict(phases))
        if scenario in round_trips:
            record = replace(record, serialization=round_trips[scenario])
        if scenario in by_scenario:
            record = replace(record, quality=quality.jsonable(quality_logs.summary(by_scenario[scenario]["metrics"])))
        bench["extra_info"] = record.to_json()
    add_parallel_speedups(output_json["benchmarks"])


def add_parallel_speedups(benchmarks: list[dict]) -> None:
    """Each context-parallel result's speedup over the same scenario on one GPU, when both ran in this session,
    and its scaling efficiency (the speedup per GPU)."""
    medians = {b["extra_info"].get("scenario"): b["stats"]["median"] for b in benchmarks}
    for bench in benchmarks:
        layout = bench["extra_info"].get("context_parallel")
        single = medians.get(layout["single_gpu_scenario"]) if layout else None
        if single and bench["stats"]["median"]:
            speedup = single / bench["stats"]["median"]
            layout.update(speedup=speedup, efficiency=speedup / layout["gpus"])


def note_saved_benchmarks(config: pytest.Config, benchmarks: list) -> None:
    """pytest_benchmark_update_json: pytest-benchmark calls it when it saves, which it does only with completed
    benchmarks (save_results_without_benchmarks calls it with none)."""
    if benchmarks:
        get_session(config).benchmarks_saved = True


def save_results_without_benchmarks(config: pytest.Config) -> None:
    """pytest-benchmark writes no JSON when no benchmark completed (every scenario failed or was skipped), which
    would lose exactly the failure records a user needs: write one in its format, with no timings, through the
    public hooks it saves with (machine and commit info, generate and update the JSON)."""
    path = results_json(config)
    if path is None or get_session(config).benchmarks_saved or scheduling.is_controller(config):
        return  # (an xdist controller runs no test: the workers write their files, merged by worker_results)
    machine_info = config.hook.pytest_benchmark_generate_machine_info(config=config)
    config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
    output_json = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=[], include_data=True, machine_info=machine_info,
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config))
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output_json)
    # as pytest-benchmark writes it (its safe_dumps: what JSON cannot hold is written as its repr)
    data = json.dumps(output_json, ensure_ascii=True, indent=4,
                      default=lambda value: f"UNSERIALIZABLE[{value!r}]").encode()
    written = write_or_fall_back(config, path, data, "--benchmark-json")
    if scheduling.worker_id() is None:  # (pytest-benchmark has just said it saves nothing: this follows it up)
        say_last(config, f"no benchmark completed, so pytest-benchmark saved no timings; the session's failure "
                         f"and skip records are in {written}")


def fallback_path(name: str) -> Path:
    """Where a results file goes when it cannot go where asked: the working directory, else the temporary
    folder, under a name of its own (never over another file)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    unique = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        if paths.writable(folder):
            return folder / unique
    return Path(tempfile.gettempdir()) / unique


def write_or_fall_back(config: pytest.Config, path: Path, data: bytes, option: str) -> Path:
    """Write a results file where asked; when that fails (the folder went away or turned read-only while the
    session ran), into `fallback_path`, said in one line. No result is lost to a write error."""
    try:
        path.write_bytes(data)
        return path
    except OSError as exc:
        fallback = fallback_path(path.name)
        fallback.write_bytes(data)
        fell_back(config, path, fallback, option, exc)
        return fallback


def fell_back(config: pytest.Config, path: Path, fallback: Path, option: str, exc: OSError) -> None:
    get_session(config).results_written = fallback
    say_last(config, f"could not write {option} {path} ({exc.strerror or exc}): wrote it to {fallback} instead")


def redirect_unwritable_json(config: pytest.Config) -> None:
    """pytest_benchmark_update_json, just before pytest-benchmark writes --benchmark-json: where that file
    cannot be written any more, point pytest-benchmark at `fallback_path` instead (its session's `json`, a field
    set under the version guard, as `worker_results.time_on_workers` does). Once per session."""
    session = get_session(config)
    path = results_json(config)
    if path is None or session.results_written is not None or scheduling.worker_id() is not None:
        return
    try:
        with open(path, "ab"):  # pytest-benchmark opens it for writing next
            pass
        return
    except OSError as exc:
        error = exc
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or hasattr(bs.json, "write") or not compat.guard(
            config, "pytest-benchmark", "writing --benchmark-json to a fallback when its folder cannot take it",
            "pytest-benchmark fails to write it"):
        return
    bs.json = fallback_path(path.name)
    fell_back(config, path, bs.json, "--benchmark-json", error)


def write_quality_log(config: pytest.Config) -> None:
    path = config.option.diffbench_quality_json
    session = get_session(config)
    if path and session.quality is not None:
        data = dict(environment=machine.environment(config.rootpath), controls=session.quality.controls,
                    outcomes=session.outcomes)
        try:
            quality.write_log(Path(path), session.quality.records, data)
        except OSError as exc:
            fallback = fallback_path(Path(path).name)
            quality.write_log(fallback, session.quality.records, data)
            fell_back(config, Path(path), fallback, "--quality-json", exc)
