"""Attention kernels as a matrix dimension: which kernel the denoiser's attention runs on.

Both mechanisms apply to the denoiser only, before it is compiled: the text encoders keep torch's choice
(pinning the whole pipeline made T5, whose attention carries a position-bias mask, fail with "No available
kernel" for cuDNN, flash and memory-efficient alike on the H100).
- `sdpa-*` run each of the denoiser's attention layers inside `torch.nn.attention.sdpa_kernel(backend)`: every
  model's attention goes through SDPA, and torch.compile traces the pinned backend into its graphs.
- the others set a backend of diffusers' attention dispatcher (`set_attention_backend`: flash-attn,
  FlashAttention-3, SageAttention), which only reaches models whose attention processors call
  `dispatch_attention_fn` (`ModelSpec.attention_dispatch`). A backend whose package is missing is skipped with
  diffusers' own reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AttentionKernel:
    name: str
    description: str
    sdpa_backend: str | None = None  # a torch.nn.attention.SDPBackend member
    dispatcher_backend: str | None = None  # a diffusers AttentionBackendName value
    cuda_only: bool = False

    def pin(self, denoiser: torch.nn.Module) -> None:
        """Make the denoiser's attention run on this kernel (for the pipeline's lifetime)."""
        if self.dispatcher_backend:
            denoiser.set_attention_backend(self.dispatcher_backend)
        if self.sdpa_backend:
            from torch.nn.attention import SDPBackend

            backend = getattr(SDPBackend, self.sdpa_backend)
            for module in attention_modules(denoiser):
                module.forward = _pinned(module.forward, backend)

    def unavailable(self) -> str | None:
        """Why the installed packages cannot run this kernel (diffusers checks its backends' requirements)."""
        if self.dispatcher_backend is None:
            return None
        try:
            from diffusers.models.attention_dispatch import attention_backend

            with attention_backend(self.dispatcher_backend):
                pass
        except (ImportError, RuntimeError, ValueError) as exc:
            return f"attention {self.name}: {exc}"
        return None


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


ATTENTION_KERNELS: dict[str, AttentionKernel] = {
    k.name: k
    for k in [
        AttentionKernel("sdpa", "PyTorch SDPA, torch picks the kernel (the default)"),
        AttentionKernel("sdpa-cudnn", "SDPA pinned to the cuDNN attention kernel", "CUDNN_ATTENTION", cuda_only=True),
        AttentionKernel("sdpa-flash", "SDPA pinned to its FlashAttention-2 kernel", "FLASH_ATTENTION", cuda_only=True),
        AttentionKernel("sdpa-efficient", "SDPA pinned to the memory-efficient kernel", "EFFICIENT_ATTENTION",
                        cuda_only=True),
        AttentionKernel("sdpa-math", "SDPA pinned to the math (reference) implementation", "MATH"),
        AttentionKernel("flash-attn", "diffusers dispatcher: the flash-attn package", dispatcher_backend="flash",
                        cuda_only=True),
        AttentionKernel("flash3", "diffusers dispatcher: FlashAttention-3 (Hopper)", dispatcher_backend="_flash_3",
                        cuda_only=True),
        AttentionKernel("sage", "diffusers dispatcher: SageAttention (8-bit QK)", dispatcher_backend="sage",
                        cuda_only=True),
    ]
}
