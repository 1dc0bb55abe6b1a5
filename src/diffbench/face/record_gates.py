"""The quality gates in force for a stored quality record: data/thresholds.toml as `pytest quality` resolves it
today for the record's weights, scheme and lossy components, not the bounds the record was judged by when it ran
(a face command reads logs older than the bounds)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from diffbench.spec.dimensions import BY_NAME
from diffbench.spec.gates import DEFAULT_THRESHOLDS, Gate, Thresholds, judge
from diffbench.store.quality_logs import number


@functools.cache
def _thresholds() -> Thresholds:
    return Thresholds.load(DEFAULT_THRESHOLDS)


def gates_of(record: Mapping[str, Any]) -> list[Gate]:
    """A record names its model and scheme; an unset cache or attention (a record from before the dimension) is
    its dimension's default."""
    cache, attention = (record.get(name, BY_NAME[name].default) for name in ("cache", "attention"))
    return _thresholds().gates(record["model"], record["scheme"], record.get("weights", "synthetic"),
                               cache=cache, attention=attention)


def failed(record: Mapping[str, Any]) -> list[tuple[Gate, float]]:
    """The gates in force that the record's worst prompt fails, each with its value. A metric it lacks (CLIP's,
    where it did not run) is not judged, as `pytest quality` skips it."""
    failures, _ = judge(gates_of(record), record.get("metrics") or {}, number)
    return failures
