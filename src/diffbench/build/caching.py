"""Apply a step-caching mode of `spec.caching` to the denoiser, through diffusers' own `enable_cache`."""

from __future__ import annotations

import diffusers

from diffbench.spec.caching import CacheMode


def cache_config(mode: CacheMode, pipe):
    """The diffusers config object of a mode, None for `none`. Timestep-scheduled modes read the pipeline's
    `current_timestep` (set by the denoising loop) through a callback."""
    if mode.config is None:
        return None
    kwargs = dict(mode.kwargs)
    if mode.needs_timestep:
        kwargs["current_timestep_callback"] = lambda: pipe.current_timestep
    return getattr(diffusers, mode.config)(**kwargs)


def apply_cache(pipe, denoiser: str, mode: CacheMode) -> None:
    """Before compiling: the hooks replace the blocks' forwards, which compilation then traces."""
    config = cache_config(mode, pipe)
    if config is not None:
        getattr(pipe, denoiser).enable_cache(config)
