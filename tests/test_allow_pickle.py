"""No silent code execution: a pipeline folder with pickled checkpoints loads only with --allow-pickle."""

from __future__ import annotations

import pytest
import torch

from diffbench.build import weights
from diffbench.build.sources import weights_source
from diffbench.spec.models import MODELS

SPEC = MODELS["flux-dev"]


@pytest.fixture(scope="module")
def pickled_pipeline(tmp_path_factory):
    """The tiny FLUX pipeline saved without safetensors (transformers saves its text encoders as safetensors
    whatever it is asked; the denoiser and VAE are pickled)."""
    folder = tmp_path_factory.mktemp("pickled") / "flux-dev-pickled"
    weights.assemble(SPEC, "tiny", "cpu", torch.float32).save_pretrained(folder, safe_serialization=False)
    assert list((folder / "transformer").glob("*.bin")) and not list((folder / "transformer").glob("*.safetensors"))
    return folder


def test_pickled_components_are_found(pickled_pipeline, tmp_path):
    assert weights.pickled_only(pickled_pipeline) == ["transformer", "vae"]
    safe = tmp_path / "safe"
    weights.assemble(SPEC, "tiny", "cpu", torch.float32).save_pretrained(safe, safe_serialization=True)
    assert weights.pickled_only(safe) == []


def test_refused_without_the_flag_loaded_with_it(pickled_pipeline):
    with pytest.raises(OSError, match="safetensors"):  # diffusers' own refusal: the same guard for hub ids
        weights_source(str(pickled_pipeline)).load(SPEC, {}, "cpu", torch.float32)
    loaded = weights_source(str(pickled_pipeline), allow_pickle=True).load(SPEC, {}, "cpu", torch.float32)
    assert type(loaded.pipe.transformer).__name__ == "FluxTransformer2DModel"


def test_the_suite_refuses_a_pickled_folder_before_building_anything(suite, pickled_pipeline):
    args = ("benchmarks", "--weights", str(pickled_pipeline), "--models", "flux-dev", "--quant", "bf16")
    refused = suite.runpytest_subprocess(*args)
    assert refused.ret == 4  # a usage error
    refused.stderr.fnmatch_lines([f"*--weights {pickled_pipeline}: transformer, vae only have pickled checkpoints*"
                                  "unless --allow-pickle*"])
    allowed = suite.runpytest_subprocess(*args, "--allow-pickle", "--collect-only", "-q")
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["*test_latency?flux-dev-bf16-eager-nofuse-bs1?*"])
