"""Each CPU-capable scheme really quantizes, and the save → from_pretrained(TorchAoConfig) path round-trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffbench.measure import instruments
from diffbench.build import weights
from diffbench.build.sources import weights_source
from diffbench.spec.models import MODELS
from diffbench.spec.schemes import SCHEMES

SPEC = MODELS["flux-dev"]
CPU_SCHEMES = {"int8wo": "Int8Tensor", "int8dq": "Int8Tensor"}


def _load(cache_dir, scheme):
    config = SCHEMES[scheme].torchao_config()
    source = weights_source("tiny", cache_dir)
    return source.load(SPEC, {"transformer": config} if config else {}, "cpu").pipe


def _generate(pipe):
    kwargs = SPEC.tiny_inputs.call_kwargs(["two red circles on a blue background"], steps=2)
    return pipe(**kwargs, output_type="np", generator=torch.Generator().manual_seed(0)).images


@pytest.mark.parametrize("scheme, tensor_class", CPU_SCHEMES.items())
def test_scheme_quantizes_the_denoiser(cache_dir, scheme, tensor_class):
    baseline = _load(cache_dir, "bf16")
    quantized = _load(cache_dir, scheme)
    weight = quantized.transformer.transformer_blocks[0].attn.to_q.weight
    assert type(weight).__name__ == tensor_class
    assert type(baseline.transformer.transformer_blocks[0].attn.to_q.weight) is torch.nn.Parameter
    # Linear weights go from 2 bytes to 1 byte (+ scales): the denoiser's memory must drop.
    before = instruments.module_nbytes(baseline.transformer)
    after = instruments.module_nbytes(quantized.transformer)
    assert after < 0.8 * before, (before, after)
    # Other components are untouched by default.
    assert instruments.module_nbytes(quantized.vae) == instruments.module_nbytes(baseline.vae)
    images = _generate(quantized)
    assert images.shape == (1, 64, 64, 3) and np.isfinite(images).all()


def test_quantization_config_goes_through_from_pretrained(cache_dir, monkeypatch):
    from diffusers import DiffusionPipeline

    seen = {}
    original = DiffusionPipeline.from_pretrained.__func__

    def spy(cls, path, **kwargs):
        seen.update(kwargs)
        return original(cls, path, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(spy))
    _load(cache_dir, "int8wo")
    mapping = seen["quantization_config"].quant_mapping
    assert list(mapping) == ["transformer"]
    assert type(mapping["transformer"].quant_type).__name__ == "Int8WeightOnlyConfig"
    assert mapping["transformer"].quant_type.set_inductor_config is False
    assert seen["use_safetensors"] is True


def test_save_and_reload_round_trips(cache_dir):
    """The pipeline loaded from disk computes exactly what the one built in memory computes."""
    in_memory = weights.assemble(SPEC, "tiny", "cpu", torch.float32)
    in_memory.to(torch.bfloat16)
    reloaded = _load(cache_dir, "bf16")
    for name in SPEC.components:
        a, b = getattr(in_memory, name).state_dict(), getattr(reloaded, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert np.array_equal(_generate(in_memory), _generate(reloaded))


def test_weights_depend_on_the_seed():
    a = weights.assemble(SPEC, "tiny", "cpu", torch.float32, seed=0).transformer
    b = weights.assemble(SPEC, "tiny", "cpu", torch.float32, seed=0).transformer
    c = weights.assemble(SPEC, "tiny", "cpu", torch.float32, seed=1).transformer
    assert torch.equal(a.proj_out.weight, b.proj_out.weight)
    assert not torch.equal(a.proj_out.weight, c.proj_out.weight)
