"""`diffbench lost-prompts`: which prompts each scenario of quality logs loses, every prompt judged on its own by
the gates in force (face/record_gates.py).

A quality record's gates judge its worst prompt, so one prompt that ends in another image fails its whole set.
Counted prompt by prompt over many sets (`diffbench-jobs quality-mutations --scenarios ...` scores 8 sets of 8
prompts), the count is the rate at which a scenario loses a prompt, and the prompts named say whether scenarios
lose the same ones (a loss across the board) or different ones (forks of the sampler). A face module: it reads
quality logs, never runs a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diffbench.face import record_gates
from diffbench.face.report import markdown_table
from diffbench.spec.gates import Gate, judge
from diffbench.store.quality_logs import QualityLog, number
from diffbench.store.results import ResultsError

_FAILS = {True: "<", False: ">"}  # a lower bound is failed below it, an upper one above


@dataclass(frozen=True)
class Lost:
    prompt: int  # its index among the evaluation prompts
    failed: tuple[tuple[Gate, float], ...]  # each gate it fails, with its value


@dataclass
class Row:
    gpu: str
    scenario: str
    prompts: int = 0
    sets: int = 0
    sets_failing: int = 0
    lost: list[Lost] = field(default_factory=list)


def rows(logs: Sequence[QualityLog]) -> list[Row]:
    """One row per GPU kind and scenario, in the order the logs give them; every set of a scenario adds to it."""
    found: dict[tuple[str, str], Row] = {}
    for log in logs:
        gpu = log.gpu or "CPU"
        for record in log.results:
            row = found.setdefault((gpu, record["scenario"]), Row(gpu, record["scenario"]))
            per_prompt = _per_prompt(record, log)
            count = len(next(iter(per_prompt.values())))
            lost = _lost(record, per_prompt, count)
            row.prompts += count
            row.sets += 1
            row.sets_failing += bool(lost)
            row.lost += lost
    return list(found.values())


def _per_prompt(record: Mapping[str, Any], log: QualityLog) -> dict[str, list]:
    """Metric → its value per prompt, from a record that names what the gates in force are looked up by."""
    per_prompt = {metric: stats["per_prompt"] for metric, stats in (record.get("metrics") or {}).items()
                  if isinstance(stats, dict) and isinstance(stats.get("per_prompt"), list)}
    lengths = {len(values) for values in per_prompt.values()}
    if len(lengths) != 1 or 0 in lengths or not all(isinstance(record.get(key), str) for key in ("model", "scheme")):
        raise ResultsError(f"{log.path}: {record['scenario']} holds no per-prompt metrics of one length, or no "
                           "model and scheme (a quality log of `pytest quality --quality-json` or `diffbench-jobs` "
                           "has them)")
    return per_prompt


def _lost(record: Mapping[str, Any], per_prompt: Mapping[str, list], count: int) -> list[Lost]:
    first = (record.get("prompt_set") or {}).get("first", 0)  # a set of a job's, else the log's first prompts
    gates = record_gates.gates_of(record)
    lost = []
    for i in range(count):  # each prompt as a set of one, judged as `pytest quality` judges a set
        one = {metric: {"min": values[i], "max": values[i]} for metric, values in per_prompt.items()}
        if failed := judge(gates, one, number)[0]:
            lost.append(Lost(first + i, tuple(failed)))
    return lost


def markdown(found: Sequence[Row]) -> str:
    def named(lost: Lost) -> str:
        fails = (f"{gate.metric} {value:.4g} {_FAILS[gate.lower]} {gate.bound:g}" for gate, value in lost.failed)
        return f"{lost.prompt} ({', '.join(fails)})"

    return markdown_table(
        ["GPU", "scenario", "prompts", "lost", "sets failing", "each lost prompt (what it fails)"],
        [[row.gpu, f"`{row.scenario}`", str(row.prompts), f"{len(row.lost)} ({len(row.lost) / row.prompts:.1%})",
          f"{row.sets_failing} of {row.sets}", "; ".join(map(named, row.lost)) or "none"] for row in found])
