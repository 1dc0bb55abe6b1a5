"""The attention dimension: ids, skips as data, and the kernel really held while a scenario runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffbench import capabilities, matrix
from diffbench.attention import ATTENTION_KERNELS
from diffbench.build import BuildOptions, PipelineCache
from diffbench.matrix import Scenario
from diffbench.runner import RunOptions, call_kwargs, outputs
from diffbench.weights import WeightsSource

CPU = capabilities.Target("cpu")


def test_the_default_kernel_keeps_ids_and_others_are_appended():
    assert Scenario("flux-dev", "fp8dqrow", "regional").id == "flux-dev-fp8dqrow-regional-nofuse-bs1"
    cudnn = Scenario("flux-dev", "fp8dqrow", "regional", attention="sdpa-cudnn")
    assert cudnn.id == "flux-dev-fp8dqrow-regional-nofuse-bs1-attn-sdpa-cudnn"
    assert cudnn.build_key != Scenario("flux-dev", "fp8dqrow", "regional").build_key


def test_cuda_kernels_are_skipped_on_cpu_and_dispatcher_kernels_need_a_dispatching_model():
    assert capabilities.skip_reason(Scenario("flux-dev", "bf16", attention="sdpa-cudnn"), CPU) == \
        "attention sdpa-cudnn needs a CUDA device"
    assert capabilities.skip_reason(Scenario("flux-dev", "bf16", attention="sdpa-math"), CPU) is None
    reason = matrix.skip_reason(Scenario("sdxl", "bf16", attention="flash-attn"))
    assert reason and "dispatcher" in reason
    assert matrix.skip_reason(Scenario("flux-dev", "bf16", attention="flash-attn")) is None


def test_a_missing_attention_package_is_reported_with_diffusers_reason():
    pytest.importorskip("diffusers.models.attention_dispatch")
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        reason = ATTENTION_KERNELS["flash-attn"].unavailable()
        assert reason and reason.startswith("attention flash-attn:") and "flash" in reason.lower()
    else:
        pytest.skip("flash-attn is installed here")


def test_the_kernel_is_held_for_the_scenario_and_released_after(cache_dir, monkeypatch):
    """Every SDPA call of a sdpa-math scenario runs with the fused kernels disabled; the flags come back after."""
    real_sdpa = torch.nn.functional.scaled_dot_product_attention
    seen = []

    def recording_sdpa(*args, **kwargs):
        seen.append((torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled()))
        return real_sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording_sdpa)
    source = WeightsSource("tiny", cache_dir)
    cache = PipelineCache(BuildOptions(source, "cpu", torch.float32))
    run = RunOptions("cpu", source, steps=2)

    def generate(scenario):
        built = cache.get(scenario)
        return np.asarray(outputs(built.pipe(**call_kwargs(built, run), generator=torch.Generator().manual_seed(0))))

    default = generate(Scenario("flux-dev", "bf16"))
    assert seen and all(flash for flash, _ in seen)  # torch may pick any kernel
    seen.clear()
    math = generate(Scenario("flux-dev", "bf16", attention="sdpa-math"))
    assert seen and all(not flash and math_on for flash, math_on in seen)
    cache.close()
    assert torch.backends.cuda.flash_sdp_enabled()
    np.testing.assert_allclose(math, default, atol=1e-3)  # the same attention, computed by another kernel
