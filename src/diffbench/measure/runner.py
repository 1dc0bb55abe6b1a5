"""Running one scenario: its call arguments and the timed rounds recorded by pytest-benchmark."""

from __future__ import annotations

import dataclasses
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from diffbench.build import compilation
from diffbench.measure import cache_work, instruments, metrics
from diffbench.spec import prompts
from diffbench.spec.matrix import Scenario
from diffbench.spec.parallel import PARALLEL_MODES
from diffbench.build.built import Built
from diffbench.build.sources import WeightsSource
from diffbench.store.schema import ScenarioRecord, idle_per_step_s


@dataclass(frozen=True)
class RunOptions:
    device: str
    source: WeightsSource  # decides the inputs: tiny, proxy, or the model's real defaults
    steps: int | None = None  # override the model's default number of steps
    rounds: int = 3
    # a named selection's steps for some models (model -> steps), where their defaults overrun its window;
    # an explicit `steps` wins
    steps_by_model: tuple[tuple[str, int], ...] = ()
    seed: int = 0
    overhead_check: bool = True  # time the denoiser alone too, to show the suite's own overhead (CUDA only)
    # Profiled calls on CUDA: each gives the GPU's kernel time of one call (the gate's GPU-time channel), so the
    # spread of that figure within a run is known; their steps, pooled, give step_s. One on a CPU (no kernel time).
    profiled_rounds: int = 3
    # (scenario, call) -> the call to make instead: the pytest plugin's `pytest_diffbench_call` hook; None: as is
    wrap_call: Callable[[Scenario, Callable[[], Any]], Callable[[], Any]] | None = field(default=None, compare=False)

    def steps_for(self, model: str) -> int | None:
        """The steps a scenario of `model` runs, or None for the model's default."""
        return self.steps or dict(self.steps_by_model).get(model)


UNSTABLE_SPREAD = 1.5  # slowest timed round over the fastest above which a scenario's timing is flagged


class UnstableTiming(UserWarning):
    """A scenario's timed rounds disagree by more than UNSTABLE_SPREAD: its median is not to be trusted."""


def spread(round_s: list[float]) -> float | None:
    """The slowest timed round over the fastest."""
    return max(round_s) / min(round_s) if round_s and min(round_s) > 0 else None


def unstable_timing(scenario_id: str, round_s: list[float]) -> str | None:
    """The warning for rounds this far apart (a first run warming caches, a busy machine), else None."""
    if (spread(round_s) or 1) <= UNSTABLE_SPREAD:
        return None
    return (f"{scenario_id}: unstable timing: rounds range {min(round_s):.2f}–{max(round_s):.2f} s "
            f"({max(round_s) / min(round_s):.1f}×); first run warming caches? rerun or raise --rounds")


def call_kwargs(built: Built, options: RunOptions, prompt_list: list[str] | None = None) -> dict[str, Any]:
    spec, scenario = built.scenario.spec, built.scenario
    inputs = options.source.inputs(spec)
    prompt_list = prompt_list or prompts.for_batch(scenario.batch)
    return inputs.call_kwargs(prompt_list, options.steps_for(scenario.model)) | dict(output_type="np")


def outputs(result) -> Any:
    """A pipeline's outputs: frames for video pipelines, images otherwise."""
    frames = getattr(result, "frames", None)
    return result.images if frames is None else frames


def pipeline_call(built: Built, options: RunOptions):
    """A synchronized call with a fresh seeded generator, so every round computes the same output."""
    kwargs = call_kwargs(built, options)

    def call():
        return built.pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(options.seed))

    synchronized = instruments.synchronized(call, options.device)
    if options.wrap_call is not None:
        return options.wrap_call(built.scenario, synchronized), kwargs
    return synchronized, kwargs


def run(benchmark, built: Built, options: RunOptions) -> Any:
    """First call (compile/warm-up) and the profiled calls (per step, GPU kernel time) untimed, then `rounds` timed
    calls."""
    call, kwargs = pipeline_call(built, options)
    instruments.reset_peak(options.device)
    counters = compilation.cache_counters()
    first_call_s, _ = instruments.timed(call)
    after_first_call = compilation.cache_counters()
    compile_cache = compilation.cache_state(counters, after_first_call)
    compiled = built.scenario.compile != "eager"
    per_step, gpu_times = profiled_calls(built, call, options)
    gpu_kernel_rounds_s = [t.busy_s for t in gpu_times]
    gpu_kernel_s = statistics.median(gpu_kernel_rounds_s) if gpu_times else None
    gpu_time = min(gpu_times, key=lambda t: abs(t.busy_s - gpu_kernel_s)) if gpu_times else None  # the median call
    step_stats = instruments.summary(per_step)
    step_s = step_stats["median"]
    floor = {}
    # CUDA only: on a CPU the tight loop is no floor (host clock, threads contending with each other); on the tiny
    # CPU matrix it came out slower than the pipeline's own steps (step_overhead_pct -85% to -39%).
    if options.overhead_check and step_s and torch.device(options.device).type == "cuda":
        floor = denoiser_floor(built, call, step_s, options.device, compiled)
    work = cache_work.of_built(built, call, options.source.trained)  # cached: one more call, counting its work
    instruments.reset_peak(options.device)
    round_s: list[float] = []
    host_probe: list[float] = []  # before each round, outside the time pytest-benchmark records

    def timed_round():
        seconds, result = instruments.timed(call)
        round_s.append(seconds)
        return result

    try:
        with compilation.recompiles_forbidden(compiled):
            output = benchmark.pedantic(timed_round, setup=lambda: host_probe.append(instruments.host_probe_s()),
                                        rounds=options.rounds, iterations=1, warmup_rounds=0)
    except BaseException:
        # pytest-benchmark marks its record failed on an Exception only: stopped by Ctrl-C or SIGTERM mid-round,
        # the record stays, roundless, and writing the results JSON fails on it (min() of no rounds)
        benchmark.has_error = True
        raise
    images = outputs(output)
    try:
        metrics.guard_finite(images, built.scenario.id)  # NaN is a failure, not a latency
    except metrics.BadOutput:
        benchmark.has_error = True  # pytest-benchmark then leaves these rounds out of the results JSON
        raise
    if warning := unstable_timing(built.scenario.id, round_s):
        warnings.warn(UnstableTiming(warning), stacklevel=2)
    benchmark.extra_info.update(ScenarioRecord(  # store/schema.py declares every key
        scenario=built.scenario.id,
        **built.scenario.params(),
        **built.info,
        first_call_s=first_call_s,
        compile_cache=compile_cache,
        first_call_tuning_benchmarks=after_first_call["tuning"] - counters["tuning"],
        step_s=step_s,
        step_cv=step_stats["cv"],
        gpu_kernel_s=gpu_kernel_s,
        gpu_kernel_rounds_s=gpu_kernel_rounds_s or None,
        # GPU time over an unprofiled call's wall time: well under 1, the GPU waits for the host (host-bound)
        gpu_busy=gpu_kernel_s / statistics.median(round_s) if gpu_kernel_s and round_s else None,
        # the median profiled call's attention kernels: their share of its GPU work, and its longest kernels
        attention_gpu_s=gpu_time.attention_s if gpu_time else None,
        attention_share=gpu_time.attention_s / gpu_time.busy_s if gpu_time and gpu_time.busy_s else None,
        gpu_top_kernels=[list(kernel) for kernel in gpu_time.top_kernels] if gpu_time else None,
        **floor,
        cache_work=work,  # left out of the JSON uncached
        # left out on one GPU
        context_parallel=context_parallel(built.scenario, gpu_time, kwargs["num_inference_steps"], round_s),
        rounds_spread=spread(round_s),
        host_probe_s=statistics.median(host_probe) if host_probe else None,
        steps=kwargs["num_inference_steps"],
        height=kwargs["height"],
        width=kwargs["width"],
        frames=kwargs.get("num_frames"),
        output_shape=list(getattr(images, "shape", ())),
        **instruments.inference_memory(options.device),
    ).to_json())
    return images


def profiled_calls(built: Built, call, options: RunOptions) -> tuple[list[float], list[instruments.GpuTime]]:
    """The profiled calls: every denoising step synchronized and timed (pooled over the calls), and on CUDA each
    call's GPU time (kernels and copies, from the profiler's CUDA activity). `profiled_rounds` calls on CUDA, one
    elsewhere (a CPU has no kernel time to spread)."""
    calls = options.profiled_rounds if torch.device(options.device).type == "cuda" else 1
    per_step: list[float] = []
    gpu_times: list[instruments.GpuTime] = []
    for _ in range(max(1, calls)):
        steps, gpu_time = instruments.gpu_kernel_seconds(
            lambda: instruments.step_times(built.pipe, call, options.device), options.device)
        per_step += steps
        if gpu_time is not None:
            gpu_times.append(gpu_time)
    return per_step, gpu_times


def context_parallel(scenario: Scenario, gpu_time: instruments.GpuTime | None, steps: int,
                     round_s: list[float]) -> dict | None:
    """A context-parallel scenario's layout, the one-GPU scenario its speedup is taken against (the plugin adds
    speedup and efficiency when both ran in the session), and rank 0's GPU time per step: compute and
    communication (NCCL) from the profiled call, idle (neither) from the timed rounds. The profiled call's own
    wall time is no measure of idle: the profiler slows rank 0's host, and under context parallelism that holds
    up every rank (bf16 ring-2 FLUX.1-dev on the H200: 0.140 s a profiled step, 2.63 s a whole timed call of 28
    steps; baselines/nvidia-h200/parallel/). None on one GPU."""
    mode = PARALLEL_MODES[scenario.parallel]
    if mode.gpus == 1:
        return None
    record = dict(gpus=mode.gpus, ulysses_degree=mode.ulysses_degree, ring_degree=mode.ring_degree,
                  single_gpu_scenario=dataclasses.replace(scenario, parallel="none").id)
    if gpu_time is not None and steps and round_s:
        record |= dict(compute_per_step_s=gpu_time.compute_s / steps,
                       communication_per_step_s=gpu_time.communication_s / steps,
                       idle_per_step_s=idle_per_step_s(statistics.median(round_s), gpu_time.busy_s, steps))
    return record


def denoiser_floor(built: Built, call, step_s: float, device: str, compiled: bool) -> dict[str, Any]:
    """The denoiser alone on its first step's inputs, in a tight loop: the floor under `step_s`; none for a cached
    denoiser, whose steps differ by design (and whose hooks refuse a call outside the pipeline's cache context:
    seen on the H200, baselines/nvidia-h200/caching/)."""
    if built.scenario.cache != "none" or built.scenario.parallel != "none":  # nor on one rank of several
        return {}
    denoiser = getattr(built.pipe, built.scenario.spec.denoiser)
    calls = instruments.first_step_calls(built.pipe, denoiser, call)
    if not calls:
        return {}
    # The same compiled denoiser on the same inputs: a recompile here would be the suite's own bug.
    with compilation.recompiles_forbidden(compiled):
        bare_step_s = instruments.bare_forward_s(denoiser, calls[0], device) * len(calls)
    return dict(bare_step_s=bare_step_s, denoiser_calls_per_step=len(calls),
                step_overhead_pct=100 * (step_s - bare_step_s) / bare_step_s)
