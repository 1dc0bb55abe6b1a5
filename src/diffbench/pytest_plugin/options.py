"""The diffbench pytest options, as data: what `pytest_addoption` declares and what tells whether a session asked
for diffbench at all (`given`).

Imports only the spec (no torch, no model code): the plugin loads in every pytest session of an environment
where diffbench is installed, and must cost nothing where it is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diffbench.spec.dimensions import DIMENSIONS
from diffbench.spec.matrix import Selection, Selections, UsageError
from diffbench.spec.quantize_paths import QUANTIZE_PATHS
from diffbench.spec.selections import SELECTIONS

# The named --weights sources (build.sources.NAMED_SOURCES, which imports torch; tests/test_options.py holds the
# two equal); any other value is a hub id or a local folder.
WEIGHTS_NAMES = ("tiny", "synthetic", "proxy")

_RUN_OPTIONS_AFTER = "--attention"  # the matrix option the run options (--weights ... --quant-components) follow


def _run_options() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("--weights", dict(dest="diffbench_weights", default="auto", metavar="SOURCE",
                           help=f"{' | '.join(WEIGHTS_NAMES)} | a hub id or local pipeline folder "
                                "(default: synthetic on CUDA, tiny on CPU)")),
        ("--device", dict(dest="diffbench_device", default="auto", choices=["auto", "cpu", "cuda"],
                          help="where pipelines run (default: cuda when available)")),
        ("--steps", dict(dest="diffbench_steps", type=int, default=None, metavar="N",
                         help="override every model's number of inference steps (default: the model's own)")),
        ("--rounds", dict(dest="diffbench_rounds", type=int, default=3, metavar="N",
                          help="timed pipeline calls per scenario, after an untimed first call and a profiled call "
                               "(default: 3)")),
        ("--quant-components", dict(dest="diffbench_quant_components", default="denoiser", metavar="NAMES",
                                    help="components to quantize: 'denoiser' and/or component names such as "
                                         "text_encoder_2,vae (default: denoiser)")),
    ]


def _session_options() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("--selection", dict(dest="diffbench_selection", default=None, choices=list(SELECTIONS), metavar="NAME",
                             help="run a named matrix instead of the matrix options: "
                                  + "; ".join(f"{s.name} ({s.description})" for s in SELECTIONS.values())
                                  + " (src/diffbench/spec/selections.py)")),
        ("--quantize-paths", dict(dest="diffbench_quantize_paths", default="all", metavar="NAMES",
                                  help="comma-separated ways the quantization-cost tests put a quantized denoiser on "
                                       "the device: " + ", ".join(f"{p.name} ({p.description})"
                                                                  for p in QUANTIZE_PATHS.values())
                                       + ", or 'all' (default: all)")),
        ("--cache-dir", dict(dest="diffbench_cache_dir", default=None, metavar="DIR",
                             help="where tiny pipelines are saved (default: $DIFFBENCH_CACHE or ~/.cache/diffbench)")),
        ("--allow-pickle", dict(dest="diffbench_allow_pickle", action="store_true", default=False,
                                help="allow loading non-safetensors (pickled) checkpoints; off by default")),
        ("--compile-cache", dict(dest="diffbench_compile_cache", default=None, metavar="DIR",
                                 help="keep inductor/Triton compile caches here, in a folder keyed by "
                                      "torch/torchao/diffusers/GPU (default: torch's own temporary cache)")),
        ("--fresh-compile", dict(dest="diffbench_fresh_compile", action="store_true", default=False,
                                 help="compile cold: use an empty cache folder for this session")),
        ("--memory-cap-gib", dict(dest="diffbench_memory_cap_gib", type=float, default=None, metavar="GIB",
                                  help="cap this process's GPU memory (torch.cuda.set_per_process_memory_fraction), "
                                       "e.g. to see how a smaller GPU fares; scenarios that do not fit fail with "
                                       "their OOM recorded (default: no cap)")),
        ("--durations-from", dict(dest="diffbench_durations_from", type=Path, default=None, metavar="PATH",
                                  help="expected durations from these results (a results JSON, or a folder of them "
                                       "such as a baseline store folder): each scenario's progress line says what "
                                       "it is expected to take, and under pytest-xdist the longest pipelines are "
                                       "handed out first (default: xdist's order)")),
        ("--scenario-timeout", dict(dest="diffbench_scenario_timeout", type=float, default=None, metavar="SECONDS",
                                    help="fail a scenario (build, compile and timed calls) that runs longer than "
                                         "this; the session goes on")),
        ("--baselines-dir", dict(dest="diffbench_baselines_dir", default=None, metavar="DIR",
                                 help="baseline store, one folder per GPU kind (default: <rootdir>/baselines)")),
        ("--update-baselines", dict(dest="diffbench_update_baselines", action="store_true", default=False,
                                    help="regenerate reference outputs on purpose instead of comparing with them")),
        ("--thresholds", dict(dest="diffbench_thresholds", default=None, metavar="FILE",
                              help="quality gates file (default: the thresholds shipped with diffbench, "
                                   "src/diffbench/data/thresholds.toml)")),
        ("--quality-prompts", dict(dest="diffbench_quality_prompts", type=int, default=8, metavar="N",
                                   help="how many prompts of the default set the quality tests generate (default: "
                                        "8, the whole default set; the proxy's gates are calibrated on 8)")),
        ("--quality-control", dict(dest="diffbench_quality_control", default="int2wo", metavar="SCHEME",
                                   help="a lossy scheme scored beside every quality result to show the gates' "
                                        "resolving power, or 'none' (default: int2wo)")),
        ("--clip-model", dict(dest="diffbench_clip_model", default="ViT-B-32", metavar="NAME",
                              help="open_clip architecture for CLIP score (default: ViT-B-32)")),
        ("--clip-weights", dict(dest="diffbench_clip_weights", default=None, metavar="TAG_OR_FILE",
                                help="open_clip pretrained tag or local checkpoint; without it CLIP metrics are "
                                     "skipped with that reason")),
        ("--quality-json", dict(dest="diffbench_quality_json", default=None, metavar="PATH",
                                help="write the quality results (metrics, gates, control scores, environment) to "
                                     "this JSON file")),
    ]


def declared() -> list[tuple[str, dict[str, Any]]]:
    """Every diffbench option as (flag, argparse keyword arguments), in `pytest --help`'s order: the matrix
    options from the dimension records (spec/dimensions.py), the run options after --attention, where they always
    were, then the session options."""
    split = [d.option for d in DIMENSIONS].index(_RUN_OPTIONS_AFTER) + 1
    return [*((d.option, d.option_kwargs()) for d in DIMENSIONS[:split]), *_run_options(),
            *((d.option, d.option_kwargs()) for d in DIMENSIONS[split:]), *_session_options()]


def add_options(parser) -> None:
    group = parser.getgroup("diffbench", "diffbench: the (model x quantization x compile x fuse x batch) matrix")
    for flag, kwargs in declared():
        group.addoption(flag, **kwargs)


def given(option) -> list[str]:
    """The diffbench options this session set away from their defaults (`config.option`)."""
    return [flag for flag, kwargs in declared() if getattr(option, kwargs["dest"], None) != kwargs["default"]]


def matrix_selection(opt) -> Selection | Selections:
    """The matrix options, each parsed by its dimension's record in DIMENSIONS' order (the first bad one is the
    error), or the parts of a named selection (`--selection`), which then sets the whole matrix."""
    name = opt.diffbench_selection
    if name is None:
        return Selection(**{d.selection: d.parse_option(getattr(opt, d.dest)) for d in DIMENSIONS})
    matrix_options = [d.option for d in DIMENSIONS if getattr(opt, d.dest) != d.option_default]
    if matrix_options:
        raise UsageError(f"--selection {name} sets the matrix itself: leave out {', '.join(matrix_options)} "
                         "(-k narrows it)")
    return Selections(tuple(Selection(**{d.selection: d.parse_option(part.get(d.name, d.option_default))
                                         for d in DIMENSIONS}) for part in SELECTIONS[name].parts))
