"""The proxy quality gate's 4 prompts (seed 0 + i), bf16 and int8dq eager on CPU, from this torch's own initial noise
and from another torch's (saved with noise.py): which of the two decides the int8dq score?"""
import sys, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "proxy"))
import evaluate  # tools/proxy/evaluate.py
from diffusers import FluxPipeline
from diffbench.measure import metrics, quality
from diffbench.spec import proxy_scenes as scenes
from diffbench.spec.proxy import FLUX_PROXY
prompts = scenes.evaluation_prompts()[:4]
pipes = {s: evaluate.load(s, "cpu") for s in ("bf16", "int8dq")}
def run(scheme, noise):
    out = []
    for i, p in enumerate(prompts):
        kw = FLUX_PROXY.inputs.call_kwargs([p])
        if noise is not None:
            kw["latents"] = FluxPipeline._pack_latents(noise[i], 1, 4, 16, 16)
        img = pipes[scheme](**kw, generator=[torch.Generator("cpu").manual_seed(i)], output_type="np").images[0]
        out.append(quality.to_float(quality.to_uint8(img)))
    return out
def scores(ref, cand):
    return " ".join(f"{metrics.ssim(r, c):.4f}/{metrics.psnr(r, c):.1f}" for r, c in zip(ref, cand))
own = {s: run(s, None) for s in pipes}
other_label, other = sys.argv[1], torch.load(sys.argv[2])
alt = {s: run(s, other) for s in pipes}
print(f"torch {torch.__version__}, per prompt SSIM/PSNR(dB), prompts {prompts}")
print(f"  int8dq vs bf16, this torch's noise:          {scores(own['bf16'], own['int8dq'])}")
print(f"  int8dq vs bf16, torch {other_label} noise:          {scores(alt['bf16'], alt['int8dq'])}")
print(f"  bf16 (this noise) vs bf16 (torch {other_label} noise): {scores(alt['bf16'], own['bf16'])}")
