"""Running the matrix over several GPUs with pytest-xdist (`pytest benchmarks -n 2 --benchmark-json out.json`).

- Each worker (`PYTEST_XDIST_WORKER` = gw0, gw1, ...) uses its own CUDA device.
- Tests are handed out per pipeline: the batch sizes of one build key go to one worker, which builds (and
  compiles) that pipeline once. Per pipeline, not per model: a one-model matrix grouped per model would run
  serially on one GPU. Compiled code is still shared across workers through the on-disk caches of
  `--compile-cache`.
- pytest-benchmark turns itself off under xdist (processes sharing one device time each other). Here every
  worker owns a GPU, so workers time again, each into its own JSON next to the one asked for
  (`out.json` → `out.gw0.json`), and the controller merges those into `out.json` at the end.

Only popen workers (`-n N`) are meant: their files are on this machine, in the same working directory.

Two of these steps have no public API and use the other plugin's internals, each only within its tested
releases (`compat`): turning timing back on (pytest-benchmark) and handing out whole pipelines (pytest-xdist).
Outside them, a warning and the plain behaviour: workers do not time (their failure and skip records are still
merged), and xdist hands tests out its own way.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from diffbench.pytest_plugin import compat
from diffbench.pytest_plugin.session import get_session
from diffbench.store import merge
from diffbench.store.results import MismatchError
from diffbench.store.results import ResultsError


def worker_id() -> str | None:
    """This process's xdist worker id (gw0, gw1, ...), None outside a worker."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def is_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests out to xdist workers (and runs none itself)."""
    return worker_id() is None and config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def device_index(worker: str, device_count: int) -> int:
    """The CUDA device of a worker: gw0 → 0, gw1 → 1, ... wrapping around (a restarted worker gets a new id)."""
    match = re.fullmatch(r"gw(\d+)", worker)
    if match is None or device_count < 1:
        raise ValueError(f"no CUDA device for xdist worker {worker!r} among {device_count}")
    return int(match.group(1)) % device_count


def use_worker_device(config: pytest.Config, device: str) -> None:
    """On a worker running on CUDA, make its own GPU the current device: `"cuda"` tensors, memory stats and
    compiled kernels then all go there. Called before anything runs on the device."""
    worker = worker_id()
    index = None
    if worker is not None and device == "cuda":
        import torch

        index = device_index(worker, torch.cuda.device_count())
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

    No public API hands out groups of tests: this overrides xdist's private `_split_scope` and `_reschedule`
    (and reads `workqueue`, `assigned_work`, `_pending_of`), so only with a tested pytest-xdist."""
    if config.option.dist not in ("load", "loadgroup"):
        return None
    if not compat.guard(config, "pytest-xdist", "handing out whole pipelines (one build per worker)",
                        f"xdist's own --dist {config.option.dist} hands the tests out"):
        return None
    from xdist.scheduler import LoadScopeScheduling  # only reached under xdist

    groups = {s.id: group_name(s.build_key) for s in get_session(config).settings.selection.scenarios()}

    class PipelineScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, groups)

        def _reschedule(self, node) -> None:
            # xdist tops a worker up while it still has 2 tests to run; a pipeline can be many minutes of GPU
            # work, so the next one goes to whichever worker first reaches its last test (a worker needs to know
            # its next test, or that there is none, before it runs the current one).
            if self.workqueue and self._pending_of(self.assigned_work[node]) > 1:
                return
            super()._reschedule(node)

    return PipelineScheduling(config, log)


def configure_node(config: pytest.Config, node: Any) -> None:
    """Controller, before a worker starts (pytest_configure_node): note the JSON file that worker will write."""
    if asked := config.getoption("benchmark_json", None):
        path = worker_json(json_path(asked), node.gateway.id)
        path.unlink(missing_ok=True)  # a file left by an earlier run must not be merged into this one
        get_session(config).worker_files[node.gateway.id] = path


def json_path(value: Any) -> Path:
    """The path of a --benchmark-json value: a path from pytest-benchmark 5.3 on, before that a file it opened
    while parsing the options (argparse.FileType)."""
    return Path(getattr(value, "name", value))


def results_json(config: pytest.Config) -> Path | None:
    """Where this process's results go: --benchmark-json, on an xdist worker its own file next to it; None when
    no JSON was asked for."""
    asked = config.getoption("benchmark_json", None)
    if not asked:
        return None
    worker = worker_id()
    return json_path(asked) if worker is None else worker_json(json_path(asked), worker)


def worker_json(path: Path, worker: str) -> Path:
    """The results file of one worker, next to the one asked for: out.json → out.gw0.json."""
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
    own JSON; the controller, which runs no test, only drops the warning that benchmarks are off.

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
        path = worker_json(json_path(bs.json), worker)
        if hasattr(bs.json, "write"):  # pytest-benchmark < 5.3 writes into the file it opened
            bs.json.close()
            bs.json = open(path, "wb")  # pytest-benchmark closes it when it saves
        else:
            bs.json = path


def placement(config: pytest.Config) -> dict[str, Any]:
    """Where this process ran, for the environment fingerprint: empty outside xdist."""
    worker = worker_id()
    return {} if worker is None else dict(xdist_worker=worker, cuda_device=get_session(config).cuda_device)


def tag_records(config: pytest.Config, output_json: dict) -> None:
    """Worker: put the worker and device into each benchmark and failure: after merging, that is where it shows."""
    where = placement(config)
    if not where:
        return
    for bench in output_json["benchmarks"]:
        bench["extra_info"].update(where)
    for failure in output_json.get("diffbench", {}).get("failures", []):
        failure.update(where)


def merge_results(config: pytest.Config) -> None:
    """Controller, at session end: merge the workers' files (in worker order) into the --benchmark-json path
    and delete them. If they cannot be merged (e.g. workers on different GPU kinds) they are kept, and said so."""
    asked = config.getoption("benchmark_json", None)
    if not is_controller(config) or not asked:
        return
    files = get_session(config).worker_files
    if not files:
        return
    ordered = sorted(files.items(), key=lambda item: (len(item[0]), item[0]))  # gw2 before gw10
    missing = [worker for worker, path in ordered if not path.exists()]
    paths = [path for _, path in ordered if path.exists()]
    if missing:
        say(config, f"no results from xdist worker(s) {', '.join(missing)} (crashed?)")
    if not paths:
        return
    try:
        runs = [merge.read_run(path) for path in paths]
        merged = merge.merge_runs(runs)
    except (ResultsError, MismatchError) as exc:
        say(config, f"could not merge the workers' results, kept {', '.join(map(str, paths))}: {exc}")
        return
    as_one_run(merged.data, [run.data for run in runs])
    merge.write(merged, json_path(asked))
    for path in paths:
        path.unlink()
    say(config, f"merged {len(paths)} xdist worker results into {json_path(asked)}")


def as_one_run(data: dict, worker_data: list[dict]) -> None:
    """A merge of worker files is one run, not several: drop the per-file provenance `merge` adds (the files
    are deleted) and list the workers instead; the session took as long as its slowest worker."""
    env = data["machine_info"]["diffbench"]
    env.pop("sources", None)
    env.pop("xdist_worker", None)
    env.pop("cuda_device", None)
    env["xdist_workers"] = {
        run["machine_info"]["diffbench"].get("xdist_worker"): dict(
            cuda_device=run["machine_info"]["diffbench"].get("cuda_device"),
            session_wall_s=run.get("diffbench", {}).get("session_wall_s"))
        for run in worker_data}
    for bench in data["benchmarks"]:
        bench["extra_info"].pop("source_file", None)
    walls = [w["session_wall_s"] for w in env["xdist_workers"].values() if w["session_wall_s"] is not None]
    if walls:
        data["diffbench"]["session_wall_s"] = max(walls)


def say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"diffbench: {line}")
    else:
        print(f"diffbench: {line}", file=sys.stderr)
