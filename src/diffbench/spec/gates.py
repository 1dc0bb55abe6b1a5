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

    def looser(self, bound: float) -> Gate:
        """This gate or one with `bound`, whichever lets more through."""
        return Gate(self.key, min(self.bound, bound) if self.lower else max(self.bound, bound))


def _values(table: dict, *path: str) -> dict[str, float]:
    """The bounds at one path of the table (its sub-tables left out)."""
    return {k: v for k, v in _dig(table, *path).items() if not isinstance(v, dict)}


def _dig(table: dict, *path: str) -> dict:
    for part in path:
        table = table.get(part, {})
    return table


# The scheme a lossy cache's bounds are derived with (face/calibration.py derive_caches): they measure the
# cache's own loss, already with that scheme's rounding, so with it they replace the scheme's bounds. With the
# looser of bf16's (the near-lossless family's, int8 included) and its own, FasterCache set to skip twice as
# much passed (4.7 dB below its worst calibrated run, baselines/cpu/quality-calibration/cache-mutations-*).
CACHE_BOUNDS_SCHEME = "bf16"


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
        weights.model.scheme. A lossy cache has bounds of its own (cache < weights.cache), derived from its loss
        with CACHE_BOUNDS_SCHEME: with that scheme they are the whole allowance; with another, the scenario is held
        to the looser of them and its scheme's, metric by metric, so neither the scheme's loss is charged to the
        cache nor the cache's to the scheme."""
        merged: dict[str, float] = {}
        for path in [("default",), ("scheme", scheme), ("model", model, "scheme", scheme),
                     ("weights", weights, "default"), ("weights", weights, "scheme", scheme),
                     ("weights", weights, "model", model, "scheme", scheme)]:
            merged |= _values(self.table, *path)
        gates = {k: Gate(k, float(v)) for k, v in merged.items()}
        if cache != "none":
            own = _values(self.table, "cache", cache) | _values(self.table, "weights", weights, "cache", cache)
            for key, value in own.items():
                gates[key] = gates[key].looser(float(value)) if key in gates and scheme != CACHE_BOUNDS_SCHEME \
                    else Gate(key, float(value))
        return [gates[k] for k in sorted(gates)]
