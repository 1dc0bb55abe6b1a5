"""The statistical rules behind `diffbench compare`: one scenario's latency judged BASE against NEW, with the
model behind them.

Latency. A scenario's rounds in one run are x_i = μ · h · ε_i: μ what the code costs, h the run's own factor (the
process, CPU clocks and other load, and for a host-bound scenario the host CPU itself), ε_i round noise. The
rounds of one run share one h, so their spread says nothing about h; only reruns of the same code do.

- Interval: every ratio of a NEW round to a BASE round lies in [min NEW / max BASE, max NEW / min BASE] − 1,
  once the n // 5 most extreme rounds at each end of each run are set aside (none below 5 rounds). With 3 + 3
  exchangeable rounds and no shift, all NEW rounds exceed all BASE ones with probability 1/20, and exceeding
  them by the threshold too makes round noise alone almost never enough.
- Threshold: the larger of --fail-latency and the run-to-run allowance of the scenario's noise class (`gpu`,
  `host-bound`, `cpu`), the largest shift between reruns of the same code measured in committed runs
  (data/run_noise.toml, written by tools/error_rates.py).
- regression: the whole interval above the threshold; improved: below minus it; ok: inside ± the threshold;
  inconclusive: anything else (a median shift the rounds cannot confirm, or rounds too spread to judge the
  threshold), or fewer than MIN_ROUNDS rounds.
- Host-bound GPU scenarios (in BASE, GPU kernel time under `host_bound_below` of the median wall time) run at
  the host CPU's speed: they are judged on their GPU kernel time (host-independent), and a wall-time shift with
  unchanged kernel time is inconclusive, never a regression. A scenario GPU-bound in BASE is judged on its wall
  time, so host work added to it (a sleep, a sync) is caught.
- Confirmation: reruns of NEW in fresh processes (`--confirm RUN ...`) must each judge a flagged scenario the
  same way; a regression they do not all reproduce is not one.

Several processes per side (BASE and NEW each given as k ≥ 2 runs of the same code and selection: the process is
the unit of replication, as in pyperf). Each process contributes one number per scenario, its median round, and
log medians are modelled as log μ + log h + noise, h drawn afresh per process. The statistic is the ratio of the
geometric means of NEW's and BASE's process medians; its interval is Student's t on the log scale, at CONFIDENCE
(two-sided), with sd the larger of the pooled sample sd of the log medians of both sides (df = k_b + k_n - 2) and
the noise class's process sd (data/run_noise.toml `process_sd`, with its own `process_df`, both written by
tools/error_rates.py from the committed clean reruns); the df are those of whichever sd is used. Why a floor: an
sd from 3 + 3 processes is itself very uncertain (4 df), and on a machine whose process factor clusters (the
2-core CPU: bf16 processes near 0.177 s or near 0.214 s) three fast against three slow processes show a tiny
within-side spread and a shift of 16-22%, so the sample sd alone makes the interval far too narrow. The class sd,
measured once from many reruns on the machine (as pyperf recommends calibrating on it), is the smallest
between-process noise a comparison there can honestly assume. A class without one (too few reruns, e.g. the GPU
one) uses the sample sd alone. The threshold is --fail-latency alone: the between-process noise the run-noise
allowance stands for is inside the interval. regression: the interval's lower end above +threshold; improved: its upper
end below -threshold; ok: the whole interval within ± the threshold; inconclusive otherwise. Host-bound
scenarios are judged the same way on their per-process GPU kernel time. A scenario measured by fewer than
MIN_PROCESSES processes on either side falls back to the single-run rule above on the first file of each side.
(compare.py judges memory and SSIM on the first file of each side.)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from diffbench.face.tolerances import ProcessNoise, Tolerances
from diffbench.store.results import Measurement

MIN_ROUNDS = 3  # fewer cannot tell a shift from round noise (2 + 2 rounds interleave by chance 1 in 3)
MIN_PROCESSES = 2  # per side, for the between-process rule (one process has no between-process spread)
CONFIDENCE = 0.95  # two-sided confidence of the between-process interval


def relative(base: float | None, new: float | None) -> float | None:
    return None if base is None or new is None or base == 0 else new / base - 1


def gpu_busy(m: Measurement) -> float | None:
    """GPU kernel time (the profiled call) over the median wall time of the timed rounds."""
    kernel_s = m.number("gpu_kernel_s")
    return kernel_s / m.median if kernel_s is not None and m.median > 0 else None


def noise_class(base: Measurement, new: Measurement, gpu: str | None, t: Tolerances) -> str:
    """`cpu` without a GPU; `host-bound` when BASE kept its GPU busy less than t.host_bound_below (NEW's busy
    fraction when BASE has none). BASE decides: a scenario that kept its GPU busy there and idles it in NEW
    has gained host work (a sleep, a sync, Python overhead), which its wall time must show."""
    return processes_class([base], [new], gpu, t)


def busy_of(ms: Sequence[Measurement]) -> float | None:
    """The median GPU busy fraction of the processes that recorded one (None when none did)."""
    fractions = [busy for m in ms if (busy := gpu_busy(m)) is not None]
    return statistics.median(fractions) if fractions else None


def processes_class(bases: Sequence[Measurement], news: Sequence[Measurement], gpu: str | None, t: Tolerances) -> str:
    """noise_class over several processes per side: BASE's median busy fraction (NEW's when BASE has none)."""
    if gpu is None:
        return "cpu"
    busy = busy_of(bases)
    busy = busy_of(news) if busy is None else busy
    return "host-bound" if busy is not None and busy < t.host_bound_below else "gpu"


@dataclass(frozen=True)
class Judgement:
    status: str  # regression, improved, ok, inconclusive
    note: str


def spread_of(m: Measurement) -> tuple[float, float]:
    """The fastest and slowest round, once the n // 5 most extreme rounds at each end are set aside: one stray
    round in five (a CPU run's page fault, a timer) says nothing about the code. Without the rounds: min, max."""
    if not m.rounds:
        return m.low, m.high
    ordered, trim = sorted(m.rounds), len(m.rounds) // 5
    return ordered[trim], ordered[len(ordered) - 1 - trim]


def judge_latency(base: Measurement, new: Measurement, threshold: float) -> Judgement:
    """The interval rule of the module docstring, on wall-clock rounds."""
    shift = relative(base.median, new.median) or 0.0
    if min(base.count, new.count) < MIN_ROUNDS or None in (base.low, base.high, new.low, new.high):
        return Judgement("inconclusive", f"latency {shift:+.1%}: too few rounds to judge ({base.count} and "
                                         f"{new.count}; use --rounds {MIN_ROUNDS} or more)")
    (base_low, base_high), (new_low, new_high) = spread_of(base), spread_of(new)
    low, high = new_low / base_high - 1, new_high / base_low - 1
    interval = f"rounds' ratios {low:+.1%}..{high:+.1%}, threshold ±{threshold:.1%}"
    if low > threshold:
        return Judgement("regression", f"latency {shift:+.1%} ({interval})")
    if high < -threshold:
        return Judgement("improved", f"latency {shift:+.1%} ({interval})")
    if -threshold <= low and high <= threshold:
        return Judgement("ok", "")
    why = ("a shift the rounds do not confirm" if abs(shift) > threshold
           else "the rounds cannot rule out a change beyond the threshold")
    return Judgement("inconclusive", f"latency {shift:+.1%}: {why} ({interval}); rerun to confirm")


def _host_bound(busy: float, wall: Judgement, kernel: Judgement | None) -> Judgement:
    """A host-bound scenario's verdict from its wall-time and its GPU-kernel-time judgements (the kernel note
    always set): the kernel time decides; a wall-time shift with kernel time within the threshold follows the
    host CPU and is inconclusive, never a regression. Without kernel time, the wall-time judgement."""
    where = f"host-bound (GPU busy {busy:.0%})"
    if kernel is None:
        return Judgement(wall.status, f"{where}: {wall.note}" if wall.note else "")
    if kernel.status != "ok":
        return Judgement(kernel.status, f"{where}: {kernel.note}; {wall.note or 'wall time within'}")
    if wall.status in ("regression", "improved", "inconclusive"):
        return Judgement("inconclusive", f"{where}: {kernel.note}, so the wall-time shift follows the host CPU; "
                                         f"{wall.note}")
    return wall


def judge_scenario_latency(base: Measurement, new: Measurement, gpu: str | None,
                           t: Tolerances) -> tuple[str, Judgement]:
    """The scenario's noise class and its latency judgement (host-bound ones on their GPU kernel time)."""
    kind = noise_class(base, new, gpu, t)
    threshold = max(t.latency, t.run_noise.get(kind, 0.0))
    wall = judge_latency(base, new, threshold)
    if kind != "host-bound":
        return kind, wall
    shift = relative(base.number("gpu_kernel_s"), new.number("gpu_kernel_s"))
    kernel = None if shift is None else Judgement(
        ("regression" if shift > 0 else "improved") if abs(shift) > threshold else "ok",
        f"GPU kernel time {shift:+.1%}")
    return kind, _host_bound(busy_of([base]) if busy_of([base]) is not None else busy_of([new]), wall, kernel)


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


def judge_scenario_processes(bases: Sequence[Measurement], news: Sequence[Measurement], gpu: str | None,
                             t: Tolerances) -> tuple[str, Judgement]:
    """judge_scenario_latency for several processes per side (one measurement of the scenario from each): the
    between-process rule on the process medians at the --fail-latency threshold (no run-noise allowance: the
    processes measure that noise), its sd at least the class's process sd; host-bound scenarios on their
    processes' GPU kernel time (sample sd only: the class sd is one of wall times)."""
    kind = processes_class(bases, news, gpu, t)
    wall = judge_processes([m.median for m in bases], [m.median for m in news], t.latency,
                           floor=t.process_noise.get(kind))
    if kind != "host-bound":
        return kind, wall
    kernels_b, kernels_n = ([m.number("gpu_kernel_s") for m in ms] for ms in (bases, news))
    kernel = None
    if None not in kernels_b and None not in kernels_n:
        kernel = judge_processes(kernels_b, kernels_n, t.latency, "GPU kernel time")
        if kernel.status == "ok":  # the host-bound note needs the kernel figures even when they are fine
            interval = process_interval(kernels_b, kernels_n)
            kernel = Judgement("ok", interval.describe("GPU kernel time", t.latency))
    busy = busy_of(bases) if busy_of(bases) is not None else busy_of(news)
    return kind, _host_bound(busy, wall, kernel)


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def confirm(latency: Judgement, base: Measurement, reruns: list[tuple[Measurement, str | None]],
            t: Tolerances) -> Judgement:
    """Judge a flagged latency again on each rerun of NEW (measurement, its GPU): a regression stands only if
    every rerun finds it, a shift no rerun finds is gone, and anything between stays inconclusive."""
    if not reruns:
        return Judgement(latency.status, f"{latency.note}; not rerun")
    statuses = [judge_scenario_latency(base, new, gpu, t)[1].status for new, gpu in reruns]
    if all(status == latency.status for status in statuses):
        status = latency.status
    elif all(status in ("ok", "improved") for status in statuses):
        status = "ok"
    else:
        status = "inconclusive"
    return Judgement(status, f"{latency.note}; confirmation: {', '.join(statuses)} in {len(statuses)} rerun(s)")
