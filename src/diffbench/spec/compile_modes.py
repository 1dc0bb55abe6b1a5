"""torch.compile modes and named inductor flag profiles, as data (`build.compilation` applies them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# Inductor flags each profile sets; everything else stays at torch's defaults.
INDUCTOR_PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    # What torchao's set_inductor_config=True turns on (torchao.quantization.utils.recommended_inductor_config_setter).
    "torchao": dict(coordinate_descent_tuning=True, coordinate_descent_check_all_directions=True,
                    force_fuse_int_mm_with_mul=True, fx_graph_cache=True),
    # Benchmark Triton templates against cuBLAS for every matmul (what mode="max-autotune" does for GEMMs),
    # in any compile mode, regional included.
    "max-autotune-gemm": dict(max_autotune_gemm=True),
    # flux-fast's flags (huggingface/flux-fast, issue 35): 1x1 convolutions as matmuls (the VAE), no pointwise
    # epilogues fused into matmuls, coordinate-descent tuning in all directions.
    "flux-fast": dict(conv_1x1_as_mm=True, epilogue_fusion=False, coordinate_descent_tuning=True,
                      coordinate_descent_check_all_directions=True),
}


# The flags recorded in each result, so two runs can be told apart.
RECORDED_FLAGS = ("coordinate_descent_tuning", "coordinate_descent_check_all_directions", "max_autotune",
                  "max_autotune_gemm", "epilogue_fusion", "force_fuse_int_mm_with_mul", "fx_graph_cache",
                  "freezing", "triton.cudagraphs", "conv_1x1_as_mm")


@dataclass(frozen=True)
class CompileMode:
    name: str
    compile_kwargs: dict[str, Any] | None = None  # None: eager
    regional: bool = False  # compile the repeated blocks instead of the whole denoiser
    # Regional, and also each other child of the denoiser (embedders, final norm, projections) as a region of its
    # own, so the step's prologue and epilogue do not run eagerly (bf16 FLUX on the H100: 0.8% faster than
    # regional, baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-regional-all.json).
    compile_rest: bool = False
    description: str = ""

    @property
    def fullgraph(self) -> bool:
        """Compiled as whole graphs: code dynamo cannot trace is an error, not a graph break."""
        return bool((self.compile_kwargs or {}).get("fullgraph"))


COMPILE_MODES: dict[str, CompileMode] = {
    m.name: m
    for m in [
        CompileMode("eager", None, description="no compilation"),
        CompileMode("compile", {}, description="torch.compile of the whole denoiser"),
        CompileMode("max-autotune", dict(mode="max-autotune", fullgraph=True),
                    description="whole denoiser, mode=max-autotune, fullgraph (the seeds' setting)"),
        CompileMode("regional", dict(fullgraph=True), regional=True,
                    description="each repeated transformer block, diffusers compile_repeated_blocks"),
        CompileMode("regional-all", dict(fullgraph=True), regional=True, compile_rest=True,
                    description="regional, plus every other child of the denoiser compiled on its own"),
        # Graph breaks allowed: diffusers' step-cache hooks decide in code dynamo cannot trace (torch.compiler.disable
        # or a branch on tensor data), so a fullgraph region fails on them (spec/caching.py).
        CompileMode("regional-breaks", {}, regional=True,
                    description="regional without fullgraph: graph breaks where the code asks for them"),
        # CUDA graphs (mode="reduce-overhead"): one whole-denoiser graph replayed per step, no kernel launches from
        # the host. Regional with CUDA graphs is a known failure (spec/rules.py).
        CompileMode("compile-cudagraphs", dict(mode="reduce-overhead"),
                    description="whole denoiser, mode=reduce-overhead (CUDA graphs)"),
        CompileMode("regional-cudagraphs", dict(mode="reduce-overhead", fullgraph=True), regional=True,
                    description="each repeated block, mode=reduce-overhead (CUDA graphs per block)"),
    ]
}
