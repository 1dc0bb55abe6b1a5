"""Quality gates: bf16 reference outputs kept as baselines, thresholds kept as data, evidence on failure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diffbench import baselines
from diffbench.spec.gates import Gate
from diffbench.measure import metrics
from diffbench.build.pipelines import Built
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


class ReferenceMismatch(Exception):
    """A reference exists but was made with other settings: refused, never silently reused."""


NEWER_SETTINGS = ("noise",)  # reference settings recorded since a given version of the suite


@dataclass(frozen=True)
class ReferenceStore:
    """bf16 eager outputs, one file pair per (model, weights source): `<model>-<weights>.npz` + `.json`."""

    folder: Path

    def base(self, model: str, weights: str) -> Path:
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in weights.strip("/"))
        return self.folder / f"{model}-{slug}"

    def load(self, model: str, weights: str, settings: dict[str, Any]) -> np.ndarray | None:
        base = self.base(model, weights)
        meta_path, data_path = base.with_suffix(".json"), base.with_suffix(".npz")
        if not meta_path.exists() and not data_path.exists():
            return None
        if not (meta_path.exists() and data_path.exists()):
            raise baselines.CorruptBaseline(f"{base}: one of .json/.npz is missing; delete the other or "
                                            "regenerate with --update-baselines")
        made_with = baselines.read_json(meta_path)["settings"]
        # A key an older reference lacks (written before it was recorded) is not compared.
        made_with = made_with | {k: settings[k] for k in NEWER_SETTINGS if k not in made_with}
        if made_with != settings:
            differences = {k: (made_with.get(k), settings.get(k)) for k in settings.keys() | made_with.keys()
                           if made_with.get(k) != settings.get(k)}
            raise ReferenceMismatch(f"{meta_path} was made with other settings (reference, this run): "
                                    f"{differences}; regenerate on purpose with --update-baselines")
        images = baselines.read_arrays(data_path).get("images")
        if images is None or images.dtype != np.uint8 or len(images) != len(settings["prompts"]):
            raise baselines.CorruptBaseline(f"{data_path}: expected {len(settings['prompts'])} uint8 images")
        return images

    def save(self, model: str, weights: str, settings: dict[str, Any], images: np.ndarray,
             environment: dict[str, Any]) -> Path:
        base = self.base(model, weights)
        baselines.write_arrays(base.with_suffix(".npz"), images=images)
        baselines.write_json(base.with_suffix(".json"), dict(settings=settings, environment=environment,
                                                             shape=list(images.shape)))
        return base

    def write_obtained(self, model: str, weights: str, scenario_id: str, reference: np.ndarray,
                       candidate: np.ndarray) -> Path:
        """The candidate's outputs and a side-by-side PNG (reference | candidate | |diff| heat map)."""
        base = self.base(model, weights)
        baselines.write_arrays(Path(f"{base}.{scenario_id}.obtained.npz"), images=candidate)
        png = Path(f"{base}.{scenario_id}.obtained.png")
        baselines.atomic_write_bytes(png, side_by_side(reference, candidate))
        return png


def _still(x: np.ndarray) -> np.ndarray:
    return x[len(x) // 2] if x.ndim == 4 else x  # a video shows its middle frame


def side_by_side(reference: np.ndarray, candidate: np.ndarray) -> bytes:
    import io

    from matplotlib import colormaps
    from PIL import Image

    rows = []
    for ref, cand in zip(reference, candidate):
        ref, cand = _still(ref), _still(cand)
        diff = np.abs(ref.astype(np.float32) - cand.astype(np.float32)).mean(-1) / 255
        heat = (colormaps["inferno"](diff / max(float(diff.max()), 1e-6))[..., :3] * 255).astype(np.uint8)
        rows.append(np.concatenate([ref, cand, heat], axis=1))
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).save(buffer, format="PNG")
    return buffer.getvalue()


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
        verdict = cls(scenario, metrics)
        for gate in gates:
            value = gate.value(metrics)
            if value is None:
                verdict.skipped_gates.append(gate.key)
            elif not gate.passes(value):
                relation = "≥" if gate.lower else "≤"
                verdict.failures.append(f"{gate.metric} {'min' if gate.lower else 'max'} over prompts = "
                                        f"{value:.4f}, gate {gate.key}: must be {relation} {gate.bound}")
        return verdict


def jsonable(value: Any) -> Any:
    """Metrics as strict JSON: +inf PSNR (identical outputs) becomes the string 'inf'."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def write_log(path: Path, records: list[dict[str, Any]], context: dict[str, Any]) -> None:
    baselines.write_json(path, jsonable(dict(results=records, **context)))

