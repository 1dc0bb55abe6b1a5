"""How much denoiser work a step-caching mode skipped: one extra, uncompiled call that counts the denoiser's
linear layers as they run.

Every cache mode diffusers ships computes the first denoiser call of a pipeline call in full (there is nothing
to reuse yet), so the linear layers that call ran are one full step's work; a later call that runs fewer was
(partly) served from the cache. The counts are taken with `torch.compiler.set_stance("force_eager")`, so a
compiled scenario is counted on the same hooks without recompiling, and the counting hooks never enter a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from diffbench.build.built import Built
from diffbench.spec.caching import CACHE_MODES, CacheMode

FULL = 0.99  # a denoiser call that ran at least this share of the first call's linears computed in full


def linear_calls_per_denoiser_call(denoiser: torch.nn.Module, call: Callable[[], Any]) -> list[int]:
    """Linear layers run during each denoiser call of one pipeline call (compiled code run eagerly)."""
    counts: list[int] = []

    def new_call(module, args, kwargs):
        counts.append(0)

    def linear_ran(module, args):
        if counts:
            counts[-1] += 1

    handles = [denoiser.register_forward_pre_hook(new_call, with_kwargs=True)]
    handles += [m.register_forward_pre_hook(linear_ran) for m in denoiser.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.compiler.set_stance("force_eager"):
            call()
    finally:
        for handle in handles:
            handle.remove()
    return counts


def of_built(built: Built, call: Callable[[], Any], trained_weights: bool) -> dict | None:
    """The `cache_work` record of a built scenario, counted on one more `call`; None without a cache."""
    if built.scenario.cache == "none":
        return None
    denoiser = getattr(built.pipe, built.scenario.spec.denoiser)
    return cache_work(CACHE_MODES[built.scenario.cache], denoiser, call, trained_weights)


def cache_work(mode: CacheMode, denoiser: torch.nn.Module, call: Callable[[], Any], trained_weights: bool) -> dict:
    """The `cache_work` record of a cached scenario: its kind, whether its latency depends on the weights, and
    how many denoiser calls were computed in full or reused (in part or whole)."""
    counts = linear_calls_per_denoiser_call(denoiser, call)
    full_step = counts[0] if counts else 0
    full_calls = sum(c >= FULL * full_step for c in counts)
    return dict(
        mode=mode.name, kind=mode.label, lossless=mode.lossless, adaptive=mode.adaptive,
        # an adaptive mode skips what the activations allow: on random weights its speed means nothing
        weight_dependent_latency=mode.adaptive and not trained_weights,
        denoiser_calls=len(counts), computed_calls=full_calls, reused_calls=len(counts) - full_calls,
        computed_fraction=sum(counts) / (full_step * len(counts)) if full_step else None,
    )
