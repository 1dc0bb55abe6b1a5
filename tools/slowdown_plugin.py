"""A pytest plugin that makes chosen scenarios slower on purpose, to measure whether `diffbench compare` catches
a known regression: `PYTHONPATH=tools pytest benchmarks -p slowdown_plugin ...` with

    DIFFBENCH_SLOWDOWN="<scenario id>=<fraction>[,<scenario id>=<fraction>...]"

Each pipeline call of a listed scenario sleeps `fraction` × the call's own duration after it returns (0.10: 10%
slower, whatever the call's speed), so the slowdown is relative and host-independent. `*` as the id means all.
"""

from __future__ import annotations

import os
import time

from diffbench.measure import runner


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
    wanted = slowdowns(os.environ.get("DIFFBENCH_SLOWDOWN", ""))
    original = runner.pipeline_call

    def pipeline_call(built, options):
        call, kwargs = original(built, options)
        fraction = wanted.get(built.scenario.id, wanted.get("*"))
        if not fraction:
            return call, kwargs

        def slower():
            start = time.perf_counter()
            result = call()
            time.sleep(fraction * (time.perf_counter() - start))
            return result

        return slower, kwargs

    runner.pipeline_call = pipeline_call
