"""Reference outputs kept as baselines: located by model and weights, refused when made with other settings, and
evidence (side-by-side images) written when a gate fails (`.obtained` files, pytest-regressions' habit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diffbench.store import atomic


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
            raise atomic.CorruptBaseline(f"{base}: one of .json/.npz is missing; delete the other or "
                                            "regenerate with --update-baselines")
        made_with = atomic.read_json(meta_path)["settings"]
        # A key an older reference lacks (written before it was recorded) is not compared.
        made_with = made_with | {k: settings[k] for k in NEWER_SETTINGS if k not in made_with}
        if made_with != settings:
            differences = {k: (made_with.get(k), settings.get(k)) for k in settings.keys() | made_with.keys()
                           if made_with.get(k) != settings.get(k)}
            raise ReferenceMismatch(f"{meta_path} was made with other settings (reference, this run): "
                                    f"{differences}; regenerate on purpose with --update-baselines")
        images = atomic.read_arrays(data_path).get("images")
        if images is None or images.dtype != np.uint8 or len(images) != len(settings["prompts"]):
            raise atomic.CorruptBaseline(f"{data_path}: expected {len(settings['prompts'])} uint8 images")
        return images

    def save(self, model: str, weights: str, settings: dict[str, Any], images: np.ndarray,
             environment: dict[str, Any]) -> Path:
        base = self.base(model, weights)
        atomic.write_arrays(base.with_suffix(".npz"), images=images)
        atomic.write_json(base.with_suffix(".json"), dict(settings=settings, environment=environment,
                                                             shape=list(images.shape)))
        return base

    def write_obtained(self, model: str, weights: str, scenario_id: str, reference: np.ndarray,
                       candidate: np.ndarray) -> Path:
        """The candidate's outputs and a side-by-side PNG (reference | candidate | |diff| heat map)."""
        base = self.base(model, weights)
        atomic.write_arrays(Path(f"{base}.{scenario_id}.obtained.npz"), images=candidate)
        png = Path(f"{base}.{scenario_id}.obtained.png")
        atomic.atomic_write_bytes(png, side_by_side(reference, candidate))
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
