"""Quantization cost: the wall time and memory it takes to get a quantized denoiser onto the device, by path.

The seeds compared three ways for FLUX's transformer: quantize on the CPU then move it, move it then quantize on
CUDA, and `quantize_(..., device="cuda")`, which moves each linear just before quantizing it. diffusers adds a
fourth: quantizing while loading, with `TorchAoConfig`. Every path starts from the same saved bf16 denoiser
(`WeightsSource.denoiser_folder`), so the paths differ only in where and when the work happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from diffbench.measure import instruments
from diffbench.build.built import BuildOptions, teardown
from diffbench.spec.matrix import Scenario
from diffbench.spec.quantize_paths import QuantizePath
from diffbench.spec.schemes import SCHEMES
from diffbench.build.weights import DenoiserFolder


@dataclass(frozen=True)
class QuantizationCase:
    """One test: a model's denoiser, a scheme, a path (the scenario's other dimensions play no part)."""

    scenario: Scenario
    path: QuantizePath

    @property
    def id(self) -> str:
        return f"{self.scenario.model}-{self.scenario.scheme}-quantize-{self.path.name}"


def measure_case(case: QuantizationCase, options: BuildOptions) -> dict[str, Any]:
    job = Job(options.source.denoiser_folder(case.scenario.spec), SCHEMES[case.scenario.scheme].torchao_config(),
              options.device, options.dtype)
    return dict(scenario=case.id, model=case.scenario.model, scheme=case.scenario.scheme,
                weights=options.source.name, **run(case.path, job))


@dataclass(frozen=True)
class Job:
    folder: DenoiserFolder
    config: Any  # the scheme's torchao config
    device: str
    dtype: torch.dtype


def _load(job: Job, _module: Any) -> torch.nn.Module:
    return job.folder.load(job.dtype)


def _load_quantized(job: Job, _module: Any) -> torch.nn.Module:
    from diffusers import TorchAoConfig

    return job.folder.load(job.dtype, quantization_config=TorchAoConfig(job.config))


def _quantize(job: Job, module: torch.nn.Module) -> torch.nn.Module:
    from torchao.quantization import quantize_

    quantize_(module, job.config)
    return module


def _quantize_onto_device(job: Job, module: torch.nn.Module) -> torch.nn.Module:
    from torchao.quantization import quantize_

    quantize_(module, job.config, device=job.device)
    return module


def _to_device(job: Job, module: torch.nn.Module) -> torch.nn.Module:
    return module.to(job.device)


STEPS: dict[str, Callable[[Job, Any], torch.nn.Module]] = dict(
    load=_load, load_quantized=_load_quantized, quantize=_quantize, quantize_onto_device=_quantize_onto_device,
    to_device=_to_device)


def run(path: QuantizePath, job: Job) -> dict[str, Any]:
    """Run the path's steps, each synchronized and timed; returns the record (seconds per step, peaks, sizes)."""
    teardown(job.device)  # the previous case's denoiser must not count in this one's peak
    instruments.reset_peak(job.device)
    module, seconds, bf16_bytes = None, {}, None
    for step in path.steps:
        # each step takes the module the one before it made (bound now: the call runs inside synchronized)
        elapsed, module = instruments.timed(instruments.synchronized(
            lambda step=step, previous=module: STEPS[step](job, previous), job.device))
        seconds[f"{step}_s"] = elapsed
        if step == "load":
            bf16_bytes = instruments.module_nbytes(module)
    peaks = instruments.inference_memory(job.device)
    on_cuda = torch.device(job.device).type == "cuda"
    record = dict(path=path.name, **seconds, total_s=sum(seconds.values()),
                  peak_device_gib=peaks["peak_memory_gib"] if on_cuda else None,
                  host_peak_rss_gib=peaks["host_peak_rss_gib"],
                  bf16_gib=bf16_bytes / instruments.GIB if bf16_bytes is not None else None,
                  quantized_gib=instruments.module_nbytes(module) / instruments.GIB,
                  quantized_tensors=sum(_is_torchao(p) for p in module.parameters()))
    del module
    teardown(job.device)
    return record


def _is_torchao(tensor: torch.Tensor) -> bool:
    return type(tensor).__module__.startswith("torchao") or type(getattr(tensor, "data", None)).__module__.startswith(
        "torchao")
