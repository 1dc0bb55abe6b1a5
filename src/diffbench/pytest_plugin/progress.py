"""Signs of life on long work, through pytest's terminal reporter: one line as each scenario starts (what it is
about to do) and one as it ends (its outcome and time), with the session's elapsed time and, where earlier
results give them (`--durations-from`), the expected time of the scenario and of what is left; and, before
anything runs, warnings for a load this machine cannot carry well (`check_load`). `-q` keeps the per-scenario
lines out.

The batch rule (`batch_bound_gib`): a call holds at least each sample's decoded output in float32 (frames x
height x width x 3 values of 4 bytes) and the VAE decoder's feature maps at full resolution, counted as 8 times
that; a batch whose bound exceeds the memory available on the device (CPU: psutil's available memory; CUDA:
the free memory) is warned about before it runs. A lower bound: a batch under it may still not fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from diffbench.pytest_plugin import durations, scheduling
from diffbench.pytest_plugin.session import get_session
from diffbench.pytest_plugin.terminal import say

GIB = 1024 ** 3
DECODER_FACTOR = 8  # the decoder's full-resolution feature maps, over the decoded output (batch rule above)
CPU_WORKER_SLOWDOWN = 1.9  # latencies of `-n 2` on a 2-core CPU over one process's (issue 33)


@dataclass
class Progress:
    """Where the session is: tests seen, the pipeline last built, each scenario's start."""

    total: int = 0
    done: int = 0
    last_build_key: tuple | None = None
    started: dict[str, float] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)
    said_cache: bool = False


_PROGRESS = pytest.StashKey[Progress]()


def _progress(config: pytest.Config) -> Progress:
    return config.stash.setdefault(_PROGRESS, Progress())


def counted(config: pytest.Config, items: list[pytest.Item], subject_of) -> None:
    """After collection: how many scenario tests will run (for [i/n])."""
    _progress(config).total = sum(1 for item in items if subject_of(item) is not None and not _skipped(item))


def _skipped(item: pytest.Item) -> bool:
    return item.get_closest_marker("skip") is not None or any(
        mark.kwargs.get("run") is False for mark in item.iter_markers("xfail"))


def _quiet(config: pytest.Config) -> bool:
    return config.get_verbosity() < 0


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _expected(config: pytest.Config, subject) -> float | None:
    session = get_session(config)
    if not session.recorded_durations or not hasattr(subject, "build_key"):
        return None
    run = session.settings.run
    expected = durations.expected_scenarios([subject], session.recorded_durations, run.rounds, run.steps_for)
    estimate = expected[subject.id]
    return estimate.seconds if estimate.measured else None


def _doing(config: pytest.Config, subject, progress: Progress) -> str:
    rounds = get_session(config).settings.run.rounds
    if not hasattr(subject, "build_key"):  # a quantization case
        return "quantizing the denoiser"
    calls = f"first call (compiles), {rounds} timed round{'s' * (rounds != 1)}" if subject.compile != "eager" else \
        f"first call, {rounds} timed round{'s' * (rounds != 1)}"
    return ("build, " if subject.build_key != progress.last_build_key else "") + calls


def say_cache_once(config: pytest.Config) -> None:
    """The first scenario says, once, where built pipelines are kept between sessions (not asked for, so said)."""
    progress = _progress(config)
    source = get_session(config).settings.build.source
    if progress.said_cache or source.name not in ("tiny", "synthetic"):
        return
    progress.said_cache = True
    from diffbench.build.weights import default_cache_dir

    root = getattr(source, "cache_dir", None) or default_cache_dir()
    kept = "pipelines" if source.name == "tiny" else "denoisers"
    say(config, f"{source.name} {kept} are saved in {root / kept} for the next sessions "
                        "(--cache-dir or $DIFFBENCH_CACHE puts them elsewhere)")


def started(item: pytest.Item, subject) -> None:
    config = item.config
    progress = _progress(config)
    if _skipped(item):
        return
    say_cache_once(config)
    progress.started[item.nodeid] = time.perf_counter()
    if _quiet(config):
        return
    expected = _expected(config, subject)
    line = f"[{progress.done + 1}/{progress.total}] {subject.id}: {_doing(config, subject, progress)}"
    say(config, line + (f"; expected {_clock(expected)}" if expected else ""))
    if hasattr(subject, "build_key"):
        progress.last_build_key = subject.build_key


def note(item: pytest.Item, report: pytest.TestReport) -> None:
    """The test's outcome so far (a failed setup or call wins over a later phase)."""
    outcome = _progress(item.config).outcome
    if report.failed or report.skipped or outcome.get(item.nodeid) in (None, "passed"):
        if outcome.get(item.nodeid) not in ("failed", "skipped"):
            outcome[item.nodeid] = "xfailed" if hasattr(report, "wasxfail") else report.outcome


def finished(item: pytest.Item, subject) -> None:
    config = item.config
    progress = _progress(config)
    begun = progress.started.pop(item.nodeid, None)
    if begun is None:
        return
    progress.done += 1
    if _quiet(config):
        return
    session = get_session(config)
    phases = session.phase_s.get(item.nodeid, {})
    parts = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in phases.items() if phase != "teardown")
    elapsed = time.perf_counter() - session.started
    say(config, f"[{progress.done}/{progress.total}] {subject.id}: "
                        f"{progress.outcome.get(item.nodeid, 'done')} in {time.perf_counter() - begun:.1f} s"
                        f"{f' ({parts})' if parts else ''}; session at {_clock(elapsed)}")


def batch_bound_gib(height: int, width: int, frames: int | None, batch: int) -> float:
    """The batch rule's lower bound on one call's memory (module docstring)."""
    return batch * (frames or 1) * height * width * 3 * 4 * (1 + DECODER_FACTOR) / GIB


def available_gib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0] / GIB
    import psutil

    return psutil.virtual_memory().available / GIB


def check_load(config: pytest.Config) -> None:
    """Warnings before anything runs: `-n` on a CPU, and batches that cannot fit (the batch rule)."""
    session = get_session(config)
    settings = session.settings
    if scheduling.worker_id() is not None:
        return  # said once, by the controller or the single process
    workers_asked = config.getoption("numprocesses", None)
    if settings.device == "cpu" and (workers_asked or scheduling.is_controller(config)):
        say(config, f"warning: -n {workers_asked or ''} on a CPU: the workers share its cores, so latencies "
                            f"come out about {CPU_WORKER_SLOWDOWN}x a single process's (measured with -n 2 on 2 "
                            "cores); time in one process for figures to compare")
    scenarios = settings.selection.scenarios()
    largest: dict[str, tuple[int, float]] = {}
    for scenario in scenarios:
        inputs = settings.build.source.inputs(scenario.spec)
        bound = batch_bound_gib(inputs.height, inputs.width, inputs.frames, scenario.batch)
        if bound > largest.get(scenario.model, (0, 0.0))[1]:
            largest[scenario.model] = (scenario.batch, bound)
    if not largest:
        return
    available = available_gib(settings.device)
    for model, (batch, bound) in largest.items():
        if bound > available:
            say(config, f"warning: --batch {batch} cannot fit for {model} on {settings.device}: one call "
                                f"needs at least {bound:.1f} GiB, {available:.1f} GiB is available "
                                "(the batch rule: docs/errors.md)")
