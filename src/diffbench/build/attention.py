"""Pin the denoiser's attention to a kernel of `spec.attention` (see there for the two mechanisms)."""

from __future__ import annotations

import functools

import torch

from diffbench.spec.attention import AttentionKernel


def pin(kernel: AttentionKernel, denoiser: torch.nn.Module) -> None:
    """Make the denoiser's attention run on this kernel (for the pipeline's lifetime)."""
    if kernel.dispatcher_backend:
        denoiser.set_attention_backend(kernel.dispatcher_backend)
    if kernel.sdpa_backend:
        from torch.nn.attention import SDPBackend

        backend = getattr(SDPBackend, kernel.sdpa_backend)
        for module in attention_modules(denoiser):
            module.forward = _pinned(module.forward, backend)


def attention_modules(denoiser: torch.nn.Module) -> list[torch.nn.Module]:
    """The denoiser's attention layers (the classes diffusers' own set_attention_backend looks for)."""
    from diffusers.models.attention import AttentionModuleMixin
    from diffusers.models.attention_processor import Attention

    return [m for m in denoiser.modules() if isinstance(m, (Attention, AttentionModuleMixin))]


def _pinned(forward, backend):
    # The context sits inside each attention layer, so a compiled block or model traces it into its graph:
    # the backend is part of the graph and of compile-cache keys. Pinned around the denoiser instead, a
    # regional compile traced under global flags and reused the default kernel's cached graph (seen on the H100).
    from torch.nn.attention import sdpa_kernel

    @functools.wraps(forward)
    def pinned_forward(*args, **kwargs):
        with sdpa_kernel(backend):
            return forward(*args, **kwargs)

    return pinned_forward
