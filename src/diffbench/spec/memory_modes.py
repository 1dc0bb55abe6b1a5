"""Memory strategies as matrix dimensions (data; `build.memory` applies them): CPU offloading of the pipeline
and VAE tiling/slicing. Offloading needs an accelerator to offload *from*; on CPU those scenarios are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Offload:
    name: str
    description: str


OFFLOAD_MODES: dict[str, Offload] = {
    o.name: o
    for o in [
        Offload("none", "everything on the device"),
        Offload("model", "enable_model_cpu_offload: each component moves to the device when it runs"),
        Offload("sequential", "enable_sequential_cpu_offload: each submodule moves to the device when it runs"),
        Offload("group", "group offloading, leaf level, prefetching on a CUDA stream"),
    ]
}

VAE_MODES: dict[str, str] = {
    "default": "the VAE decodes the whole batch at once",
    "tiling": "vae.enable_tiling()",
    "slicing": "vae.enable_slicing()",
}
