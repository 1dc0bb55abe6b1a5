"""Measuring a pipeline: synchronized calls, per-step time, memory, and the environment fingerprint.

GiB means 1024**3 bytes (the seeds' "GB" columns are `memory_allocated() / 1024**3`).
On CUDA, memory comes from the caching allocator; on CPU from the process (RSS), labelled as such.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from diffbench.spec.attention import ATTENTION_KERNEL_NAMES

GIB = 1024**3


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def synchronized(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """Wrap `fn` so that it returns only once the device has finished its work."""

    def call():
        result = fn()
        synchronize(device)
        return result

    return call


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# The host's own speed, timed before every round: a fixed loop of tiny CPU tensor ops costs what launching a GPU
# kernel costs the host (Python and torch's dispatcher per op). A slower host moves it; host work the code adds
# to a call (a sleep, a sync, a new hook) does not. Measured on the H200, two runs in a row moved a GPU-bound
# scenario's wall time by 12.5% with its GPU kernel time unchanged (README "Comparing runs").
HOST_PROBE_OPS = 2000


def host_probe_s(ops: int = HOST_PROBE_OPS) -> float:
    """Seconds for `ops` additions of two 16-element CPU tensors."""
    a, b = torch.ones(16), torch.ones(16)
    start = time.perf_counter()
    for _ in range(ops):
        torch.add(a, b)
    return time.perf_counter() - start


def step_times(pipe, fn: Callable[[], Any], device: str) -> list[float]:
    """Seconds per denoising step, from one call: every pipeline calls `scheduler.step` once per step."""
    scheduler = pipe.scheduler
    original = scheduler.step
    marks: list[float] = []

    def step(*args, **kwargs):
        out = original(*args, **kwargs)
        synchronize(device)
        marks.append(time.perf_counter())
        return out

    scheduler.step = step
    try:
        synchronize(device)
        marks.append(time.perf_counter())
        fn()
    finally:
        del scheduler.step  # back to the class method
    return [b - a for a, b in zip(marks, marks[1:])]


@dataclass(frozen=True)
class GpuTime:
    """Where a call's GPU time went, from the profiler's CUDA activity (seconds; overlaps counted once)."""

    busy_s: float  # kernels and copies, any kind
    communication_s: float  # NCCL kernels (collectives between GPUs)
    compute_s: float  # every other kernel and copy
    attention_s: float = 0.0  # attention kernels (spec.attention.ATTENTION_KERNEL_NAMES)
    # the kernels that took longest, summed per name (seconds, longest first): what the attention share counts
    # can be checked against them
    top_kernels: tuple[tuple[str, float], ...] = ()


TOP_KERNELS = 12
KERNEL_NAME_CHARS = 160  # cuDNN's and CUTLASS's generated names run to hundreds of characters


def gpu_kernel_seconds(fn: Callable[[], Any], device: str) -> tuple[Any, GpuTime | None]:
    """Run `fn` under the profiler's CUDA activity tracing (no CPU op tracing, so the host is barely slowed) and
    return its result with the time the GPU spent in kernels and copies (the union of their intervals), how much
    of it was communication and how much attention, and the longest kernels: what the call costs the GPU,
    whatever the host's speed. None on CPU, or when the profiler records no CUDA activity."""
    if torch.device(device).type != "cuda":
        return fn(), None
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        result = fn()
        synchronize(device)
    events = [(e.time_range.start, e.time_range.end, e.name) for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not events:
        return result, None
    return result, gpu_time_of(events)


def gpu_time_of(events: list[tuple[float, float, str]]) -> GpuTime:
    """A call's GpuTime from its CUDA events: (start, end, kernel name), in the profiler's microseconds."""
    def seconds(keep) -> float:
        return union_length(sorted((a, b) for a, b, name in events if keep(name))) / 1e6

    nccl = lambda name: "nccl" in name.lower()  # noqa: E731
    per_name: dict[str, float] = {}
    for begin, end, name in events:
        per_name[name] = per_name.get(name, 0.0) + (end - begin) / 1e6
    top = sorted(per_name.items(), key=lambda item: -item[1])[:TOP_KERNELS]
    return GpuTime(busy_s=seconds(lambda name: True), communication_s=seconds(nccl),
                   compute_s=seconds(lambda name: not nccl(name)),
                   attention_s=seconds(lambda name: ATTENTION_KERNEL_NAMES.search(name) is not None),
                   top_kernels=tuple((name[:KERNEL_NAME_CHARS], seconds_) for name, seconds_ in top))


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by sorted (start, end) intervals: kernels on several streams may overlap."""
    total, reach = 0.0, float("-inf")
    for begin, end in intervals:
        total += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    return total


class _FirstStepDone(Exception):
    pass


def first_step_calls(pipe, denoiser: torch.nn.Module, fn: Callable[[], Any]) -> list[tuple]:
    """The denoiser's calls (args, kwargs) in the first denoising step of `fn`, a pipeline call stopped there.

    Everything runs eagerly meanwhile (`torch.compiler.set_stance("force_eager")`, public since torch 2.6): a hook on
    a whole-model-compiled module would be traced into its graph (and recompile it).
    """
    calls: list[tuple] = []

    def stop(*args, **kwargs):
        raise _FirstStepDone

    handle = denoiser.register_forward_pre_hook(lambda _m, args, kwargs: calls.append((args, kwargs)),
                                                with_kwargs=True)
    pipe.scheduler.step = stop
    try:
        with torch.compiler.set_stance("force_eager"):
            fn()
    except _FirstStepDone:
        pass
    finally:
        del pipe.scheduler.step  # back to the class method
        handle.remove()
    return calls


def bare_forward_s(module: torch.nn.Module, inputs: tuple, device: str, repeats: int = 10) -> float:
    """Median seconds of the denoiser alone, in a tight loop: the floor the suite's per-step time is compared
    with."""
    args, kwargs = inputs
    with torch.no_grad():
        return median_s(lambda: module(*args, **kwargs), device, repeats)


def median_s(fn: Callable[[], Any], device: str, repeats: int = 10) -> float:
    """Median seconds of `fn` after one warm call, timed with CUDA events (host clock on CPU)."""
    fn()
    times = []
    for _ in range(repeats):
        if torch.device(device).type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            elapsed, _ = timed(fn)
            times.append(elapsed)
    return statistics.median(times)


def tensor_nbytes(t: torch.Tensor) -> int:
    """Storage bytes of a tensor, looking inside torchao's tensor subclasses (their packed data and scales)."""
    if hasattr(t, "__tensor_flatten__") and type(t) not in (torch.Tensor, torch.nn.Parameter):
        inner, _ = t.__tensor_flatten__()
        return sum(tensor_nbytes(getattr(t, name)) for name in inner)
    return t.numel() * t.element_size()


def module_nbytes(module: torch.nn.Module) -> int:
    tensors = {id(t): t for t in [*module.parameters(), *module.buffers()]}  # shared weights count once
    return sum(tensor_nbytes(t) for t in tensors.values())


def pipeline_nbytes(pipe) -> dict[str, int]:
    return {name: module_nbytes(c) for name, c in pipe.components.items() if isinstance(c, torch.nn.Module)}


def rss_bytes() -> tuple[int, int]:
    """(current, peak) resident set size of this process."""
    import psutil

    rss = psutil.Process().memory_info().rss
    return rss, _vm_hwm() or rss


def _vm_hwm() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:  # Linux: "5" resets the peak RSS (VmHWM) of this process
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def model_memory(pipe, device: str) -> dict[str, Any]:
    """Memory held by the loaded pipeline, before any inference."""
    weights = pipeline_nbytes(pipe)
    fields: dict[str, Any] = dict(
        weights_gib=sum(weights.values()) / GIB,
        component_weights_gib={name: n / GIB for name, n in weights.items()},
    )
    host_rss = rss_bytes()[0] / GIB  # offloaded weights live here
    if torch.device(device).type == "cuda":
        synchronize(device)
        fields.update(memory_source="cuda_allocator", model_memory_gib=torch.cuda.memory_allocated() / GIB)
    else:
        fields.update(memory_source="process_rss", model_memory_gib=host_rss)
    fields["host_rss_gib"] = host_rss
    return fields


def inference_memory(device: str) -> dict[str, Any]:
    """Peaks since the last `reset_peak`."""
    host_peak = rss_bytes()[1] / GIB
    if torch.device(device).type == "cuda":
        return dict(peak_memory_gib=torch.cuda.max_memory_allocated() / GIB,
                    peak_reserved_gib=torch.cuda.max_memory_reserved() / GIB, host_peak_rss_gib=host_peak)
    return dict(peak_memory_gib=host_peak, peak_reserved_gib=None, host_peak_rss_gib=host_peak)


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return dict(median=None, mean=None, cv=None)
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean if len(values) > 1 and mean else 0.0
    return dict(median=statistics.median(values), mean=mean, cv=cv)


def cap_gpu_memory(cap_gib: float) -> None:
    """Let this process allocate at most `cap_gib` of its current GPU (an xdist worker's own): a smaller GPU's
    budget on a bigger one."""
    device = torch.cuda.current_device()
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GIB / total), device)


