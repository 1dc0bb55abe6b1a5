"""What building gives and takes: the build options, a built pipeline with its record, and the teardown that frees
it. The measure layer works on these types and never calls a constructor (those are in `pipelines`)."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

import torch

from diffbench.build.sources import WeightsSource
from diffbench.spec.matrix import Scenario


@dataclass(frozen=True)
class BuildOptions:
    source: WeightsSource
    device: str
    dtype: torch.dtype = torch.bfloat16
    quant_components: tuple[str, ...] = ("denoiser",)  # "denoiser" stands for the model's denoiser


@dataclass
class Built:
    scenario: Scenario
    pipe: Any
    info: dict[str, Any] = field(default_factory=dict)  # goes into the benchmark's extra_info


def teardown(device: str) -> None:
    """Free everything a scenario left behind so the next one starts from a clean device."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    torch.compiler.reset()
