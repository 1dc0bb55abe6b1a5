"""Memory strategies as matrix dimensions: CPU offloading of the pipeline and VAE tiling/slicing.

Offloading needs an accelerator to offload *from*; on CPU those scenarios are skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Offload:
    name: str
    apply: Callable[[Any, str], None] | None  # (pipeline loaded on the CPU, device) → pipeline ready to run
    description: str


def _group(pipe, device: str) -> None:
    pipe.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                              offload_type="leaf_level", use_stream=True)


OFFLOAD_MODES: dict[str, Offload] = {
    o.name: o
    for o in [
        Offload("none", None, "everything on the device"),
        Offload("model", lambda pipe, device: pipe.enable_model_cpu_offload(device=device),
                "enable_model_cpu_offload: each component moves to the device when it runs"),
        Offload("sequential", lambda pipe, device: pipe.enable_sequential_cpu_offload(device=device),
                "enable_sequential_cpu_offload: each submodule moves to the device when it runs"),
        Offload("group", _group, "group offloading, leaf level, prefetching on a CUDA stream"),
    ]
}

VAE_MODES: dict[str, Callable[[Any], None] | None] = {
    "default": None,
    "tiling": lambda vae: vae.enable_tiling(),
    "slicing": lambda vae: vae.enable_slicing(),
}


def apply_vae_mode(pipe, mode: str) -> None:
    if (enable := VAE_MODES[mode]) is not None:
        enable(pipe.vae)
