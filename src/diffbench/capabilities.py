"""What this machine and these libraries can run: device, SM capability, free memory, package versions.

`skip_reason(scenario, target)` is the one place where a scenario meets the hardware; the plugin turns a
reason into a `pytest.param(..., marks=pytest.mark.skip(reason))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch

from .attention import ATTENTION_KERNELS
from .matrix import KNOWN_FAILURES, Scenario
from .schemes import SCHEMES, Unavailable


@dataclass(frozen=True)
class Target:
    device: str  # "cpu" or "cuda"
    sm: tuple[int, int] | None = None
    name: str = "cpu"

    @classmethod
    def detect(cls, device: str) -> "Target":
        if device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
            return cls("cuda", torch.cuda.get_device_capability(), torch.cuda.get_device_name())
        return cls("cpu")


@cache
def scheme_unavailable(name: str) -> str | None:
    """Why the installed torchao cannot build this scheme's config, or None."""
    try:
        SCHEMES[name].torchao_config()
    except Unavailable as exc:
        return str(exc)
    return None


@cache
def attention_unavailable(name: str) -> str | None:
    return ATTENTION_KERNELS[name].unavailable()


def skip_reason(scenario: Scenario, target: Target) -> str | None:
    if scenario.offload != "none" and target.device != "cuda":
        return f"offload '{scenario.offload}' needs a CUDA device to offload from"
    kernel = ATTENTION_KERNELS[scenario.attention]
    if kernel.cuda_only and target.device != "cuda":
        return f"attention {kernel.name} needs a CUDA device"
    if (reason := attention_unavailable(kernel.name)) is not None:
        return reason
    scheme = SCHEMES[scenario.scheme]
    if (reason := scheme_unavailable(scenario.scheme)) is not None:
        return reason
    if scheme.cuda_only and target.device != "cuda":
        return f"{scheme.name} needs a CUDA device"
    if scheme.min_sm and target.sm is not None and target.sm < scheme.min_sm:
        need = ".".join(map(str, scheme.min_sm))
        return f"{scheme.name} needs SM {need}+, {target.name} is SM {'.'.join(map(str, target.sm))}"
    return None


def _torchao_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torchao")
    except PackageNotFoundError:
        return None


def expected_failure(scenario: Scenario, target: Target) -> str | None:
    """The reason (and link) of a known failure that applies to this scenario here, or None."""
    from packaging.specifiers import SpecifierSet

    installed = _torchao_version()
    for known in KNOWN_FAILURES:
        if not known.applies(scenario):
            continue
        if known.torchao and (installed is None or installed not in SpecifierSet(known.torchao)):
            continue
        if known.min_sm and (target.sm is None or target.sm < known.min_sm):
            continue
        return f"{known.reason} ({known.link})" if known.link else known.reason
    return None
