"""The statistical rules behind `diffbench compare`: a value judged BASE against NEW, with the model behind them
(face/channels.py applies them to each channel of a scenario's time: GPU work, host time, or the wall time).

A channel's rounds in one run are x_i = μ · h · ε_i: μ what the code costs, h the run's own factor (the process,
clocks, other load), ε_i round noise. The rounds of one run share one h, so their spread says nothing about h; only
reruns of the same code do.

- Interval: every NEW round against every BASE round lies in [min NEW / max BASE, max NEW / min BASE] − 1, once
  the n // 5 most extreme rounds at each end of each run are set aside (none below 5 rounds). With 3 + 3
  exchangeable rounds and no shift, all NEW rounds exceed all BASE ones with probability 1/20 (1/252 for 5 + 5
  untrimmed; trimmed, 5 + 5 rounds clear each other's extremes with probability 26/252), and exceeding them by the
  threshold too makes round noise alone almost never enough.
- Threshold: the larger of --fail-latency and the channel's run-to-run allowance (data/run_noise.toml, the
  smallest threshold no committed pair of same-code runs exceeds, written by `diffbench error-rates`).
- regression: the whole interval above the threshold; improved: below minus it; ok: inside ± the threshold;
  inconclusive: anything else (a shift the rounds cannot confirm, or rounds too spread to judge the threshold), or
  fewer than MIN_ROUNDS rounds.
- Confirmation: reruns of NEW in fresh processes (`--confirm RUN ...`) must each judge a flagged scenario the same
  way; a regression they do not all reproduce is not one.

Several processes per side (BASE and NEW each given as k ≥ 2 runs of the same code and selection: the process is
the unit of replication, as in pyperf). Each process contributes one value per channel, and log values are
modelled as log μ + log h + noise, h drawn afresh per process. The statistic is the ratio of the geometric means
of NEW's and BASE's process values; its interval is Student's t on the log scale, at CONFIDENCE (two-sided), with
sd the larger of the pooled sample sd of both sides (df = k_b + k_n - 2) and the noise class's process sd
(data/run_noise.toml `process_sd`, with its own `process_df`) where the class has one; the df are those of
whichever sd is used. Why a floor: an sd from 3 + 3 processes is itself very uncertain (4 df), and on a machine
whose process factor clusters (the 2-core CPU: bf16 processes near 0.177 s or near 0.214 s) three fast against
three slow processes show a tiny within-side spread and a shift of 16-22%. The threshold is --fail-latency alone:
the between-process noise is inside the interval. A scenario measured by fewer than MIN_PROCESSES processes on
either side falls back to the single-run rule on the first file of each side.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from diffbench.face.tolerances import ProcessNoise
from diffbench.store.results import Measurement

MIN_ROUNDS = 3  # fewer cannot tell a shift from round noise (2 + 2 rounds interleave by chance 1 in 3)
MIN_PROCESSES = 2  # per side, for the between-process rule (one process has no between-process spread)
CONFIDENCE = 0.95  # two-sided confidence of the between-process interval


def relative(base: float | None, new: float | None) -> float | None:
    return None if base is None or new is None or base == 0 else new / base - 1


@dataclass(frozen=True)
class Judgement:
    status: str  # regression, improved, ok, inconclusive
    note: str


def trimmed(values: Sequence[float]) -> tuple[float, float]:
    """The smallest and largest value, once the n // 5 most extreme at each end are set aside: one stray round in
    five (a CPU run's page fault, a timer) says nothing about the code."""
    ordered, trim = sorted(values), len(values) // 5
    return ordered[trim], ordered[len(ordered) - 1 - trim]


def spread_of(m: Measurement) -> tuple[float, float]:
    """The fastest and slowest wall-time round, trimmed; without the rounds: min, max."""
    return trimmed(m.rounds) if m.rounds else (m.low, m.high)


def judge_latency(base: Measurement, new: Measurement, threshold: float) -> Judgement:
    """The interval rule of the module docstring, on wall-clock rounds."""
    shift = relative(base.median, new.median) or 0.0
    if None in (base.low, base.high, new.low, new.high):
        return too_few_rounds("latency", shift, base, new)
    (base_low, base_high), (new_low, new_high) = spread_of(base), spread_of(new)
    return judge_interval("latency", shift, new_low / base_high - 1, new_high / base_low - 1, threshold, base, new,
                          "rounds' ratios")


def too_few_rounds(what: str, shift: float, base: Measurement, new: Measurement) -> Judgement:
    return Judgement("inconclusive", f"{what} {shift:+.1%}: too few rounds to judge ({base.count} and {new.count}; "
                                     f"use --rounds {MIN_ROUNDS} or more)")


def judge_interval(what: str, shift: float, low: float, high: float, threshold: float, base: Measurement,
                   new: Measurement, span: str = "rounds") -> Judgement:
    """The interval rule on a shift and its interval (every NEW round against every BASE round): regression when the
    whole interval is above the threshold, improved below minus it, ok inside, inconclusive otherwise or with fewer
    than MIN_ROUNDS rounds; the note names `what` moved."""
    if min(base.count, new.count) < MIN_ROUNDS:
        return too_few_rounds(what, shift, base, new)
    interval = f"{span} {low:+.1%}..{high:+.1%}, threshold ±{threshold:.1%}"
    if low > threshold:
        return Judgement("regression", f"{what} {shift:+.1%} ({interval})")
    if high < -threshold:
        return Judgement("improved", f"{what} {shift:+.1%} ({interval})")
    if -threshold <= low and high <= threshold:
        return Judgement("ok", "")
    why = ("a shift the rounds do not confirm" if abs(shift) > threshold
           else "the rounds cannot rule out a change beyond the threshold")
    return Judgement("inconclusive", f"{what} {shift:+.1%}: {why} ({interval}); rerun to confirm")


@dataclass(frozen=True)
class ProcessInterval:
    """NEW's geometric mean of process values over BASE's, − 1, with its confidence interval (also − 1)."""

    shift: float
    low: float
    high: float
    counts: tuple[int, int]  # BASE and NEW processes
    confidence: float
    sd: float = 0.0  # of the log values, the one the interval used
    floor: ProcessNoise | None = None  # the class's process sd, when it was larger than the sample sd and used

    def describe(self, what: str, threshold: float) -> str:
        sd = (f"; sd {self.sd:.3f}, the {self.floor.kind or 'class'} class's process sd ({self.floor.df} df), over "
              f"the processes' own" if self.floor else "")
        return (f"{what} {self.shift:+.1%} over {self.counts[0]} + {self.counts[1]} processes ({self.confidence:.0%} "
                f"interval {self.low:+.1%}..{self.high:+.1%}, threshold ±{threshold:.1%}{sd})")


def process_interval(base: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE,
                     floor: ProcessNoise | None = None) -> ProcessInterval | None:
    """Student's t interval of the difference of mean log values, as ratios − 1: pooled sample sd with
    df = k_b + k_n - 2, or `floor` (the class's process sd) with its own df when that is larger.
    None with fewer than MIN_PROCESSES values on a side or a value that is not a positive finite number."""
    if min(len(base), len(new)) < MIN_PROCESSES or not all(math.isfinite(x) and x > 0 for x in [*base, *new]):
        return None
    from scipy import stats  # here: `diffbench compare` of single runs never pays for importing scipy

    logs_b, logs_n = [math.log(x) for x in base], [math.log(x) for x in new]
    kb, kn = len(logs_b), len(logs_n)
    df = kb + kn - 2
    sd = math.sqrt(((kb - 1) * statistics.variance(logs_b) + (kn - 1) * statistics.variance(logs_n)) / df)
    used = floor if floor is not None and floor.sd > sd else None
    if used:
        sd, df = used.sd, used.df
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * sd * math.sqrt(1 / kb + 1 / kn)
    diff = statistics.fmean(logs_n) - statistics.fmean(logs_b)
    return ProcessInterval(math.expm1(diff), math.expm1(diff - half), math.expm1(diff + half), (kb, kn), confidence,
                           sd, used)


def judge_processes(base: Sequence[float], new: Sequence[float], threshold: float, what: str = "latency",
                    confidence: float = CONFIDENCE, floor: ProcessNoise | None = None) -> Judgement:
    """The between-process rule of the module docstring on one value per process (its median round, or its GPU
    kernel time), `floor` the class's process sd; the note is set for every status but ok."""
    interval = process_interval(base, new, confidence, floor)
    if interval is None:
        return Judgement("inconclusive", f"{what}: too few processes or no positive value to judge "
                                         f"({len(base)} and {len(new)}; {MIN_PROCESSES} or more a side)")
    note = interval.describe(what, threshold)
    if interval.low > threshold:
        return Judgement("regression", note)
    if interval.high < -threshold:
        return Judgement("improved", note)
    if -threshold <= interval.low and interval.high <= threshold:
        return Judgement("ok", "")
    why = ("a shift the processes do not confirm" if abs(interval.shift) > threshold
           else "the processes cannot rule out a change beyond the threshold")
    return Judgement("inconclusive", f"{note}: {why}; run more processes")


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def confirm(latency: Judgement, statuses: Sequence[str]) -> Judgement:
    """A flagged verdict judged again on each rerun of NEW (`statuses`, one per rerun): a regression stands only
    if every rerun finds it, a shift no rerun finds is gone, and anything between stays inconclusive."""
    if not statuses:
        return Judgement(latency.status, f"{latency.note}; not rerun")
    if all(status == latency.status for status in statuses):
        status = latency.status
    elif all(status in ("ok", "improved") for status in statuses):
        status = "ok"
    else:
        status = "inconclusive"
    return Judgement(status, f"{latency.note}; confirmation: {', '.join(statuses)} in {len(statuses)} rerun(s)")
