"""Attention kernels as a matrix dimension (data; `build.attention` applies them): which kernel the denoiser's
attention runs on.

Both mechanisms apply to the denoiser only, before it is compiled: the text encoders keep torch's choice
(pinning the whole pipeline made T5, whose attention carries a position-bias mask, fail with "No available
kernel" for cuDNN, flash and memory-efficient alike on the H100).
- `sdpa-*` run each of the denoiser's attention layers inside `torch.nn.attention.sdpa_kernel(backend)`: every
  model's attention goes through SDPA, and torch.compile traces the pinned backend into its graphs.
- the others set a backend of diffusers' attention dispatcher (`set_attention_backend`: PyTorch's cuDNN and
  flash kernels through diffusers' own wrappers, flash-attn, FlashAttention-3, SageAttention), which only
  reaches models whose attention processors call `dispatch_attention_fn` (`ModelSpec.attention_dispatch`). A
  backend whose package is missing is skipped with diffusers' own reason.
- `cudnn-fp8` is a dispatcher backend diffbench registers itself (`registered`, build/attention.py): cuDNN's FP8
  (e4m3) attention through nvidia-cudnn-frontend (build/cudnn_attention.py), an optional extra
  (`pip install 'diffbench[fp8-attention]'`). Lossy: its quality cost is measured like a quantization scheme's.
"""

from __future__ import annotations

import re

from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionKernel:
    name: str
    description: str
    sdpa_backend: str | None = None  # a torch.nn.attention.SDPBackend member
    dispatcher_backend: str | None = None  # a diffusers AttentionBackendName value
    cuda_only: bool = False
    # returns the log-sum-exp that ring attention (--parallel ring*) merges partial results by; diffusers' native
    # backend, which the sdpa-* pins run through, raises "Native attention does not support return_lse=True"
    ring_attention: bool = False
    registered: bool = False  # a backend diffbench registers with diffusers' dispatcher (build/attention.py)
    min_sm: tuple[int, int] | None = None  # the least GPU capability the kernel runs on
    # changes the outputs beyond bf16's rounding (8-bit inputs): its quality cost has gates of its own, derived
    # like a cache's (spec/gates.py LOSSY_COMPONENTS)
    lossy: bool = False

    def unavailable(self) -> str | None:
        """Why the installed packages cannot run this kernel (diffusers checks its backends' requirements; asked
        here, not at import: spec imports no torch)."""
        if self.dispatcher_backend is None:
            return None
        if self.registered:  # diffbench's own backend: its package and diffusers' registry
            return frontend_missing() or registry_unsupported()
        try:
            from diffusers.models.attention_dispatch import attention_backend

            with attention_backend(self.dispatcher_backend):
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
        AttentionKernel("native-cudnn", "diffusers dispatcher: PyTorch's cuDNN attention",
                        dispatcher_backend="_native_cudnn", cuda_only=True, ring_attention=True),
        AttentionKernel("native-flash", "diffusers dispatcher: PyTorch's FlashAttention-2 kernel",
                        dispatcher_backend="_native_flash", cuda_only=True, ring_attention=True),
        AttentionKernel("flash-attn", "diffusers dispatcher: the flash-attn package", dispatcher_backend="flash",
                        cuda_only=True, ring_attention=True),
        AttentionKernel("flash3", "diffusers dispatcher: FlashAttention-3 (Hopper)", dispatcher_backend="_flash_3",
                        cuda_only=True),
        AttentionKernel("sage", "diffusers dispatcher: SageAttention (8-bit QK)", dispatcher_backend="sage",
                        cuda_only=True, ring_attention=True, lossy=True),
        AttentionKernel("cudnn-fp8", "diffusers dispatcher: cuDNN's FP8 (e4m3) attention via nvidia-cudnn-frontend, "
                        "Q/K/V scaled per tensor on the fly (lossy)", dispatcher_backend="diffbench_cudnn_fp8",
                        cuda_only=True, registered=True, min_sm=(9, 0), lossy=True),
    ]
}


def lossy_attention(name: str) -> bool:
    """Whether an attention kernel changes the outputs beyond bf16's rounding: one marked lossy, or one this
    release does not know (a result from a newer diffbench), which is not assumed lossless."""
    kernel = ATTENTION_KERNELS.get(name)
    return kernel is None or kernel.lossy


# The GPU kernels that are attention, by name (the profiler's): PyTorch's flash and memory-efficient kernels
# (flash_fwd, fmha_cutlass), cuDNN's SDPA (bf16 and FP8: cudnn_generated_fort_native_sdpa), FlashAttention and
# Sage packages. Inductor's own kernels (triton_*) are not, whatever ops their names list. Each result also
# records its longest kernels by name (`gpu_top_kernels`), so what this counts can be checked.
ATTENTION_KERNEL_NAMES = re.compile(r"^(?!triton_).*(sdpa|flash|fmha|attention|attn)", re.IGNORECASE)

FRONTEND = "nvidia-cudnn-frontend"  # the package of cuDNN's graph API (`import cudnn`): the fp8-attention extra


def frontend_missing() -> str | None:
    """Why cuDNN's frontend cannot be imported here, or None (the GPU and cuDNN itself: build/cudnn_attention.py)."""
    import importlib.util

    if importlib.util.find_spec("cudnn") is None:
        return f"attention cudnn-fp8 needs the {FRONTEND} package (pip install 'diffbench[fp8-attention]')"
    return None


def _installed(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def registry_unsupported() -> str | None:
    """Why the installed diffusers' dispatcher cannot take a backend of diffbench's: registering one relies on its
    internals (AttentionBackendName's value map, _AttentionBackendRegistry.register/_backends, a processor's
    _attention_backend; build/internals.py), read defensively here."""
    try:
        from diffusers.models import attention_dispatch as dispatch
    except ImportError as exc:
        return f"diffusers' attention dispatcher does not import: {exc}"
    names = getattr(dispatch, "AttentionBackendName", None)
    registry = getattr(dispatch, "_AttentionBackendRegistry", None)
    missing = [what for what, ok in [
        ("AttentionBackendName._value2member_map_", isinstance(getattr(names, "_value2member_map_", None), dict)),
        ("_AttentionBackendRegistry.register", callable(getattr(registry, "register", None))),
        ("_AttentionBackendRegistry._backends", isinstance(getattr(registry, "_backends", None), dict)),
    ] if not ok]
    if missing:
        return (f"diffusers {_installed('diffusers')} has no {', '.join(missing)}: a backend of "
                "diffbench's cannot be registered with its attention dispatcher")
    return None
