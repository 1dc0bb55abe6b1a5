"""What the weights sources (`sources`) share: building a pipeline from configs with seeded random weights,
saving tiny pipelines and synthetic denoisers once, loading saved pipelines as a user does, and quantizing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from diffbench.build import tokenizers
from diffbench.spec.models import Component, ModelSpec

SEED = 0


def default_cache_dir() -> Path:
    return Path(os.environ.get("DIFFBENCH_CACHE", Path.home() / ".cache" / "diffbench"))


@dataclass
class Loaded:
    pipe: Any
    load_s: float  # wall time to build or load the pipeline (includes quantization when loaded with TorchAoConfig)
    quantize_s: float | None  # separately timed quantization (sources that call quantize_ themselves)


def _instantiate(component: Component, size: str) -> torch.nn.Module:
    config = getattr(component, size)
    if component.library == "diffusers":
        import diffusers

        return getattr(diffusers, component.cls).from_config(config)
    import transformers

    config_obj = getattr(transformers, component.config_cls)(**config)
    return getattr(transformers, component.cls)(config_obj)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def assemble(spec: ModelSpec, size: str, device: str | torch.device = "cpu", dtype=torch.bfloat16,
             seed: int = SEED):
    """Build the pipeline from configs with seeded random weights, allocated directly in `dtype` on `device`."""
    import diffusers

    modules = {}
    with torch.device(device), _default_dtype(dtype):
        for name, component in spec.components.items():
            # One seed per component, so adding a component never changes another's weights.
            torch.manual_seed(seed + zlib.crc32(name.encode()))
            modules[name] = _instantiate(component, size).to(dtype).eval()
    scheduler_cls, scheduler_config = spec.scheduler
    pipe_cls = getattr(diffusers, spec.pipeline)
    given = set(modules) | set(spec.tokenizers)
    absent = {name: None for name in getattr(pipe_cls, "_optional_components", []) if name not in given}
    return pipe_cls(
        **modules,
        **{name: tokenizers.build(t) for name, t in spec.tokenizers.items()},
        scheduler=getattr(diffusers, scheduler_cls).from_config(scheduler_config),
        **absent,
        **spec.pipeline_kwargs,
    )


def quantization_config(configs: dict[str, Any]):
    """diffusers' pipeline-level quantization config mapping each component to a TorchAoConfig."""
    from diffusers import PipelineQuantizationConfig, TorchAoConfig

    return PipelineQuantizationConfig(quant_mapping={name: TorchAoConfig(cfg) for name, cfg in configs.items()})


def load_pretrained(path: str | Path, configs: dict[str, Any], device: str, dtype=torch.bfloat16,
                    allow_pickle: bool = False) -> Loaded:
    """Load a saved pipeline exactly as a user would, quantizing through TorchAoConfig while loading."""
    from diffusers import DiffusionPipeline

    kwargs: dict[str, Any] = dict(torch_dtype=dtype, use_safetensors=use_safetensors(allow_pickle))
    if configs:
        kwargs["quantization_config"] = quantization_config(configs)
    start = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(str(path), **kwargs).to(device)
    _synchronize(device)
    return Loaded(pipe, time.perf_counter() - start, None)


def build_synthetic(spec: ModelSpec, configs: dict[str, Any], device: str, dtype=torch.bfloat16) -> Loaded:
    """The full-size pipeline with seeded random weights, built on `device`, then quantize_'d (timed apart)."""
    start = time.perf_counter()
    pipe = assemble(spec, "full", device, dtype)
    _synchronize(device)
    built_s = time.perf_counter() - start
    quantize_s = quantize(pipe, configs, device) if configs else None
    return Loaded(pipe, built_s, quantize_s)


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def use_safetensors(allow_pickle: bool) -> bool | None:
    """diffusers' and transformers' `use_safetensors`: True refuses pickles; with --allow-pickle None, which
    prefers safetensors and falls back to pickles (False would refuse the safetensors files of a mixed folder)."""
    return None if allow_pickle else True


def pickled_only(folder: Path) -> list[str]:
    """The components of a local pipeline folder whose weights exist only as pickles (loading those can run
    code), which `use_safetensors=True` refuses to load."""
    found = []
    for component in sorted(p for p in folder.iterdir() if p.is_dir()):
        suffixes = {f.suffix for f in component.rglob("*") if f.is_file()}
        if suffixes & set(PICKLE_SUFFIXES) and ".safetensors" not in suffixes:
            found.append(component.name)
    return found


def _synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def quantize(pipe, configs: dict[str, Any], device: str) -> float:
    """quantize_ the named components in place; returns the wall time."""
    from torchao.quantization import quantize_

    start = time.perf_counter()
    for name, cfg in configs.items():
        quantize_(getattr(pipe, name), cfg)
    _synchronize(device)
    return time.perf_counter() - start


def _fingerprint(spec: ModelSpec, size: str, seed: int) -> str:
    import diffusers
    import transformers

    payload = dict(
        components={n: (c.cls, getattr(c, size)) for n, c in spec.components.items()},
        tokenizers={n: (t.kind, t.max_length, tokenizers.WORDS) for n, t in spec.tokenizers.items()},
        scheduler=spec.scheduler, seed=seed, diffusers=diffusers.__version__, transformers=transformers.__version__,
    )
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def saved_tiny(spec: ModelSpec, cache_dir: Path | None = None, seed: int = SEED) -> Path:
    """The tiny pipeline's folder, written once."""
    root = cache_dir or default_cache_dir()
    folder = root / "pipelines" / f"{spec.name}-tiny-{_fingerprint(spec, 'tiny', seed)}"
    return _saved_once(folder, "model_index.json",
                       lambda staging: assemble(spec, "tiny", "cpu", torch.float32, seed).save_pretrained(
                           staging, safe_serialization=True))


def saved_synthetic_denoiser(spec: ModelSpec, cache_dir: Path | None = None, seed: int = SEED,
                             dtype=torch.bfloat16) -> Path:
    """The full-size denoiser with seeded random weights (built on the CPU, as `assemble` seeds it), written once:
    what the quantization-cost paths load, like a real checkpoint's denoiser folder."""
    root = cache_dir or default_cache_dir()
    folder = root / "denoisers" / f"{spec.name}-synthetic-{_fingerprint(spec, 'full', seed)}"

    def write(staging: Path) -> None:
        with torch.device("cpu"), _default_dtype(dtype):
            torch.manual_seed(seed + zlib.crc32(spec.denoiser.encode()))  # seeded as assemble() seeds it
            _instantiate(spec.components[spec.denoiser], "full").to(dtype).save_pretrained(
                staging, safe_serialization=True)

    return _saved_once(folder, "config.json", write)


def _saved_once(folder: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """`folder`, written by `write` into a staging folder first (a half-written folder is never used)."""
    if (folder / marker).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(staging)
        os.replace(staging, folder)
    except OSError:
        if not (folder / marker).exists():  # lost a race with another worker: theirs is fine
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@dataclass(frozen=True)
class DenoiserFolder:
    """A saved denoiser, loaded the way a user loads one: `<cls>.from_pretrained(path, subfolder=...)`."""

    path: str
    subfolder: str | None
    cls: str  # its diffusers class
    allow_pickle: bool = False

    def load(self, dtype=torch.bfloat16, **kwargs: Any) -> torch.nn.Module:
        import diffusers

        return getattr(diffusers, self.cls).from_pretrained(
            self.path, subfolder=self.subfolder, torch_dtype=dtype, use_safetensors=use_safetensors(self.allow_pickle),
            **kwargs)
