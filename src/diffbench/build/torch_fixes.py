"""Upstream torch fixes the suite applies to an installed torch that lacks them; each applied fix is recorded in
the results' environment (`torch_fixes`), so a number measured with one is never mistaken for stock behaviour.

One so far. torch 2.9-2.11 re-run coordinate-descent tuning on every kernel loaded from a warm compile cache
(pytorch/pytorch#172819, fixed in 2.12 by #173391): `CachingAutotuner.recheck_autotune_cache` ignores a cached
winner when the kernel has a single config, and does not pass the winner's `found_by_coordesc` on to the compiled
config that `run()` checks. Under the `torchao` inductor profile a warm session then spends a minute re-tuning
(baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-torchao-profile-warm.json). Only compile time changes: the kernels
and their tuned configs are the ones the cold run chose.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

COORDESC_WARM_CACHE = "pytorch/pytorch#172819 (coordinate-descent re-tuning on a warm cache)"


def recheck_autotune_cache(self, reload_kernel_from_src: Callable[[], Any]) -> None:
    """`CachingAutotuner.recheck_autotune_cache` as fixed in torch 2.12: on a cache hit keep the cached winner,
    marked as found by coordinate descent when it was."""
    from torch._inductor.runtime import triton_heuristics as th

    assert self.is_statically_launchable()
    configs = [result.config for result in self.compile_results]
    cached, _, self.autotune_cache_info = th.check_autotune_cache(configs, self.filename, self.inductor_meta)
    if len(cached) != 1:
        return
    best = cached[0]
    found_by_coordesc = getattr(best, "found_by_coordesc", False)
    for result in self.compile_results:
        if th.triton_config_to_hashable(result.config) == th.triton_config_to_hashable(best):
            result.config.found_by_coordesc = found_by_coordesc
            self.compile_results = [result]
            return
    if found_by_coordesc:  # tuned after the kernel was cached: compile the winner now
        with th.dynamo_timed("CachingAutotuner.slow_precompile_config"):
            if self.fn.fn is None:
                self.fn = reload_kernel_from_src().fn
            self.compile_results = [self._precompile_config(best)]


def has_coordesc_warm_cache_bug(method: Callable) -> bool:
    """The affected versions skip a cached winner unless the kernel has several configs."""
    try:
        return "len(configs) > 1" in inspect.getsource(method)
    except (OSError, TypeError):
        return False


def _autotuner():
    try:
        from torch._inductor.runtime.triton_heuristics import CachingAutotuner
    except ImportError:  # no Triton: nothing is tuned
        return None
    return CachingAutotuner


def apply() -> None:
    """Apply the fixes this torch needs (idempotent)."""
    autotuner = _autotuner()
    if autotuner is not None and has_coordesc_warm_cache_bug(autotuner.recheck_autotune_cache):
        autotuner.recheck_autotune_cache = recheck_autotune_cache


def applied() -> list[str]:
    """The fixes in effect in this process (for the results' environment)."""
    autotuner = _autotuner()
    return [COORDESC_WARM_CACHE] if autotuner and autotuner.recheck_autotune_cache is recheck_autotune_cache else []
