"""Where SDXL's fp8dqrow output turns to NaN on synthetic (random) weights (runs/store-models.json: all-NaN images).

Builds the suite's pipeline (diffbench.build, the same path as the benchmark) for bf16 and the scheme given, runs
the model's default call with latents as output, and records per denoiser call whether its output is finite and
its largest magnitude, and, at the first call that goes non-finite, the first leaf module (in call order) whose
output does, with the largest input magnitude it was given. Then decodes the last finite latents with the VAE.

    python probe.py --out result.json                                    # the H200: synthetic, fp8dqrow
    python probe.py --weights tiny --device cpu --scheme int8wo --out x.json   # the script's own check on a CPU
"""

from __future__ import annotations

import argparse
import json

import torch

from diffbench.build.built import BuildOptions, teardown
from diffbench.build.pipelines import build
from diffbench.build.sources import weights_source
from diffbench.spec import prompts
from diffbench.spec.matrix import Scenario


def amax(value) -> float | None:
    tensors = [value] if torch.is_tensor(value) else [v for v in value if torch.is_tensor(v)] if isinstance(
        value, (tuple, list)) else []
    found = [t.detach().float().abs().nan_to_num(nan=float("inf")).max().item() for t in tensors if t.numel()]
    return max(found) if found else None


def probe(model: str, scheme: str, source, device: str, steps: int | None) -> dict:
    built = build(Scenario(model, scheme, "eager"), BuildOptions(source, device))
    pipe, spec = built.pipe, built.scenario.spec
    denoiser = getattr(pipe, spec.denoiser)
    calls: list[dict] = []
    first_bad: dict = {}

    def on_leaf(name):
        def hook(module, args, output):
            out = amax(output)
            if not first_bad and out is not None and out == float("inf"):
                first_bad.update(call=len(calls), module=name, type=type(module).__name__,
                                 input_amax=amax(args), weight=type(getattr(module, "weight", None)).__name__)
        return hook

    handles = [m.register_forward_hook(on_leaf(n)) for n, m in denoiser.named_modules() if not list(m.children())]
    handles.append(denoiser.register_forward_hook(
        lambda module, args, output: calls.append(dict(output_amax=amax(output[0] if isinstance(output, tuple)
                                                                         else getattr(output, "sample", output))))))
    kwargs = source.inputs(spec).call_kwargs(prompts.for_batch(1), steps)
    latents = pipe(**kwargs, output_type="latent", generator=torch.Generator(device).manual_seed(0)).images
    for h in handles:
        h.remove()
    with torch.no_grad():  # the VAE as the pipeline would use it (fp32 upcast where its config asks)
        vae = pipe.vae
        decoded = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    result = dict(model=model, scheme=scheme, weights=source.name, steps=kwargs.get("num_inference_steps"),
                  quantized=built.info["quantized_components"], denoiser_calls=calls,
                  first_non_finite=first_bad or None, latents_amax=amax(latents), decoded_amax=amax(decoded))
    del built, pipe, denoiser
    teardown(device)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="sdxl")
    parser.add_argument("--scheme", default="fp8dqrow")
    parser.add_argument("--weights", default="synthetic")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    source = weights_source(args.weights)
    runs = [probe(args.model, scheme, source, args.device, args.steps) for scheme in ("bf16", args.scheme)]
    env = dict(torch=torch.__version__, gpu=torch.cuda.get_device_name() if args.device == "cuda" else None)
    for name in ("diffusers", "torchao"):
        env[name] = __import__(name).__version__
    with open(args.out, "w") as f:
        json.dump(dict(env=env, runs=runs), f, indent=1)
    for run in runs:
        bad = [i for i, c in enumerate(run["denoiser_calls"]) if c["output_amax"] in (None, float("inf"))]
        print(run["scheme"], "calls", len(run["denoiser_calls"]), "first non-finite call", bad[:1],
              run["first_non_finite"], "latents amax", run["latents_amax"], "decoded amax", run["decoded_amax"])
        print("  output amax per call", [round(c["output_amax"] or -1, 2) for c in run["denoiser_calls"]][:40])


if __name__ == "__main__":
    main()
