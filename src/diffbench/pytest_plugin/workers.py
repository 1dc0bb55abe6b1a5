"""Running the matrix over several GPUs, on one host or several, with pytest-xdist
(`pytest benchmarks -n 2 --benchmark-json out.json`, or one `--tx` per GPU).

- `-n auto` starts one worker per visible GPU (`auto_num_workers`).
- Each worker (`PYTEST_XDIST_WORKER` = gw0, gw1, ...) uses its own CUDA device: the one its gateway made visible
  (`--tx popen//env:CUDA_VISIBLE_DEVICES=1`: cuda:0 inside that worker), or, when its gateway pins none, the
  worker's number modulo the GPU count.
- Tests are handed out per pipeline: the batch sizes of one build key go to one worker, which builds (and
  compiles) that pipeline once. Per pipeline, not per model: a one-model matrix grouped per model would run
  serially on one GPU. Compiled code is still shared across workers through the on-disk caches of
  `--compile-cache`. With `--durations-from`, the longest expected pipelines go first (`durations`).
- pytest-benchmark turns itself off under xdist (processes sharing one device time each other). Here every
  worker owns a GPU, so workers time again, each into a file of its own in its host's temporary folder; at the
  end each sends its results back through xdist's channel (`config.workeroutput`), and the controller merges
  them into the one --benchmark-json file. So workers on other hosts (ssh gateways) need no shared disk.

Three of these steps have no public API and use the other plugin's internals, each only within its tested
releases (`compat`): turning timing back on (pytest-benchmark), handing out whole pipelines and handing them out
longest first (pytest-xdist). Outside them, a warning and the plain behaviour: workers do not time (their failure
and skip records are still merged), and xdist hands tests out its own way.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from diffbench.pytest_plugin import compat, durations
from diffbench.pytest_plugin.session import get_session, in_play
from diffbench.store import merge
from diffbench.store.results import MismatchError
from diffbench.store.results import ResultsError

# Keys of xdist's public worker dictionaries: node.workerinput (controller → worker, set in pytest_configure_node)
# and config.workeroutput (worker → controller, read in pytest_testnodedown).
GATEWAY_DEVICES = "diffbench_gateway_cuda_visible_devices"  # what the worker's --tx spec set, None: nothing
RESULTS = "diffbench_results"  # the worker's results JSON, as text


def worker_id() -> str | None:
    """This process's xdist worker id (gw0, gw1, ...), None outside a worker."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def is_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests out to xdist workers (and runs none itself)."""
    return worker_id() is None and config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pytest_xdist_auto_num_workers): one worker per GPU this process sees (torch counts those
    CUDA_VISIBLE_DEVICES leaves visible). None, so that xdist counts CPUs, without CUDA, with --device cpu, or
    when PYTEST_XDIST_AUTO_NUM_WORKERS says how many (xdist reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or config.getoption("diffbench_device", "auto") == "cpu":
        return None
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else None


def distribute_over_gateways(config: pytest.Config) -> None:
    """`--tx` without `--dist` or `-n` (pytest_cmdline_main): hand the tests out as `-n` does (`--dist load`);
    xdist alone would run them all in this process and leave the gateways unused. Never on a worker: it gets the
    controller's `--tx` with `--dist no`, and would start workers of its own."""
    option = config.option
    if worker_id() is None and getattr(option, "tx", None) and getattr(option, "dist", "no") == "no" \
            and not getattr(option, "numprocesses", None) and not getattr(option, "looponfail", False):
        option.dist = "load"


def device_index(worker: str, device_count: int, gateway_devices: str | None = None) -> int:
    """The CUDA device of a worker: when its gateway pinned CUDA_VISIBLE_DEVICES, the first GPU it made visible
    (cuda:0 inside the worker); otherwise gw0 → 0, gw1 → 1, ... wrapping around (a restarted worker gets a new
    id)."""
    if device_count < 1:
        raise ValueError(f"no CUDA device for xdist worker {worker!r}: none visible")
    if gateway_devices is not None:
        return 0
    match = re.fullmatch(r"gw(\d+)", worker)
    if match is None:
        raise ValueError(f"no CUDA device for xdist worker {worker!r}: not a gwN id")
    return int(match.group(1)) % device_count


def gateway_devices(config: pytest.Config) -> str | None:
    """Worker: what its gateway set CUDA_VISIBLE_DEVICES to (`--tx ...//env:CUDA_VISIBLE_DEVICES=1`), as the
    controller passed it (configure_node); None when the gateway pins nothing. The worker's own environment cannot
    tell a gateway's value from one inherited from the controller."""
    return getattr(config, "workerinput", {}).get(GATEWAY_DEVICES)


def use_worker_device(config: pytest.Config, device: str) -> None:
    """On a worker running on CUDA, make its own GPU the current device: `"cuda"` tensors, memory stats and
    compiled kernels then all go there. Called before anything runs on the device."""
    worker = worker_id()
    index = None
    if worker is not None and device == "cuda":
        import torch

        index = device_index(worker, torch.cuda.device_count(), gateway_devices(config))
        torch.cuda.set_device(index)
    get_session(config).cuda_device = index


def group_name(build_key: tuple) -> str:
    """The group of a scenario: its build key, readable (`flux-dev/bf16/eager/False/...`)."""
    return "/".join(str(part) for part in build_key)


def scope_of(nodeid: str, groups: dict[str, str]) -> str:
    """The unit of work a test belongs to: its scenario's group, else the test alone (as `--dist load`).
    A scenario test's parameter id is its scenario id (`...::test_latency[flux-dev-bf16-eager-nofuse-bs1]`,
    perhaps followed by the `@<group>` xdist's own loadgroup appends)."""
    param = nodeid[nodeid.rfind("[") + 1:nodeid.rfind("]")] if "[" in nodeid else None
    return groups.get(param, nodeid)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Controller (pytest_xdist_make_scheduler): for `-n N` (`--dist load`) and `--dist loadgroup`, hand out
    whole pipelines: the scenarios of one build key go to one worker, the same load balancing otherwise.

    Not xdist's own `loadgroup` reading the `xdist_group` marks: that carries the group to the controller by
    appending it to the workers' node ids, which pytest 9.2 no longer lets it do (pytest-xdist issue #1386: it
    silently distributes test by test). Here the controller works the groups out from its own selection,
    which is the workers' (same options). Other modes (loadscope, loadfile, worksteal, each) are left to xdist.

    With --durations-from, the pipelines are handed out longest first (`durations.longest_first`).

    No public API hands out groups of tests: this overrides xdist's private `_split_scope`, `_reschedule` and
    `_assign_work_unit` (and reads `workqueue`, `assigned_work`, `_pending_of`), so only with a tested
    pytest-xdist."""
    if config.option.dist not in ("load", "loadgroup"):
        return None
    if not in_play(config) and not compat.is_tested("pytest-xdist"):
        return None  # (said by the guard below once diffbench is in play; a session without it: xdist's own)
    if not compat.guard(config, "pytest-xdist", "handing out whole pipelines (one build per worker)",
                        f"xdist's own --dist {config.option.dist} hands the tests out"):
        return None
    from xdist.scheduler import LoadScopeScheduling  # only reached under xdist

    from diffbench.pytest_plugin.options import matrix_selection

    expected = expected_durations(config) if in_play(config) else {}
    say_expected(config, expected)

    class PipelineScheduling(LoadScopeScheduling):
        """xdist's load balancing over units of work, where a unit is a pipeline's scenarios. Until a collected
        test turns out to be a diffbench scenario (no diffbench test selected), exactly xdist's own `load`."""

        groups: dict[str, str] | None = None  # scenario id -> its pipeline group (the workers' selection)
        diffbench_seen = in_play(config)  # else from the first diffbench scenario the workers collected

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.expected = expected

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # the selection the workers parametrize with: the same options
                selection = get_session(config).settings.selection if in_play(config) \
                    else matrix_selection(config.option)
                self.groups = {s.id: group_name(s.build_key) for s in selection.scenarios()}
            scope = scope_of(nodeid, self.groups)
            if scope != nodeid and not self.diffbench_seen:
                self.diffbench_seen = True
                self.expected = controller_in_play(config)
            return scope

        def _reschedule(self, node) -> None:
            # xdist tops a worker up while it still has 2 tests to run; a pipeline can be many minutes of GPU
            # work, so the next one goes to whichever worker first reaches its last test (a worker needs to know
            # its next test, or that there is none, before it runs the current one).
            if self.diffbench_seen and self.workqueue and self._pending_of(self.assigned_work[node]) > 1:
                return
            super()._reschedule(node)

        def _assign_work_unit(self, node) -> None:
            # Every unit handed out goes through here: the longest expected pipeline left goes next, to whichever
            # worker asked (in place: xdist pops the queue's first unit; units of a crashed worker come back).
            if self.expected:
                for scope in durations.longest_first(list(self.workqueue), self.expected):
                    self.workqueue.move_to_end(scope)
            super()._assign_work_unit(node)

    return PipelineScheduling(config, log)


def controller_in_play(config: pytest.Config) -> dict[str, durations.Expected]:
    """Controller, once the workers have collected diffbench scenarios: diffbench is in play here too (the
    options validated, timing and SIGTERM handled as for one process). The pipelines' expected durations."""
    from diffbench.pytest_plugin import plugin

    plugin.activate(config)
    time_on_workers(config)
    plugin.stop_on_terminate(config)  # the controller's SIGTERM: collect the workers' results, then merge
    expected = expected_durations(config)
    say_expected(config, expected)
    return expected


def say_expected(config: pytest.Config, expected: dict[str, durations.Expected]) -> None:
    if expected:
        recorded = sum(e.measured for e in expected.values())
        say(config, f"--durations-from: {recorded} of {len(expected)} pipelines with a recorded estimate, "
                    "handed out longest first")


def expected_durations(config: pytest.Config) -> dict[str, durations.Expected]:
    """Controller: each pipeline group's expected duration from the --durations-from records; empty without them."""
    session = get_session(config)
    if not session.recorded_durations:
        return {}
    groups: dict[str, list] = {}
    for scenario in session.settings.selection.scenarios():
        groups.setdefault(group_name(scenario.build_key), []).append(scenario)
    run = session.settings.run
    return durations.expected_groups(groups, session.recorded_durations, run.rounds, run.steps_for)


def configure_node(config: pytest.Config, node: Any) -> None:
    """Controller, before a worker starts (pytest_configure_node): tell it what its gateway set
    CUDA_VISIBLE_DEVICES to (the `env:` of its `--tx` spec; the worker picks its GPU from it)."""
    node.workerinput[GATEWAY_DEVICES] = node.gateway.spec.env.get("CUDA_VISIBLE_DEVICES")


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
    worker = worker_id()
    return json_path(asked) if worker is None else worker_results_file(worker)


def worker_results_file(worker: str) -> Path:
    """Where a worker writes its results before sending them to the controller: a file of its own in its host's
    temporary folder (the --benchmark-json folder may not exist on another host), named by the run and worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "run")
    return Path(tempfile.gettempdir()) / f"diffbench-{run}-{worker}.json"


def worker_json(path: Path, worker: str) -> Path:
    """Where the controller keeps a worker's results it could not merge, next to the one asked for: out.json →
    out.gw0.json."""
    return path.with_name(f"{path.stem}.{worker}{path.suffix}")


def xdist_turned_timing_off(config: pytest.Config) -> bool:
    """Whether pytest-benchmark disabled timing because of xdist rather than because the user asked: it does so
    (4.0 to 5.3) when xdist is on (`--dist` other than no; from 5.2 also inside a worker) and the user passed
    neither --benchmark-skip nor --benchmark-disable (without --benchmark-enable)."""
    xdist_on = config.getoption("dist", "no") != "no" or worker_id() is not None
    user_disabled = config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False)
    return xdist_on and not (config.getoption("benchmark_skip", False) or user_disabled)


def time_on_workers(config: pytest.Config) -> None:
    """Workers time the scenarios again (pytest-benchmark disabled itself because xdist is on), each into its
    own JSON (`worker_results_file`); the controller, which runs no test, only drops the warning that benchmarks
    are off.

    Runs at session start: pytest-benchmark makes its session in a trylast pytest_configure, after every
    conftest's pytest_configure, and the `benchmark` fixture reads `disabled` only when a test asks for it.

    No public API turns timing on under xdist or points a worker's JSON elsewhere: this sets fields of
    pytest-benchmark's session (`config._benchmarksession`), so only with a tested pytest-benchmark."""
    worker = worker_id()
    if worker is None and not is_controller(config):
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
    if worker is not None and bs.json:  # where pytest-benchmark saves: this worker's own file (results_json)
        path = worker_results_file(worker)
        if hasattr(bs.json, "write"):  # pytest-benchmark < 5.3 writes into the file it opened
            bs.json.close()
            bs.json = open(path, "wb")  # pytest-benchmark closes it when it saves
        else:
            bs.json = path


def placement(config: pytest.Config) -> dict[str, Any]:
    """Where this process ran, for the environment fingerprint: empty outside xdist. `cuda_visible_devices` is
    the worker's CUDA_VISIBLE_DEVICES (its gateway's `env:` value, or inherited), None when unset."""
    worker = worker_id()
    return {} if worker is None else dict(xdist_worker=worker, cuda_device=get_session(config).cuda_device,
                                          cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))


def tag_records(config: pytest.Config, output_json: dict) -> None:
    """Worker: put the worker and device into each benchmark and failure: after merging, that is where it shows."""
    where = placement(config)
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
    path = results_json(config)
    if output is None or worker_id() is None or path is None or not path.exists():
        return
    output[RESULTS] = path.read_text()
    path.unlink()


def receive_results(config: pytest.Config, node: Any) -> None:
    """Controller, as a worker goes down (pytest_testnodedown): keep the results it sent; None when it sent none
    (it crashed: xdist then has no `workeroutput` from it)."""
    sent = getattr(node, "workeroutput", {}).get(RESULTS)
    # A worker not in play sends nothing, as a crashed one does: a controller not in play waits for none.
    if is_controller(config) and config.getoption("benchmark_json", None) and (sent is not None or in_play(config)):
        get_session(config).worker_results[node.gateway.id] = sent


def merge_results(config: pytest.Config) -> None:
    """Controller, at session end: merge the results the workers sent (in worker order) into the
    --benchmark-json path. If they cannot be merged (e.g. workers on different GPU kinds) each worker's are kept
    in a file of its own next to it, and said so."""
    asked = config.getoption("benchmark_json", None)
    received = get_session(config).worker_results
    if not is_controller(config) or not asked or not received:
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
        kept = keep_worker_results(sent, json_path(asked))
        say(config, f"could not merge the workers' results, kept {', '.join(map(str, kept))}: {exc}")
        return
    as_one_run(merged.data, [run.data for run in runs], time.perf_counter() - get_session(config).started)
    try:
        merge.write(merged, json_path(asked))
    except OSError as exc:
        from diffbench.pytest_plugin import plugin

        fallback = plugin.fallback_path(json_path(asked).name)
        merge.write(merged, fallback)
        plugin.fell_back(config, json_path(asked), fallback, "--benchmark-json", exc)
        asked = fallback
    for note in merged.notes:  # e.g. library versions that differ between hosts
        say(config, note)
    say(config, f"merged {len(runs)} xdist worker results into {json_path(asked)}")


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


def say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"diffbench: {line}")
    else:
        print(f"diffbench: {line}", file=sys.stderr)
