"""The int8 scale mutation the proxy's gates must catch (tests/test_proxy.py), and the calibration behind the gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from quality_mutation import ProtocolChanged, scaled_int8_weights

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
    """src/diffbench/data/thresholds.toml's proxy bounds are what tools/calibrate_quality.py derives from the committed runs."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "calibrate_quality.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
