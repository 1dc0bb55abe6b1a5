"""VAE memory modes are applied to the built pipeline."""

from __future__ import annotations

import pytest

from diffbench.build.built import BuildOptions
from diffbench.build.pipelines import PipelineCache
from diffbench.spec.matrix import Scenario
from diffbench.build.sources import weights_source


@pytest.mark.parametrize("mode, flag", [("tiling", "use_tiling"), ("slicing", "use_slicing")])
def test_vae_mode_is_applied(cache_dir, mode, flag):
    cache = PipelineCache(BuildOptions(weights_source("tiny", cache_dir), "cpu"))
    assert getattr(cache.get(Scenario("flux-dev", "bf16")).pipe.vae, flag) is False
    assert getattr(cache.get(Scenario("flux-dev", "bf16", vae=mode)).pipe.vae, flag) is True
    cache.close()
