"""The serialization round trip's building half: save a built pipeline's quantized denoiser (safetensors), reload
it with `from_pretrained`, compile it as the scenario compiles, and swap it into the pipeline for a while.
`measure.serialization` generates before and inside it and compares."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from diffbench.build import compilation
from diffbench.build.built import Built
from diffbench.spec.compile_modes import COMPILE_MODES


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@contextlib.contextmanager
def reloaded(built: Built, dtype, device: str) -> Iterator[dict[str, Any]]:
    """Inside: the pipeline runs the saved and reloaded denoiser; yields the trip's record (file bytes, save and
    load seconds, the denoiser class). On exit the pipeline has its own denoiser again."""
    spec, pipe = built.scenario.spec, built.pipe
    denoiser = getattr(pipe, spec.denoiser)
    with tempfile.TemporaryDirectory(prefix="diffbench-roundtrip-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        denoiser.save_pretrained(folder, safe_serialization=True)
        save_s = time.perf_counter() - started
        file_bytes = folder_bytes(folder)
        started = time.perf_counter()
        reloaded = type(denoiser).from_pretrained(folder, torch_dtype=dtype, use_safetensors=True).to(device)
        load_s = time.perf_counter() - started
    setattr(pipe, spec.denoiser, reloaded)
    try:  # the reloaded denoiser runs exactly as the scenario's: same compile mode
        compilation.compile_pipeline(pipe, COMPILE_MODES[built.scenario.compile], spec.denoiser,
                                     spec.repeated_blocks)
        yield dict(file_bytes=file_bytes, save_s=save_s, load_s=load_s, denoiser_class=type(denoiser).__name__)
    finally:
        setattr(pipe, spec.denoiser, denoiser)
