"""Command-line options → a validated `Settings`: every name and value is checked before anything is built.

A bad value raises `UsageError` listing the valid choices; the pytest plugin turns it into a usage error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from diffbench.measure import capabilities, instruments
from diffbench.store import layout
from diffbench.spec import matrix, gates
from diffbench.build.built import BuildOptions
from diffbench.spec.matrix import Scenario, Selection, Selections, UsageError
from diffbench.spec.selections import SELECTIONS
from diffbench.pytest_plugin.options import matrix_selection
from diffbench.spec.models import MODELS
from diffbench.measure.quality_session import QualityOptions
from diffbench.spec.quantize_paths import QUANTIZE_PATHS, QuantizePath
from diffbench.measure.runner import RunOptions
from diffbench.spec.schemes import SCHEMES
from diffbench.build.sources import NAMED_SOURCES, WeightsSource, weights_source
from diffbench.build.weights import default_cache_dir, pickled_only
from diffbench.pytest_plugin import paths


@dataclass(frozen=True)
class Settings:
    selection: Selection | Selections
    target: capabilities.Target
    build: BuildOptions
    run: RunOptions
    quality: QualityOptions
    scenario_timeout: float | None = None
    memory_cap_gib: float | None = None  # applied once per session by the plugin
    quantize_paths: tuple[QuantizePath, ...] = tuple(QUANTIZE_PATHS.values())  # for the quantization-cost tests

    @property
    def device(self) -> str:
        return self.target.device


def _positive(value, label: str):
    if value is not None and value <= 0:
        raise UsageError(f"{label} must be positive, got {value}")
    return value


def runnable_schemes(target: capabilities.Target, model: str) -> list[str]:
    """The schemes a scenario of `model` would run on `target` rather than be skipped (by the hardware or by the
    installed torchao)."""
    return [name for name in SCHEMES if capabilities.skip_reason(Scenario(model, name), target) is None]


_choice = matrix.parse_choice  # one value of a fixed list; a bad one is a UsageError listing them


def settings_from_options(opt, rootpath: Path) -> Settings:
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

    selection = matrix_selection(opt)
    if weights not in NAMED_SOURCES:
        if len(selection.models) != 1:
            raise UsageError(f"--weights {weights!r} holds one model's weights: select that model with --models")
        paths.check_weights(weights)
        local = Path(weights).expanduser()
        if local.exists() and not (local / "model_index.json").exists():
            raise UsageError(f"--weights {weights}: no model_index.json in that folder (not a diffusers pipeline)")
        if local.exists() and not opt.diffbench_allow_pickle and (pickled := pickled_only(local)):
            raise UsageError(f"--weights {weights}: {', '.join(pickled)} only have pickled checkpoints, which can "
                             "run code when loaded; checkpoints load with use_safetensors=True unless --allow-pickle")
    steps = _positive(opt.diffbench_steps, "--steps")
    rounds = _positive(opt.diffbench_rounds, "--rounds")
    if device == "cpu" and opt.diffbench_quant != "all":
        needs_cuda = [s for s in selection.schemes if SCHEMES[s].cuda_only]
        if needs_cuda:
            raise UsageError(f"--quant {','.join(needs_cuda)} needs a CUDA device and none is in use "
                             f"(CPU-capable: {', '.join(runnable_schemes(target, selection.models[0]))})")
    cache_dir = paths.check_folder(opt.diffbench_cache_dir, "--cache-dir")
    if cache_dir is None and weights in ("tiny", "synthetic"):  # where they are saved: said, and checked, once
        paths.check_folder(default_cache_dir(), "--cache-dir (default: $DIFFBENCH_CACHE or ~/.cache/diffbench)")
    paths.check_folder(opt.diffbench_compile_cache, "--compile-cache")
    check_outputs(opt)
    source = weights_source(weights, cache_dir, opt.diffbench_allow_pickle)
    components = tuple(c.strip() for c in opt.diffbench_quant_components.split(",") if c.strip())
    for model in selection.models:
        unknown = [c for c in components if c != "denoiser" and c not in MODELS[model].components]
        if unknown:
            raise UsageError(f"--quant-components: {model} has no {unknown}; "
                             f"valid: denoiser, {', '.join(MODELS[model].components)}")
    return Settings(
        selection=selection,
        target=target,
        build=BuildOptions(source=source, device=device, quant_components=components),
        run=RunOptions(device=device, source=source, steps=steps, rounds=rounds,
                       steps_by_model=tuple(SELECTIONS[opt.diffbench_selection].steps.items())
                       if opt.diffbench_selection else ()),
        quality=quality_options(opt, target, rootpath, source),
        scenario_timeout=_positive(opt.diffbench_scenario_timeout, "--scenario-timeout"),
        memory_cap_gib=_memory_cap(opt.diffbench_memory_cap_gib, device),
        quantize_paths=tuple(QUANTIZE_PATHS[name] for name in matrix.parse_names(
            opt.diffbench_quantize_paths, QUANTIZE_PATHS, "quantization path")),
    )


def check_outputs(opt) -> None:
    """The results files' folders take a file (the process that writes them: not an xdist worker, which writes
    its own file in its temporary folder and sends it back)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    json_option = getattr(opt, "benchmark_json", None)
    if json_option is not None and not hasattr(json_option, "write"):  # < 5.3: a file already opened by argparse
        paths.check_output_file(json_option, "--benchmark-json", makes_folder=False)
    paths.check_output_file(opt.diffbench_quality_json, "--quality-json", makes_folder=True)


def _memory_cap(cap_gib: float | None, device: str) -> float | None:
    if cap_gib is None:
        return None
    if device != "cuda":
        raise UsageError("--memory-cap-gib caps GPU memory: it needs --device cuda")
    total = torch.cuda.get_device_properties(0).total_memory / instruments.GIB
    if not 0 < cap_gib <= total:
        raise UsageError(f"--memory-cap-gib takes a size in (0, {total:.1f}] GiB for this GPU, got {cap_gib}")
    return cap_gib


def quality_options(opt, target: capabilities.Target, rootpath: Path, source: WeightsSource) -> QualityOptions:
    count = opt.diffbench_quality_prompts
    # The proxy only knows its scenes: it is judged on scene captions, other weights on the default prompts.
    prompt_set = source.quality_prompts()
    if not 1 <= count <= len(prompt_set):
        raise UsageError(f"--quality-prompts takes 1..{len(prompt_set)}, got {count}")
    control = None if opt.diffbench_quality_control == "none" else opt.diffbench_quality_control
    if control is not None:
        _choice(control, SCHEMES, "--quality-control scheme")
    try:
        thresholds = gates.Thresholds.load(Path(opt.diffbench_thresholds or gates.DEFAULT_THRESHOLDS))
    except ValueError as exc:
        raise UsageError(f"--thresholds {exc}" if opt.diffbench_thresholds else str(exc)) from None
    return QualityOptions(
        references=Path(opt.diffbench_baselines_dir or rootpath / "baselines") / layout.slug(target.name)
        / "references",
        thresholds=thresholds,
        prompts=tuple(prompt_set[:count]),
        update=opt.diffbench_update_baselines,
        control=control,
        clip_model=opt.diffbench_clip_model,
        clip_weights=opt.diffbench_clip_weights or source.clip_weights(),  # the proxy's own CLIP
    )
