"""The int8 scale mutation the proxy's gates must catch (tests/test_proxy.py), and the calibration behind the gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffbench.build.scale_mutation import ProtocolChanged, scaled_int8_weights

from diffbench.spec.schemes import SCHEMES

ROOT = Path(__file__).resolve().parents[1]


def _int8_linear() -> torch.nn.Module:
    from torchao.quantization import quantize_

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.GELU(), torch.nn.Linear(48, 32)).to(torch.bfloat16)
    quantize_(model, SCHEMES["int8wo"].torchao_config())
    return model


def test_every_int8_scale_is_multiplied_and_put_back():
    model = _int8_linear()
    before = [layer.weight for layer in (model[0], model[2])]
    dequantized = [w.dequantize().float() for w in before]
    x = torch.randn(4, 64, dtype=torch.bfloat16)
    reference = model(x)
    with scaled_int8_weights(model, 1.03) as count:
        assert count == 2
        for layer, original in zip((model[0], model[2]), dequantized):
            assert type(layer.weight).__name__ == "Int8Tensor" and layer.weight is not before[0]
            torch.testing.assert_close(layer.weight.dequantize().float(), original * 1.03, rtol=1e-2, atol=1e-3)
        assert not torch.equal(model(x), reference)
    assert [layer.weight for layer in (model[0], model[2])] == before  # the very same parameters are back
    assert torch.equal(model(x), reference)


def test_a_torchao_whose_int8_weights_have_no_scale_is_reported(monkeypatch):
    from torchao.quantization import Int8Tensor

    flatten = Int8Tensor.__tensor_flatten__

    def renamed(self):
        names, context = flatten(self)
        return [("weight_scale" if n == "scale" else n) for n in names], context

    monkeypatch.setattr(Int8Tensor, "__tensor_flatten__", renamed)
    model = _int8_linear()
    with pytest.raises(ProtocolChanged, match=r"Int8Tensor \(torchao \d.*\) flattens to inner tensors "
                                              r"\['qdata', 'weight_scale'.*\], none named 'scale'"):
        with scaled_int8_weights(model, 1.03):
            pass
    assert type(model[0].weight).__name__ == "Int8Tensor"  # nothing was left half-mutated


def test_a_module_without_int8_weights_is_reported():
    with pytest.raises(ProtocolChanged, match="no torchao Int8Tensor weight"):
        with scaled_int8_weights(torch.nn.Linear(8, 8), 1.03):
            pass


def test_the_proxy_thresholds_are_the_committed_calibration():
    """src/diffbench/data/thresholds.toml's proxy bounds are what `diffbench calibrate` derives from the
    committed runs."""
    result = subprocess.run([sys.executable, "-m", "diffbench.face.cli", "calibrate", "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_cache_mutation_is_judged_by_the_bounds_bf16_with_that_cache_faces():
    """`diffbench calibrate`: a cache set to skip more is held, as spec/gates.py holds bf16 with that cache, to
    the cache's own bounds (derived with bf16), and bf16's where the cache has none, not to the looser of the two."""
    from diffbench.face import calibration as tool
    from diffbench.spec import gates

    calibration = dict(families={"near-lossless": dict(bounds=dict(ssim_min=0.98, psnr_min=36.5))},
                       caches={"fastercache": dict(bounds=dict(psnr_min=48.0))})
    assert tool.faced_by(calibration, "cache", "fastercache") == dict(ssim_min=0.98, psnr_min=48.0)
    assert tool.faced_by(calibration, "cache", "fbcache-0.05") == dict(ssim_min=0.98, psnr_min=36.5)  # no own bounds
    row = dict(kind="mutation", scheme="bf16", cache="fastercache", attention="sdpa",
               worst=dict(ssim=0.9959, psnr=46.3))
    (verdict,) = tool.verdicts([row], calibration)
    assert verdict["rejected"] and verdict["gates"]["psnr_min"]["fails"]  # bf16's 36.5 alone would pass it
    (verdict,) = tool.verdicts([dict(row, worst=dict(ssim=0.99, psnr=49.0))], calibration)
    assert not verdict["rejected"]
    # the suite's own gates agree: bf16 + a cache takes the cache's bound, fp8dqrow + a cache the looser
    table = gates.Thresholds({"scheme": {"bf16": dict(psnr_min=36.5), "fp8dqrow": dict(psnr_min=31.0)},
                              "cache": {"fastercache": dict(psnr_min=48.0)}}, "test")
    assert [g.bound for g in table.gates("flux-dev", "bf16", "proxy", "fastercache")] == [48.0]
    assert [g.bound for g in table.gates("flux-dev", "fp8dqrow", "proxy", "fastercache")] == [31.0]
