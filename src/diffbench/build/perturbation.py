"""Seeded noise on a denoiser's attention outputs, for `diffbench-jobs prompt-sensitivity`.

A sampler run is a long chain of nonlinear steps: for most prompts a change the size of bf16 rounding stays that
size in the image, but a prompt near a bifurcation of the trajectory can end in another image altogether. Noise of
a chosen relative size on every attention output, drawn from a seeded generator, finds those prompts. A change
made to a model on purpose, so it lives where models are made and changed (as scale_mutation.py does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from diffbench.build.attention import attention_modules


def _noisy(output, relative: float, generators: dict[torch.device, torch.Generator], seed: int):
    """`output` (a tensor, or a tuple of them and None) with every floating tensor x (1 + relative * N(0, 1))."""
    if isinstance(output, tuple):
        return tuple(_noisy(part, relative, generators, seed) for part in output)
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        return output
    if output.device not in generators:
        generators[output.device] = torch.Generator(output.device).manual_seed(seed)
    noise = torch.randn(output.shape, generator=generators[output.device], device=output.device)
    return (output.float() * (1 + relative * noise)).to(output.dtype)


@contextlib.contextmanager
def perturbed_attention(denoiser: torch.nn.Module, relative: float, seed: int) -> Iterator[int]:
    """Within the block, every attention layer's output (diffusers' attention classes, as the kernels are pinned)
    is multiplied by 1 + relative * N(0, 1), elementwise, from one generator seeded with `seed`: the same seed, the
    same noise, call by call. Yields how many layers; eager calls only (a compiled graph holds no hook it did
    not trace)."""
    layers = attention_modules(denoiser)
    if not layers:
        raise ValueError(f"{type(denoiser).__name__} has no diffusers attention layer to perturb")
    generators: dict[torch.device, torch.Generator] = {}
    handles = [layer.register_forward_hook(lambda module, args, output: _noisy(output, relative, generators, seed))
               for layer in layers]
    try:
        yield len(layers)
    finally:
        for handle in handles:
            handle.remove()
