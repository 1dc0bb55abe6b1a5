"""Step caching as a matrix dimension (data): reusing denoiser work between steps, through diffusers' own hooks
(`denoiser.enable_cache(config)`, diffusers >= 0.36; `build.caching` applies them).

Two properties of each mode decide how its results may be read:
- `lossless`: the output is the uncached one up to rounding (text K/V computed once); every other mode trades
  quality for speed, and the quality suite allows it bounds of its own (`data/thresholds.toml`, [cache.*],
  derived with bf16: with bf16 they are the whole allowance, with another scheme the looser of those and the
  scheme's holds: `spec/gates.py`).
- `adaptive`: the mode decides from the activations whether to reuse (a threshold on a residual's change), so
  how much it skips, and so its speed, depends on the weights: on random (synthetic) weights its latency says
  nothing and is marked weight-dependent; the trained proxy measures its quality and computed fraction. A fixed
  schedule (TaylorSeer's interval, PAB's block and timestep ranges) skips the same on any weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CacheMode:
    name: str
    description: str
    config: str | None = None  # the diffusers config class (exported by `diffusers`); None: no cache
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    lossless: bool = False
    adaptive: bool = False  # decides from the activations: speed depends on the weights
    # Its config takes `current_timestep_callback` (the pipeline's `current_timestep`): schedules by timestep.
    needs_timestep: bool = False
    # The denoiser classes whose blocks the mode's hooks act on (empty: any CacheMixin denoiser). On others
    # `enable_cache` succeeds and changes nothing, so the scenario is skipped rather than timed as "cached".
    denoisers: tuple[str, ...] = ()
    # Its hooks decide in code dynamo cannot trace (a torch.compiler.disable'd function, a branch on tensor data):
    # a fullgraph compile mode fails on it; `regional-breaks` compiles around it (measured on tiny FLUX and Wan).
    breaks_graph: bool = True

    @property
    def label(self) -> str:
        """The report's word for the mode's kind."""
        if self.config is None:
            return "none"
        return "lossless" if self.lossless else ("lossy, adaptive" if self.adaptive else "lossy, fixed schedule")


CACHE_MODES: dict[str, CacheMode] = {
    c.name: c
    for c in [
        CacheMode("none", "no step caching (the default)", breaks_graph=False),
        CacheMode("fbcache-0.05", "first-block cache (ParaAttention's): the remaining blocks are reused while the "
                  "first block's residual changes by less than 5%", "FirstBlockCacheConfig", {"threshold": 0.05},
                  adaptive=True),
        CacheMode("fbcache-0.12", "first-block cache at a 12% threshold", "FirstBlockCacheConfig",
                  {"threshold": 0.12}, adaptive=True),
        CacheMode("taylorseer-5", "TaylorSeer: the denoiser's outputs predicted by a first-order Taylor expansion, "
                  "computed every 5th step after the first 3", "TaylorSeerCacheConfig",
                  {"cache_interval": 5, "disable_cache_before_step": 3, "max_order": 1}),
        CacheMode("magcache", "MagCache: reuse while the residual magnitude ratio stays near 1 (needs per-model "
                  "magnitude ratios)", "MagCacheConfig", adaptive=True),
        CacheMode("fastercache", "FasterCache: attention outputs reused across steps, unconditional branch "
                  "approximated", "FasterCacheConfig",
                  {"spatial_attention_block_skip_range": 2, "is_guidance_distilled": True}, needs_timestep=True),
        CacheMode("pab", "Pyramid Attention Broadcast: spatial attention reused every 2nd block call between "
                  "timesteps 100 and 800", "PyramidAttentionBroadcastConfig",
                  {"spatial_attention_block_skip_range": 2}, needs_timestep=True),
        # diffusers 0.42.1's apply_text_kv_cache hooks NucleusMoEImageTransformerBlock only (measured on tiny
        # FLUX and Wan: every linear still ran at every step).
        CacheMode("textkv", "text key/value projections computed once and reused at every step (exact)",
                  "TextKVCacheConfig", lossless=True, denoisers=("NucleusMoEImageTransformer2DModel",),
                  breaks_graph=False),
    ]
}
