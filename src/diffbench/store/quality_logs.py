"""Quality logs (`pytest quality --quality-json LOG`) joined to timed runs.

A session that runs `benchmarks quality` together writes each scenario's quality into its timing record. Runs
made apart (the timings in one session, the quality in another, or a scenario whose timing failed while its
quality passed) are joined here by scenario id: a log's metrics fill the quality of a timed scenario that has
none, and a run's own quality always wins. The GPU and the weights source must agree, as for merging runs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffbench.store.results import MismatchError, ResultsError, read_json, scenario_of


def jsonable(value: Any) -> Any:
    """Metrics as strict JSON: +inf PSNR (identical outputs) becomes the string 'inf' (`number` reads it back)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def number(value: Any) -> float:
    """A metric as a log holds it ('inf', '-inf' or a number) → a float."""
    return math.inf if value == "inf" else -math.inf if value == "-inf" else float(value)


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """A quality record's metrics as a timing record keeps them: the statistics without the per-prompt lists."""
    return {name: {k: v for k, v in stats.items() if k != "per_prompt"} for name, stats in metrics.items()
            if isinstance(stats, dict)}


@dataclass(frozen=True)
class QualityLog:
    path: Path
    gpu: str | None
    results: tuple[dict[str, Any], ...]  # every quality record, in order (a job that scores sets of prompts
    # writes one per set, several of a scenario)

    @functools.cached_property
    def records(self) -> dict[str, dict[str, Any]]:
        """Scenario id → its quality record (of several, the last)."""
        return {r["scenario"]: r for r in self.results}


def read(path: Path) -> QualityLog:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), list) \
            or not all(isinstance(r, dict) and "scenario" in r and "metrics" in r for r in data["results"]):
        raise ResultsError(f"{path}: not a quality log (needs 'results', each with a 'scenario' and 'metrics')")
    environment = data.get("environment") if isinstance(data.get("environment"), dict) else {}
    return QualityLog(path, environment.get("gpu"), tuple(data["results"]))


def join(data: dict[str, Any], logs: list[QualityLog], allow_mismatch: bool = False) -> list[str]:
    """Fill, in place, the quality of `data`'s timed scenarios that have none from the logs (a later log wins);
    the notes say which log gave which scenario's quality."""
    env = data["machine_info"].get("diffbench") or {}
    notes = []
    for log in logs:
        weights = {r.get("weights") for r in log.records.values()} - {None}
        mismatches = [f"{key}: {theirs!r} ({log.path.name}) vs {ours!r} (the runs)"
                      for key, theirs, ours in (("gpu", log.gpu, env.get("gpu")),
                                                ("weights", ",".join(sorted(weights)) or None, env.get("weights")))
                      if theirs != ours]
        if mismatches and not allow_mismatch:
            raise MismatchError(f"quality log from another setup ({'; '.join(mismatches)}); "
                                "pass --allow-mismatch to join it anyway")
    for bench in data["benchmarks"]:
        info = bench.get("extra_info")
        if not isinstance(info, dict) or info.get("quality"):
            continue
        scenario = scenario_of(bench)
        found = [log for log in logs if scenario in log.records and log.records[scenario]["metrics"]]
        if found:
            info["quality"] = summary(found[-1].records[scenario]["metrics"])
            notes.append(f"{scenario}: quality from {found[-1].path.name}")
    return notes
