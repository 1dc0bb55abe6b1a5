"""The quality tests' session state: references, the control scheme's score, CLIP, and the results log."""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from diffbench.measure import cache_work, machine, metrics, quality
from diffbench.store import references
from diffbench.spec import gates
from diffbench.build.built import Built
from diffbench.spec.matrix import Scenario
from diffbench.measure.runner import RunOptions


@dataclass(frozen=True)
class QualityOptions:
    references: Path  # folder of reference outputs (one per GPU kind)
    thresholds: gates.Thresholds
    prompts: tuple[str, ...]
    update: bool = False  # --update-baselines: regenerate references on purpose
    control: str | None = "int2wo"  # a lossy scheme scored beside every result: the gates' resolving power
    clip_model: str = "ViT-B-32"
    clip_weights: str | None = None


def noise_fingerprint(seed: int) -> str:
    """What the seeded starting noise looks like with this torch: torch 2.12 changed how bf16 noise is drawn
    (baselines/cpu/int8dq-regression/), so a reference made with other noise is not this run's reference."""
    import hashlib

    import torch

    draws = [torch.randn(64, generator=torch.Generator("cpu").manual_seed(seed), dtype=dtype)
             for dtype in (torch.bfloat16, torch.float16, torch.float32)]
    return hashlib.sha256(b"".join(d.float().numpy().tobytes() for d in draws)).hexdigest()[:16]


NO_CLIP_WEIGHTS = "no CLIP weights given (--clip-weights: an open_clip tag or a checkpoint file)"


class ReferenceWritten(Exception):
    """pytest-regressions style: a missing reference is written and the test fails."""


@dataclass
class QualitySession:
    options: QualityOptions
    run: RunOptions
    weights: str
    store: references.ReferenceStore = field(init=False)
    records: list[dict[str, Any]] = field(default_factory=list)
    controls: dict[str, dict[str, Any]] = field(default_factory=dict)
    _references: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = references.ReferenceStore(self.options.references)

    @property
    def prompts(self) -> list[str]:
        return list(self.options.prompts)

    def reference_settings(self, scenario: Scenario) -> dict[str, Any]:
        """Everything a reference depends on: a reference made otherwise is refused."""
        spec = scenario.spec
        inputs = self.run.source.inputs(spec)
        return dict(model=scenario.model, weights=self.weights, device=self.run.device,
                    height=inputs.height, width=inputs.width, frames=inputs.frames,
                    steps=self.run.steps_for(scenario.model) or inputs.steps, prompts=self.prompts,
                    seed=self.run.seed,
                    reference_scheme="bf16", reference_compile="eager", noise=noise_fingerprint(self.run.seed))

    def reference(self, scenario: Scenario, pipelines: Callable[[Scenario], Built]) -> np.ndarray:
        model = scenario.model
        if model in self._references:
            return self._references[model]
        settings = self.reference_settings(scenario)
        images = None if self.options.update else self.store.load(model, self.weights, settings)
        written = images is None
        if written:
            images = quality.generate(pipelines(Scenario(model, "bf16")), self.run, self.prompts)
            base = self.store.save(model, self.weights, settings, images, machine.environment())
        self._references[model] = images  # kept for the session even when this test fails below
        if written and not self.options.update:
            raise ReferenceWritten(f"reference outputs were missing and have been written to {base}.npz; "
                                   "check them and run again")
        return images

    @cached_property
    def clip(self) -> metrics.ClipScorer | None:
        """The CLIP scorer, loaded once when the first metric needs it; None without CLIP weights."""
        if not self.options.clip_weights:
            return None
        return metrics.ClipScorer.load(self.options.clip_model, self.options.clip_weights)

    @property
    def clip_status(self) -> str:
        return self.clip.name if self.clip else f"skipped: {NO_CLIP_WEIGHTS}"

    def compare(self, reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
        return metrics.compare(quality.to_float(reference), quality.to_float(candidate), self.prompts, self.clip)

    def control(self, scenario: Scenario, pipelines: Callable[[Scenario], Built],
                reference: np.ndarray) -> dict[str, Any] | None:
        """The control scheme's scores on this model, once per session (None when disabled)."""
        name = self.options.control
        if name is None:
            return None
        if scenario.model not in self.controls:
            control = Scenario(scenario.model, name)
            try:
                candidate = quality.generate(pipelines(control), self.run, self.prompts)
                scores = self.compare(reference, candidate)
                verdict = quality.Verdict.judge(control.id, scores, self.gates(control))
                self.controls[scenario.model] = dict(scenario=control.id, metrics=scores,
                                                     rejected_by_gates=bool(verdict.failures))
            except Exception as exc:  # noqa: BLE001 — the control's failure is recorded, never fatal
                self.controls[scenario.model] = dict(scenario=control.id, error=f"{type(exc).__name__}: {exc}")
        return self.controls[scenario.model]

    def evaluate(self, scenario: Scenario, pipelines: Callable[[Scenario], Built]) -> dict[str, Any]:
        """Reference, control, candidate, metrics, verdict; writes evidence when a gate fails."""
        reference = self.reference(scenario, pipelines)
        control = self.control(scenario, pipelines, reference)
        built = pipelines(scenario)
        candidate = quality.generate(built, self.run, self.prompts)
        verdict = quality.Verdict.judge(scenario.id, self.compare(reference, candidate), self.gates(scenario))
        evidence = None
        if verdict.failures:
            evidence = self.store.write_obtained(scenario.model, self.weights, scenario.id, reference, candidate)
        # a cached scenario: what it computed, counted on one more call with the first prompt
        work = cache_work.of_built(built, lambda: quality.generate(built, self.run, self.prompts[:1]),
                                   self.run.source.trained)
        return self.record(scenario, verdict, control, evidence, work)

    def gates(self, scenario: Scenario) -> list[gates.Gate]:
        return self.options.thresholds.gates(scenario.model, scenario.scheme, self.weights, scenario.cache,
                                             scenario.attention)

    def record(self, scenario: Scenario, verdict: quality.Verdict, control: dict[str, Any] | None,
               evidence: Path | None, work: dict[str, Any] | None = None) -> dict[str, Any]:
        cached = dict(cache_work=work) if work else {}
        entry = dict(scenario=scenario.id, **scenario.params(), **cached, weights=self.weights, metrics=verdict.metrics,
                     gates={g.key: g.bound for g in self.gates(scenario)}, failures=verdict.failures,
                     skipped_gates=verdict.skipped_gates, clip=self.clip_status, control=control,
                     evidence=str(evidence) if evidence else None, thresholds_file=self.options.thresholds.source)
        self.records.append(entry)
        return entry
