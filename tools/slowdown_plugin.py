"""A pytest plugin that makes chosen scenarios slower on purpose, to measure whether `diffbench compare` catches
a known regression: `PYTHONPATH=tools pytest benchmarks -p slowdown_plugin ...` with

    DIFFBENCH_SLOWDOWN="<scenario id>=<fraction>[,<scenario id>=<fraction>...]"

Each pipeline call of a listed scenario sleeps `fraction` × the call's own duration after it returns (0.10: 10%
slower, whatever the call's speed), so the slowdown is relative and host-independent. `*` as the id means all.

It wraps diffbench's `pytest_diffbench_call` hook (src/diffbench/pytest_plugin/hookspecs.py): one function
around each call.
"""

from __future__ import annotations

import os
import time

import pytest

WANTED: dict[str, float] = {}  # scenario id (or *) -> fraction, from DIFFBENCH_SLOWDOWN at configure


def slowdowns(text: str) -> dict[str, float]:
    """'a=0.1,b=0.3' → {'a': 0.1, 'b': 0.3}; a bad entry is a ValueError naming it."""
    result = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        scenario, sep, fraction = entry.rpartition("=")
        if not sep or not scenario or float(fraction) < 0:
            raise ValueError(f"DIFFBENCH_SLOWDOWN: expected <scenario id>=<fraction>, got {entry!r}")
        result[scenario] = float(fraction)
    return result


def pytest_configure(config) -> None:
    WANTED.clear()
    WANTED.update(slowdowns(os.environ.get("DIFFBENCH_SLOWDOWN", "")))


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_call(scenario, call):
    fraction = WANTED.get(scenario.id, WANTED.get("*"))
    start = time.perf_counter()
    result = yield
    if fraction:
        time.sleep(fraction * (time.perf_counter() - start))
    return result
