"""The results file's records, typed: what every writer (measure/runner.py, build/pipelines.py, the plugin's
annotate_results) puts in pytest-benchmark's JSON and every reader (store/results.py, face/) finds there.

One record per JSON object: `ScenarioRecord` is a benchmark's `extra_info`, `SessionRecord` the top-level
`diffbench` block (with its `FailureRecord`s, `SkipRecord`s and `InterruptedRecord`). A record's field names are
the only keys its object may hold; `to_json()` leaves out the optional fields (`omitted()`) that are None, as the
writers always did. `SCHEMA_VERSION` is written into the session block; a file without one is version 0 (the
same format, written before the version was), and a file with a newer version is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, ClassVar, Mapping

from diffbench.spec.dimensions import DIMENSIONS

DIMENSION_NAMES = frozenset(d.name for d in DIMENSIONS)
SCHEMA_VERSION = 1  # diffbench.schema_version of the results files this diffbench writes


class SchemaError(ValueError):
    """A results record this diffbench cannot read: a newer schema version, or a malformed record."""


_OMIT = {"omit_if_none": True}


def _omitted() -> Any:
    """An optional field that today's writers leave out of the JSON when they have no value."""
    return field(default=None, metadata=_OMIT)


@dataclass(frozen=True)
class Record:
    """A JSON object with declared keys (the field names)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()  # keys a reader insists on

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def omitted(cls) -> frozenset[str]:
        """The fields left out of the JSON when None."""
        return frozenset(f.name for f in fields(cls) if f.metadata.get("omit_if_none"))

    @classmethod
    def undeclared(cls, data: Mapping[str, Any]) -> list[str]:
        """The keys of `data` this record does not declare."""
        known = set(cls.keys())
        return [key for key in data if key not in known]

    def to_json(self) -> dict[str, Any]:
        omitted = self.omitted()
        return {name: _jsonable(value) for name in self.keys()
                if not ((value := getattr(self, name)) is None and name in omitted)}

    @classmethod
    def from_json(cls, data: Any, strict: bool = False) -> Any:
        """The record of a JSON object: declared keys only (`strict`: an undeclared key is an error); a missing
        optional key is None."""
        if not isinstance(data, Mapping):
            raise SchemaError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        if missing := [key for key in cls.REQUIRED if key not in data]:
            raise SchemaError(f"{cls.__name__}: missing {', '.join(missing)}")
        if strict and (unknown := cls.undeclared(data)):
            raise SchemaError(f"{cls.__name__}: undeclared keys {', '.join(unknown)} (declare them in store/schema.py)")
        return cls(**{key: data[key] for key in cls.keys() if key in data})


def _jsonable(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ one benchmark


@dataclass(frozen=True)
class _ScenarioMeasurements(Record):
    """A benchmark's `extra_info` but the scenario's dimensions, which `ScenarioRecord` adds from the dimension
    records (spec/dimensions.py): a new dimension is declared there once. Reading a file of an older diffbench,
    any field but `scenario` may be missing (None)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("scenario",)

    scenario: str  # the scenario id (spec/matrix.py), the key results are matched by
    # the build (build/pipelines.py: Built.info)
    load_s: float | None = None  # seconds loading the weights
    quantize_s: float | None = None  # seconds quantizing (None: nothing quantized, or quantized while loading)
    quantized_by: str | None = None  # "quantize_" or "from_pretrained+TorchAoConfig"
    quantized_components: list[str] | None = None  # pipeline components the scheme was applied to
    weights: str | None = None  # weights source: hub, synthetic, proxy, ...
    dtype: str | None = None  # the pipeline's dtype, e.g. "bfloat16"
    inductor_flags: dict[str, Any] | None = None  # torch._inductor.config values in effect
    build_s: float | None = None  # load + quantize + fuse + offload hooks + compile wrappers, seconds
    # the built pipeline's memory (measure/instruments.py: model_memory)
    weights_gib: float | None = None  # bytes of all weights, GiB
    component_weights_gib: dict[str, float] | None = None  # the same per pipeline component
    memory_source: str | None = None  # where model_memory_gib comes from: "cuda_allocator" or "process_rss"
    model_memory_gib: float | None = None  # memory the built pipeline holds before any call, GiB
    host_rss_gib: float | None = None  # the process's resident memory after the build, GiB
    # the calls (measure/runner.py)
    first_call_s: float | None = None  # the first (compiling, warming) call, seconds
    compile_cache: str | None = None  # "warm", "cold" or "partial" compile caches on the first call; None: eager
    first_call_tuning_benchmarks: int | None = None  # autotuning benchmarks the first call ran
    step_s: float | None = None  # median seconds of one denoising step (profiled call)
    step_cv: float | None = None  # coefficient of variation of the step times
    gpu_kernel_s: float | None = None  # GPU kernel time of a call, seconds: the median profiled call (None off CUDA)
    # each profiled call's GPU kernel time, seconds (CUDA; absent from files written before it was recorded): the
    # GPU-time channel's spread within the run
    gpu_kernel_rounds_s: list[float] | None = _omitted()
    gpu_busy: float | None = None  # GPU kernel time over a call's wall time (well under 1: host-bound)
    # the attention kernels' GPU time in the median profiled call, and their share of its GPU work (CUDA; absent
    # from files written before it was recorded); its longest kernels as [name, seconds], longest first
    attention_gpu_s: float | None = _omitted()
    attention_share: float | None = _omitted()
    gpu_top_kernels: list[list] | None = _omitted()
    bare_step_s: float | None = _omitted()  # the denoiser alone in a tight loop, per step (CUDA only)
    denoiser_calls_per_step: int | None = _omitted()  # denoiser calls in one step (CUDA only)
    step_overhead_pct: float | None = _omitted()  # step_s over bare_step_s, percent above (CUDA only)
    rounds_spread: float | None = None  # slowest timed round over the fastest
    # the host's speed during the rounds: median seconds of instruments.host_probe_s, timed before each round
    host_probe_s: float | None = _omitted()  # (absent from files written before it was recorded)
    # pytest's seconds for the test's setup (the build, for a pipeline's first scenario), call (first call,
    # profiled call, floor, timed rounds) and teardown: where a session's wall time went
    test_phases_s: dict[str, float] | None = _omitted()
    # a step-caching scenario's kind and the denoiser work it skipped (measure/cache_work.py)
    cache_work: dict[str, Any] | None = _omitted()
    # a context-parallel scenario's GPUs, layout, per-step GPU time on rank 0 (compute, communication, idle) and,
    # when the same scenario ran on one GPU in the session, the speedup over it and the efficiency (per GPU)
    context_parallel: dict[str, Any] | None = _omitted()
    steps: int | None = None  # num_inference_steps of a call
    height: int | None = None  # output height, pixels
    width: int | None = None  # output width, pixels
    frames: int | None = None  # frames of a video output (None: an image pipeline)
    output_shape: list[int] | None = None  # the output array's shape
    # memory of the timed calls (measure/instruments.py: inference_memory)
    peak_memory_gib: float | None = None  # peak allocated (CUDA) or the process's peak RSS (CPU), GiB
    peak_reserved_gib: float | None = None  # peak reserved by the CUDA caching allocator, GiB (None on CPU)
    host_peak_rss_gib: float | None = None  # the process's peak resident memory, GiB
    # added by the plugin (annotate_results) and by `diffbench merge`
    serialization: dict[str, Any] | None = _omitted()  # this scenario's save/load round trip (serialization/)
    quality: dict[str, dict[str, float]] | None = _omitted()  # metric → {"mean", "min", ...} (quality/)
    source_file: str | None = _omitted()  # the run a merged file took this benchmark from
    # a slowdown injected on purpose (tools/slowdown_plugin.py: {"where": "gpu" | "host", "fraction": 0.1}): an
    # experiment measuring the gate, never a night of its history
    injected_slowdown: dict[str, Any] | None = _omitted()


def _dimension_field(dimension) -> tuple[str, Any, Any]:
    """A dimension's value as a results key; written only off its default when the dimension says so."""
    return dimension.name, Any, (field(default=None) if dimension.recorded_at_default else _omitted())


ScenarioRecord = make_dataclass(
    "ScenarioRecord", [_dimension_field(d) for d in DIMENSIONS], bases=(_ScenarioMeasurements,), frozen=True,
    namespace=dict(__doc__="A benchmark's `extra_info`: the scenario id, its dimensions (one key per record of "
                           "spec/dimensions.py), the build, memory and the calls.",
                   keys=classmethod(lambda cls: ("scenario", *(d.name for d in DIMENSIONS),
                                                  *(f.name for f in fields(cls) if f.name != "scenario"
                                                    and f.name not in DIMENSION_NAMES)))))
ScenarioRecord.__module__ = __name__


def idle_per_step_s(call_s: float, gpu_busy_s: float, steps: float) -> float:
    """The GPU's idle time in a denoising step (context_parallel.idle_per_step_s, and the report's figure for runs
    recorded before that key): a timed call's wall time less the GPU's busy time, over the steps."""
    return max(0.0, call_s - gpu_busy_s) / steps


# ------------------------------------------------------------------------------------------ the session block


@dataclass(frozen=True)
class _OutcomeRecord(Record):
    """What every outcome record says first: which test, of which scenario, in which phase."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("scenario",)

    scenario: str  # the scenario (or quantization case) id
    nodeid: str | None = None  # the pytest node id
    phase: str | None = None  # setup, call or teardown


@dataclass(frozen=True)
class FailureRecord(_OutcomeRecord):
    """A failed test of a scenario (diffbench.failures)."""

    error_type: str | None = None  # the exception's class name, or "XPASS(strict)"
    message: str | None = None  # the exception's message (first 4000 characters)
    peak_memory_gib: float | None = None  # peak memory when it failed, GiB
    traceback: str | None = None  # the end of the chained traceback (absent in files of older diffbench)


@dataclass(frozen=True)
class SkipRecord(_OutcomeRecord):
    """A skipped scenario, or a known failure (diffbench.skipped)."""

    reason: str | None = None  # why: a rule, the machine, or "known failure: ..."


@dataclass(frozen=True)
class InterruptedRecord(Record):
    """The scenario a stopped session was in (diffbench.interrupted)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("scenario",)

    scenario: str
    nodeid: str | None = None
    phase: str | None = None  # setup: building it; call: compiling or timing it; teardown: after its call
    elapsed_s: float | None = None  # how long it had run


@dataclass(frozen=True)
class SessionRecord(Record):
    """The results JSON's top-level `diffbench` block."""

    schema_version: int | None = None  # SCHEMA_VERSION of the writer (absent: version 0)
    failures: tuple[FailureRecord, ...] = ()
    skipped: tuple[SkipRecord, ...] = ()
    serialization: list[dict[str, Any]] | None = None  # serialization round-trip records (serialization/)
    quantization_cost: list[dict[str, Any]] | None = None  # quantization_cost.measure_case records
    memory_cap_gib: float | None = None  # --memory-cap, GiB
    command: list[str] | None = None  # how this file was made: ["pytest", *args]
    session_wall_s: float | None = None  # configure to the JSON: imports, builds, compiles and timed calls
    interrupted: InterruptedRecord | None = _omitted()  # the scenario a stopped session was in
    quality_controls: dict[str, Any] | None = _omitted()  # the quality session's control measurements

    @classmethod
    def from_json(cls, data: Any, strict: bool = False) -> SessionRecord:
        record = super().from_json(data, strict)
        version = record.schema_version
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise SchemaError(f"schema_version must be a non-negative integer, got {version!r}")
        check_version(version or 0)
        return cls(**{
            **{key: getattr(record, key) for key in cls.keys()},
            "failures": tuple(FailureRecord.from_json(r, strict) for r in _list(data, "failures")),
            "skipped": tuple(SkipRecord.from_json(r, strict) for r in _list(data, "skipped")),
            "interrupted": None if record.interrupted is None
            else InterruptedRecord.from_json(record.interrupted, strict),
        })

    @property
    def version(self) -> int:
        return self.schema_version or 0


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise SchemaError(f"'{key}' must be a list of records")
    return value


def check_version(version: int) -> None:
    """Refuse a file written by a newer diffbench (its records may mean something this one does not know)."""
    if version > SCHEMA_VERSION:
        raise SchemaError(f"schema version {version} is newer than this diffbench reads ({SCHEMA_VERSION}); "
                          "upgrade diffbench to read it")
