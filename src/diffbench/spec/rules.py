"""What cannot run, as data: combinations invalid on any machine (skips) and known failures (strict xfails).

Hardware and library checks, and the probes a known failure names, live in `measure.capabilities`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.caching import CACHE_MODES
from diffbench.spec.compile_modes import COMPILE_MODES
from diffbench.spec.matrix import Scenario
from diffbench.spec.models import ModelSpec
from diffbench.spec.parallel import PARALLEL_MODES


@dataclass(frozen=True)
class Rule:
    """A combination that cannot run anywhere, with the reason shown as the skip message."""

    applies: Callable[[Scenario], bool]
    reason: str


def _denoiser_class(spec: ModelSpec) -> type:
    """The diffusers class of the model's denoiser (imported here, not at import: spec imports no torch)."""
    import diffusers

    return getattr(diffusers, spec.components[spec.denoiser].cls)


def _has_fuse_qkv(spec: ModelSpec) -> bool:
    return hasattr(_denoiser_class(spec), "fuse_qkv_projections")


def _has_enable_cache(spec: ModelSpec) -> bool:
    """Whether the denoiser takes diffusers' cache hooks (its class has CacheMixin's `enable_cache`)."""
    return hasattr(_denoiser_class(spec), "enable_cache")


def _has_cp_plan(spec: ModelSpec) -> bool:
    """Whether diffusers knows how to split the denoiser's sequence across GPUs (its class's `_cp_plan`)."""
    return getattr(_denoiser_class(spec), "_cp_plan", None) is not None


def _cp_plan_hooks_a_block(spec: ModelSpec) -> bool:
    """Whether the denoiser's context-parallel plan hooks an element of a block list (Wan's `blocks.0`): a module
    regional compilation compiles, hook included."""
    plan = getattr(_denoiser_class(spec), "_cp_plan", None) or {}
    return any(key.rpartition(".")[2].isdigit() for key in plan)


_RING_KERNELS = [k.name for k in ATTENTION_KERNELS.values() if k.ring_attention]

INVALID: list[Rule] = [
    Rule(lambda s: s.fuse_qkv and not _has_fuse_qkv(s.spec),
         "the denoiser has no fuse_qkv_projections"),
    Rule(lambda s: ATTENTION_KERNELS[s.attention].dispatcher_backend is not None and not s.spec.attention_dispatch,
         "the denoiser's attention does not go through diffusers' attention dispatcher (use an sdpa-* kernel)"),
    Rule(lambda s: s.compile == "eager" and (s.compile_vae or s.inductor_profile != "default"),
         "compile_vae and inductor profiles apply to compiled scenarios: eager compiles nothing"),
    Rule(lambda s: s.parallel != "none" and not _has_cp_plan(s.spec),
         "context parallelism: the denoiser has no context-parallel plan in diffusers (no _cp_plan)"),
    Rule(lambda s: s.cache != "none" and not _has_enable_cache(s.spec),
         "step caching: the denoiser has no enable_cache in diffusers (not a CacheMixin)"),
    Rule(lambda s: CACHE_MODES[s.cache].denoisers and s.spec.components[s.spec.denoiser].cls
         not in CACHE_MODES[s.cache].denoisers,
         "step caching: diffusers applies this mode only to other denoisers' blocks (spec/caching.py: denoisers); "
         "here it would change nothing"),
    # Measured on tiny FLUX and Wan, torch 2.14.1, diffusers 0.42.1: FBCHeadBlockHook._should_compute_remaining_blocks
    # and TaylorSeerCacheHook._measure_should_compute are torch.compiler.disable'd, PAB and FasterCache branch on
    # tensor data ('Data-dependent branching'); regional-breaks compiled all four.
    Rule(lambda s: CACHE_MODES[s.cache].breaks_graph and COMPILE_MODES[s.compile].fullgraph,
         "step caching with a fullgraph compile mode: diffusers' cache hooks break the graph by design "
         "(torch.compiler.disable'd decisions, branches on tensor data); use --compile regional-breaks"),
    Rule(lambda s: s.cache == "magcache",
         "magcache needs the model's magnitude ratios (MagCacheConfig(mag_ratios=...), from a calibration run on "
         "trained weights); none are committed"),
    # Context parallelism (build/parallel.py): rank 0 alone counts a cache's work and times the denoiser floor,
    # and every rank holds the whole pipeline on its own GPU.
    Rule(lambda s: PARALLEL_MODES[s.parallel].gpus > 1 and s.cache != "none",
         "context parallelism with step caching: the suite counts a cache's work on rank 0 alone (not combined)"),
    Rule(lambda s: PARALLEL_MODES[s.parallel].gpus > 1 and s.offload != "none",
         "context parallelism with offloading: each rank keeps its whole pipeline on its own GPU"),
    Rule(lambda s: PARALLEL_MODES[s.parallel].ring_degree > 1 and not ATTENTION_KERNELS[s.attention].ring_attention,
         "ring attention merges partial results by their log-sum-exp, which diffusers' native backend does not "
         "return ('Native attention does not support return_lse=True', seen on the 2-GPU H200): use --attention "
         f"{_RING_KERNELS[0]} (or {', '.join(_RING_KERNELS[1:])})"),
    Rule(lambda s: ATTENTION_KERNELS[s.attention].registered and s.parallel != "none",
         "context parallelism with a backend diffbench registers (cudnn-fp8): registered without context-parallel "
         "support, so diffusers would refuse it"),
]


def skip_reason(scenario: Scenario) -> str | None:
    return next((rule.reason for rule in INVALID if rule.applies(scenario)), None)


@dataclass(frozen=True)
class KnownFailure:
    """A combination known to fail with some library versions or GPUs: reported as a strict xfail, so an
    upgrade that fixes it shows up as XPASS(strict) instead of passing unnoticed."""

    applies: Callable[[Scenario], bool]
    reason: str
    link: str = ""
    # distribution → the versions it fails with, a specifier such as "<=0.18" (an upgrade past them runs it again)
    versions: Mapping[str, str] = field(default_factory=dict)
    min_sm: tuple[int, int] | None = None  # only on GPUs at least this capable (None: anywhere)
    # A check in capabilities.PROBES that must confirm the failure on this machine (its finding joins the
    # reason); a fixed library then runs the scenario again without anyone editing this list.
    probe: str = ""
    # False for failures that are not errors but pathological slowness: not run (pytest --runxfail runs it).
    run: bool = True
    device: str = ""  # only on this device type ("cpu", "cuda"); empty: any
    weights: str = ""  # only with this weights source ("proxy", ...); empty: any
    suites: tuple[str, ...] = ()  # only in these suites ("benchmarks", "quality", ...); empty: every suite


def _is_flux(spec: ModelSpec) -> bool:
    return spec.components[spec.denoiser].cls == "FluxTransformer2DModel"


# Filled from measured runs (see baselines/); each entry says where it was seen.
KNOWN_FAILURES: list[KnownFailure] = [
    # H100, torch 2.11, torchao 0.18, diffusers 0.42.1, fp8dqrow + fused QKV (issue 35, measured outside the suite):
    # whole-denoiser compile with CUDA graphs ran; regional compile with CUDA graphs failed on its first call in
    # FLUX's block (the encoder_hidden_states gate): each block's graph replays into buffers the next block's
    # replay overwrites while the first block's output is still in use. cache-dit notes the same limitation.
    KnownFailure(lambda s: s.compile == "regional-cudagraphs" and _is_flux(s.spec),
                 "regional compile with CUDA graphs: 'accessing tensor output of CUDAGraphs that has been overwritten "
                 "by a subsequent run' on the first call (transformer_flux.py, the encoder_hidden_states gate); "
                 "--compile compile-cudagraphs runs",
                 link="issue 35", versions=dict(torch="<2.12", diffusers="<=0.42.1"), device="cuda"),
    # H100, torch 2.11, torchao 0.18, diffusers 0.42.1 (baselines/nvidia-h100-80gb-hbm3/runs/
    # flux-dev-regional-int8-quality.json): the compiled graph sends FLUX's 1-row AdaLayerNorm projection to
    # torch._int_mm, which needs more than 16 rows. Inductor's force_fuse_int_mm_with_mul (torchao's own
    # setting) does not avoid it: measured on one FLUX block, same error. Autotuned GEMMs do: Triton templates
    # take those matmuls (runs/flux-dev-int8dq-regional{,-fuse}-autotune-gemm.json).
    KnownFailure(lambda s: s.scheme == "int8dq" and s.compile != "eager" and s.batch <= 16
                 and s.inductor_profile != "max-autotune-gemm",
                 "compiled int8dq: torch._int_mm 'self.size(0) needs to be greater than 16' on 1-row linears "
                 "(--inductor-profile max-autotune-gemm avoids it)",
                 versions=dict(torchao="<=0.18"), min_sm=(8, 0)),
    # H100, torch 2.11 (baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-int8-regional-known-failures.json): inductor
    # rewrites int8 weight-only matmuls on CUDA to aten._weight_int8pack_mm, a kernel made for a few rows; at
    # FLUX's 4096-token rows a compiled step takes minutes. The probe times one linear both ways here.
    KnownFailure(lambda s: s.scheme == "int8wo" and s.compile != "eager",
                 "compiled int8wo: inductor lowers int8 weight-only linears to aten._weight_int8pack_mm, "
                 "orders of magnitude slower than eager at diffusion sizes; not run (--runxfail runs it)",
                 link="pytorch/pytorch#161680", probe="compiled_linear_slowdown", run=False),
    # H100, torch 2.11, torchao 0.18 (baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-fp8dqrow-regional-all-vs-whole.json,
    # and one child at a time on a 1+1-block FLUX: only the bare Linear children fail): dynamo cannot trace
    # torchao's __torch_function__ table lookup when an nn.Linear holding a Float8Tensor is compiled on its own.
    KnownFailure(lambda s: s.scheme == "fp8dqrow" and s.compile == "regional-all",
                 "regional-all fp8: a bare Linear with a Float8Tensor weight compiled on its own fails in dynamo "
                 "('Polyfill handler <method-wrapper __eq__> does not have a traceable function' in torchao's "
                 "_dispatch__torch_function__)",
                 versions=dict(torchao="<=0.18"), min_sm=(8, 9)),
    # 2-GPU H200, torch 2.11, diffusers 0.42.1 (baselines/nvidia-h200/parallel/wan-parallel.json): diffusers'
    # context-parallel input hook reads the hooked module's signature with inspect on its first call; on a block
    # that regional compilation compiles with fullgraph, dynamo cannot trace that. FLUX's plan hooks only the
    # denoiser's root and proj_out, outside the compiled blocks, and compiled (same file's FLUX runs).
    KnownFailure(lambda s: PARALLEL_MODES[s.parallel].gpus > 1 and COMPILE_MODES[s.compile].regional
                 and COMPILE_MODES[s.compile].fullgraph and _cp_plan_hooks_a_block(s.spec),
                 "context parallelism with a fullgraph regional compile: diffusers' input hook on a compiled block "
                 "(Wan's blocks.0) calls inspect.signature on its first call, which dynamo cannot trace "
                 "('Unexpected type in sourceless builder ... SourceFileLoader'); regional-breaks would let the "
                 "graph break there (not measured)",
                 versions=dict(diffusers="<=0.42.1")),
    # H200, torch 2.11, torchao 0.18, synthetic weights: fp8dqrow gave all-NaN outputs where bf16 was finite.
    # Wan2.1: regional at 10 and 4 steps (baselines/nvidia-h200/nightly/nightly-n2-cold.json,
    # parallel/wan-parallel.json), eager at 4 (runs/store-models.json); SDXL: eager and regional (the same file).
    # Not the random weights: SDXL's first non-finite output is its first cross-attention key projection's, in
    # the first call (nan-probe/), and both models' text contexts hold all-zero rows (spec/models: CPU-checked by
    # tests/test_models.py); torchao 0.18's per-row scale is amax/448 with no floor, so such a row quantizes to
    # 0/0. Real weights get the same rows. The probe quantizes one Linear with the scenario's scheme on the GPU:
    # on the H200 it finds fp8dqrow and not fp8dq, fp8wo or int8dq (nan-probe/zero_row.txt), so those run.
    KnownFailure(lambda s: bool(s.spec.zero_context_rows),
                 "per-row dynamic activation quantization: the model's text context has all-zero rows, each gets a "
                 "zero scale and quantizes to NaN (0/0), and attention spreads it to the whole output",
                 link="pytorch/ao#4713", probe="zero_row_gives_nan", device="cuda"),
    # CPU, torch 2.11.0 / 2.12.1 / 2.13.0 / 2.14.1, torchao 0.18 (baselines/cpu/int8dq-regression/end-to-end.txt):
    # torch >= 2.12 draws seeded bf16 noise in float32 and rounds it (2.11 drew it in bf16), so the proxy's
    # starting latents changed. From the new noise int8dq draws one scene differently from bf16; given 2.11's
    # noise, 2.14.1 scores it 0.9977, and the int8dq ops are bit-identical across versions: the proxy is
    # sensitive at that seed, no kernel is wrong. Quality only: latency does not depend on the noise.
    KnownFailure(lambda s: s.scheme == "int8dq" and s.model == "flux-dev" and s.compile == "eager",
                 "proxy int8dq under torch >= 2.12's seeded bf16 noise: 'a blue triangle on a white background' "
                 "(seed 2) comes out drawn larger than bf16's (SSIM 0.8434, PSNR 16.4 dB with 2.12.1-2.14.1); the "
                 "int8dq ops are bit-identical to 2.11's, which scores 0.9977 on the same noise (no kernel error)",
                 link="baselines/cpu/int8dq-regression/README.md", probe="bf16_noise_drawn_in_float32",
                 device="cpu", weights="proxy", suites=("quality",)),
    # CPU, torchao 0.18 with torch 2.11.0, 2.12.1, 2.13.0 (baselines/cpu/dependency-floors/): the same dynamo
    # failure as regional-all fp8 above, for int8 weight-only on the CPU; torch 2.14.1 compiles it. The probe
    # compiles one bare quantized Linear here, so a fixed torch runs the scenario again.
    KnownFailure(lambda s: s.scheme == "int8wo" and s.compile == "regional-all",
                 "regional-all int8wo: a bare Linear with a quantized weight compiled on its own fails in dynamo "
                 "(torchao's _dispatch__torch_function__)",
                 probe="bare_quantized_linear_compile_error", device="cpu"),
]
