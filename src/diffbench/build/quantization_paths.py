"""The quantization-cost paths' steps (`spec.quantize_paths`): load a saved bf16 denoiser, quantize it, put it on
the device. Every path starts from the same saved denoiser (`WeightsSource.denoiser_folder`), so the paths differ
only in where and when the work happens; `measure.quantization_cost` times the steps this module hands it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from diffbench.build.built import BuildOptions
from diffbench.build.weights import DenoiserFolder
from diffbench.spec.quantize_paths import QuantizationCase
from diffbench.spec.schemes import SCHEMES


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

Step = Callable[[Any], torch.nn.Module]  # the module the step before made (None first) → the one this step makes


def steps(case: QuantizationCase, options: BuildOptions) -> list[tuple[str, Step]]:
    """The case's path as named steps, in order, each bound to the case's denoiser, scheme and device."""
    job = Job(options.source.denoiser_folder(case.scenario.spec), SCHEMES[case.scenario.scheme].torchao_config(),
              options.device, options.dtype)
    return [(name, lambda module, step=STEPS[name]: step(job, module)) for name in case.path.steps]
