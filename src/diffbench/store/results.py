"""Reading a results file: pytest-benchmark's JSON as written by the suite, checked and keyed by scenario id.

A file that is not valid JSON, or not shaped like pytest-benchmark's output, raises `ResultsError` naming it.
"""

from __future__ import annotations

import json
import math
import statistics
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffbench.store.schema import SCHEMA_VERSION, SchemaError, ScenarioRecord, SessionRecord

QUALITY_METRICS = ("ssim", "psnr", "clip_score")  # extra_info["quality"][metric] = {"mean": .., "min": ..}


class ResultsError(ValueError):
    """An unreadable, corrupt or foreign results file (the message names the file)."""


@dataclass(frozen=True)
class Measurement:
    """One benchmarked scenario: its timed rounds and its `extra_info`."""

    scenario: str
    info: dict[str, Any]
    median: float
    iqr: float  # interquartile range of the rounds (seconds); 0 when unknown
    q1: float
    q3: float
    rounds: tuple[float, ...] = ()  # per-round seconds, when the file holds them (stats.data)
    low: float | None = None  # fastest and slowest round (stats.min / stats.max when the file lacks the rounds)
    high: float | None = None
    count: int = 0  # how many rounds were timed

    def get(self, key: str) -> Any:
        return self.info.get(key)

    @property
    def record(self) -> ScenarioRecord:
        """`extra_info` as its typed record (store/schema.py; keys it does not declare are left out)."""
        return ScenarioRecord.from_json(self.info)

    def number(self, key: str) -> float | None:
        """`extra_info[key]` if it is a finite number, else None."""
        return _number(self.info.get(key))

    def quality(self, metric: str, stat: str = "mean") -> float | None:
        value = (self.info.get("quality") or {}).get(metric) or {}
        return _number(value.get(stat)) if isinstance(value, dict) else None

    # The two channels of a GPU scenario's time (face/channels.py judges each on its own): the GPU's kernel time
    # and the host's share of the wall time. None where the file recorded no kernel time (CPU runs, old files).
    @property
    def gpu_rounds(self) -> tuple[float, ...]:
        """Each profiled call's GPU kernel time; the one `gpu_kernel_s` of a file that profiled one call."""
        rounds = self.info.get("gpu_kernel_rounds_s")
        values = tuple(x for x in map(_number, rounds) if x) if isinstance(rounds, list) else ()
        single = self.number("gpu_kernel_s")
        return values or ((single,) if single else ())

    @property
    def gpu_s(self) -> float | None:
        """GPU time of a call: the median profiled call's kernel time."""
        rounds = self.gpu_rounds
        return float(statistics.median(rounds)) if rounds else None

    @property
    def host_s(self) -> float | None:
        """Host time of a call: the median wall time less the GPU time (host work and the GPU's idle gaps)."""
        gpu = self.gpu_s
        return None if gpu is None else self.median - gpu


@dataclass(frozen=True)
class Results:
    path: Path
    env: dict[str, Any]  # machine_info.diffbench
    datetime: str | None
    measurements: dict[str, Measurement]
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # scenario → its failure records
    skipped: dict[str, str] = field(default_factory=dict)  # scenario → reason(s)
    quantization_cost: list[dict[str, Any]] = field(default_factory=list)  # quantization_cost.measure_case records
    interrupted: dict[str, Any] | None = None  # the scenario a stopped session was in (plugin: diffbench.interrupted)
    schema_version: int = SCHEMA_VERSION  # diffbench.schema_version of the file (0: written before it was recorded)

    @property
    def gpu(self) -> str | None:
        return self.env.get("gpu")

    @property
    def weights(self) -> str | None:
        return self.env.get("weights")

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The runs a merged file was made from (`diffbench merge`); empty for a single run."""
        sources = self.env.get("sources")
        return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []

    @property
    def stops(self) -> list[tuple[dict[str, Any], str | None]]:
        """Where the sessions behind these results were stopped, each with its run's file for a merged file: this
        run's `interrupted` record, or each merged run's whose scenario has no result here (one measured later
        was not lost)."""
        if self.interrupted:
            return [(self.interrupted, None)]
        return [(source["interrupted"], source.get("file")) for source in self.sources
                if isinstance(source.get("interrupted"), dict)
                and source["interrupted"].get("scenario") not in self.measurements]


# An absolute path inside a message (not a URL's, nor a relative path's): its host's folders say nothing to a
# reader elsewhere and must not reach a committed report.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)*[\w.+@-]+")
KEPT_PATH_PARTS = 3  # of an absolute path, the last parts kept: a file with its package or folder


def without_host_paths(text: str) -> str:
    """Each absolute path shortened to its last KEPT_PATH_PARTS parts after '…/', e.g. '/tmp/site/diffusers/hooks/
    hooks.py' → '…/diffusers/hooks/hooks.py'."""
    def shorten(match: re.Match) -> str:
        parts = match.group(0).split("/")[1:]
        return match.group(0) if len(parts) <= 1 else "…/" + "/".join(parts[-KEPT_PATH_PARTS:])

    return _ABSOLUTE_PATH.sub(shorten, text)


def describe_failure(failure: dict[str, Any], brief: int | None = None) -> str:
    """'OutOfMemoryError: CUDA out of memory (test_latency, peak 79.100 GiB)' from a failure record, without the
    absolute paths of the host it ran on. `brief`: a table cell's version, the message's first line only, cut to
    that many characters, and no peak memory."""
    test = str(failure.get("nodeid", "")).rpartition("::")[2].partition("[")[0]
    peak = None if brief else _number(failure.get("peak_memory_gib"))
    context = ", ".join(filter(None, [test, f"peak {peak:.3f} GiB" if peak is not None else ""]))
    message = str(failure.get("message") or "").strip()
    message = message.splitlines()[0] if brief and message else message
    text = without_host_paths(f"{failure.get('error_type') or 'error'}: {message}".strip())
    if brief and len(text) > brief:
        text = text[:brief - 1].rstrip() + "…"
    return f"{text} ({context})" if context else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _measurement(path: Path, index: int, bench: Any) -> Measurement:
    where = f"{path}: benchmark #{index}"
    if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
        raise ResultsError(f"{where} has no 'stats' (not a pytest-benchmark results file?)")
    info = bench.get("extra_info") if isinstance(bench.get("extra_info"), dict) else {}
    scenario = scenario_of(bench)
    if not isinstance(scenario, str):
        raise ResultsError(f"{where} has neither extra_info.scenario nor a name")
    stats = bench["stats"]
    median = _number(stats.get("median"))
    if median is None:
        raise ResultsError(f"{where} ({scenario}) has no numeric stats.median")
    data = stats.get("data")
    rounds = tuple(x for x in map(_number, data) if x is not None) if isinstance(data, list) else ()
    if len(rounds) >= 2:
        import numpy as np

        q1, median, q3 = (float(q) for q in np.percentile(rounds, [25, 50, 75]))
    else:  # only the summary: fall back to its quartiles, or a normal-equivalent IQR from the stddev
        q1, q3 = _number(stats.get("q1")), _number(stats.get("q3"))
        iqr = _number(stats.get("iqr"))
        if iqr is None:
            iqr = 1.349 * (_number(stats.get("stddev")) or 0.0)
        if q1 is None or q3 is None:
            q1, q3 = median - iqr / 2, median + iqr / 2
    low, high = (min(rounds), max(rounds)) if rounds else (_number(stats.get("min")), _number(stats.get("max")))
    count = len(rounds) or int(_number(stats.get("rounds")) or 0)
    return Measurement(scenario, info, median, q3 - q1, q1, q3, rounds, low, high, count)


def is_scenario_records(value: Any) -> bool:
    """A list of records, each naming its scenario (diffbench.failures, .skipped, .serialization, ...)."""
    return isinstance(value, list) and all(isinstance(r, dict) and "scenario" in r for r in value)


def _records(path: Path, section: Any, key: str) -> list[dict[str, Any]]:
    records = section.get(key, []) if isinstance(section, dict) else []
    if not is_scenario_records(records):
        raise ResultsError(f"{path}: 'diffbench.{key}' must be a list of records with a 'scenario'")
    return records


def load(path: str | Path) -> Results:
    path = Path(path)
    return parse(read_json(path), path)


def read_json(path: Path) -> Any:
    """The file's JSON, or a ResultsError naming it."""
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None


def scenario_of(bench: dict[str, Any]) -> Any:
    """A benchmark's scenario id: extra_info.scenario, else its name."""
    info = bench.get("extra_info") if isinstance(bench.get("extra_info"), dict) else {}
    return info.get("scenario") or bench.get("name")


def parse(data: Any, path: Path) -> Results:
    """Check and key a results file's JSON (`path` names it in errors)."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) \
            or not isinstance(data.get("machine_info"), dict):
        raise ResultsError(f"{path}: not a pytest-benchmark results file (needs 'machine_info' and 'benchmarks')")
    measurements: dict[str, Measurement] = {}
    for index, bench in enumerate(data["benchmarks"]):
        m = _measurement(path, index, bench)
        if m.scenario in measurements:
            raise ResultsError(f"{path}: scenario {m.scenario} appears twice")
        measurements[m.scenario] = m
    env = data["machine_info"].get("diffbench")
    section = data.get("diffbench")
    if section is not None and not isinstance(section, dict):
        raise ResultsError(f"{path}: 'diffbench' must be an object")
    failures, skipped = _records(path, section, "failures"), _records(path, section, "skipped")
    try:  # the schema's version (a newer one is refused) and the shape of its records
        session = SessionRecord.from_json(section or {})
    except SchemaError as exc:
        raise ResultsError(f"{path}: {exc}") from None
    return Results(
        path=path,
        env=env if isinstance(env, dict) else {},
        datetime=data.get("datetime"),
        measurements=measurements,
        failures=_by_scenario(failures),
        skipped={s: "; ".join(dict.fromkeys(str(r.get("reason", "")) for r in records))
                 for s, records in _by_scenario(skipped).items()},
        quantization_cost=_records(path, section, "quantization_cost"),
        interrupted=(section or {}).get("interrupted"),
        schema_version=session.version,
    )


def _by_scenario(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["scenario"], []).append(record)
    return groups


# ------------------------------------------------------------------------------------------ comparability


class MismatchError(ValueError):
    """BASE and NEW ran on different GPUs, CPUs or with different weights."""


# What makes two runs incomparable. The CPU counts too: host-bound scenarios run at its speed. A key a file lacks
# (written before it was recorded) is not compared.
COMPARABLE = ("gpu", "cpu", "cpu_count", "weights")


def check_compatible(base: Results, new: Results) -> list[str]:
    """What makes the two runs incomparable: a different GPU, CPU model, core count or weights source."""
    return [f"{key}: {base.env.get(key)!r} (BASE) vs {new.env.get(key)!r} (NEW)" for key in COMPARABLE
            if (key in base.env and key in new.env or key in ("gpu", "weights"))
            and base.env.get(key) != new.env.get(key)]
