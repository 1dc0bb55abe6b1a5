"""A small numeric break in the FP8 attention (`--attention cudnn-fp8`), for its quality gates to catch.

An FP8 attention kernel that gets a descale factor a few percent wrong, or keeps a mantissa bit fewer, still
produces plausible images; the proxy's gates for `cudnn-fp8` must notice (`diffbench-jobs quality-mutations
--fp8-attention` measures how often they do). A change made to the attention on purpose, so it lives where
models are made and changed. Within `mutated(...)`, build/cudnn_attention.py's `fp8_sdpa` applies it to the
quantized Q/K/V before cuDNN runs: eager calls only, since a compiled graph keeps the path it was traced with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Fp8AttentionMutation:
    """What the kernel is told wrong. `setting` and `value` name it in a quality log's `mutation` record."""

    setting: str  # descale_qk, descale_o or element
    value: float | str
    mode_value: float | str  # what is right: 1.0, or e4m3

    def apply(self, q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor, descale_q: torch.Tensor,
              descale_o: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(q8, k8, v8, descale_q, descale_o) as the mutated path uses them."""
        if self.setting == "descale_qk":  # Q's descale off: every score, so the softmax temperature, x value
            descale_q = descale_q * float(self.value)
        elif self.setting == "descale_o":  # the output's descale off: every output x value (V's descale off
            descale_o = descale_o * float(self.value)  # does the same, but can push O past e4m3's 448)
        elif self.setting == "element":  # Q, K, V rounded to e5m2 (2 mantissa bits, e4m3 keeps 3) and back
            dtype = getattr(torch, f"float8_{self.value}fn" if self.value == "e4m3" else f"float8_{self.value}")
            q8, k8, v8 = (t.to(dtype).to(t.dtype) for t in (q8, k8, v8))
        else:
            raise ValueError(f"unknown FP8 attention mutation {self.setting!r}")
        return q8, k8, v8, descale_q, descale_o


# The mutations measured, each as a step up a scale: scores 5% then 20% too hot or cold (the softmax's
# temperature), outputs 3% (the int8 weight-scale mutations' size) then 10% off, one mantissa bit fewer.
MUTATIONS = (
    Fp8AttentionMutation("descale_qk", 1.05, 1.0),
    Fp8AttentionMutation("descale_qk", 0.95, 1.0),
    Fp8AttentionMutation("descale_qk", 1.2, 1.0),
    Fp8AttentionMutation("descale_qk", 0.8, 1.0),
    Fp8AttentionMutation("descale_o", 1.03, 1.0),
    Fp8AttentionMutation("descale_o", 0.97, 1.0),
    Fp8AttentionMutation("descale_o", 1.1, 1.0),
    Fp8AttentionMutation("element", "e5m2", "e4m3"),
)

_active: list[Fp8AttentionMutation] = []


def active() -> Fp8AttentionMutation | None:
    """The mutation in force (the innermost `mutated` block), or None."""
    return _active[-1] if _active else None


@contextlib.contextmanager
def mutated(mutation: Fp8AttentionMutation) -> Iterator[Fp8AttentionMutation]:
    """Within the block, every eager FP8 attention call of this process runs with `mutation`."""
    _active.append(mutation)
    try:
        yield mutation
    finally:
        _active.pop()
