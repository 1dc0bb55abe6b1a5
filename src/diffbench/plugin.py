"""pytest glue: turns the command-line options into a validated `Settings`, and the matrix into parameters.

conftest.py declares the options and calls these functions; nothing here builds a model at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from . import capabilities, matrix
from .build import BuildOptions, PipelineCache
from .compilation import COMPILE_MODES, INDUCTOR_PROFILES
from .matrix import FUSE_CHOICES, Scenario, Selection, UsageError
from .models import MODELS
from .runner import RunOptions
from .schemes import SCHEMES
from .weights import NAMED_SOURCES, WeightsSource

SETTINGS = pytest.StashKey["Settings"]()


@dataclass(frozen=True)
class Settings:
    selection: Selection
    target: capabilities.Target
    build: BuildOptions
    run: RunOptions

    @property
    def device(self) -> str:
        return self.target.device


def _choice(value: str, valid, label: str) -> str:
    if value not in valid:
        raise UsageError(f"unknown {label} {value!r}; valid: {', '.join(valid)}")
    return value


def settings_from_options(opt) -> Settings:
    """Validate every option before anything is built; a bad value is a UsageError listing the valid ones."""
    device = opt.diffbench_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    _choice(device, ("cpu", "cuda"), "device")
    try:
        target = capabilities.Target.detect(device)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None

    weights = opt.diffbench_weights
    if weights == "auto":
        weights = "synthetic" if device == "cuda" else "tiny"
    if weights == "synthetic" and device != "cuda":
        raise UsageError("--weights synthetic builds full-size models on the device: it needs --device cuda")

    selection = Selection(
        models=matrix.parse_names(opt.diffbench_models, MODELS, "model"),
        schemes=matrix.parse_names(opt.diffbench_quant, SCHEMES, "quantization scheme"),
        compile_modes=matrix.parse_names(opt.diffbench_compile, COMPILE_MODES, "compile mode"),
        fuse_qkv=FUSE_CHOICES[_choice(opt.diffbench_fuse, FUSE_CHOICES, "--fuse value")],
        batches=matrix.parse_ints(opt.diffbench_batch, "--batch"),
    )
    if weights not in NAMED_SOURCES:
        if len(selection.models) != 1:
            raise UsageError(f"--weights {weights!r} holds one model's weights: select that model with --models")
        local = Path(weights).expanduser()
        if local.exists() and not (local / "model_index.json").exists():
            raise UsageError(f"--weights {weights}: no model_index.json in that folder (not a diffusers pipeline)")
    steps = opt.diffbench_steps
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {steps}")
    source = WeightsSource(weights, Path(opt.diffbench_cache_dir) if opt.diffbench_cache_dir else None,
                           opt.diffbench_allow_pickle)
    components = tuple(c.strip() for c in opt.diffbench_quant_components.split(",") if c.strip())
    for model in selection.models:
        unknown = [c for c in components if c != "denoiser" and c not in MODELS[model].components]
        if unknown:
            raise UsageError(f"--quant-components: {model} has no {unknown}; "
                             f"valid: denoiser, {', '.join(MODELS[model].components)}")
    return Settings(
        selection=selection,
        target=target,
        build=BuildOptions(source=source, device=device, quant_components=components,
                           compile_vae=opt.diffbench_compile_vae,
                           inductor_profile=_choice(opt.diffbench_inductor_profile, INDUCTOR_PROFILES,
                                                    "--inductor-profile")),
        run=RunOptions(device=device, full_size=source.kind != "tiny", steps=steps, rounds=opt.diffbench_rounds),
    )


def configure(config: pytest.Config) -> None:
    try:
        config.stash[SETTINGS] = settings_from_options(config.option)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def scenario_params(settings: Settings) -> list:
    """Every selected scenario, skipped with its reason where it cannot run here."""
    params = []
    for scenario in settings.selection.scenarios():
        reason = matrix.skip_reason(scenario) or capabilities.skip_reason(scenario, settings.target)
        marks = [pytest.mark.scenario] + ([pytest.mark.skip(reason=reason)] if reason else [])
        params.append(pytest.param(scenario, id=scenario.id, marks=marks))
    return params


def parametrize(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        metafunc.parametrize("scenario", scenario_params(metafunc.config.stash[SETTINGS]))


def order_by_build(items: list[pytest.Item]) -> None:
    """Group tests that share a pipeline so each is built once (stable: keeps the file order otherwise)."""

    def key(item):
        callspec = getattr(item, "callspec", None)
        scenario = callspec.params.get("scenario") if callspec else None
        return (0, scenario.build_key, scenario.batch) if isinstance(scenario, Scenario) else (1,)

    items.sort(key=key)


def new_cache(config: pytest.Config) -> PipelineCache:
    return PipelineCache(config.stash[SETTINGS].build)
