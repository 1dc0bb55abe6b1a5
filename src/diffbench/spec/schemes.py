"""Quantization schemes: the seeds' shorthand names → torchao config objects, with their requirements.

A scheme's config is built through `TorchAO`, which looks names up in the installed torchao. A name that
torchao does not have raises `Unavailable("not in torchao X.Y: ...")`, so a scheme from the seeds that the
installed version lacks stays in the matrix and is skipped with that reason: never dropped, never faked.
Several spellings may be listed for one config (torchao renames things between releases).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# Where torchao keeps its configs, newest layout first.
TORCHAO_MODULES = ("torchao.quantization", "torchao.prototype.mx_formats", "torchao.sparsity",
                   "torchao.sparsity.sparse_api")


class Unavailable(Exception):
    """The installed libraries cannot provide this scheme; the message is the skip reason."""


class TorchAO:
    """Resolves torchao names lazily; `ao.get("NewName", "OldName")` returns the first one that exists."""

    @cached_property
    def version(self) -> str:
        try:
            import torchao
        except ImportError as exc:
            raise Unavailable(f"torchao is not installed ({exc})") from exc
        return torchao.__version__

    def get(self, *names: str) -> Any:
        for module_name in TORCHAO_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for name in names:
                if hasattr(module, name):
                    return getattr(module, name)
        raise Unavailable(f"not in torchao {self.version}: {' / '.join(names)}")

    def config(self, *names: str, **kwargs: Any) -> Any:
        """Instantiate a config. The suite owns inductor settings, so torchao must not set them globally."""
        cls = self.get(*names)
        if dataclasses.is_dataclass(cls) and "set_inductor_config" in {f.name for f in dataclasses.fields(cls)}:
            kwargs["set_inductor_config"] = False
        return cls(**kwargs)


@dataclass(frozen=True)
class Scheme:
    name: str
    make: Callable[[TorchAO], Any] | None  # None: no quantization (bf16 baseline)
    description: str
    min_sm: tuple[int, int] | None = None  # minimum CUDA compute capability
    cuda_only: bool = False

    def torchao_config(self, ao: TorchAO | None = None) -> Any:
        """The torchao config object, or None for bf16. Raises Unavailable."""
        return None if self.make is None else self.make(ao or TorchAO())

    def unavailable(self) -> str | None:
        """Why the installed torchao cannot build this scheme's config, or None."""
        try:
            self.torchao_config()
        except Unavailable as exc:
            return str(exc)
        return None


def _autoquant(ao: TorchAO) -> Any:
    ao.get("autoquant")  # "not in torchao X.Y" where torchao removed it
    raise Unavailable("autoquant wraps a compiled model rather than being a quantize_ config: "
                      "the suite's quantize_/TorchAoConfig path does not run it yet")


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("bf16", None, "no quantization: the bf16 baseline"),
        Scheme("int8wo", lambda ao: ao.config("Int8WeightOnlyConfig", "int8_weight_only"),
               "int8 weight-only"),
        Scheme("int8dq", lambda ao: ao.config("Int8DynamicActivationInt8WeightConfig",
                                              "int8_dynamic_activation_int8_weight"),
               "int8 dynamic activation + int8 weight"),
        Scheme("int4wo", lambda ao: ao.config("Int4WeightOnlyConfig", "int4_weight_only", group_size=128),
               "int4 weight-only, group size 128", cuda_only=True, min_sm=(8, 0)),
        Scheme("fp8wo", lambda ao: ao.config("Float8WeightOnlyConfig", "float8_weight_only"),
               "float8 e4m3 weight-only", cuda_only=True, min_sm=(8, 9)),
        Scheme("fp8dq", lambda ao: ao.config("Float8DynamicActivationFloat8WeightConfig",
                                             granularity=ao.get("PerTensor")()),
               "float8 dynamic activation + weight, per-tensor scales", cuda_only=True, min_sm=(8, 9)),
        Scheme("fp8dqrow", lambda ao: ao.config("Float8DynamicActivationFloat8WeightConfig",
                                                granularity=ao.get("PerRow")()),
               "float8 dynamic activation + weight, per-row scales", cuda_only=True, min_sm=(8, 9)),
        Scheme("fp8dq-int4w", lambda ao: ao.config("Float8DynamicActivationInt4WeightConfig"),
               "float8 dynamic activation + int4 weight (preshuffled)", cuda_only=True, min_sm=(9, 0)),
        Scheme("mxfp8", lambda ao: ao.config("MXDynamicActivationMXWeightConfig", "MXFPInferenceConfig"),
               "MX float8 activation + weight", cuda_only=True, min_sm=(10, 0)),
        Scheme("nvfp4", lambda ao: ao.config("NVFP4DynamicActivationNVFP4WeightConfig", "NVFP4InferenceConfig"),
               "NVFP4 activation + weight", cuda_only=True, min_sm=(10, 0)),
        Scheme("sparsify", lambda ao: ao.config("SemiSparseWeightConfig"),
               "2:4 semi-structured sparse weights", cuda_only=True, min_sm=(8, 0)),
        # A control, not a recommendation: quality gates must reject it (their resolving power is its score).
        Scheme("int2wo", lambda ao: ao.config("IntxWeightOnlyConfig", weight_dtype=__import__("torch").int2,
                                              granularity=ao.get("PerGroup")(16)),
               "2-bit weight-only, group size 16: a deliberately lossy control for the quality gates"),
        # Seed schemes that torchao has since removed: kept so their absence is reported.
        Scheme("autoquant", _autoquant, "torchao autoquant", cuda_only=True),
        Scheme("int4dq", lambda ao: ao.config("Int8DynamicActivationInt4WeightConfig",
                                              "int8_dynamic_activation_int4_weight"),
               "int8 dynamic activation + int4 weight"),
        Scheme("uint4wo", lambda ao: ao.config("UIntXWeightOnlyConfig", "uintx_weight_only",
                                               dtype=__import__("torch").uint4),
               "uint4 weight-only", cuda_only=True),
        *[
            Scheme(f"fp{1 + e + m}_e{e}m{m}",
                   lambda ao, e=e, m=m: ao.config("FPXWeightOnlyConfig", "fpx_weight_only", ebits=e, mbits=m),
                   f"fp{1 + e + m} (e{e}m{m}) weight-only", cuda_only=True, min_sm=(8, 0))
            for e, m in [(3, 2), (2, 2), (2, 1)]
        ],
    ]
}


def resolution_table(ao: TorchAO | None = None) -> list[dict[str, str]]:
    """Which torchao object each scheme resolves to in the installed version, or why it cannot."""
    ao = ao or TorchAO()
    rows = []
    for scheme in SCHEMES.values():
        try:
            config = scheme.torchao_config(ao)
            resolved = "—" if config is None else f"{type(config).__module__}.{type(config).__qualname__}"
            rows.append(dict(scheme=scheme.name, status="available", resolved=resolved))
        except Unavailable as exc:
            rows.append(dict(scheme=scheme.name, status="unavailable", resolved=str(exc)))
    return rows
