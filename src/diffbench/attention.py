"""Attention kernels as a matrix dimension: which kernel the denoiser's attention runs on.

Two mechanisms, each held for the whole scenario (build, compile, first call, timed rounds):
- `sdpa-*` pin torch's `F.scaled_dot_product_attention` to one backend (`torch.nn.attention.sdpa_kernel`).
  Every model's attention goes through SDPA, and torch.compile bakes in the backend active when it traces.
- the others select a backend of diffusers' attention dispatcher (flash-attn, FlashAttention-3, SageAttention),
  which only reaches models whose attention processors call `dispatch_attention_fn`
  (`ModelSpec.attention_dispatch`). A backend whose package is missing is skipped with diffusers' own reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionKernel:
    name: str
    description: str
    sdpa_backend: str | None = None  # a torch.nn.attention.SDPBackend member
    dispatcher_backend: str | None = None  # a diffusers AttentionBackendName value
    cuda_only: bool = False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if self.sdpa_backend:
                from torch.nn.attention import SDPBackend, sdpa_kernel

                stack.enter_context(sdpa_kernel(getattr(SDPBackend, self.sdpa_backend)))
            if self.dispatcher_backend:
                from diffusers.models.attention_dispatch import attention_backend

                stack.enter_context(attention_backend(self.dispatcher_backend))
            yield

    def unavailable(self) -> str | None:
        """Why the installed packages cannot run this kernel (diffusers checks its backends' requirements)."""
        if self.dispatcher_backend is None:
            return None
        try:
            with self.active():
                pass
        except (ImportError, RuntimeError, ValueError) as exc:
            return f"attention {self.name}: {exc}"
        return None


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

DEFAULT = "sdpa"
