"""Context parallelism (`--parallel`): the suite starts and drives the ranks itself.

The pytest process is rank 0: it builds and measures as for one GPU. `ranks` starts the other ranks (spawned
processes, rank r on GPU r), each building the same scenario; every rank applies diffusers' own
`enable_parallelism(config=ContextParallelConfig(...))` to its denoiser (after quantization, before compilation).
Rank 0's pipeline is wrapped (`MirroredPipeline`): each call first sends its arguments to the other ranks, which
make the same call, so the collectives inside the denoiser meet. Anything else rank 0 does with the denoiser
alone (the denoiser floor, a cache's work count) is not done for a parallel scenario.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from diffbench.build import compilation, torch_fixes
from diffbench.spec.parallel import PARALLEL_MODES, ParallelMode

Build = Callable[[Any, Any], Any]  # (scenario, build options) → a built pipeline

# A rank that never hears from the others again (one killed or failed) gives up instead of waiting for ever.
_TIMEOUT = timedelta(minutes=10)
_START_TIMEOUT_S = 600  # building a full-size pipeline and joining the process group


class RankFailed(RuntimeError):
    """Another rank could not build or run the scenario (its traceback is the message)."""


def apply(denoiser: torch.nn.Module, mode: ParallelMode) -> None:
    """Split the denoiser's sequence across the process group's ranks (diffusers' context-parallel hooks)."""
    if mode.gpus == 1:
        return
    from diffusers import ContextParallelConfig

    denoiser.enable_parallelism(config=ContextParallelConfig(ulysses_degree=mode.ulysses_degree,
                                                             ring_degree=mode.ring_degree))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join_group(rank: int, world: int, port: int, device: str) -> None:
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world, timeout=_TIMEOUT)


class Commands:
    """Rank 0 → the other ranks: what to call next, over a gloo group (objects travel on the host)."""

    def __init__(self) -> None:
        self.group = dist.new_group(backend="gloo", timeout=_TIMEOUT)

    def send(self, command: tuple) -> None:
        dist.broadcast_object_list([command], src=0, group=self.group)

    def receive(self) -> tuple:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]


def _portable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments as the other ranks can rebuild them: generators as their seeds, callbacks left out
    (they observe rank 0's call only)."""
    out = {}
    for key, value in kwargs.items():
        if key.startswith("callback"):
            continue
        if key == "generator" and value is not None:
            value = ("seeds", [g.initial_seed() for g in value]) if isinstance(value, list) else \
                ("seed", value.initial_seed())
        out[key] = value
    return out


def _rebuilt(kwargs: dict[str, Any]) -> dict[str, Any]:
    generator = kwargs.get("generator")
    if isinstance(generator, tuple):
        kind, seeds = generator
        make = lambda seed: torch.Generator("cpu").manual_seed(seed)  # noqa: E731
        kwargs = kwargs | dict(generator=[make(s) for s in seeds] if kind == "seeds" else make(seeds))
    return kwargs


class MirroredPipeline:
    """Rank 0's pipeline: a call is announced to the other ranks, then made; everything else is the pipeline's."""

    def __init__(self, pipe: Any, commands: Commands):
        self.__dict__.update(_pipe=pipe, _commands=commands)

    def __call__(self, *args, **kwargs):
        self._commands.send(("call", args, _portable(kwargs)))
        return self._pipe(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pipe, name, value)


def _follow(rank: int, world: int, port: int, scenario, options, build: Build, reports) -> None:
    """A rank other than 0: build the scenario as rank 0 does (the same torch fixes and inductor flags; the compile
    caches come through the environment), then make every call rank 0 announces, until told to stop."""
    try:
        torch_fixes.apply()
        _join_group(rank, world, port, options.device)
        commands = Commands()
        with compilation.inductor_profile(scenario.inductor_profile), compilation.eager_fallback_forbidden():
            built = build(scenario, options)
            reports.put((rank, None))
            while (command := commands.receive())[0] == "call":
                _, args, kwargs = command
                built.pipe(*args, **_rebuilt(kwargs))
    except BaseException:  # noqa: BLE001 - any failure goes to rank 0, which records it
        reports.put((rank, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


class Ranks:
    """The other ranks of a parallel scenario, started, and the channel that drives them."""

    def __init__(self, commands: Commands, reports, count: int):
        self.commands, self._reports, self._count = commands, reports, count

    def mirrored(self, pipe: Any) -> MirroredPipeline:
        """Rank 0's built pipeline, once every other rank has built its own (or the first failure among them)."""
        for _ in range(self._count):
            rank, failure = self._reports.get(timeout=_START_TIMEOUT_S)
            if failure is not None:
                raise RankFailed(f"rank {rank} could not build the scenario:\n{failure}")
        return MirroredPipeline(pipe, self.commands)


@contextlib.contextmanager
def ranks(scenario, options, build: Build) -> Iterator[Ranks | None]:
    """Start the other ranks of a parallel scenario, each building it with `build` (`pipelines.build`, passed in:
    it applies this module's step, so this module cannot import it), and join rank 0 to their process group
    (None for one GPU); on exit, stop them and leave the group."""
    world = PARALLEL_MODES[scenario.parallel].gpus
    if world == 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    port, reports = _free_port(), context.Queue()
    others = [context.Process(target=_follow, args=(rank, world, port, scenario, options, build, reports))
              for rank in range(1, world)]
    for process in others:
        process.start()
    commands = None
    try:
        _join_group(0, world, port, options.device)
        commands = Commands()
        yield Ranks(commands, reports, world - 1)
    finally:
        if commands is not None:
            with contextlib.suppress(Exception):
                commands.send(("stop",))
        for process in others:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
        if dist.is_initialized():
            dist.destroy_process_group()
