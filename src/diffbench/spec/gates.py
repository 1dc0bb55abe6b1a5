"""Quality gates as data: the thresholds file's schema, most specific entry wins."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_THRESHOLDS = Path(__file__).resolve().parents[1] / "data" / "thresholds.toml"  # shipped with the package


@dataclass(frozen=True)
class Gate:
    """`<metric>_min`: the worst prompt's value must be ≥ bound; `<metric>_max`: ≤ bound."""

    key: str
    bound: float

    @property
    def metric(self) -> str:
        return self.key.rsplit("_", 1)[0]

    @property
    def lower(self) -> bool:
        return self.key.endswith("_min")

    def value(self, metrics: dict[str, Any]) -> float | None:
        stats = metrics.get(self.metric)
        return None if stats is None else stats["min" if self.lower else "max"]

    def passes(self, value: float) -> bool:
        return value >= self.bound if self.lower else value <= self.bound


def _dig(table: dict, *path: str) -> dict:
    for part in path:
        table = table.get(part, {})
    return table


@dataclass(frozen=True)
class Thresholds:
    table: dict[str, Any]
    source: str

    @classmethod
    def load(cls, path: Path) -> "Thresholds":
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the quality thresholds ({exc})") from None
        thresholds = cls(table, str(path))
        for layer in thresholds._layers_everywhere():
            for key, bound in layer.items():
                if not isinstance(bound, dict) and (not key.endswith(("_min", "_max")) or
                                                    not isinstance(bound, (int, float))):
                    raise ValueError(f"{path}: {key} = {bound!r}: gates are <metric>_min/_max = number")
        return thresholds

    def _layers_everywhere(self):
        stack = [self.table]
        while stack:
            table = stack.pop()
            yield table
            stack.extend(v for v in table.values() if isinstance(v, dict))

    def serialization_tolerance(self) -> float:
        return float(self.table.get("serialization", {}).get("pixel_diff_max", 0))

    def gates(self, model: str, scheme: str, weights: str, cache: str = "none") -> list[Gate]:
        """Most specific wins: default < scheme < model.scheme < weights.default < weights.scheme <
        weights.model.scheme < cache < weights.cache. A lossy cache's bounds come last: what it gives up
        dominates what the scheme does."""
        merged: dict[str, float] = {}
        caches = [("cache", cache), ("weights", weights, "cache", cache)] if cache != "none" else []
        for path in [("default",), ("scheme", scheme), ("model", model, "scheme", scheme),
                     ("weights", weights, "default"), ("weights", weights, "scheme", scheme),
                     ("weights", weights, "model", model, "scheme", scheme), *caches]:
            merged |= {k: v for k, v in _dig(self.table, *path).items() if not isinstance(v, dict)}
        return [Gate(k, float(v)) for k, v in sorted(merged.items())]
