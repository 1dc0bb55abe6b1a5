"""Pin the denoiser's attention to a kernel of `spec.attention` (see there for the two mechanisms)."""

from __future__ import annotations

import functools

import torch

from diffbench.spec.attention import AttentionKernel, registry_unsupported


def pin(kernel: AttentionKernel, denoiser: torch.nn.Module) -> None:
    """Make the denoiser's attention run on this kernel (for the pipeline's lifetime)."""
    if kernel.registered:
        backend = registered_backend(kernel.dispatcher_backend)
        # what set_attention_backend does, which accepts diffusers' own names only
        for module in attention_modules(denoiser):
            module.processor._attention_backend = backend
    elif kernel.dispatcher_backend:
        denoiser.set_attention_backend(kernel.dispatcher_backend)
    if kernel.sdpa_backend:
        from torch.nn.attention import SDPBackend

        backend = getattr(SDPBackend, kernel.sdpa_backend)
        for module in attention_modules(denoiser):
            module.forward = _pinned(module.forward, backend)


# Backends diffbench adds to diffusers' dispatcher: the value its processors name → the function it calls.
def _registered_functions() -> dict:
    from diffbench.build import cudnn_attention

    return {"diffbench_cudnn_fp8": cudnn_attention.attention_bshd}


def registered_backend(value: str):
    """The AttentionBackendName for one of diffbench's backends, registered with diffusers' dispatcher on first use.

    The enum cannot be extended, so the member is made the way Enum makes its own (a str with _name_/_value_) and
    entered in its value map only, so AttentionBackendName(value) finds it while diffusers' own lists of backends
    (its __members__) stay as they were. dispatch_attention_fn then looks the function up by it like any other."""
    if (reason := registry_unsupported()) is not None:
        raise RuntimeError(reason)
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    member = AttentionBackendName._value2member_map_.get(value)
    if member is None:
        member = str.__new__(AttentionBackendName, value)
        member._name_, member._value_ = value.upper(), value
        AttentionBackendName._value2member_map_[value] = member
    if member not in _AttentionBackendRegistry._backends:
        _AttentionBackendRegistry.register(member, constraints=[])(_registered_functions()[value])
    return member


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
