"""Running one scenario: its call arguments and the timed rounds recorded by pytest-benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from . import compilation, measure, prompts
from .build import Built
from .weights import WeightsSource


@dataclass(frozen=True)
class RunOptions:
    device: str
    source: WeightsSource  # decides the inputs: tiny, proxy, or the model's real defaults
    steps: int | None = None  # override the model's default number of steps
    rounds: int = 3
    seed: int = 0
    overhead_check: bool = True  # time the denoiser alone too, to show the suite's own overhead


def call_kwargs(built: Built, options: RunOptions, prompt_list: list[str] | None = None) -> dict[str, Any]:
    spec, scenario = built.scenario.spec, built.scenario
    inputs = options.source.inputs(spec)
    prompt_list = prompt_list or prompts.for_batch(scenario.batch)
    return inputs.call_kwargs(prompt_list, options.steps) | dict(output_type="np")


def outputs(result) -> Any:
    """A pipeline's outputs: frames for video pipelines, images otherwise."""
    frames = getattr(result, "frames", None)
    return result.images if frames is None else frames


def pipeline_call(built: Built, options: RunOptions):
    """A synchronized call with a fresh seeded generator, so every round computes the same output."""
    kwargs = call_kwargs(built, options)

    def call():
        return built.pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(options.seed))

    return measure.synchronized(call, options.device), kwargs


def run(benchmark, built: Built, options: RunOptions) -> Any:
    """First call (compile/warm-up) and a per-step profiled call untimed, then `rounds` timed calls."""
    call, kwargs = pipeline_call(built, options)
    measure.reset_peak(options.device)
    counters = compilation.cache_counters()
    first_call_s, _ = measure.timed(call)
    after_first_call = compilation.cache_counters()
    compile_cache = compilation.cache_state(counters, after_first_call)
    compiled = built.scenario.compile != "eager"
    per_step = measure.step_times(built.pipe, call, options.device)
    step_stats = measure.summary(per_step)
    step_s = step_stats["median"]
    floor = {}
    if options.overhead_check and step_s:
        denoiser = getattr(built.pipe, built.scenario.spec.denoiser)
        calls = measure.first_step_calls(built.pipe, denoiser, call)
        if calls:
            # The same compiled denoiser on the same inputs: a recompile here would be the suite's own bug.
            with compilation.recompiles_forbidden(compiled):
                bare_step_s = measure.bare_forward_s(denoiser, calls[0], options.device) * len(calls)
            floor = dict(bare_step_s=bare_step_s, denoiser_calls_per_step=len(calls),
                         step_overhead_pct=100 * (step_s - bare_step_s) / bare_step_s)
    measure.reset_peak(options.device)
    with compilation.recompiles_forbidden(compiled):
        output = benchmark.pedantic(call, rounds=options.rounds, iterations=1, warmup_rounds=0)
    images = outputs(output)
    benchmark.extra_info.update(
        scenario=built.scenario.id,
        **built.scenario.params(),
        **built.info,
        first_call_s=first_call_s,
        compile_cache=compile_cache,
        first_call_tuning_benchmarks=after_first_call["tuning"] - counters["tuning"],
        step_s=step_s,
        step_cv=step_stats["cv"],
        **floor,
        steps=kwargs["num_inference_steps"],
        height=kwargs["height"],
        width=kwargs["width"],
        frames=kwargs.get("num_frames"),
        output_shape=list(getattr(images, "shape", ())),
        **measure.inference_memory(options.device),
    )
    return images
