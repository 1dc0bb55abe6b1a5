"""The known-failure probes' subjects (`measure.capabilities.PROBES`): one Linear quantized as the scenarios
quantize their layers, never a pipeline. The probes run and time it to tell whether this machine has a failure."""

from __future__ import annotations

import torch

from diffbench.spec.schemes import SCHEMES


def quantized_linear(scheme: str, device: str, features_in: int = 64, features_out: int = 64) -> torch.nn.Module:
    """One bf16 Linear quantized with `scheme` (torchao's quantize_, the scheme's config)."""
    from torchao.quantization import quantize_

    linear = torch.nn.Linear(features_in, features_out, device=device, dtype=torch.bfloat16)
    quantize_(linear, SCHEMES[scheme].torchao_config())
    return linear
