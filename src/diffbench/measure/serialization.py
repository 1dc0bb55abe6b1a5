"""Serialization round trip: save the quantized denoiser (safetensors), reload it with `from_pretrained`, and
check the reloaded pipeline computes what the in-memory one computes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from diffbench.build import compilation
from diffbench.spec import compile_modes
from diffbench.measure import instruments, quality
from diffbench.build.built import Built
from diffbench.measure.runner import RunOptions


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def round_trip(built: Built, options: RunOptions, prompts: list[str], dtype) -> dict[str, Any]:
    spec, pipe = built.scenario.spec, built.pipe
    denoiser = getattr(pipe, spec.denoiser)
    before = quality.generate(built, options, prompts)
    with tempfile.TemporaryDirectory(prefix="diffbench-roundtrip-") as tmp:
        folder = Path(tmp)
        save_s, _ = instruments.timed(lambda: denoiser.save_pretrained(folder, safe_serialization=True))
        file_bytes = folder_bytes(folder)
        load_s, reloaded = instruments.timed(lambda: type(denoiser).from_pretrained(
            folder, torch_dtype=dtype, use_safetensors=True).to(options.device))
    setattr(pipe, spec.denoiser, reloaded)
    try:  # the reloaded denoiser runs exactly as the scenario's: same compile mode
        compilation.compile_pipeline(pipe, compile_modes.COMPILE_MODES[built.scenario.compile], spec.denoiser,
                                     spec.repeated_blocks)
        after = quality.generate(built, options, prompts)
    finally:
        setattr(pipe, spec.denoiser, denoiser)
    return dict(scenario=built.scenario.id, file_bytes=file_bytes, save_s=save_s, load_s=load_s,
                pixel_diff_max=int(np.abs(before.astype(np.int16) - after.astype(np.int16)).max()),
                denoiser_class=type(denoiser).__name__)
