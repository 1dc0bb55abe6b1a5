"""The attention dimension: ids, skips as data, and the kernel really held while a scenario runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffbench.measure import capabilities
from diffbench.spec import rules
from diffbench.build import attention
from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.build.built import BuildOptions
from diffbench.build.pipelines import PipelineCache
from diffbench.spec.matrix import Scenario
from diffbench.measure.runner import RunOptions, call_kwargs, outputs
from diffbench.build.sources import weights_source

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
    reason = rules.skip_reason(Scenario("sdxl", "bf16", attention="flash-attn"))
    assert reason and "dispatcher" in reason
    assert rules.skip_reason(Scenario("flux-dev", "bf16", attention="flash-attn")) is None


def test_a_missing_attention_package_is_reported_with_diffusers_reason():
    pytest.importorskip("diffusers.models.attention_dispatch")
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        reason = ATTENTION_KERNELS["flash-attn"].unavailable()
        assert reason and reason.startswith("attention flash-attn:") and "flash" in reason.lower()
    else:
        pytest.skip("flash-attn is installed here")


def test_the_kernel_is_pinned_for_the_denoiser_only(cache_dir, monkeypatch):
    """A sdpa-math scenario's denoiser calls run with the fused kernels disabled, the text encoders' do not."""
    real_sdpa = torch.nn.functional.scaled_dot_product_attention
    seen = []

    def recording_sdpa(*args, **kwargs):
        seen.append((torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled()))
        return real_sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording_sdpa)
    source = weights_source("tiny", cache_dir)
    cache = PipelineCache(BuildOptions(source, "cpu", torch.float32))
    run = RunOptions("cpu", source, steps=2)

    def generate(scenario):
        built = cache.get(scenario)
        return np.asarray(outputs(built.pipe(**call_kwargs(built, run), generator=torch.Generator().manual_seed(0))))

    default = generate(Scenario("flux-dev", "bf16"))
    assert seen and all(flash for flash, _ in seen)  # torch may pick any kernel
    calls = len(seen)
    seen.clear()
    math = generate(Scenario("flux-dev", "bf16", attention="sdpa-math"))
    pinned = [math_on for flash, math_on in seen if not flash]
    assert len(seen) == calls and pinned and all(pinned)  # the denoiser's calls
    assert len(pinned) < calls  # the text encoders' calls keep torch's choice
    cache.close()
    assert torch.backends.cuda.flash_sdp_enabled()
    np.testing.assert_allclose(math, default, atol=1e-3)  # the same attention, computed by another kernel


def test_the_pin_is_traced_into_compiled_graphs(cache_dir):
    """A compiled block must carry the backend in its graph: otherwise compile caches (keyed on the graph)
    hand a pinned scenario the default kernel's compiled code."""
    from diffbench.build.attention import attention_modules
    from diffbench.build.weights import assemble
    from diffbench.spec.models import MODELS

    transformer = assemble(MODELS["flux-dev"], "tiny", "cpu", torch.float32).transformer
    attention.pin(ATTENTION_KERNELS["sdpa-math"], transformer)
    block = transformer.transformer_blocks[0]
    assert block.attn in attention_modules(transformer)
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = torch.compile(block, backend=capture, fullgraph=True)
    hidden, context = torch.randn(1, 16, 32), torch.randn(1, 8, 32)  # tiny: 2 heads x 16
    temb = torch.randn(1, 32)
    compiled(hidden, context, temb)
    code = "\n".join(gm.code for gm in graphs)
    assert "_sdpa_kernel" in code and "MATH" in code
