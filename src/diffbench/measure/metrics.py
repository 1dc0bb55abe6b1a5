"""Quality metrics against the bf16 reference: SSIM and PSNR (scikit-image), CLIP score (open_clip).

Images are float arrays in [0, 1], shaped (N, H, W, 3); videos (N, F, H, W, 3) are compared frame by frame
and each video's value is the mean over its frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class BadOutput(AssertionError):
    """The pipeline produced something no metric should be computed on (NaN, blank, constant)."""


def guard_finite(outputs, label: str) -> None:
    """Every suite runs this on the pipeline's float outputs before any conversion: a uint8 cast would turn NaN
    into 0 (a black image) and hide the real fault."""
    values = np.asarray(outputs)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise BadOutput(f"{label}: output has NaN/Inf values ({bad} of {values.size} elements) — "
                        "nothing to time or judge")


def guard(images: np.ndarray, label: str) -> None:
    guard_finite(images, label)
    for i, image in enumerate(images):
        if image.max() < 1 / 255:
            raise BadOutput(f"{label}: output {i} is all black")
        if image.std() < 1e-4:
            raise BadOutput(f"{label}: output {i} is a constant image (value {float(image.mean()):.3f})")


def _frames(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 4 else x[None]


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """SSIM of one image or video (mean over frames)."""
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(r, c, channel_axis=-1, data_range=1.0)
                          for r, c in zip(_frames(reference), _frames(candidate))]))


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB; +inf for identical outputs."""
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(reference, candidate):
        return math.inf
    return float(peak_signal_noise_ratio(reference, candidate, data_range=1.0))


@dataclass
class ClipScorer:
    """CLIP score (100 × cosine of prompt and image embeddings) and image-image similarity."""

    model: Any
    preprocess: Any
    tokenizer: Any
    name: str

    @classmethod
    def load(cls, model_name: str, weights: str) -> "ClipScorer":
        """`weights` is an open_clip pretrained tag (needs the hub), a local checkpoint file, or a folder in
        open_clip's local-dir layout (open_clip_config.json, weights, tokenizer), such as the proxy CLIP."""
        import open_clip

        local = Path(weights).expanduser()
        if local.is_dir():
            model_name, pretrained = f"local-dir:{local}", None
        else:
            pretrained = str(local) if local.exists() else weights
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        return cls(model.eval(), preprocess, open_clip.get_tokenizer(model_name), f"{model_name}:{weights}")

    def _image_features(self, images: np.ndarray):
        import torch
        from PIL import Image

        frames = [f for x in images for f in _frames(x)]  # every frame of every output
        batch = torch.stack([self.preprocess(Image.fromarray((f * 255).round().astype(np.uint8))) for f in frames])
        with torch.no_grad():
            features = self.model.encode_image(batch)
        features = features / features.norm(dim=-1, keepdim=True)
        per_output = len(frames) // len(images)
        return features.reshape(len(images), per_output, -1).mean(1)

    def score(self, images: np.ndarray, prompts: list[str]) -> list[float]:
        import torch

        with torch.no_grad():
            text = self.model.encode_text(self.tokenizer(prompts))
        text = text / text.norm(dim=-1, keepdim=True)
        image = self._image_features(images)
        image = image / image.norm(dim=-1, keepdim=True)
        return (100 * (image * text).sum(-1)).tolist()

    def image_similarity(self, reference: np.ndarray, candidate: np.ndarray) -> list[float]:
        a, b = self._image_features(reference), self._image_features(candidate)
        a, b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
        return (a * b).sum(-1).tolist()


def aggregate(values: list[float]) -> dict[str, Any]:
    return dict(per_prompt=values, mean=float(np.mean(values)), min=float(np.min(values)), max=float(np.max(values)))


def compare(reference: np.ndarray, candidate: np.ndarray, prompts: list[str],
            clip: ClipScorer | None = None) -> dict[str, dict[str, Any]]:
    """Every metric, per prompt and aggregated. Guards run first."""
    guard(reference, "reference")
    guard(candidate, "candidate")
    if reference.shape != candidate.shape:
        raise BadOutput(f"candidate shape {candidate.shape} differs from the reference's {reference.shape}")
    result = dict(
        ssim=aggregate([ssim(r, c) for r, c in zip(reference, candidate)]),
        psnr=aggregate([psnr(r, c) for r, c in zip(reference, candidate)]),
    )
    if clip is not None:
        ref_score, cand_score = clip.score(reference, prompts), clip.score(candidate, prompts)
        result["clip_score"] = aggregate(cand_score)
        result["clip_score_drop"] = aggregate([r - c for r, c in zip(ref_score, cand_score)])
        result["clip_image"] = aggregate(clip.image_similarity(reference, candidate))
    return result
