"""Train the proxy models: `diffbench-jobs train-proxy {vae,flux,clip,all}`.

Stages, each bounded in wall time and reproducible from its seed:
1. vae: the AutoencoderKL learns to reconstruct the scenes; its latent scale/shift are then measured.
2. flux: the transformer and both text encoders learn rectified flow (FLUX's objective) on VAE latents
   (run alone, it starts them afresh on the shipped VAE, e.g. after an architecture change).
3. clip: an open_clip CLIP learns image-caption matching on the same scenes (for CLIP score offline).
The pipeline is saved with save_pretrained (safetensors, bf16) and loaded like any real checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from diffbench.measure import machine
from diffbench.build import tokenizers, weights
from diffbench.spec import proxy_scenes as scenes
from diffbench.spec.proxy import CLIP_CONFIG, CLIP_DIR, FLUX_DIR, FLUX_PROXY, RESOLUTION


# The transformer learns the most; the VAE and CLIP converge quickly on flat shapes.
STAGE_MINUTES = dict(vae=1.5, flux=4.0, clip=1.5)


def _render_chunk(args: tuple[int, int, int]) -> tuple[list[str], np.ndarray]:
    seed, chunk, count = args
    return scenes.batch(np.random.default_rng([seed, chunk]), count, RESOLUTION)


def dataset(count: int, seed: int, workers: int = 8) -> tuple[list[str], torch.Tensor]:
    """`count` scenes (captions, uint8 NHWC), deterministic by seed whatever the number of workers."""
    chunks = [(seed, i, 500) for i in range(math.ceil(count / 500))]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_render_chunk, chunks))
    captions = [c for part in parts for c in part[0]][:count]
    images = torch.from_numpy(np.concatenate([part[1] for part in parts])[:count])
    return captions, images


def to_model(images: torch.Tensor, device: str) -> torch.Tensor:
    """uint8 NHWC → float NCHW in [-1, 1]."""
    return images.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _loop(params, seconds: float, lr: float, step_fn, log_every: int = 200) -> dict[str, Any]:
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    start, step, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < seconds:
        warmup = min(1.0, (step + 1) / 200)
        for group in optimizer.param_groups:
            group["lr"] = lr * warmup
        loss = step_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % log_every == 0:
            print(f"  step {step:6d}  loss {np.mean(losses[-log_every:]):.5f}  {time.perf_counter() - start:6.1f}s",
                  flush=True)
        step += 1
    return dict(steps=step, seconds=time.perf_counter() - start, final_loss=float(np.mean(losses[-200:])))


def train_vae(vae, images: torch.Tensor, device: str, seconds: float, batch: int = 128) -> dict[str, Any]:
    vae.train()
    generator = torch.Generator(device="cpu").manual_seed(1)

    def step(_):
        x = to_model(images[torch.randint(len(images), (batch,), generator=generator)], device)
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        return F.mse_loss(reconstruction, x) + 1e-6 * posterior.kl().mean()

    stats = _loop(list(vae.parameters()), seconds, 3e-4, step)
    vae.eval()
    with torch.no_grad():  # scale latents to unit variance, as the real VAEs' scaling/shift factors do
        latents = torch.cat([vae.encode(to_model(images[i:i + 512], device)).latent_dist.mode()
                             for i in range(0, min(len(images), 4096), 512)])
    shift, scale = latents.mean().item(), 1 / latents.std().item()
    vae.register_to_config(shift_factor=shift, scaling_factor=scale)
    return stats | dict(shift_factor=shift, scaling_factor=scale)


def _tokens(tokenizer, captions: list[str], max_length: int, device: str) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=max_length, truncation=True,
                     return_tensors="pt").input_ids.to(device)


def train_flux(pipe, captions: list[str], images: torch.Tensor, device: str, seconds: float,
               batch: int = 256) -> dict[str, Any]:
    """Rectified flow as in FLUX: x_t = (1 - t) x0 + t noise, the transformer predicts noise - x0."""
    from diffusers import FluxPipeline

    vae = pipe.vae.eval().requires_grad_(False)
    with torch.no_grad():
        latents = torch.cat([
            (vae.encode(to_model(images[i:i + 512], device)).latent_dist.mode() - vae.config.shift_factor)
            * vae.config.scaling_factor for i in range(0, len(images), 512)])
    clip_ids = _tokens(pipe.tokenizer, captions, pipe.tokenizer.model_max_length, device)
    t5_ids = _tokens(pipe.tokenizer_2, captions, FLUX_PROXY.inputs.extra["max_sequence_length"], device)
    modules = [pipe.transformer, pipe.text_encoder, pipe.text_encoder_2]
    for module in modules:
        module.train()
    _, channels, height, width = latents.shape
    image_ids = FluxPipeline._prepare_latent_image_ids(batch, height // 2, width // 2, device, torch.float32)
    text_ids = torch.zeros(t5_ids.shape[1], 3, device=device)
    generator = torch.Generator(device="cpu").manual_seed(2)

    def step(_):
        idx = torch.randint(len(latents), (batch,), generator=generator)
        x0 = latents[idx]
        noise = torch.randn_like(x0)
        t = torch.sigmoid(torch.randn(batch, device=device))  # logit-normal timesteps
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        pooled = pipe.text_encoder(clip_ids[idx]).pooler_output
        text = pipe.text_encoder_2(t5_ids[idx]).last_hidden_state
        prediction = pipe.transformer(
            hidden_states=FluxPipeline._pack_latents(xt, batch, channels, height, width), timestep=t,
            pooled_projections=pooled, encoder_hidden_states=text, txt_ids=text_ids, img_ids=image_ids,
            return_dict=False)[0]
        target = FluxPipeline._pack_latents(noise - x0, batch, channels, height, width)
        return F.mse_loss(prediction, target)

    stats = _loop([p for m in modules for p in m.parameters()], seconds, 5e-4, step)
    for module in modules:
        module.eval()
    return stats


def save_clip_files(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps(CLIP_CONFIG, indent=1))
    tokenizers.build(FLUX_PROXY.tokenizers["tokenizer_2"]).save_pretrained(out)


def train_clip(out: Path, captions: list[str], images: torch.Tensor, device: str, seconds: float,
               batch: int = 512) -> dict[str, Any]:
    import open_clip
    from open_clip.loss import ClipLoss
    from safetensors.torch import save_file

    save_clip_files(out)
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")
    model = model.to(device).train()
    tokenize = open_clip.get_tokenizer(f"local-dir:{out}")
    tokens = tokenize(captions).to(device)
    loss_fn = ClipLoss()
    generator = torch.Generator(device="cpu").manual_seed(3)

    def step(_):
        idx = torch.randint(len(images), (batch,), generator=generator)
        x = to_model(images[idx], device)  # [-1, 1] is the (0.5, 0.5) normalization of [0, 1]
        x = x + 0.05 * torch.randn_like(x)  # robust to the generator's small imperfections
        image_features, text_features, logit_scale = model(x, tokens[idx])
        return loss_fn(image_features, text_features, logit_scale)

    stats = _loop(list(model.parameters()), seconds, 1e-3, step)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, out / "open_clip_model.safetensors")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffbench-jobs train-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["vae", "flux", "clip", "all"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--minutes", type=float, default=None,
                        help=f"wall time of every stage (default per stage: {STAGE_MINUTES})")
    parser.add_argument("--samples", type=int, default=20000, help="scenes rendered for training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: the package's proxy data)")
    args = parser.parse_args(argv)
    flux_dir = args.out / "flux-dev" if args.out else FLUX_DIR
    clip_dir = args.out / "clip" if args.out else CLIP_DIR
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 weights, TF32 matmuls: stable and fast enough here
    torch.backends.cudnn.allow_tf32 = True
    captions, images = dataset(args.samples, args.seed)
    log: dict[str, Any] = {}

    def seconds(stage: str) -> float:
        return 60 * (args.minutes if args.minutes is not None else STAGE_MINUTES[stage])

    if args.stage in ("vae", "flux", "all"):
        pipe = weights.assemble(FLUX_PROXY, "full", args.device, torch.float32, args.seed)
        if args.stage == "flux":  # a fresh transformer and text encoders on the trained VAE
            pipe.vae = weights.load_pretrained(FLUX_DIR, {}, args.device, torch.float32).pipe.vae
        if args.stage in ("vae", "all"):
            print("vae:", flush=True)
            log["vae"] = train_vae(pipe.vae, images, args.device, seconds("vae"))
        if args.stage in ("flux", "all"):
            print("flux:", flush=True)
            log["flux"] = train_flux(pipe, captions, images, args.device, seconds("flux"))
        pipe.to(torch.bfloat16).save_pretrained(flux_dir, safe_serialization=True)
    if args.stage in ("clip", "all"):
        print("clip:", flush=True)
        log["clip"] = train_clip(clip_dir, captions, images, args.device, seconds("clip"))
    log.update(samples=args.samples, seed=args.seed, device=args.device, environment=machine.environment())
    (flux_dir.parent / f"training-{args.stage}.json").write_text(json.dumps(log, indent=1))
    print(json.dumps(log, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
