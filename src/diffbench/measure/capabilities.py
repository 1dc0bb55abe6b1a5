"""What this machine and these libraries can run: device, SM capability, free memory, package versions.

`skip_reason(scenario, target)` is the one place where a scenario meets the hardware; the plugin turns a
reason into a `pytest.param(..., marks=pytest.mark.skip(reason))`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import torch

from diffbench.build import attention, internals
from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.parallel import PARALLEL_MODES
from diffbench.spec.rules import KNOWN_FAILURES
from diffbench.spec.matrix import Scenario
from diffbench.spec.schemes import SCHEMES, Unavailable


@dataclass(frozen=True)
class Target:
    device: str  # "cpu" or "cuda"
    sm: tuple[int, int] | None = None
    name: str = "cpu"
    # the accelerators this process sees (diffusers' context parallelism puts rank r on accelerator r % count)
    accelerators: int = 0

    @classmethod
    def detect(cls, device: str) -> "Target":
        if device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
            return cls("cuda", torch.cuda.get_device_capability(), torch.cuda.get_device_name(),
                       torch.cuda.device_count())
        return cls("cpu", accelerators=torch.accelerator.device_count())


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
    return attention.unavailable(ATTENTION_KERNELS[name])


def skip_reason(scenario: Scenario, target: Target) -> str | None:
    if (reason := parallel_unavailable(scenario, target)) is not None:
        return reason
    if scenario.offload != "none" and target.device != "cuda":
        return f"offload '{scenario.offload}' needs a CUDA device to offload from"
    kernel = ATTENTION_KERNELS[scenario.attention]
    if kernel.cuda_only and target.device != "cuda":
        return f"attention {kernel.name} needs a CUDA device"
    if kernel.min_sm and target.sm is not None and target.sm < kernel.min_sm:
        need = ".".join(map(str, kernel.min_sm))
        return f"attention {kernel.name} needs SM {need}+, {target.name} is SM {'.'.join(map(str, target.sm))}"
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


def parallel_unavailable(scenario: Scenario, target: Target) -> str | None:
    """Why this process cannot run the scenario's context-parallel layout: too few GPUs (one rank per GPU), or
    on a CPU no accelerator at all (diffusers places ranks on accelerators; the CPU tests provide one)."""
    gpus = PARALLEL_MODES[scenario.parallel].gpus
    if gpus == 1:
        return None
    if target.device == "cuda" and target.accelerators < gpus:
        return (f"--parallel {scenario.parallel} runs one rank per GPU and needs {gpus}; this process sees "
                f"{target.accelerators} (CUDA_VISIBLE_DEVICES; an xdist worker sees its own GPU only)")
    if target.device != "cuda" and target.accelerators == 0:
        return (f"--parallel {scenario.parallel} on a CPU: diffusers' context parallelism places rank r on "
                "accelerator r % torch.accelerator.device_count(), and there is none")
    return None


def expected_failure(scenario: Scenario, target: Target, weights: str = "", suite: str = "") -> tuple[str, bool] | None:
    """The reason (with link and probe finding) of a known failure that applies to this scenario here (with
    these weights, in this suite), and whether to run it; None when none applies."""
    from packaging.specifiers import SpecifierSet

    for known in KNOWN_FAILURES:
        if not known.applies(scenario):
            continue
        if (known.device and known.device != target.device or known.weights and known.weights != weights
                or known.suites and suite not in known.suites):
            continue
        installed = {name: internals.installed(name) for name in known.versions}
        if any(installed[name] is None or installed[name] not in SpecifierSet(spec)
               for name, spec in known.versions.items()):
            continue
        if known.min_sm and (target.sm is None or target.sm < known.min_sm):
            continue
        finding = PROBES[known.probe](scenario, target) if known.probe else ""
        if finding is None:  # the probe says this machine does not have the problem
            continue
        reason = "; ".join(filter(None, [known.reason, finding]))
        return (f"{reason} ({known.link})" if known.link else reason), known.run
    return None


SLOWDOWN = 3.0  # a compiled linear this many times slower than eager is a known failure, not a result
PROBE_SHAPE = (4096, 3072, 3072)  # rows (FLUX's image tokens at 1024²), in, out features


def _quantized_linear(scheme: str, device: str, features_in: int = 64, features_out: int = 64) -> torch.nn.Module:
    """The probes' subject: one bf16 Linear quantized with `scheme`, as the scenarios quantize their layers."""
    from torchao.quantization import quantize_

    linear = torch.nn.Linear(features_in, features_out, device=device, dtype=torch.bfloat16)
    quantize_(linear, SCHEMES[scheme].torchao_config())
    return linear


def compiled_linear_slowdown(scenario: Scenario, target: Target) -> str | None:
    """Time one linear of the scenario's scheme, eager and compiled, on this device: the finding when compiled
    is more than SLOWDOWN times slower, else None."""
    if target.device != "cuda":
        return None
    return _compiled_linear_slowdown(scenario.scheme, target.device)


@cache
def _compiled_linear_slowdown(scheme: str, device: str) -> str | None:
    from diffbench.build.compilation import inductor_profile
    from diffbench.measure.instruments import median_s

    rows, features_in, features_out = PROBE_SHAPE
    linear = _quantized_linear(scheme, device, features_in, features_out)
    x = torch.randn(rows, features_in, device=device, dtype=torch.bfloat16)
    with torch.no_grad(), inductor_profile("default"):
        eager_s = median_s(lambda: linear(x), device)
        compiled = torch.compile(linear, fullgraph=True)
        try:
            compiled_s = median_s(lambda: compiled(x), device)
        except Exception:  # a compile error is the scenario's own result to record, not this probe's
            return None
    if compiled_s < SLOWDOWN * eager_s:
        return None
    return (f"measured here: one {rows}x{features_in}x{features_out} {scheme} linear takes "
            f"{compiled_s * 1e3:.1f} ms compiled vs {eager_s * 1e3:.2f} ms eager")


def bf16_noise_drawn_in_float32(scenario: Scenario, target: Target) -> str | None:
    """Whether this torch draws seeded bf16 normal noise in float32 and rounds it (2.12 on; 2.11 drew in bf16):
    the finding, else None. The same five lines as the reproduction in baselines/cpu/int8dq-regression/."""
    def seed():
        return torch.Generator("cpu").manual_seed(2)

    bf16 = torch.randn(1, 4, 16, 16, generator=seed(), dtype=torch.bfloat16)
    if not torch.equal(bf16, torch.randn(1, 4, 16, 16, generator=seed()).bfloat16()):
        return None
    return f"measured here: torch {torch.__version__} draws seeded bf16 noise in float32"


def bare_quantized_linear_compile_error(scenario: Scenario, target: Target) -> str | None:
    """Compile one small Linear quantized with the scenario's scheme on its own, as regional-all does: the
    error's last line when dynamo fails on it here, else None."""
    return _bare_quantized_linear_compile_error(scenario.scheme, target.device)


@cache
def _bare_quantized_linear_compile_error(scheme: str, device: str) -> str | None:
    linear = _quantized_linear(scheme, device)
    linear.compile(fullgraph=True)  # in place, as regional-all does (torch.compile(linear) traces another way)
    try:
        with torch.no_grad():
            linear(torch.randn(1, 16, 64, device=device, dtype=torch.bfloat16))
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        first = re.sub(r" at 0x[0-9a-f]+", "", first)[:300]  # object addresses would make every reason unique
        return f"measured here with torch {torch.__version__}: {type(exc).__name__}: {first}"
    return None


def zero_row_gives_nan(scenario: Scenario, target: Target) -> str | None:
    """Give one Linear quantized with the scenario's scheme an input with an all-zero row, as the model's text
    context gives its cross-attention projections: the finding when the output is not finite here, else None."""
    if target.device != "cuda":
        return None
    finding = _zero_row_gives_nan(scenario.scheme, target.device)
    return f"{scenario.model}: {scenario.spec.zero_context_rows}; {finding}" if finding else None


@cache
def _zero_row_gives_nan(scheme: str, device: str) -> str | None:
    if SCHEMES[scheme].make is None:  # bf16: nothing quantized
        return None
    x = torch.randn(2, 64, device=device, dtype=torch.bfloat16)
    x[1] = 0
    try:
        linear = _quantized_linear(scheme, device)
        with torch.no_grad():
            out = linear(x)
    except Exception:  # a scheme that cannot run here fails in its own scenario, with its own reason
        return None
    if bool(torch.isfinite(out).all()):
        return None
    return f"measured here with torchao {internals.installed('torchao')}: one {scheme} linear given an all-zero row"


PROBES = {"compiled_linear_slowdown": compiled_linear_slowdown,
          "zero_row_gives_nan": zero_row_gives_nan,
          "bf16_noise_drawn_in_float32": bf16_noise_drawn_in_float32,
          "bare_quantized_linear_compile_error": bare_quantized_linear_compile_error}
