"""The matrix's dimensions as data: one `Dimension` record per `Scenario` field, in the fields' order.

Everything else about a dimension is derived from its record: the `Scenario` field and its default, the id
fragment and the build key (`matrix.Scenario`), the values a run selects and their product order
(`matrix.Selection`), the pytest option (`pytest_plugin.hooks`), how the option is parsed and checked
(`pytest_plugin.settings`) and the report's column (`face.report`).

A new dimension is one record appended to `DIMENSIONS` (its id fragment is None at its default, so every stored
baseline keeps its key), its values as a table in `spec/`, plus, when it changes the pipeline, one apply step in
`build/`; what cannot run is a rule in `rules.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.caching import CACHE_MODES
from diffbench.spec.compile_modes import COMPILE_MODES, INDUCTOR_PROFILES
from diffbench.spec.memory_modes import OFFLOAD_MODES, VAE_MODES
from diffbench.spec.models import MODELS
from diffbench.spec.parallel import PARALLEL_MODES
from diffbench.spec.schemes import SCHEMES

BATCH_SIZES = (1, 4, 8, 16)
ON_OFF_CHOICES = {"off": (False,), "on": (True,), "both": (False, True)}  # --fuse, --compile-vae


class UsageError(ValueError):
    """Bad user input; the plugin turns it into a pytest usage error."""


def parse_names(value: str, valid: Iterable[str], label: str) -> tuple[str, ...]:
    """'a,b' → ('a', 'b'); 'all' → every valid name."""
    valid = list(valid)
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if names == ("all",):
        return tuple(valid)
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise UsageError(f"unknown {label} {', '.join(map(repr, unknown)) or '(empty)'}; "
                         f"valid: all, {', '.join(valid)}")
    return names


def parse_ints(value: str, label: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{label} takes comma-separated positive integers, got {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise UsageError(f"{label} takes comma-separated positive integers, got {value!r}")
    return numbers


def parse_choice(value: str, valid: Iterable[str], label: str) -> str:
    valid = list(valid)
    if value not in valid:
        raise UsageError(f"unknown {label} {value!r}; valid: {', '.join(valid)}")
    return value


# How an option's text becomes the tuple of values a run selects; `label` names the option in usage errors.

@dataclass(frozen=True)
class Names:
    """Comma-separated names of a table, or 'all'."""

    label: str
    choices = False  # argparse accepts any text; the table checks it

    def __call__(self, value: str, valid: Iterable[str]) -> tuple[str, ...]:
        return parse_names(value, valid, self.label)


@dataclass(frozen=True)
class OnOff:
    """off | on | both → (False,) | (True,) | (False, True)."""

    label: str
    choices = True  # argparse lists and checks the words

    def __call__(self, value: str, valid: Mapping[str, tuple[bool, ...]]) -> tuple[bool, ...]:
        return valid[parse_choice(value, valid, self.label)]


@dataclass(frozen=True)
class Ints:
    """Comma-separated positive integers."""

    label: str
    choices = False

    def __call__(self, value: str, valid: Any) -> tuple[int, ...]:
        return parse_ints(value, self.label)


class PositiveInts:
    """Every positive integer, as a container (the valid batch sizes)."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    def __repr__(self) -> str:
        return "PositiveInts()"


@dataclass(frozen=True)
class Needs:
    """What a dimension's value needs of the machine and the installed packages; `measure.capabilities` checks it
    against the machine it runs on (a skip reason names the first need not met, in this field order)."""

    label: str  # how a skip reason names the value
    # why the installed packages cannot provide it (asked lazily: spec imports no torch), or None
    unavailable: Callable[[], str | None] = lambda: None
    cuda: bool = False
    cuda_for: str = ""  # what the CUDA device is for, in the reason
    min_sm: tuple[int, int] | None = None  # the least CUDA compute capability
    gpus: int = 1  # processes, one per GPU (diffusers puts rank r on accelerator r % count)


NEEDS_NOTHING = Needs("")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a field every scenario names (model, scheme)


def names(table: Iterable[str]) -> str:
    """The valid names of an option, from the table the suite checks them against (never listed by hand)."""
    return ", ".join(table)


@dataclass(frozen=True)
class Dimension:
    name: str  # the Scenario field
    selection: str  # the Selection field: the values a run selects
    option: str  # its pytest option
    values: Mapping | Callable[[], Iterable] | PositiveInts  # what it accepts: a table, or a callable returning one
    parse: Names | OnOff | Ints
    fragment: Callable[[Any], str]  # the id's words for a value
    help: str
    option_default: str
    default: Any = REQUIRED  # the Scenario field's default
    field_type: type = str
    metavar: str | None = None
    bare: str | None = None  # what the option given without a value means (None: it takes one)
    always_in_id: bool = False  # in the id at its default too (the id's first five words); else only off default
    in_build_key: bool = True  # scenarios differing in it are built separately
    # Written to each result (`Scenario.params`) at its default too; False keeps the result keys of runs that do
    # not use the dimension as they were before it existed.
    recorded_at_default: bool = True
    column: str | None = None  # the report's column (read from the result key `name`) where a run leaves the default
    needs: Callable[[Any], Needs] | None = None  # what a value needs of the machine (None: nothing)
    # Its place among build's apply steps (`build.steps.STEPS[name]`, lowest first, after loading and quantizing);
    # None: it changes no pipeline by a step of its own.
    apply_order: int | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def dest(self) -> str:
        return "diffbench_" + self.option.removeprefix("--").replace("-", "_")

    def valid(self) -> Mapping | Iterable | PositiveInts:
        return self.values() if callable(self.values) else self.values

    def parse_option(self, text: str) -> tuple:
        """The option's text → the values selected; a bad value raises UsageError listing the valid ones."""
        return self.parse(text, self.valid())

    def id_fragment(self, value: Any) -> str | None:
        """This dimension's part of a scenario id; None where the id leaves it out (at its default)."""
        if value == self.default and not self.always_in_id:
            return None
        return self.fragment(value)

    def needs_of(self, value: Any) -> Needs:
        return self.needs(value) if self.needs else NEEDS_NOTHING

    def option_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of its `parser.addoption` (argparse's)."""
        kwargs: dict[str, Any] = dict(dest=self.dest, default=self.option_default, help=self.help)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.bare is not None:
            kwargs.update(nargs="?", const=self.bare)
        if self.parse.choices:
            kwargs["choices"] = list(self.valid())
        return kwargs


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("model", "models", "--models", MODELS, Names("model"), str,
              f"comma-separated model names: {names(MODELS)}, or 'all' (default: all)", "all", metavar="NAMES",
              always_in_id=True),
    Dimension("scheme", "schemes", "--quant", SCHEMES, Names("quantization scheme"), str,
              f"comma-separated quantization schemes: {names(SCHEMES)}, or 'all' (default: all)", "all",
              metavar="SCHEMES", always_in_id=True,
              needs=lambda name: Needs(name, SCHEMES[name].unavailable, SCHEMES[name].cuda_only,
                                       min_sm=SCHEMES[name].min_sm)),
    Dimension("compile", "compile_modes", "--compile", COMPILE_MODES, Names("compile mode"), str,
              f"comma-separated compile modes: {names(COMPILE_MODES)}, or 'all' (default: eager)", "eager",
              default="eager", metavar="MODES", always_in_id=True, apply_order=60),  # compiles what the others made
    Dimension("fuse_qkv", "fuse_qkv", "--fuse", ON_OFF_CHOICES, OnOff("--fuse value"),
              lambda fuse: "fuse" if fuse else "nofuse",
              "fuse the denoiser's QKV projections (default: off)", "off", default=False, field_type=bool,
              always_in_id=True),
    Dimension("batch", "batches", "--batch", PositiveInts(), Ints("--batch"), "bs{}".format,
              "comma-separated batch sizes (default: 1)", "1", default=1, field_type=int, metavar="SIZES",
              always_in_id=True, in_build_key=False),  # a call argument: one built pipeline serves every size
    Dimension("offload", "offloads", "--offload", OFFLOAD_MODES, Names("offload mode"), "offload-{}".format,
              f"comma-separated CPU offload modes: {names(OFFLOAD_MODES)}, or 'all' (default: none)", "none",
              default="none", metavar="MODES", column="offload", apply_order=10,
              needs=lambda mode: Needs(f"offload '{mode}'", cuda=mode != "none", cuda_for=" to offload from")),
    Dimension("vae", "vaes", "--vae", VAE_MODES, Names("vae mode"), "vae-{}".format,
              f"comma-separated VAE memory modes: {names(VAE_MODES)}, or 'all' (default: default)", "default",
              default="default", metavar="MODES", column="vae", apply_order=20),
    Dimension("attention", "attentions", "--attention", ATTENTION_KERNELS, Names("attention kernel"), "attn-{}".format,
              f"comma-separated attention kernels: {names(ATTENTION_KERNELS)}, or 'all' "
              "(default: sdpa, torch's own choice)", "sdpa", default="sdpa", metavar="KERNELS", column="attention",
              apply_order=30,  # before compile: traced with it
              needs=lambda name: Needs(f"attention {name}", ATTENTION_KERNELS[name].unavailable,
                                       ATTENTION_KERNELS[name].cuda_only, min_sm=ATTENTION_KERNELS[name].min_sm)),
    # Compile the VAE decoder too, with the scenario's compile mode (a seeds' column).
    Dimension("compile_vae", "compile_vae", "--compile-vae", ON_OFF_CHOICES, OnOff("--compile-vae value"),
              lambda on: "compile-vae",
              "also compile the VAE decoder with the scenario's compile mode; bare --compile-vae means on "
              "(default: off)", "off", default=False, field_type=bool, bare="on"),
    # Named inductor flags the scenario compiles with (build/compilation.py).
    Dimension("inductor_profile", "inductor_profiles", "--inductor-profile", INDUCTOR_PROFILES,
              Names("inductor profile"), "inductor-{}".format,
              f"comma-separated named inductor flag sets applied per compiled scenario: {names(INDUCTOR_PROFILES)} "
              "(their flags: src/diffbench/spec/compile_modes.py), or 'all' (default: default)", "default",
              default="default", metavar="NAMES", column="inductor_profile"),
    # Context parallelism over several GPUs (spec/parallel.py; build/parallel.py starts the ranks).
    Dimension("parallel", "parallels", "--parallel", PARALLEL_MODES, Names("context-parallel layout"), "cp-{}".format,
              "comma-separated context-parallel layouts (diffusers' ContextParallelConfig, one process per GPU): "
              + ", ".join(f"{p.name} ({p.gpus} GPU{'s' * (p.gpus > 1)})" for p in PARALLEL_MODES.values())
              + ", or 'all' (default: none)", "none",
              default="none", metavar="LAYOUTS", recorded_at_default=False, column="parallel",
              # after quantization (each rank holds the whole quantized denoiser), before compile (its hooks are traced)
              apply_order=50, needs=lambda name: Needs(f"--parallel {name}", gpus=PARALLEL_MODES[name].gpus)),
    # Step caching through diffusers' cache hooks (spec/caching.py, build/caching.py).
    Dimension("cache", "caches", "--cache", CACHE_MODES, Names("cache mode"), "cache-{}".format,
              f"comma-separated step-caching modes (diffusers' enable_cache): {names(CACHE_MODES)}, or 'all' "
              "(default: none)", "none", default="none", metavar="MODES", recorded_at_default=False, column="cache",
              apply_order=40),  # before compile: its hooks are traced
)

BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}

# The dimensions that change a built pipeline, in the order build applies them.
APPLIED: tuple[Dimension, ...] = tuple(sorted((d for d in DIMENSIONS if d.apply_order is not None),
                                              key=lambda d: d.apply_order))
