"""Inductor flags are isolated per scenario, compile caches are keyed, recompiles are caught."""

from __future__ import annotations

import os

import pytest
import torch

from diffbench.build import compilation
from diffbench.build.built import BuildOptions
from diffbench.build.pipelines import PipelineCache
from diffbench.spec.matrix import Scenario
from diffbench.build.sources import weights_source


def test_a_quantized_scenario_does_not_change_the_next_ones_flags(cache_dir, monkeypatch):
    """torchao's set_inductor_config=True flips inductor flags process-wide; the next scenario must not see it."""
    from torch._inductor import config
    from torchao.quantization.utils import recommended_inductor_config_setter

    from diffbench.build import pipelines as build_module

    real_build = build_module.build

    def build_like_torchao_default(scenario, options):
        built = real_build(scenario, options)
        if scenario.scheme != "bf16":
            recommended_inductor_config_setter()  # what quantize_ does with set_inductor_config=True
        return built

    monkeypatch.setattr(build_module, "build", build_like_torchao_default)
    cache = PipelineCache(BuildOptions(weights_source("tiny", cache_dir), "cpu"))
    before = compilation.inductor_flags()
    assert before["coordinate_descent_tuning"] is False
    cache.get(Scenario("flux-dev", "int8wo"))
    assert config.coordinate_descent_tuning is True  # torchao's setting is live inside its own scenario
    bf16 = cache.get(Scenario("flux-dev", "bf16"))
    assert compilation.inductor_flags() == before
    assert bf16.info["inductor_flags"] == before
    cache.close()
    assert compilation.inductor_flags() == before


def test_suite_configs_never_ask_torchao_to_set_inductor_flags():
    from diffbench.spec.schemes import SCHEMES, Unavailable

    for scheme in SCHEMES.values():
        try:
            config = scheme.torchao_config()
        except Unavailable:
            continue
        assert getattr(config, "set_inductor_config", False) is False, scheme.name


def test_inductor_profile_applies_and_restores():
    from torch._inductor import config

    with compilation.inductor_profile("torchao"):
        assert config.coordinate_descent_tuning is True
    assert config.coordinate_descent_tuning is False


def test_compile_cache_is_keyed_by_versions_and_gpu(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    env = dict(torch="2.11.0+cu130", torchao="0.18.0", diffusers="0.42.1", gpu="NVIDIA H100 80GB HBM3")
    folder = compilation.use_compile_cache(tmp_path, env)
    assert folder.name == "torch2.11.0_cu130-torchao0.18.0-diffusers0.42.1-NVIDIA_H100_80GB_HBM3"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder / "inductor")
    for changed in (dict(torchao="0.17.0"), dict(gpu="NVIDIA H200"), dict(diffusers="0.43.0")):
        assert compilation.use_compile_cache(tmp_path, env | changed) != folder
    fresh = compilation.use_compile_cache(tmp_path, env, fresh=True)
    assert fresh.parent == folder and not any((fresh / "inductor").glob("*"))


def test_cache_state():
    assert compilation.cache_state(dict(hit=0, miss=0), dict(hit=0, miss=0)) is None
    assert compilation.cache_state(dict(hit=0, miss=0), dict(hit=0, miss=3)) == "cold"
    assert compilation.cache_state(dict(hit=1, miss=2), dict(hit=4, miss=2)) == "warm"
    assert compilation.cache_state(dict(hit=0, miss=0), dict(hit=1, miss=1)) == "partial"


def test_a_recompile_during_timed_rounds_is_an_error():
    torch.compiler.reset()
    fn = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    fn(torch.ones(2))
    with compilation.recompiles_forbidden(True), pytest.raises(Exception, match="[Rr]ecompil"):
        fn(torch.ones(3))
    torch.compiler.reset()


def test_compile_vae_scenarios_compile_the_decoder(cache_dir):
    cache = PipelineCache(BuildOptions(weights_source("tiny", cache_dir), "cpu"))
    plain = cache.get(Scenario("flux-dev", "bf16", "regional")).pipe.vae.decode
    assert not hasattr(plain, "_torchdynamo_orig_callable")
    compiled = cache.get(Scenario("flux-dev", "bf16", "regional", compile_vae=True)).pipe.vae.decode
    assert hasattr(compiled, "_torchdynamo_orig_callable")  # torch.compile's wrapper (compiles on first call)
    cache.close()


def test_hitting_the_recompile_limit_is_an_error_not_a_silent_eager_fallback():
    torch.compiler.reset()
    fn = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    limited = torch._dynamo.config.patch(recompile_limit=2, automatic_dynamic_shapes=False)
    with compilation.eager_fallback_forbidden(), limited:
        fn(torch.ones(1))
        fn(torch.ones(2))
        with pytest.raises(Exception, match="[Rr]ecompile.limit|cache_size_limit|recompile_limit"):
            fn(torch.ones(3))
    torch.compiler.reset()


def test_regional_all_compiles_every_block_and_each_other_child(cache_dir):
    cache = PipelineCache(BuildOptions(weights_source("tiny", cache_dir), "cpu"))
    built = cache.get(Scenario("flux-dev", "bf16", "regional-all"))
    denoiser = built.pipe.transformer
    compiled = {name for name, m in denoiser.named_modules() if m._compiled_call_impl is not None}
    rest = {"pos_embed", "time_text_embed", "context_embedder", "x_embedder", "norm_out", "proj_out"}
    blocks = {f"transformer_blocks.{i}" for i in range(len(denoiser.transformer_blocks))}
    blocks |= {f"single_transformer_blocks.{i}" for i in range(len(denoiser.single_transformer_blocks))}
    assert compiled == rest | blocks  # the block lists themselves and the denoiser stay eager
    plain = cache.get(Scenario("flux-dev", "bf16", "regional")).pipe.transformer
    assert {name for name, m in plain.named_modules() if m._compiled_call_impl is not None} == blocks
    cache.close()
