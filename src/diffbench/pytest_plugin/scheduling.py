"""Running the matrix over several GPUs, on one host or several, with pytest-xdist: which process this is, which
GPU a worker uses, and how tests are handed out (`pytest benchmarks -n 2 --benchmark-json out.json`, or one
`--tx` per GPU). What the workers send back and how it is merged: `worker_results`.

- `-n auto` starts one worker per visible GPU (`auto_num_workers`).
- Each worker (`PYTEST_XDIST_WORKER` = gw0, gw1, ...) uses its own CUDA device: the one its gateway made visible
  (`--tx popen//env:CUDA_VISIBLE_DEVICES=1`: cuda:0 inside that worker), or, when its gateway pins none, the
  worker's number modulo the GPU count.
- Tests are handed out per pipeline: the batch sizes of one build key go to one worker, which builds (and
  compiles) that pipeline once. Per pipeline, not per model: a one-model matrix grouped per model would run
  serially on one GPU. Compiled code is still shared across workers through the on-disk caches of
  `--compile-cache`. With `--durations-from`, the longest expected pipelines go first (`durations`).

Handing out whole pipelines, longest first, has no public API and uses pytest-xdist's internals, only within its
tested releases (`compat`); outside them, a warning and xdist's own way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from diffbench.pytest_plugin import compat, durations
from diffbench.pytest_plugin.session import get_session, in_play
from diffbench.pytest_plugin.terminal import say

# Key of xdist's public worker dictionary node.workerinput (controller → worker, set in pytest_configure_node).
GATEWAY_DEVICES = "diffbench_gateway_cuda_visible_devices"  # what the worker's --tx spec set, None: nothing


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


def make_scheduler(config: pytest.Config, log: Any,
                   on_first_scenario: Callable[[], dict[str, durations.Expected]] | None = None) -> Any:
    """Controller (pytest_xdist_make_scheduler): for `-n N` (`--dist load`) and `--dist loadgroup`, hand out
    whole pipelines: the scenarios of one build key go to one worker, the same load balancing otherwise.

    Not xdist's own `loadgroup` reading the `xdist_group` marks: that carries the group to the controller by
    appending it to the workers' node ids, which pytest 9.2 no longer lets it do (pytest-xdist issue #1386: it
    silently distributes test by test). Here the controller works the groups out from its own selection,
    which is the workers' (same options). Other modes (loadscope, loadfile, worksteal, each) are left to xdist.

    With --durations-from, the pipelines are handed out longest first (`durations.longest_first`). Where the
    controller is not in play yet (no diffbench option), it is once the workers' collection holds a diffbench
    scenario: `on_first_scenario` then makes it so and returns the pipelines' expected durations; until then
    this is exactly xdist's `load`.

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
                self.expected = on_first_scenario() if on_first_scenario else {}
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


def placement(config: pytest.Config) -> dict[str, Any]:
    """Where this process ran, for the environment fingerprint: empty outside xdist. `cuda_visible_devices` is
    the worker's CUDA_VISIBLE_DEVICES (its gateway's `env:` value, or inherited), None when unset."""
    worker = worker_id()
    return {} if worker is None else dict(xdist_worker=worker, cuda_device=get_session(config).cuda_device,
                                          cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
