"""A small numeric break for the quality gates to catch: every int8 weight scale of a module multiplied by a factor.

A kernel or checkpoint that gets its dequantization scales a few percent wrong still produces plausible images;
the proxy's quality gates must notice (tests/test_proxy.py, `diffbench-jobs quality-mutations`). A change made to a
model on purpose, so it lives where models are made and changed. The scales are found through the tensor-subclass
protocol that torch.compile relies on: `weight.__tensor_flatten__()` names the inner tensors, each an attribute of
that name, and `type(weight).__tensor_unflatten__` builds a new weight from them. No private attribute is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

SCALE = "scale"  # torchao 0.18's Int8Tensor: tensor_data_names = ["qdata", "scale"]


class ProtocolChanged(RuntimeError):
    """The installed torchao's int8 weights no longer flatten to an inner tensor named SCALE."""


def int8_weights(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(parameter name, weight) of every torchao Int8Tensor weight in `module`."""
    from torchao.quantization import Int8Tensor  # torchao's public name (0.18 is what this was written against)

    return [(name, p) for name, p in module.named_parameters() if isinstance(p, Int8Tensor)]


def scaled(weight: torch.Tensor, factor: float) -> torch.Tensor:
    """A new weight whose `scale` inner tensor is multiplied by `factor`; every other inner tensor is shared."""
    names, context = weight.__tensor_flatten__()
    if SCALE not in names:
        from torchao import __version__ as version

        raise ProtocolChanged(f"{type(weight).__module__}.{type(weight).__qualname__} (torchao {version}) flattens "
                              f"to inner tensors {names}, none named {SCALE!r}: update "
                              "src/diffbench/build/scale_mutation.py for this torchao (which inner tensor holds the "
                              "dequantization scale?)")
    inner = {name: getattr(weight, name) for name in names}
    inner[SCALE] = inner[SCALE] * factor
    return type(weight).__tensor_unflatten__(inner, context, weight.size(), weight.stride())


@contextlib.contextmanager
def scaled_int8_weights(module: torch.nn.Module, factor: float) -> Iterator[int]:
    """Within the block, every Int8Tensor weight of `module` has its scales × `factor`; yields how many weights.

    The original parameters are put back on exit, so several factors can be tried on one built pipeline.
    """
    weights = int8_weights(module)
    if not weights:
        raise ProtocolChanged(f"{type(module).__name__} has no torchao Int8Tensor weight: nothing to mutate")
    originals = []
    try:
        for name, weight in weights:
            owner_name, _, attribute = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            originals.append((owner, attribute, weight))
            setattr(owner, attribute, torch.nn.Parameter(scaled(weight, factor), requires_grad=False))
        yield len(weights)
    finally:
        for owner, attribute, weight in originals:
            setattr(owner, attribute, weight)
