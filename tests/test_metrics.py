"""The metric code against known images, and the guards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffbench.measure import metrics

RNG = np.random.default_rng(0)
IMAGE = RNG.random((2, 32, 32, 3), dtype=np.float32)


def test_identical_images():
    result = metrics.compare(IMAGE, IMAGE.copy(), ["a", "b"])
    assert result["ssim"]["min"] == pytest.approx(1.0)
    assert math.isinf(result["psnr"]["min"])


def test_noise_scores_low_and_small_noise_scores_high():
    noise = RNG.random(IMAGE.shape, dtype=np.float32)
    slightly = np.clip(IMAGE + RNG.normal(0, 0.01, IMAGE.shape).astype(np.float32), 0, 1)
    low, high = metrics.compare(IMAGE, noise, ["a", "b"]), metrics.compare(IMAGE, slightly, ["a", "b"])
    assert low["ssim"]["mean"] < 0.1 and low["psnr"]["mean"] < 10
    assert high["ssim"]["mean"] > 0.95 and 35 < high["psnr"]["mean"] < 45


def test_video_is_compared_frame_by_frame():
    video = RNG.random((1, 3, 16, 16, 3), dtype=np.float32)
    changed = video.copy()
    changed[0, 1] = RNG.random((16, 16, 3), dtype=np.float32)  # one frame of three replaced
    value = metrics.ssim(video[0], changed[0])
    assert 0.6 < value < 0.7  # (1 + 1 + ~0) / 3


@pytest.mark.parametrize("broken, message", [
    (np.full((1, 8, 8, 3), np.nan, np.float32), "NaN/Inf"),
    (np.zeros((1, 8, 8, 3), np.float32), "all black"),
    (np.full((1, 8, 8, 3), 0.5, np.float32), "constant image"),
])
def test_guards_fail_before_any_metric(broken, message):
    with pytest.raises(metrics.BadOutput, match=message):
        metrics.compare(IMAGE[:1], broken, ["a"])


def test_clip_metrics_plumbing():
    """The CLIP code path on an untrained open_clip model (structure only: no weights here to judge with)."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    scorer = metrics.ClipScorer(model.eval(), preprocess, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32:random")
    result = metrics.compare(IMAGE, IMAGE.copy(), ["a red circle", "a blue square"], scorer)
    assert result["clip_image"]["min"] == pytest.approx(1.0, abs=1e-5)
    assert result["clip_score_drop"]["max"] == pytest.approx(0.0, abs=1e-4)
    assert len(result["clip_score"]["per_prompt"]) == 2
