"""A pytest plugin that makes chosen scenarios slower on purpose, to measure whether `diffbench compare` and
`diffbench gate` catch a known regression: `PYTHONPATH=tools pytest benchmarks -p slowdown_plugin ...` with

    DIFFBENCH_SLOWDOWN="<scenario id>=<fraction>[:gpu|:host][,<scenario id>=<fraction>...]"

- `host` (the default): each pipeline call of a listed scenario sleeps `fraction` × the call's own duration after
  it returns (0.10: 10% slower, whatever the call's speed): host time, as host work the code added would cost.
- `gpu`: before each call of the denoiser, the GPU spins (`torch.cuda._sleep`, a private torch function: an
  experiment's tool, checked when the plugin starts) for `fraction` × the previous denoiser call's GPU time, so
  the added time is kernel time, as a worse kernel would add. Denoisers compiled as a whole would trace the hooks:
  use it with eager or regional compilation.

`*` as the id means all. Every benchmark slowed records `injected_slowdown` ({where, fraction}) in its results, so
the gate never takes it for a night of its history. It wraps diffbench's hooks (src/diffbench/pytest_plugin/
hookspecs.py): `pytest_diffbench_build` (the GPU spin goes on the built denoiser) and `pytest_diffbench_call`.
"""

from __future__ import annotations

import os
import time

import pytest

WANTED: dict[str, tuple[float, str]] = {}  # scenario id (or *) -> (fraction, where), from DIFFBENCH_SLOWDOWN
INJECTED: dict[str, dict] = {}  # scenario id -> the slowdown injected into it, for its results


def slowdowns(text: str) -> dict[str, tuple[float, str]]:
    """'a=0.1,b=0.3:gpu' → {'a': (0.1, 'host'), 'b': (0.3, 'gpu')}; a bad entry is a ValueError naming it."""
    result = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        scenario, sep, value = entry.rpartition("=")
        fraction, _, where = value.partition(":")
        where = where or "host"
        if not sep or not scenario or where not in ("host", "gpu") or float(fraction) < 0:
            raise ValueError(f"DIFFBENCH_SLOWDOWN: expected <scenario id>=<fraction>[:gpu|:host], got {entry!r}")
        result[scenario] = (float(fraction), where)
    return result


def wanted(scenario) -> tuple[float, str]:
    return WANTED.get(scenario.id, WANTED.get("*", (0.0, "host")))


class GpuSpin:
    """Before each denoiser call, spin the GPU for `fraction` × the previous denoiser call's GPU time (measured with
    CUDA events, read without a sync once they completed)."""

    def __init__(self, denoiser, fraction: float):
        import torch

        self.torch, self.fraction, self.last_ms, self.events = torch, fraction, None, None
        self.cycles_per_ms = _cycles_per_ms(torch)
        denoiser.register_forward_pre_hook(self.before)
        denoiser.register_forward_hook(self.after)

    def before(self, module, args):
        torch = self.torch
        if self.events is not None and self.events[1].query():
            self.last_ms = self.events[0].elapsed_time(self.events[1])
        if self.last_ms:
            torch.cuda._sleep(int(self.fraction * self.last_ms * self.cycles_per_ms))
        self.events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        self.events[0].record()  # after the spin: the next spin is a fraction of the call alone

    def after(self, module, args, output):
        self.events[1].record()


def _cycles_per_ms(torch) -> float:
    """The GPU's spin rate, measured once: cycles of torch.cuda._sleep per millisecond."""
    cycles = 50_000_000
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(1_000_000)  # warm
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    return cycles / start.elapsed_time(end)


def pytest_configure(config) -> None:
    WANTED.clear()
    WANTED.update(slowdowns(os.environ.get("DIFFBENCH_SLOWDOWN", "")))
    INJECTED.clear()
    if any(where == "gpu" for _, where in WANTED.values()):
        import torch

        if not hasattr(torch.cuda, "_sleep"):  # private: present in torch 2.11-2.14, checked rather than assumed
            raise pytest.UsageError("DIFFBENCH_SLOWDOWN ...:gpu needs torch.cuda._sleep, which this torch lacks")


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_build(scenario, options):
    built = yield
    fraction, where = wanted(scenario)
    if fraction and where == "gpu":  # once per built pipeline (its batch sizes share it)
        GpuSpin(getattr(built.pipe, scenario.spec.denoiser), fraction)
    return built


@pytest.hookimpl(wrapper=True)
def pytest_diffbench_call(scenario, call):
    fraction, where = wanted(scenario)
    if fraction:
        INJECTED[scenario.id] = dict(where=where, fraction=fraction)
    start = time.perf_counter()
    result = yield
    if fraction and where == "host":
        time.sleep(fraction * (time.perf_counter() - start))
    return result


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    for bench in output_json["benchmarks"]:
        if (slowed := INJECTED.get(bench["extra_info"].get("scenario"))) is not None:
            bench["extra_info"]["injected_slowdown"] = slowed
