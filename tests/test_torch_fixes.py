"""The torch 2.9-2.11 warm-cache coordinate-descent fix: detected, applied once, recorded, and it keeps the winner."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from diffbench.measure import machine
from diffbench.build import torch_fixes


class BuggyAutotuner:
    def recheck_autotune_cache(self, reload_kernel_from_src):  # the shape of torch 2.9-2.11's method
        configs = [result.config for result in self.compile_results]
        cached_configs, _, self.autotune_cache_info = check_autotune_cache(configs, self.filename, self.inductor_meta)
        if len(cached_configs) == 1 and len(configs) > 1:  # the affected versions' guard
            pass


def check_autotune_cache(configs, filename, meta):
    return [], None, {}


def _installed_torch() -> tuple[int, int]:
    import torch
    from packaging.version import Version

    return Version(torch.__version__.split("+")[0]).release[:2]


def test_the_installed_torch_is_judged_by_its_own_source():
    """The inspection reads the installed torch's real CachingAutotuner.recheck_autotune_cache: the bug is found
    exactly where the upstream fix is missing (torch 2.9-2.11; fixed in 2.12 by pytorch/pytorch#173391)."""
    pytest.importorskip("triton")  # without Triton there is no autotuner to fix
    from torch._inductor.runtime.triton_heuristics import CachingAutotuner

    assert torch_fixes._autotuner() is CachingAutotuner
    buggy = (2, 9) <= _installed_torch() < (2, 12)
    method = CachingAutotuner.recheck_autotune_cache
    if method is torch_fixes.recheck_autotune_cache:  # already replaced in this process (the plugin's first build)
        assert buggy  # by apply(), which replaces only what the inspection found buggy
    else:
        source = inspect.getsource(method)
        assert "check_autotune_cache(" in source and "cached_configs" in source  # torch's source, there to read
        assert torch_fixes.has_coordesc_warm_cache_bug(method) is buggy
    # The stand-ins the other tests use are judged the same way.
    assert torch_fixes.has_coordesc_warm_cache_bug(BuggyAutotuner.recheck_autotune_cache)
    assert not torch_fixes.has_coordesc_warm_cache_bug(torch_fixes.recheck_autotune_cache)
    assert not torch_fixes.has_coordesc_warm_cache_bug(len)  # no source: leave torch alone


def test_apply_patches_the_installed_torch_only_where_it_needs_it(monkeypatch):
    """apply() on the real CachingAutotuner: replaced (and recorded) on an affected torch, untouched on a fixed one."""
    pytest.importorskip("triton")
    from torch._inductor.runtime.triton_heuristics import CachingAutotuner

    current = CachingAutotuner.recheck_autotune_cache
    monkeypatch.setattr(CachingAutotuner, "recheck_autotune_cache", current)  # put back after the test
    torch_fixes.apply()
    torch_fixes.apply()
    if (2, 9) <= _installed_torch() < (2, 12):
        assert CachingAutotuner.recheck_autotune_cache is torch_fixes.recheck_autotune_cache
        assert torch_fixes.applied() == [torch_fixes.COORDESC_WARM_CACHE]
    else:
        assert CachingAutotuner.recheck_autotune_cache is current and torch_fixes.applied() == []


def test_applied_once_and_recorded_in_the_environment(monkeypatch):
    autotuner = type("Autotuner", (BuggyAutotuner,), {})
    monkeypatch.setattr(torch_fixes, "_autotuner", lambda: autotuner)
    assert torch_fixes.applied() == []
    torch_fixes.apply()
    torch_fixes.apply()
    assert autotuner.recheck_autotune_cache is torch_fixes.recheck_autotune_cache
    assert machine.environment()["torch_fixes"] == [torch_fixes.COORDESC_WARM_CACHE]


def test_a_fixed_torch_is_left_alone(monkeypatch):
    class Fixed:
        def recheck_autotune_cache(self, reload_kernel_from_src):
            return None

    original = Fixed.recheck_autotune_cache
    monkeypatch.setattr(torch_fixes, "_autotuner", lambda: Fixed)
    torch_fixes.apply()
    assert Fixed.recheck_autotune_cache is original and torch_fixes.applied() == []


@pytest.mark.parametrize("found_by_coordesc", [True, False])
def test_a_single_config_kernel_keeps_the_cached_winner_and_its_coordesc_mark(monkeypatch, found_by_coordesc):
    """The two upstream bugs: one config (the affected versions skip the hit) and the mark not passed on."""
    triton = pytest.importorskip("triton")
    from torch._inductor.runtime import triton_heuristics

    compiled = SimpleNamespace(config=triton.Config({"XBLOCK": 128}, num_warps=4, num_stages=1))
    cached = triton.Config({"XBLOCK": 128}, num_warps=4, num_stages=1)
    cached.found_by_coordesc = found_by_coordesc
    monkeypatch.setattr(triton_heuristics, "check_autotune_cache",
                        lambda configs, filename, meta: ([cached], None, {"hit": True}))
    kernel = SimpleNamespace(is_statically_launchable=lambda: True, compile_results=[compiled],
                             filename="k.py", inductor_meta={})
    torch_fixes.recheck_autotune_cache(kernel, reload_kernel_from_src=None)
    assert kernel.compile_results == [compiled]
    assert compiled.config.found_by_coordesc is found_by_coordesc  # run() skips coordinate descent when True
    assert kernel.autotune_cache_info == {"hit": True}
