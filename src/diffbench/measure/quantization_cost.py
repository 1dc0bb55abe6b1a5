"""Quantization cost: the wall time and memory it takes to get a quantized denoiser onto the device, by path.

The seeds compared three ways for FLUX's transformer: quantize on the CPU then move it, move it then quantize on
CUDA, and `quantize_(..., device="cuda")`, which moves each linear just before quantizing it. diffusers adds a
fourth: quantizing while loading, with `TorchAoConfig`. `build.quantization_paths` makes each path's steps from
the same saved bf16 denoiser; this module times them, step by step, and sizes what they make.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from diffbench.build.built import BuildOptions, teardown
from diffbench.measure import instruments
from diffbench.spec.quantize_paths import QuantizationCase

__all__ = ["QuantizationCase", "measure_case", "run"]  # QuantizationCase: the plugin's import (spec holds it)

Steps = Sequence[tuple[str, Callable[[Any], torch.nn.Module]]]  # build.quantization_paths.steps


def measure_case(case: QuantizationCase, steps: Steps, options: BuildOptions) -> dict[str, Any]:
    return dict(scenario=case.id, model=case.scenario.model, scheme=case.scenario.scheme,
                weights=options.source.name, **run(case.path.name, steps, options.device))


def run(path: str, steps: Steps, device: str) -> dict[str, Any]:
    """Run the path's steps, each synchronized and timed; returns the record (seconds per step, peaks, sizes)."""
    teardown(device)  # the previous case's denoiser must not count in this one's peak
    instruments.reset_peak(device)
    module, seconds, bf16_bytes = None, {}, None
    for name, step in steps:
        # each step takes the module the one before it made (bound now: the call runs inside synchronized)
        elapsed, module = instruments.timed(instruments.synchronized(
            lambda step=step, previous=module: step(previous), device))
        seconds[f"{name}_s"] = elapsed
        if name == "load":
            bf16_bytes = instruments.module_nbytes(module)
    peaks = instruments.inference_memory(device)
    on_cuda = torch.device(device).type == "cuda"
    record = dict(path=path, **seconds, total_s=sum(seconds.values()),
                  peak_device_gib=peaks["peak_memory_gib"] if on_cuda else None,
                  host_peak_rss_gib=peaks["host_peak_rss_gib"],
                  bf16_gib=bf16_bytes / instruments.GIB if bf16_bytes is not None else None,
                  quantized_gib=instruments.module_nbytes(module) / instruments.GIB,
                  quantized_tensors=sum(_is_torchao(p) for p in module.parameters()))
    del module
    teardown(device)
    return record


def _is_torchao(tensor: torch.Tensor) -> bool:
    return type(tensor).__module__.startswith("torchao") or type(getattr(tensor, "data", None)).__module__.startswith(
        "torchao")
