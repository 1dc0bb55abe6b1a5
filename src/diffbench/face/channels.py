"""The channels a scenario's time is judged on, each against its own measured allowance.

A GPU scenario's call is GPU work plus host time: the kernels the GPU runs, and everything else the wall clock
sees (host work, launches, the GPU's idle gaps). They move for different reasons, so each is its own channel:

- `gpu` (GPU work): the kernel time of a call, the median of the run's profiled calls (`gpu_kernel_rounds_s`).
  It follows the code and the GPU, not the host: on the H100, four processes of eager fp8dqrow moved its wall time
  by 47% and its kernel time by 0.05%.
- `host` (host time): the median wall time less the GPU time. It follows the host. Its shifts are stated as a
  fraction of BASE's wall time ("host time +9%": the call took 9% of its time longer on the host side), so a
  scenario's two shifts add up to its wall time's, whatever its busy fraction: no scenario is judged on wall time
  alone because of how busy BASE kept its GPU.
- `wall` (wall time): a run without kernel time (a CPU run, or a GPU file written before kernel time was recorded)
  has this one channel; on a CPU its class is `cpu`.

Each channel's interval comes from the rounds (verdicts.py's rule: every NEW value against every BASE value, the
n // 5 most extreme at each end set aside) and its threshold is the larger of --fail-latency and the channel's
run-to-run allowance (data/run_noise.toml: the smallest threshold no committed pair of same-code runs exceeds,
written by `diffbench error-rates`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from diffbench.face.verdicts import Judgement, judge_interval, judge_latency, judge_processes, relative, trimmed
from diffbench.store.results import Measurement

@dataclass(frozen=True)
class Channel:
    name: str  # its noise class in data/run_noise.toml, and the key of its verdicts
    label: str  # how a verdict names it
    # the rounds a run holds of it: (values, the call's reference wall time); the shift is value over BASE's
    # reference (`ratio`) or the difference over BASE's wall time (host time)
    rounds: Callable[[Measurement], tuple[float, ...]]
    ratio: bool = True

    def shift(self, base: Measurement, new: Measurement) -> float | None:
        b, n = self.rounds(base), self.rounds(new)
        if not b or not n:
            return None
        if self.ratio:
            return relative(statistics.median(b), statistics.median(n))
        return (statistics.median(n) - statistics.median(b)) / base.median

    def interval(self, base: Measurement, new: Measurement) -> tuple[float, float]:
        """Every NEW round against every BASE round (the extremes trimmed), as shifts."""
        (b_low, b_high), (n_low, n_high) = trimmed(self.rounds(base)), trimmed(self.rounds(new))
        if self.ratio:
            return n_low / b_high - 1, n_high / b_low - 1
        return (n_low - b_high) / base.median, (n_high - b_low) / base.median


def _wall(m: Measurement) -> tuple[float, ...]:
    return m.rounds or tuple(x for x in (m.low, m.median, m.high) if x is not None)


def _host(m: Measurement) -> tuple[float, ...]:
    gpu = m.gpu_s
    return () if gpu is None else tuple(x - gpu for x in _wall(m))


GPU = Channel("gpu-time", "GPU work", lambda m: m.gpu_rounds)
HOST = Channel("host-time", "host time", _host, ratio=False)
WALL = Channel("wall", "latency", _wall)
CHANNELS = {c.name: c for c in (GPU, HOST, WALL)}


def channels_of(base: Measurement, new: Measurement) -> tuple[Channel, ...]:
    """GPU work and host time where both runs recorded kernel time, else the wall time alone."""
    return (GPU, HOST) if base.gpu_s and new.gpu_s else (WALL,)


def wall_class(gpu: str | None) -> str:
    """The wall channel's noise class: `cpu` without a GPU, `gpu` for GPU files without kernel time."""
    return "gpu" if gpu else "cpu"


def judge_channel(channel: Channel, base: Measurement, new: Measurement, threshold: float) -> Judgement:
    """The interval rule on one channel; the note names the channel and its shift."""
    if channel is WALL:
        return judge_latency(base, new, threshold)
    shift = channel.shift(base, new) or 0.0  # (judge_interval says when the rounds are too few)
    return judge_interval(channel.label, shift, *channel.interval(base, new), threshold, base, new)


def combined(judgements: Sequence[Judgement]) -> Judgement:
    """A scenario's verdict from its channels': a regression in either is one; then inconclusive; then improved."""
    notes = "; ".join(j.note for j in judgements if j.note)
    for status in ("regression", "inconclusive", "improved"):
        if any(j.status == status for j in judgements):
            return Judgement(status, notes)
    return Judgement("ok", notes)


def judge_scenario(base: Measurement, new: Measurement, gpu: str | None, latency: float,
                   allowances: dict[str, float]) -> tuple[str, Judgement]:
    """The scenario's channels ('gpu-time+host-time', or the wall class) and its verdict over them."""
    chosen = channels_of(base, new)
    names = [wall_class(gpu) if c is WALL else c.name for c in chosen]
    judgements = [judge_channel(c, base, new, max(latency, allowances.get(name, 0.0)))
                  for c, name in zip(chosen, names)]
    return "+".join(names), combined(judgements)


def judge_scenario_processes(bases: Sequence[Measurement], news: Sequence[Measurement], gpu: str | None,
                             latency: float, floors: dict) -> tuple[str, Judgement]:
    """Several processes a side: the between-process rule on each channel's per-process value (GPU time on the
    log scale; host time as a fraction of BASE's geometric mean wall time, shifted to stay positive; the wall time
    with its class's process sd as the floor)."""
    if all(m.gpu_s for m in [*bases, *news]):
        gpu_b, gpu_n = [m.gpu_s for m in bases], [m.gpu_s for m in news]
        wall = statistics.fmean(m.median for m in bases)
        # the host share as 1 + host/wall keeps the between-process rule's log scale meaningful (a ratio of it is
        # close to the additive shift over the wall time)
        host_b, host_n = ([1 + m.host_s / wall for m in ms] for ms in (bases, news))
        judgements = [judge_processes(gpu_b, gpu_n, latency, GPU.label),
                      judge_processes(host_b, host_n, latency, HOST.label)]
        return f"{GPU.name}+{HOST.name}", combined(judgements)
    kind = wall_class(gpu)
    return kind, judge_processes([m.median for m in bases], [m.median for m in news], latency,
                                 floor=floors.get(kind))
