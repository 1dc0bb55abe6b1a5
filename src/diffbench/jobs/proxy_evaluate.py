"""Does the proxy behave like a real model? `diffbench-jobs evaluate-proxy`.

- caption retrieval: the bf16 proxy FLUX draws each of N distinct captions; the proxy CLIP must rank the
  image's own caption first among all N (chance: 1/N);
- a sample grid: one row per scheme, the same prompts and seeds, to look at what quantization does.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diffbench.measure import machine, metrics, quality
from diffbench.spec.schemes import SCHEMES
from diffbench.build.sources import weights_source
from diffbench.spec import proxy_scenes as scenes
from diffbench.spec.proxy import CLIP_DIR, FLUX_PROXY


def load(scheme: str, device: str):
    config = SCHEMES[scheme].torchao_config()
    pipe = weights_source("proxy").load(FLUX_PROXY, {"transformer": config} if config else {}, device).pipe
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, prompts: list[str], seed: int = 0, batch: int = 16) -> np.ndarray:
    """Prompt i starts from seed + i, as in the quality tests."""
    outputs = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        generators = [torch.Generator("cpu").manual_seed(seed + start + i) for i in range(len(chunk))]
        kwargs = FLUX_PROXY.inputs.call_kwargs(chunk)
        outputs.append(pipe(**kwargs, generator=generators, output_type="np").images)
    return np.concatenate(outputs)


def retrieval(images: np.ndarray, prompts: list[str], clip: metrics.ClipScorer) -> dict[str, Any]:
    """Top-1 accuracy of matching each image to its own caption among all the prompts."""
    with torch.no_grad():
        text = clip.model.encode_text(clip.tokenizer(prompts))
    text = text / text.norm(dim=-1, keepdim=True)
    image = clip._image_features(images)
    image = image / image.norm(dim=-1, keepdim=True)
    ranks = (image @ text.T).argsort(dim=-1, descending=True)
    correct = [int(ranks[i, 0]) == i for i in range(len(prompts))]
    return dict(top1=float(np.mean(correct)), chance=1 / len(prompts), prompts=prompts,
                correct=correct, clip=clip.name)


def grid(rows: dict[str, np.ndarray]) -> bytes:
    """One labelled row of images per scheme."""
    from PIL import Image, ImageDraw

    label_width = 90
    rendered = []
    for name, images in rows.items():
        strip = (np.concatenate(list(images), axis=1) * 255).round().astype(np.uint8)
        label = Image.new("RGB", (label_width, strip.shape[0]), "white")
        ImageDraw.Draw(label).text((4, strip.shape[0] // 2 - 6), name, fill="black")
        rendered.append(np.concatenate([np.asarray(label), strip], axis=1))
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(rendered, axis=0)).resize(
        (rendered[0].shape[1] * 2, len(rendered) * rendered[0].shape[0] * 2), Image.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffbench-jobs evaluate-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--prompts", type=int, default=64, help="distinct captions for retrieval (default 64)")
    parser.add_argument("--schemes", default="bf16,int8wo,int8dq,int2wo", help="rows of the sample grid")
    parser.add_argument("--out", type=Path, default=Path("proxy-eval"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prompts = scenes.evaluation_prompts(args.prompts)
    clip = metrics.ClipScorer.load("proxy", str(CLIP_DIR))
    result = retrieval(generate(load("bf16", args.device), prompts), prompts, clip)
    rows, unavailable, scores = {}, {}, {}
    for scheme in args.schemes.split(","):
        try:
            rows[scheme] = generate(load(scheme, args.device), prompts[:8])
        except Exception as exc:  # noqa: BLE001 — a scheme this device cannot run is reported, not fatal
            unavailable[scheme] = f"{type(exc).__name__}: {exc}"
            continue
        # Scores against bf16 on the grid's prompts: the data the proxy's quality thresholds are set from.
        scores[scheme] = metrics.compare(rows.get("bf16", rows[scheme]), rows[scheme], prompts[:8], clip)
    (args.out / "proxy-grid.png").write_bytes(grid(rows))
    result |= dict(device=args.device, grid_schemes=list(rows), unavailable=unavailable,
                   scores_vs_bf16=quality.jsonable(scores), environment=machine.environment())
    (args.out / "proxy-retrieval.json").write_text(json.dumps(result, indent=1))
    print(f"top-1 caption retrieval: {result['top1']:.3f} over {len(prompts)} prompts "
          f"(chance {result['chance']:.3f}); grid: {args.out / 'proxy-grid.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
