"""Every registered model: the tiny pipeline round-trips through save/load and runs; the full configs are real-sized."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffbench.build import weights
from diffbench.spec.models import MODELS, parts

PROMPTS = ["a red circle", "a blue square on a white background"]
STEPS = 2

# Published parameter counts of the real checkpoints' denoisers.
REAL_DENOISER_PARAMS = {
    "flux-dev": 11.90e9,
    "flux-schnell": 11.90e9,
    "sdxl": 2.567e9,
    "cogvideox-2b": 1.69e9,
    "cogvideox-5b": 5.57e9,
    "pixart-sigma": 0.611e9,
    "wan2.1-t2v-1.3b": 1.42e9,
}

# Shared text encoders and VAEs (models.parts), by their real checkpoints.
REAL_PART_PARAMS = {
    "T5_XXL": 4.76e9,  # google/t5-v1_1-xxl encoder
    "UMT5_XXL": 5.68e9,  # google/umt5-xxl encoder
    "CLIP_L": 123.1e6,  # openai/clip-vit-large-patch14 text model
    "CLIP_BIGG": 694.7e6,  # SDXL text_encoder_2 (CLIP ViT-bigG/14 text model with projection)
    "SDXL_VAE": 83.65e6,
}


def _frames(output, spec):
    return np.asarray(output.frames if spec.output == "video" else output.images)


def _call(pipe, spec):
    pipe.set_progress_bar_config(disable=True)
    kwargs = spec.tiny_inputs.call_kwargs(PROMPTS, STEPS) | dict(output_type="np")
    return _frames(pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(0)), spec)


@pytest.mark.parametrize("name", list(MODELS))
def test_tiny_pipeline_from_saved_folder(name, cache_dir):  # cache_dir: tests/conftest.py, session-scoped
    spec = MODELS[name]
    folder = weights.saved_tiny(spec, cache_dir)
    pipe = weights.load_pretrained(folder, {}, "cpu", torch.float32).pipe
    assert type(pipe).__name__ == spec.pipeline
    assert type(pipe.scheduler).__name__ == spec.scheduler[0]

    contexts = []  # the text context the denoiser attends to, on each call
    getattr(pipe, spec.denoiser).register_forward_pre_hook(
        lambda module, args, kwargs: contexts.append(kwargs.get("encoder_hidden_states")), with_kwargs=True)
    frames = _call(pipe, spec)
    rows = contexts[0].reshape(-1, contexts[0].shape[-1])
    assert bool((rows.abs().amax(dim=-1) == 0).any()) == bool(spec.zero_context_rows)  # spec/rules.py relies on it

    inputs = spec.tiny_inputs
    image = (inputs.height, inputs.width, 3)
    expected = (len(PROMPTS), inputs.frames, *image) if spec.output == "video" else (len(PROMPTS), *image)
    assert frames.shape == expected
    assert np.isfinite(frames).all()
    # Dispatcher attention kernels (flash-attn, sage) reach only processors that call diffusers' dispatcher.
    denoiser = getattr(pipe, spec.denoiser)
    dispatching = any(hasattr(getattr(m, "processor", None), "_attention_backend") for m in denoiser.modules())
    assert dispatching == spec.attention_dispatch
    # The saved folder holds exactly the assembled pipeline: same weights, tokenizers and scheduler.
    np.testing.assert_allclose(frames, _call(weights.assemble(spec, "tiny", "cpu", torch.float32), spec), atol=1e-5)


def _param_count(component) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in weights._instantiate(component, "full").parameters())


def test_every_model_has_a_real_count():
    assert set(REAL_DENOISER_PARAMS) == set(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_full_denoiser_parameter_count(name):
    spec = MODELS[name]
    assert _param_count(spec.components[spec.denoiser]) == pytest.approx(REAL_DENOISER_PARAMS[name], rel=0.02)


@pytest.mark.parametrize("part", list(REAL_PART_PARAMS))
def test_full_part_parameter_count(part):
    assert _param_count(getattr(parts, part)) == pytest.approx(REAL_PART_PARAMS[part], rel=0.02)
