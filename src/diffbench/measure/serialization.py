"""Serialization round trip: the pipeline's outputs before and after its quantized denoiser was saved
(safetensors) and reloaded with `from_pretrained` (`build.reload` saves, reloads and swaps it in)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from diffbench.build.built import Built
from diffbench.measure import quality
from diffbench.measure.runner import RunOptions


def round_trip(built: Built, options: RunOptions, prompts: list[str],
               reloaded: AbstractContextManager[dict[str, Any]]) -> dict[str, Any]:
    """Generate, then generate again inside `reloaded` (not yet entered: `build.reload.reloaded(...)`)."""
    before = quality.generate(built, options, prompts)
    with reloaded as trip:
        after = quality.generate(built, options, prompts)
    return dict(scenario=built.scenario.id, file_bytes=trip["file_bytes"], save_s=trip["save_s"],
                load_s=trip["load_s"],
                pixel_diff_max=int(np.abs(before.astype(np.int16) - after.astype(np.int16)).max()),
                denoiser_class=trip["denoiser_class"])
