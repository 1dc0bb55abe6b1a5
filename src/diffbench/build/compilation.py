"""torch.compile modes and inductor settings, isolated per scenario.

torchao's configs default to `set_inductor_config=True`, which switches inductor flags for the whole
process: a scenario compiled after a quantized one would inherit them. The suite builds every torchao config
with `set_inductor_config=False` (see schemes.TorchAO.config) and applies a named, recorded profile itself
inside `inductor_profile`, restoring the previous flags afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from diffbench.spec.compile_modes import INDUCTOR_PROFILES, RECORDED_FLAGS, CompileMode


def inductor_flags() -> dict[str, Any]:
    from torch._inductor import config

    flags = {}
    for name in RECORDED_FLAGS:
        obj: Any = config
        for part in name.split("."):
            obj = getattr(obj, part, None)
        flags[name] = obj
    return flags


_baseline: dict[str, Any] | None = None


@contextlib.contextmanager
def inductor_profile(name: str):
    """Apply a named profile on top of the flags the process started with, then restore every flag.

    Whatever an earlier scenario (or a library) changed is undone before this one compiles.
    """
    from torch._inductor import config

    global _baseline
    if _baseline is None:
        _baseline = config.get_config_copy()
    saved = config.get_config_copy()
    try:
        config.load_config(_baseline)
        for key, value in INDUCTOR_PROFILES[name].items():
            setattr(config, key, value)
        yield
    finally:
        config.load_config(saved)


def compile_pipeline(pipe, mode: CompileMode, denoiser: str, repeated_blocks: tuple[str, ...] = (),
                     compile_vae: bool = False) -> None:
    """Compile in place (lazily: the first call pays for it)."""
    if mode.compile_kwargs is None:
        return
    module = getattr(pipe, denoiser)
    if mode.regional:
        block_classes = _compile_regions(module, repeated_blocks, mode.compile_kwargs)
        if mode.compile_rest:
            _compile_rest(module, block_classes, mode.compile_kwargs)
    else:
        module.compile(**mode.compile_kwargs)
    if compile_vae:
        to_channels_last(pipe.vae)
        pipe.vae.decode = torch.compile(pipe.vae.decode, **mode.compile_kwargs)


def to_channels_last(vae: torch.nn.Module) -> bool:
    """flux-fast's VAE setting: the decoder's convolutions in channels_last (NHWC, what cuDNN's convolutions run
    natively). Image VAEs only: a video VAE's 5-D Conv3d weights have no channels_last; returns whether it applied."""
    if any(p.dim() == 5 for p in vae.parameters()):
        return False
    vae.to(memory_format=torch.channels_last)
    return True


def _compile_regions(module: torch.nn.Module, repeated_blocks: tuple[str, ...], kwargs: dict[str, Any]) -> set[str]:
    """Compile each repeated block; returns the block class names."""
    if getattr(module, "_repeated_blocks", None) and hasattr(module, "compile_repeated_blocks"):
        module.compile_repeated_blocks(**kwargs)
        return set(module._repeated_blocks)
    # Models without diffusers' `_repeated_blocks`: compile each block of the classes the spec names.
    blocks = [m for m in module.modules() if type(m).__name__ in repeated_blocks]
    if not blocks:
        raise ValueError(f"{type(module).__name__} has no repeated blocks to compile regionally")
    for block in blocks:
        block.compile(**kwargs)
    return set(repeated_blocks)


def _compile_rest(module: torch.nn.Module, block_classes: set[str], kwargs: dict[str, Any]) -> None:
    """Compile every direct child of the denoiser that holds no repeated block, each on its own."""
    for child in module.children():
        if not any(type(m).__name__ in block_classes for m in child.modules()):
            child.compile(**kwargs)


def cache_key(environment: dict[str, Any]) -> str:
    """Compile caches are only reused by the same torch/torchao/diffusers versions on the same GPU kind."""
    parts = [f"torch{environment.get('torch')}", f"torchao{environment.get('torchao')}",
             f"diffusers{environment.get('diffusers')}", environment.get("gpu") or "cpu"]
    return "-".join("".join(c if c.isalnum() or c in "._" else "_" for c in str(p)) for p in parts)


def use_compile_cache(root: Path, environment: dict[str, Any], fresh: bool = False) -> Path:
    """Point inductor's and Triton's caches at a version-keyed folder under `root` (a fresh one if asked)."""
    folder = root / cache_key(environment)
    folder.mkdir(parents=True, exist_ok=True)
    if fresh:  # a new empty folder: every graph compiles cold, and the kept cache is left untouched
        folder = Path(tempfile.mkdtemp(prefix="fresh-", dir=folder))
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    return folder


def cache_counters() -> dict[str, int]:
    """FX-graph cache hits and misses, and the kernel benchmarks coordinate-descent tuning ran (a warm cache
    should run none: the tuned configs are cached beside the kernels)."""
    from torch._dynamo.utils import counters

    return dict(hit=counters["inductor"]["fxgraph_cache_hit"], miss=counters["inductor"]["fxgraph_cache_miss"],
                tuning=counters["inductor"]["coordesc_tuning_bench"])


def cache_state(before: dict[str, int], after: dict[str, int]) -> str | None:
    """'warm' when every compiled graph came from the cache, 'cold' when none did, 'partial' otherwise."""
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    if hits + misses == 0:
        return None
    return "warm" if misses == 0 else "cold" if hits == 0 else "partial"


@contextlib.contextmanager
def eager_fallback_forbidden():
    """Past `recompile_limit` variants of one code object, dynamo runs it eagerly with only a warning: a
    scenario would then be timed partly eager under a compiled name. Make that an error for its lifetime."""
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        yield


@contextlib.contextmanager
def recompiles_forbidden(enabled: bool):
    """During timed rounds a recompilation would be measured as latency: make it an error instead."""
    if not enabled:
        yield
        return
    with torch._dynamo.config.patch(error_on_recompile=True):
        yield
