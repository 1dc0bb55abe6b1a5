"""Named selections (data): matrices run as one by `--selection NAME`, each a union of parts, a part being the
matrix options it sets (a dimension's name → the option's text, parsed by its record as if typed; the others
stay at their defaults).

`nightly` is the nightly gate's window (README "The nightly gate"): every seed model at least once, bf16 against
its best scheme, eager and compiled where the seeds compile, sized for 20 minutes on one H200 with a warm compile
cache (measured: -n 0 on one H200 648 s warm, 679 s cold; -n 2 cold 405 s; baselines/nvidia-h200/nightly/).
The others are the matrices of the device sessions' phases (`spec/sessions.py`, `tools/gpu_session.sh`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NamedSelection:
    name: str
    description: str
    parts: tuple[Mapping[str, str], ...]
    budget_s: float | None = None  # the wall time it is meant to fit (one GPU, warm compile cache)
    # model -> steps, for models whose default steps overrun the window (a latency scales with its steps; an
    # explicit --steps wins)
    steps: Mapping[str, int] = field(default_factory=dict)


SELECTIONS: dict[str, NamedSelection] = {
    s.name: s
    for s in [
        NamedSelection(
            "nightly", "the nightly gate: every seed model, bf16 against its best scheme",
            parts=(
                # the gated FLUX.1-dev set (baselines/<gpu>/gate/): fused QKV, eager and regional
                dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="eager,regional", fuse_qkv="on"),
                dict(model="flux-schnell", scheme="bf16,fp8dqrow", compile="regional", fuse_qkv="on"),
                dict(model="sdxl", scheme="bf16,int8wo", compile="eager"),
                dict(model="cogvideox-5b", scheme="bf16,fp8dqrow", compile="eager"),
                dict(model="wan2.1-t2v-1.3b", scheme="bf16,fp8dqrow", compile="regional"),
                dict(model="pixart-sigma", scheme="bf16,fp8dqrow", compile="regional"),
            ),
            budget_s=20 * 60,
            # the video models' 50 default steps would take most of the window alone (CogVideoX-5b's eager
            # scenarios, five calls each); a few steps still time every kernel of a step. Wan2.1 fp8dqrow gives an
            # all-NaN video on the H200 at 10 steps and at 4 (zero text rows): a known failure
            # (spec/rules.py), so the nightly reports it as a strict xfail and notices when it runs again.
            steps={"cogvideox-5b": 10, "wan2.1-t2v-1.3b": 4},
        ),
        NamedSelection(
            "store", "a GPU kind's baseline store (issue 21), as the H100's was made: FLUX.1-dev's scheme x compile x "
            "fuse matrix, its best two at batch 4, and every other seed model bf16 against fp8dqrow (and fp8dq where "
            "fp8dqrow is a known failure), eager and compiled",
            parts=(
                dict(model="flux-dev", scheme="bf16,int8wo,int8dq,fp8wo,fp8dq,fp8dqrow", compile="eager",
                     fuse_qkv="both"),
                dict(model="flux-dev", scheme="bf16,int8wo,fp8wo,fp8dq,fp8dqrow", compile="regional",
                     fuse_qkv="both"),
                # compiled int8dq needs autotuned GEMMs (rules.KNOWN_FAILURES: torch._int_mm on 1-row linears)
                dict(model="flux-dev", scheme="int8dq", compile="regional", fuse_qkv="both",
                     inductor_profile="max-autotune-gemm"),
                dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="regional", fuse_qkv="on", batch="4"),
                # SDXL's and Wan2.1's fp8dqrow give all-NaN outputs (zero text rows, spec/rules.py): known failures
                dict(model="sdxl,flux-schnell,pixart-sigma,wan2.1-t2v-1.3b,cogvideox-5b", scheme="bf16,fp8dqrow",
                     compile="eager,regional"),
                # so those two also get fp8dq, whose per-tensor scale a zero row cannot zero (the zero-row probe on
                # the H200: baselines/nvidia-h200/nan-probe/zero_row.txt): a quantized row that runs
                dict(model="sdxl,wan2.1-t2v-1.3b", scheme="fp8dq", compile="eager,regional"),
            ),
            # the H100 store's CogVideoX-5b ran 4 steps (baselines/nvidia-h100-80gb-hbm3/cogvideox-5b.json), the
            # nightly's Wan2.1 4: rows match across GPU kinds only at the same steps (`diffbench gpus`)
            steps={"cogvideox-5b": 4, "wan2.1-t2v-1.3b": 4},
        ),
        NamedSelection(
            "gate", "the nightly gate's FLUX.1-dev set (the nightly's first part): bf16 and fp8dqrow, eager and "
            "regional, fused QKV; its nights are the gate's error-rate population (baselines/<gpu>/history/)",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="eager,regional", fuse_qkv="on"),),
        ),
        NamedSelection(
            "upgrade", "the upgrade gate (tox -e ao017,ao018): FLUX.1-dev bf16, int8wo and fp8dqrow, eager and "
            "regional, at 10 steps (compiled int8wo is a known failure, not run)",
            parts=(dict(model="flux-dev", scheme="bf16,int8wo,fp8dqrow", compile="eager,regional"),),
            steps={"flux-dev": 10},
        ),
        NamedSelection(
            "fp8-attention", "issue 35: FP8 attention against bf16 attention (PyTorch's default and cuDNN's), "
            "FLUX.1-dev fp8dqrow, fused QKV, regional: speed, and attention's share of the GPU work profiled",
            parts=(dict(model="flux-dev", scheme="fp8dqrow", compile="regional", fuse_qkv="on",
                        attention="sdpa,sdpa-cudnn,cudnn-fp8"),),
        ),
        NamedSelection(
            "fp8-attention-proxy", "issue 35: FP8 attention's quality cost on the trained proxy (bf16 and fp8dqrow, "
            "eager and regional, against bf16 eager with PyTorch's attention)",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="eager,regional",
                        attention="sdpa,cudnn-fp8"),),
        ),
        NamedSelection(
            "fp8-attention-proxy-cudagraphs", "issue 35: FP8 attention's quality cost on the trained proxy under "
            "whole-model compile with CUDA graphs, the frontier's fastest compile mode (bf16 and fp8dqrow, fused QKV, "
            "against bf16 eager with PyTorch's attention)",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="compile-cudagraphs", fuse_qkv="on",
                        attention="sdpa,cudnn-fp8"),),
        ),
        NamedSelection(
            "fp8-attention-proxy-modes", "issue 35: fp8dqrow with FP8 attention on the trained proxy under each "
            "compile mode, fused QKV and not: which of them loses a prompt (whole-model compile with CUDA graphs and "
            "fused QKV put prompt 5 at 17.6 dB, regional unfused at 32.3 dB)",
            parts=(dict(model="flux-dev", scheme="fp8dqrow", compile="eager,regional,compile,compile-cudagraphs",
                        fuse_qkv="both", attention="cudnn-fp8"),),
        ),
        NamedSelection(
            "frontier", "issue 35: flux-fast's steps on FLUX.1-dev fp8dqrow with fused QKV, each alone and together: "
            "its inductor flags, the VAE compiled in channels_last, FP8 attention, whole-model compile with CUDA "
            "graphs (regional with CUDA graphs is a known failure)",
            parts=(
                # together first: the frontier's headline, should the session's time run out
                dict(model="flux-dev", scheme="fp8dqrow", compile="regional,compile-cudagraphs", fuse_qkv="on",
                     attention="cudnn-fp8", inductor_profile="flux-fast", compile_vae="on"),
                dict(model="flux-dev", scheme="fp8dqrow", compile="regional", fuse_qkv="on",
                     inductor_profile="flux-fast"),
                dict(model="flux-dev", scheme="fp8dqrow", compile="regional", fuse_qkv="on", compile_vae="on"),
                # FP8 attention alone under CUDA graphs: the capture its softmax-scale constants once broke
                dict(model="flux-dev", scheme="fp8dqrow", compile="compile-cudagraphs,regional-cudagraphs",
                     fuse_qkv="on", attention="sdpa,cudnn-fp8"),
            ),
        ),
        NamedSelection(
            "box", "a box's matrix: FLUX.1-dev and SDXL, bf16, fp8dqrow and int8dq, eager and compiled (issue 20's "
            "measure of -n 2 against -n 0)",
            parts=(
                dict(model="flux-dev", scheme="bf16,fp8dqrow,int8dq", compile="eager", fuse_qkv="on"),
                dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="regional", fuse_qkv="on"),
                # compiled int8dq needs autotuned GEMMs (rules.KNOWN_FAILURES: torch._int_mm on 1-row linears)
                dict(model="flux-dev", scheme="int8dq", compile="regional", fuse_qkv="on",
                     inductor_profile="max-autotune-gemm"),
                dict(model="sdxl", scheme="bf16,fp8dqrow,int8dq", compile="eager"),
                dict(model="sdxl", scheme="bf16,fp8dqrow", compile="regional"),
                dict(model="sdxl", scheme="int8dq", compile="regional", inductor_profile="max-autotune-gemm"),
            ),
        ),
        # The device sessions' matrices (spec/sessions.py): the measurements committed under baselines/<gpu>/.
        NamedSelection(
            "caches-flux", "issue 22: FLUX.1-dev with the fixed-schedule caches, bf16 and fp8dqrow, compiled",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="regional,regional-breaks",
                        cache="none,taylorseer-5,pab,fastercache", fuse_qkv="on"),),
        ),
        NamedSelection(
            "caches-proxy", "issue 22: every cache mode on the trained proxy, bf16 and fp8dqrow (the front, the gates)",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="eager,regional-breaks",
                        cache="none,fbcache-0.05,fbcache-0.12,taylorseer-5,fastercache,pab,magcache,textkv"),),
        ),
        NamedSelection(
            "taylorseer-flux", "issue 22: the TaylorSeer runs the denoiser floor broke, FLUX.1-dev",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="regional-breaks",
                        cache="none,taylorseer-5", fuse_qkv="on"),),
        ),
        NamedSelection(
            "taylorseer-proxy", "issue 22: the proxy's adaptive caches and TaylorSeer timings",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="eager,regional-breaks",
                        cache="none,fbcache-0.05,fbcache-0.12,taylorseer-5"),),
        ),
        NamedSelection(
            "parallel-flux", "issue 20: FLUX.1-dev on one GPU against Ulysses-2 and ring-2, fused, compiled",
            parts=(dict(model="flux-dev", scheme="bf16,fp8dqrow", compile="regional", fuse_qkv="on",
                        parallel="none,ulysses2,ring2", attention="native-cudnn"),),
        ),
        NamedSelection(
            # regional fails here: a known failure of diffusers 0.42.1's hook on blocks.0 (spec/rules.py)
            "parallel-wan", "issue 20: Wan2.1 on one GPU against Ulysses-2, compiled with graph breaks allowed",
            parts=(dict(model="wan2.1-t2v-1.3b", scheme="bf16,fp8dqrow", compile="regional-breaks",
                        parallel="none,ulysses2"),),
            steps={"wan2.1-t2v-1.3b": 4},
        ),
    ]
}
