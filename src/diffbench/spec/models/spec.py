"""What a model family is, as data: the pipeline, its components' configs (full-size and tiny), its inputs.

Each family module (flux.py, sdxl.py, ...) declares `ModelSpec` objects; nothing here builds anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Component:
    """One neural-network component of a pipeline, built from its config.

    `library` says where `cls` lives; transformers models also name their config class.
    `full` holds the real checkpoint's architecture numbers, `tiny` the same architecture shrunk for CPU.
    """

    library: Literal["diffusers", "transformers"]
    cls: str
    full: dict[str, Any]
    tiny: dict[str, Any]
    config_cls: str | None = None  # transformers only


@dataclass(frozen=True)
class Tokenizer:
    """A tokenizer built locally (no hub): `kind` picks the special-token layout of the real one."""

    kind: Literal["clip", "t5"]
    max_length: int


@dataclass(frozen=True)
class Inputs:
    """Default call arguments: the seeds' settings for full-size runs, small ones for tiny runs."""

    height: int
    width: int
    steps: int
    guidance: float | None = None
    frames: int | None = None  # video models only
    extra: dict[str, Any] = field(default_factory=dict)  # pipeline-specific kwargs (max_sequence_length, ...)

    def call_kwargs(self, prompts: list[str], steps: int | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            prompt=prompts, height=self.height, width=self.width, num_inference_steps=steps or self.steps
        )
        if self.guidance is not None:
            kwargs["guidance_scale"] = self.guidance
        if self.frames is not None:
            kwargs["num_frames"] = self.frames
        return kwargs | self.extra


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the id used on the command line and in scenario ids
    pipeline: str  # diffusers pipeline class
    hub_id: str  # the real checkpoint, for users who have it
    denoiser: str  # the component that runs every step ("transformer" or "unet")
    components: dict[str, Component]
    tokenizers: dict[str, Tokenizer]
    scheduler: tuple[str, dict[str, Any]]  # diffusers scheduler class and its config
    inputs: Inputs  # full-size defaults (the seeds' settings)
    tiny_inputs: Inputs  # CPU-sized defaults
    output: Literal["image", "video"] = "image"
    # Block classes for regional compilation when the denoiser class has no `_repeated_blocks`.
    repeated_blocks: tuple[str, ...] = ()
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)  # extra constructor arguments
    # Whether the denoiser's attention processors call diffusers' `dispatch_attention_fn`, so that dispatcher
    # backends (flash-attn, sage, ...) reach them; tests/test_models.py checks it against the built model.
    attention_dispatch: bool = False
    # Why the text context the denoiser attends to holds all-zero rows, or "" where it has none: per-row dynamic
    # activation quantization gives such a row a zero scale (torchao 0.18: NaN). tests/test_models.py checks it
    # against the built pipeline.
    zero_context_rows: str = ""

    @property
    def component_names(self) -> list[str]:
        return list(self.components)
