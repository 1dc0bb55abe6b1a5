"""Where a pipeline's weights come from: one class per source behind the `WeightsSource` interface.

- `Tiny` (`tiny`): tiny configs with seeded random weights, written once with `save_pretrained` to a cache folder
  and loaded back through `DiffusionPipeline.from_pretrained(..., quantization_config=...)`: the real user path.
- `Synthetic` (`synthetic`): full-size architectures with seeded random weights built directly on the device and
  quantized with `quantize_` and the same torchao config objects (latency and memory depend on shapes, not values).
- `Proxy` (`proxy`): the small FLUX proxy trained on procedural scenes, shipped in the package, loaded like `tiny`.
- `Pretrained` (any other name): a hub id or a local folder of real weights, through the same `from_pretrained`
  path as `tiny`.

`weights_source(name, ...)` maps a `--weights` value to its source. The shared helpers (building, saving,
loading, quantizing) are in `weights`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from diffbench.build.weights import (DenoiserFolder, Loaded, build_synthetic, load_pretrained, saved_synthetic_denoiser,
                                     saved_tiny)
from diffbench.spec.models import Inputs, ModelSpec


class WeightsSource(ABC):
    """What every source answers; `name` is what the results record as their `weights`."""

    name: str
    # Whether a quantized pipeline is quantized while loading (from_pretrained with TorchAoConfig); otherwise the
    # source builds the pipeline in bf16 and quantizes it with quantize_ (timed separately as quantize_s).
    quantizes_while_loading: ClassVar[bool] = True
    # Whether the pipeline is built on the device even when it will be offloaded (random init is fast there);
    # otherwise an offloaded pipeline is loaded on the CPU.
    builds_on_device: ClassVar[bool] = False
    # Whether the weights were trained (proxy, real weights): what an adaptive cache skips depends on them.
    trained: ClassVar[bool] = True

    def inputs(self, spec: ModelSpec) -> Inputs:
        """The call arguments that fit these weights (by default the model's real defaults)."""
        return spec.inputs

    def unavailable(self, spec: ModelSpec) -> str | None:
        """Why these weights cannot serve this model, or None."""
        return None

    @abstractmethod
    def denoiser_folder(self, spec: ModelSpec) -> DenoiserFolder:
        """Where these weights keep the model's denoiser."""

    @abstractmethod
    def load(self, spec: ModelSpec, configs: dict[str, Any], device: str, dtype=torch.bfloat16) -> Loaded:
        """The pipeline with `configs` (component → torchao config) applied, on `device`."""

    def quality_prompts(self) -> list[str]:
        """The prompts quality is judged on with these weights."""
        from diffbench.spec import prompts

        return list(prompts.DEFAULT)

    def clip_weights(self) -> str | None:
        """CLIP weights that fit these weights better than the default CLIP model, or None."""
        return None


class _SavedPipeline(WeightsSource):
    """A saved pipeline folder (or hub id), loaded as a user loads one, quantizing through TorchAoConfig."""

    allow_pickle: bool

    @abstractmethod
    def pipeline_path(self, spec: ModelSpec) -> Path | str:
        """The pipeline's folder or hub id."""

    def denoiser_folder(self, spec: ModelSpec) -> DenoiserFolder:
        return DenoiserFolder(str(self.pipeline_path(spec)), spec.denoiser, spec.components[spec.denoiser].cls,
                              self.allow_pickle)

    def load(self, spec: ModelSpec, configs: dict[str, Any], device: str, dtype=torch.bfloat16) -> Loaded:
        return load_pretrained(self.pipeline_path(spec), configs, device, dtype, self.allow_pickle)


@dataclass(frozen=True)
class Tiny(_SavedPipeline):
    """Tiny configs with seeded random weights, saved once to the cache and loaded back with from_pretrained."""

    cache_dir: Path | None = None
    allow_pickle: bool = False
    name: ClassVar[str] = "tiny"
    trained: ClassVar[bool] = False

    def inputs(self, spec: ModelSpec) -> Inputs:
        return spec.tiny_inputs

    def pipeline_path(self, spec: ModelSpec) -> Path:
        return saved_tiny(spec, self.cache_dir)


@dataclass(frozen=True)
class Synthetic(WeightsSource):
    """Full-size architectures with seeded random weights, built on the device and quantized with quantize_."""

    cache_dir: Path | None = None
    name: ClassVar[str] = "synthetic"
    quantizes_while_loading: ClassVar[bool] = False
    builds_on_device: ClassVar[bool] = True
    trained: ClassVar[bool] = False

    def denoiser_folder(self, spec: ModelSpec) -> DenoiserFolder:
        """The full-size denoiser, saved once for this."""
        return DenoiserFolder(str(saved_synthetic_denoiser(spec, self.cache_dir)), None,
                              spec.components[spec.denoiser].cls)

    def load(self, spec: ModelSpec, configs: dict[str, Any], device: str, dtype=torch.bfloat16) -> Loaded:
        return build_synthetic(spec, configs, device, dtype)


@dataclass(frozen=True)
class Proxy(_SavedPipeline):
    """The trained FLUX proxy shipped in the package (`spec.proxy`): it only knows its procedural scenes."""

    allow_pickle: bool = False
    name: ClassVar[str] = "proxy"

    def inputs(self, spec: ModelSpec) -> Inputs:
        from diffbench.spec.proxy import FLUX_PROXY

        return FLUX_PROXY.inputs

    def unavailable(self, spec: ModelSpec) -> str | None:
        from diffbench.spec.proxy import PROXIES

        if spec.name not in PROXIES:
            return f"no proxy weights for {spec.name} (proxies: {', '.join(PROXIES)})"
        if not (PROXIES[spec.name] / "model_index.json").exists():
            return f"proxy weights for {spec.name} are not trained here (diffbench-jobs train-proxy all)"
        return None

    def pipeline_path(self, spec: ModelSpec) -> Path:
        from diffbench.spec.proxy import PROXIES

        return PROXIES[spec.name]

    def quality_prompts(self) -> list[str]:
        """The proxy is judged on scene captions."""
        from diffbench.spec import proxy_scenes

        return proxy_scenes.evaluation_prompts()

    def clip_weights(self) -> str | None:
        """The proxy CLIP trained on the same scenes, when it is there."""
        from diffbench.spec.proxy import CLIP_DIR

        return str(CLIP_DIR) if (CLIP_DIR / "open_clip_model.safetensors").exists() else None


@dataclass(frozen=True)
class Pretrained(_SavedPipeline):
    """Real weights: a hub id or a local pipeline folder, named by `name`."""

    name: str
    allow_pickle: bool = False

    def pipeline_path(self, spec: ModelSpec) -> str:
        return self.name


NAMED_SOURCES = (Tiny.name, Synthetic.name, Proxy.name)  # for the option's help; any other name is Pretrained


def weights_source(name: str, cache_dir: Path | None = None, allow_pickle: bool = False) -> WeightsSource:
    """The source a `--weights` value names: `tiny`, `synthetic`, `proxy`, or else a hub id / local folder."""
    if name == "tiny":
        return Tiny(cache_dir, allow_pickle)
    if name == "synthetic":
        return Synthetic(cache_dir)
    if name == "proxy":
        return Proxy(allow_pickle)
    return Pretrained(name, allow_pickle)
