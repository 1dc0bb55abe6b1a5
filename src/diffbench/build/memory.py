"""Apply the memory strategies of `spec.memory_modes`: CPU offloading and VAE tiling/slicing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def _group(pipe, device: str) -> None:
    pipe.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                              offload_type="leaf_level", use_stream=True)


# (pipeline loaded on the CPU, device) → pipeline ready to run; "none" has nothing to apply.
OFFLOADERS: dict[str, Callable[[Any, str], None]] = {
    "model": lambda pipe, device: pipe.enable_model_cpu_offload(device=device),
    "sequential": lambda pipe, device: pipe.enable_sequential_cpu_offload(device=device),
    "group": _group,
}

VAE_ENABLERS: dict[str, Callable[[Any], None]] = {
    "tiling": lambda vae: vae.enable_tiling(),
    "slicing": lambda vae: vae.enable_slicing(),
}


def apply_offload(pipe, mode: str, device: str) -> None:
    if mode in OFFLOADERS:
        pipe.to("cpu")
        OFFLOADERS[mode](pipe, device)


def apply_vae_mode(pipe, mode: str) -> None:
    if mode in VAE_ENABLERS:
        VAE_ENABLERS[mode](pipe.vae)
