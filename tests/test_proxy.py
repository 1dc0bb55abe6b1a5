"""The trained proxy: deterministic scenes, the real loading path, it follows its prompts, gates bite on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diffbench import metrics
from diffbench.proxy import evaluate, scenes
from diffbench.proxy.architecture import CLIP_DIR, FLUX_DIR, FLUX_PROXY
from diffbench.schemes import SCHEMES
from diffbench.weights import WeightsSource

pytestmark = pytest.mark.skipif(not (FLUX_DIR / "model_index.json").exists(), reason="proxy weights not shipped")


def test_scenes_are_deterministic_and_captioned():
    a_captions, a_images = scenes.batch(np.random.default_rng(7), 4)
    b_captions, b_images = scenes.batch(np.random.default_rng(7), 4)
    assert a_captions == b_captions and np.array_equal(a_images, b_images)
    assert a_images.shape == (4, 64, 64, 3)
    assert scenes.Scene("orange", "circle", "blue").caption == "an orange circle on a blue background"
    assert len(set(scenes.evaluation_prompts(64))) == 64


def test_proxy_loads_through_from_pretrained_with_torchao():
    source = WeightsSource("proxy")
    assert source.unavailable(FLUX_PROXY) is None
    assert "no proxy weights for sdxl" in source.unavailable(__import__("diffbench.models").models.MODELS["sdxl"])
    pipe = source.load(FLUX_PROXY, {"transformer": SCHEMES["int8wo"].torchao_config()}, "cpu").pipe
    assert type(pipe.transformer.transformer_blocks[0].attn.to_q.weight).__name__ == "Int8Tensor"


def test_proxy_draws_what_its_caption_says():
    """Caption retrieval by the proxy CLIP over 16 distinct scene captions (chance 1/16)."""
    prompts = scenes.evaluation_prompts(16)
    images = evaluate.generate(evaluate.load("bf16", "cpu"), prompts)
    result = evaluate.retrieval(images, prompts, metrics.ClipScorer.load("proxy", str(CLIP_DIR)))
    assert result["top1"] >= 0.8, result


def test_quality_gates_on_the_proxy(suite):
    args = ("quality", "--weights", "proxy", "--models", "flux-dev", "--quality-prompts", "4",
            "--baselines-dir", "store", "--quality-json", "q.json", "-p", "no:randomly")
    suite.runpytest_subprocess(*args, "--quant", "bf16").assert_outcomes(failed=1)  # writes the reference
    result = suite.runpytest_subprocess(*args, "--quant", "bf16,int8wo,int8dq,int2wo")
    result.assert_outcomes(passed=3, failed=1)
    records = {r["scenario"]: r for r in json.loads((suite.path / "q.json").read_text())["results"]}
    exact = records["flux-dev-bf16-eager-nofuse-bs1"]["metrics"]
    assert exact["ssim"]["min"] == 1.0 and exact["psnr"]["min"] == "inf" and exact["clip_image"]["min"] == 1.0
    for scheme in ("int8wo", "int8dq"):
        record = records[f"flux-dev-{scheme}-eager-nofuse-bs1"]
        assert not record["failures"] and record["clip"].startswith("local-dir:")
        assert {"ssim_min", "psnr_min", "clip_image_min", "clip_score_drop_max"} <= record["gates"].keys()
    broken = records["flux-dev-int2wo-eager-nofuse-bs1"]["failures"]
    assert any(f.startswith("ssim") for f in broken) and any(f.startswith("clip_image") for f in broken)
