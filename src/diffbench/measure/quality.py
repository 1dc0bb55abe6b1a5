"""Quality gates: bf16 reference outputs kept as baselines, thresholds kept as data, evidence on failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diffbench.store import atomic
from diffbench.store.quality_logs import jsonable
from diffbench.spec.gates import Gate, judge as gates_judge
from diffbench.measure import metrics
from diffbench.build.built import Built
from diffbench.measure.runner import RunOptions, call_kwargs
from diffbench.measure.runner import outputs as pipeline_outputs

# ------------------------------------------------------------------------------------------ generation


def generate(built: Built, options: RunOptions, prompts: list[str]) -> np.ndarray:
    """One output per prompt, as uint8 (what a user saves), in calls of the scenario's batch size.

    Prompt i always gets the generator seeded with seed + i, whatever the batching, so every scheme and
    batch size starts from the same noise as the reference.
    """
    batch, outputs = built.scenario.batch, []
    for start in range(0, len(prompts), batch):
        index = [(start + j) % len(prompts) for j in range(batch)]
        kwargs = call_kwargs(built, options, [prompts[i] for i in index])
        generators = [torch.Generator("cpu").manual_seed(options.seed + i) for i in index]
        result = built.pipe(**kwargs, generator=generators)
        outputs.extend(np.asarray(pipeline_outputs(result))[: len(prompts) - start])
    images = np.stack(outputs)
    metrics.guard_finite(images, built.scenario.id)  # before the uint8 cast, which would make NaN black
    return to_uint8(images)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255


# ------------------------------------------------------------------------------------------ references


# ------------------------------------------------------------------------------------------ thresholds


# ------------------------------------------------------------------------------------------ verdicts


@dataclass
class Verdict:
    scenario: str
    metrics: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    skipped_gates: list[str] = field(default_factory=list)

    @classmethod
    def judge(cls, scenario: str, metrics: dict[str, Any], gates: list[Gate]) -> "Verdict":
        failed, skipped = gates_judge(gates, metrics)
        return cls(scenario, metrics, skipped_gates=[gate.key for gate in skipped], failures=[
            f"{gate.metric} {'min' if gate.lower else 'max'} over prompts = {value:.4f}, gate {gate.key}: must be "
            f"{'≥' if gate.lower else '≤'} {gate.bound}" for gate, value in failed])


def write_log(path: Path, records: list[dict[str, Any]], context: dict[str, Any]) -> None:
    atomic.write_json(path, jsonable(dict(results=records, **context)))

