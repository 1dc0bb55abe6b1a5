"""What xdist workers send back and how the controller merges it into the one --benchmark-json file.

pytest-benchmark turns itself off under xdist (processes sharing one device time each other). Here every worker
owns a GPU, so workers time again (`time_on_workers`), each into a file of its own in its host's temporary folder
(`results.worker_results_file`); at the end each sends its results back through xdist's channel
(`config.workeroutput`), and the controller merges them (`merge_results`). So workers on other hosts (ssh
gateways) need no shared disk.

Turning timing back on has no public API and sets pytest-benchmark's session fields, only within its tested
releases (`compat`); outside them, a warning, and the workers do not time (their failure and skip records are
still merged).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from diffbench.pytest_plugin import compat, results, scheduling
from diffbench.pytest_plugin.session import get_session, in_play
from diffbench.pytest_plugin.terminal import say
from diffbench.store import merge
from diffbench.store.results import MismatchError, ResultsError

# Key of xdist's public worker dictionary config.workeroutput (worker → controller, read in pytest_testnodedown).
RESULTS = "diffbench_results"  # the worker's results JSON, as text


def worker_json(path: Path, worker: str) -> Path:
    """Where the controller keeps a worker's results it could not merge, next to the one asked for: out.json →
    out.gw0.json."""
    return path.with_name(f"{path.stem}.{worker}{path.suffix}")


def xdist_turned_timing_off(config: pytest.Config) -> bool:
    """Whether pytest-benchmark disabled timing because of xdist rather than because the user asked: it does so
    (4.0 to 5.3) when xdist is on (`--dist` other than no; from 5.2 also inside a worker) and the user passed
    neither --benchmark-skip nor --benchmark-disable (without --benchmark-enable)."""
    xdist_on = config.getoption("dist", "no") != "no" or scheduling.worker_id() is not None
    user_disabled = config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False)
    return xdist_on and not (config.getoption("benchmark_skip", False) or user_disabled)


def time_on_workers(config: pytest.Config) -> None:
    """Workers time the scenarios again (pytest-benchmark disabled itself because xdist is on), each into its
    own JSON (`results.worker_results_file`); the controller, which runs no test, only drops the warning that benchmarks
    are off.

    Runs at session start: pytest-benchmark makes its session in a trylast pytest_configure, after every
    conftest's pytest_configure, and the `benchmark` fixture reads `disabled` only when a test asks for it.

    No public API turns timing on under xdist or points a worker's JSON elsewhere: this sets fields of
    pytest-benchmark's session (`config._benchmarksession`), so only with a tested pytest-benchmark."""
    worker = scheduling.worker_id()
    if worker is None and not scheduling.is_controller(config):
        return  # not under xdist: pytest-benchmark is left alone
    if not compat.guard(config, "pytest-benchmark", "timing on xdist workers",
                        "the workers do not time (pytest-benchmark's behaviour under xdist); their failure "
                        "and skip records are still merged"):
        return
    bs = getattr(config, "_benchmarksession", None)
    if bs is None:
        return
    if xdist_turned_timing_off(config):
        bs.disabled = worker is None
        # pytest-benchmark >= 5.3 sets xdist_warning and warns at the end that timing was off; 4.0-5.2 lack it.
        if hasattr(bs, "xdist_warning"):
            bs.xdist_warning = False
    if worker is not None and bs.json:  # where pytest-benchmark saves: this worker's own file (results.results_json)
        path = results.worker_results_file(worker)
        if hasattr(bs.json, "write"):  # pytest-benchmark < 5.3 writes into the file it opened
            bs.json.close()
            bs.json = open(path, "wb")  # pytest-benchmark closes it when it saves
        else:
            bs.json = path


def tag_records(config: pytest.Config, output_json: dict) -> None:
    """Worker: put the worker and device into each benchmark and failure: after merging, that is where it shows."""
    where = scheduling.placement(config)
    if not where:
        return
    for bench in output_json["benchmarks"]:
        bench["extra_info"].update(where)
    for failure in output_json.get("diffbench", {}).get("failures", []):
        failure.update(where)


def send_results(config: pytest.Config) -> None:
    """Worker, at session end (pytest-benchmark has saved): its results go back to the controller through xdist's
    channel, whatever host it runs on (xdist sends `workeroutput` after every pytest_sessionfinish); its file
    goes."""
    output = getattr(config, "workeroutput", None)
    path = results.results_json(config)
    if output is None or scheduling.worker_id() is None or path is None or not path.exists():
        return
    output[RESULTS] = path.read_text()
    path.unlink()


def receive_results(config: pytest.Config, node: Any) -> None:
    """Controller, as a worker goes down (pytest_testnodedown): keep the results it sent; None when it sent none
    (it crashed: xdist then has no `workeroutput` from it)."""
    sent = getattr(node, "workeroutput", {}).get(RESULTS)
    # A worker not in play sends nothing, as a crashed one does: a controller not in play waits for none.
    if not scheduling.is_controller(config) or not config.getoption("benchmark_json", None):
        return
    if sent is not None or in_play(config):
        get_session(config).worker_results[node.gateway.id] = sent


def merge_results(config: pytest.Config) -> None:
    """Controller, at session end: merge the results the workers sent (in worker order) into the
    --benchmark-json path. If they cannot be merged (e.g. workers on different GPU kinds) each worker's are kept
    in a file of its own next to it, and said so."""
    asked = config.getoption("benchmark_json", None)
    received = get_session(config).worker_results
    if not scheduling.is_controller(config) or not asked or not received:
        return
    ordered = sorted(received.items(), key=lambda item: (len(item[0]), item[0]))  # gw2 before gw10
    missing = [worker for worker, text in ordered if text is None]
    if missing:
        say(config, f"no results from xdist worker(s) {', '.join(missing)} (crashed?)")
    sent = {worker: text for worker, text in ordered if text is not None}
    if not sent:
        return
    try:
        runs = [merge.run_of(decoded(worker, text), worker) for worker, text in sent.items()]
        merged = merge.merge_runs(runs)
    except (ResultsError, MismatchError) as exc:
        kept = keep_worker_results(sent, results.json_path(asked))
        say(config, f"could not merge the workers' results, kept {', '.join(map(str, kept))}: {exc}")
        return
    as_one_run(merged.data, [run.data for run in runs], time.perf_counter() - get_session(config).started)
    try:
        merge.write(merged, results.json_path(asked))
    except OSError as exc:

        fallback = results.fallback_path(results.json_path(asked).name)
        merge.write(merged, fallback)
        results.fell_back(config, results.json_path(asked), fallback, "--benchmark-json", exc)
        asked = fallback
    for note in merged.notes:  # e.g. library versions that differ between hosts
        say(config, note)
    say(config, f"merged {len(runs)} xdist worker results into {results.json_path(asked)}")


def decoded(worker: str, text: str) -> Any:
    """A worker's results JSON, or a ResultsError naming the worker."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"xdist worker {worker}: results are not valid JSON ({exc})") from None


def keep_worker_results(sent: dict[str, str], asked: Path) -> list[Path]:
    """Write each worker's results next to the --benchmark-json path (out.json → out.gw0.json)."""
    kept = []
    for worker, text in sent.items():
        path = worker_json(asked, worker)
        path.write_text(text)
        kept.append(path)
    return kept


def as_one_run(data: dict, worker_data: list[dict], session_wall_s: float) -> None:
    """The workers' results are one run, not several: drop the per-run provenance `merge` adds and list the
    workers instead (where each ran, each one's own wall time and where it was stopped). The session's facts are
    the session's: its wall time is the controller's, from its configure to the merge (the workers' start
    included); its command and memory cap the workers share; where it was stopped, the last stopped worker's."""
    env = data["machine_info"]["diffbench"]
    for key in ("sources", "xdist_worker", "cuda_device", "cuda_visible_devices"):
        env.pop(key, None)
    sections = [run.get("diffbench") or {} for run in worker_data]
    env["xdist_workers"] = {
        run["machine_info"]["diffbench"].get("xdist_worker"): dict(
            host=run["machine_info"].get("node"),
            cuda_device=run["machine_info"]["diffbench"].get("cuda_device"),
            cuda_visible_devices=run["machine_info"]["diffbench"].get("cuda_visible_devices"),
            session_wall_s=section.get("session_wall_s"),
            **({"interrupted": section["interrupted"]} if "interrupted" in section else {}))
        for run, section in zip(worker_data, sections)}
    for bench in data["benchmarks"]:
        bench["extra_info"].pop("source_file", None)
    session = data["diffbench"]
    session.update({key: sections[0][key] for key in ("command", "memory_cap_gib") if key in sections[0]})
    session["session_wall_s"] = session_wall_s
    if stopped := [section["interrupted"] for section in sections if "interrupted" in section]:
        session["interrupted"] = stopped[-1]
