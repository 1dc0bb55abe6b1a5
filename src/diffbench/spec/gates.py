"""Quality gates as data: the thresholds file's schema, most specific entry wins."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
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

    def value(self, metrics: Mapping[str, Any]) -> float | None:
        stats = metrics.get(self.metric)
        return None if stats is None else stats["min" if self.lower else "max"]

    def passes(self, value: float) -> bool:
        return value >= self.bound if self.lower else value <= self.bound

    def looser(self, bound: float) -> Gate:
        """This gate or one with `bound`, whichever lets more through."""
        return Gate(self.key, min(self.bound, bound) if self.lower else max(self.bound, bound))


def judge(gates: Iterable[Gate], metrics: Mapping[str, Any], number: Callable[[Any], float] = float
          ) -> tuple[list[tuple[Gate, float]], list[Gate]]:
    """What a record's worst prompts fail: (each failed gate with its value, each gate whose metric `metrics` lacks,
    CLIP's where it did not run). `pytest quality` and the reports judge alike; `number` reads a value (a log's
    JSON holds infinity as "inf")."""
    failed, skipped = [], []
    for gate in gates:
        value = gate.value(metrics)
        if value is None:
            skipped.append(gate)
        elif not gate.passes(value := number(value)):
            failed.append((gate, value))
    return failed, skipped


def _values(table: dict, *path: str) -> dict[str, float]:
    """The bounds at one path of the table (its sub-tables left out)."""
    return {k: v for k, v in _dig(table, *path).items() if not isinstance(v, dict)}


def _dig(table: dict, *path: str) -> dict:
    for part in path:
        table = table.get(part, {})
    return table


# Lossy components with bounds of their own, each a scenario field and the table layer of the same name: a step
# cache (`[weights.proxy.cache.NAME]`) or a lossy attention kernel (`[weights.proxy.attention.NAME]`, FP8
# attention). A value with no layer (cache none, a bf16 attention kernel) adds nothing.
LOSSY_COMPONENTS = ("cache", "attention")
# The scheme a lossy component's bounds are derived with (face/calibration.py derive_components): they measure the
# component's own loss, already with that scheme's rounding, so with it they replace the scheme's bounds. With the
# looser of bf16's (the near-lossless family's, int8 included) and its own, FasterCache set to skip twice as
# much passed (4.7 dB below its worst calibrated run, baselines/cpu/quality-calibration/cache-mutations-*).
COMPONENT_BOUNDS_SCHEME = "bf16"


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

    def gates(self, model: str, scheme: str, weights: str, cache: str = "none", attention: str = "sdpa") -> list[Gate]:
        """Most specific wins: default < scheme < model.scheme < weights.default < weights.scheme <
        weights.model.scheme. A lossy component (LOSSY_COMPONENTS: the cache, the attention kernel) has bounds of
        its own (cache.NAME < weights.cache.NAME), derived from its loss with COMPONENT_BOUNDS_SCHEME: with that
        scheme they are the whole allowance; with another, the scenario is held to the looser of them and its
        scheme's, metric by metric, so neither the scheme's loss is charged to the component nor the component's
        to the scheme."""
        merged: dict[str, float] = {}
        for path in [("default",), ("scheme", scheme), ("model", model, "scheme", scheme),
                     ("weights", weights, "default"), ("weights", weights, "scheme", scheme),
                     ("weights", weights, "model", model, "scheme", scheme)]:
            merged |= _values(self.table, *path)
        gates = {k: Gate(k, float(v)) for k, v in merged.items()}
        owns = [_values(self.table, layer, value) | _values(self.table, "weights", weights, layer, value)
                for layer, value in zip(LOSSY_COMPONENTS, (cache, attention))]
        if scheme == COMPONENT_BOUNDS_SCHEME:  # the components' bounds already hold its rounding: they replace its own
            gates = {key: gate for key, gate in gates.items() if not any(key in own for own in owns)}
        for own in owns:  # several components: the looser of theirs
            for key, bound in own.items():
                gates[key] = gates[key].looser(float(bound)) if key in gates else Gate(key, float(bound))
        return [gates[k] for k in sorted(gates)]
