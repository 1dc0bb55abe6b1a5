"""Comparing two results files (BASE, NEW) scenario by scenario: a verdict per scenario, with the model behind it.

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
Memory and SSIM are judged on the first file of each side.

Memory (peak) and SSIM are deterministic enough for plain thresholds. Scenarios that are new, removed, failed or
skipped are listed; failing in NEW a scenario that BASE measured is a regression.
"""

from __future__ import annotations

import math
import re
import statistics
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from diffbench.store.results import (QUALITY_METRICS, Measurement, MismatchError, Results, check_compatible,
                                     describe_failure)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"

STYLES = dict(regression="bold red", failed="red", improved="green", fixed="green", ok="dim", new="cyan",
              removed="yellow", skipped="yellow", inconclusive="magenta")

RUN_NOISE_FILE = Path(__file__).resolve().parents[1] / "data" / "run_noise.toml"
MIN_ROUNDS = 3  # fewer cannot tell a shift from round noise (2 + 2 rounds interleave by chance 1 in 3)
MIN_PROCESSES = 2  # per side, for the between-process rule (one process has no between-process spread)
CONFIDENCE = 0.95  # two-sided confidence of the between-process interval


def parse_percent(text: str) -> float:
    """'5%' → 0.05; anything else (no '%', negative, words) is a ValueError."""
    if not re.fullmatch(rf"{_NUMBER}%", text.strip()):
        raise ValueError(f"expected a percentage such as 5% or 2.5%, got {text!r}")
    return float(text.strip()[:-1]) / 100


def parse_absolute(text: str) -> float:
    """'0.01' → 0.01 (a non-negative plain number); anything else is a ValueError."""
    if not re.fullmatch(_NUMBER, text.strip()):
        raise ValueError(f"expected a non-negative number such as 0.01, got {text!r}")
    return float(text)


def parse_fraction(text: str) -> float:
    """'0.7' → 0.7, a number in [0, 1]; anything else is a ValueError."""
    value = parse_absolute(text)
    if value > 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


@dataclass(frozen=True)
class ProcessNoise:
    """A noise class's between-process sd of log process medians, measured from committed clean reruns, and its
    degrees of freedom (clean process medians minus scenarios)."""

    sd: float
    df: int
    kind: str = ""


def load_process_noise(path: Path | None = None) -> dict[str, ProcessNoise]:
    """Noise class → its measured process sd (classes without `process_sd` have none); empty without the file
    (RUN_NOISE_FILE unless given, read when called: tests of the rules pin their own)."""
    path = path or RUN_NOISE_FILE
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text())
        return {name: ProcessNoise(float(entry["process_sd"]), int(entry["process_df"]), name)
                for name, entry in table.items() if "process_sd" in entry}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected [<class>] process_sd = <sd>, process_df = <df> ({exc})") from None


def load_run_noise(path: Path | None = None) -> dict[str, float]:
    """Noise class → run-to-run allowance (a fraction), from the measured file (as load_process_noise); empty
    when there is none."""
    path = path or RUN_NOISE_FILE
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text())
        return {name: float(entry["allowance"]) for name, entry in table.items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected [<class>] allowance = <fraction> tables ({exc})") from None


@dataclass(frozen=True)
class Tolerances:
    latency: float = 0.05  # relative slowdown of the median
    memory: float = 0.02  # relative growth of peak memory
    ssim: float = 0.01  # absolute drop of the mean SSIM
    host_bound_below: float = 0.8  # GPU busy fraction under which a scenario's latency follows the host CPU
    run_noise: dict[str, float] = field(default_factory=load_run_noise)  # class → run-to-run allowance
    process_noise: dict[str, ProcessNoise] = field(default_factory=load_process_noise)  # class → process sd floor


@dataclass
class Row:
    scenario: str
    status: str  # one of STYLES
    base: Measurement | None = None
    new: Measurement | None = None
    notes: list[str] = field(default_factory=list)
    noise_class: str | None = None

    @property
    def regression(self) -> bool:
        return self.status == "regression"

    @property
    def flagged(self) -> bool:
        """Worth a rerun in fresh processes: a regression or a shift the rounds could not settle."""
        return self.status in ("regression", "inconclusive")


@dataclass
class Comparison:
    base: Results
    new: Results
    rows: list[Row]
    mismatches: list[str]  # gpu / cpu / weights differences (allowed by --allow-mismatch)
    env_changes: list[str]  # other environment differences, for information

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.regression]

    @property
    def flagged(self) -> list[Row]:
        return [row for row in self.rows if row.flagged]


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


def judge_scenario_latency(base: Measurement, new: Measurement, gpu: str | None, t: Tolerances) -> tuple[str, Judgement]:
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


def _measured(base: Measurement, new: Measurement, gpu: str | None, t: Tolerances,
              reruns: list[tuple[Measurement, str | None]] | None = None,
              judged: tuple[str, Judgement] | None = None) -> Row:
    """Latency (confirmed by `reruns` of NEW when given and the latency is flagged; `judged`, the noise class
    and judgement, when already made over several processes), then memory and SSIM."""
    kind, latency = judged or judge_scenario_latency(base, new, gpu, t)
    if reruns is not None and latency.status in ("regression", "inconclusive"):
        latency = confirm(latency, base, reruns, t)
    row = Row(base.scenario, latency.status, base, new, [latency.note] if latency.note else [], kind)
    host = relative(base.number("host_probe_s"), new.number("host_probe_s"))
    if host is not None and latency.status != "ok":  # said, not judged: the rule awaits measured error rates
        row.notes.append(f"host probe {host:+.1%} (the host's own speed: + is slower)")
    growth = relative(base.number("peak_memory_gib"), new.number("peak_memory_gib"))
    if growth is not None and growth > t.memory:
        row.status = "regression"
        row.notes.append(f"peak memory {growth:+.1%}")
    base_ssim, new_ssim = base.quality("ssim"), new.quality("ssim")
    if base_ssim is not None and new_ssim is not None and base_ssim - new_ssim > t.ssim:
        row.status = "regression"
        row.notes.append(f"SSIM {new_ssim - base_ssim:+.4f}")
    elif base_ssim is not None and new_ssim is None:
        row.notes.append("no quality metrics in NEW")
    return row


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _across_processes(scenario: str, bases: Sequence[Results], news: Sequence[Results], gpu: str | None,
                      t: Tolerances) -> Row:
    """A scenario measured in several processes per side: the between-process rule when each side has
    MIN_PROCESSES of them, else the single-run rule on the first measurement of each side (said in a note).
    The row's latency medians are the geometric means of the process medians."""
    bs = [r.measurements[scenario] for r in bases if scenario in r.measurements]
    ns = [r.measurements[scenario] for r in news if scenario in r.measurements]
    if min(len(bs), len(ns)) < MIN_PROCESSES:
        row = _measured(bs[0], ns[0], gpu, t)
        row.notes.append(f"single-run rule: {len(bs)} BASE and {len(ns)} NEW processes measured it "
                         f"({MIN_PROCESSES} a side needed)")
        return row
    shown = [replace(ms[0], median=geometric_mean([m.median for m in ms])) if all(m.median > 0 for m in ms)
             else ms[0] for ms in (bs, ns)]
    return _measured(*shown, gpu, t, judged=judge_scenario_processes(bs, ns, gpu, t))


def _row(scenario: str, base: Results, new: Results, t: Tolerances, reruns: list[Results] = (),
         processes: tuple[Sequence[Results], Sequence[Results]] | None = None) -> Row:
    """`base` and `new` are each side's runs combined (_combined); `processes` the runs themselves, when a
    side has several."""
    b, n = base.measurements.get(scenario), new.measurements.get(scenario)
    failed_before, failures = scenario in base.failures, new.failures.get(scenario, [])
    if b and n and processes:
        row = _across_processes(scenario, *processes, new.gpu, t)
    elif b and n:
        again = [(r.measurements[scenario], r.gpu) for r in reruns if scenario in r.measurements]
        row = _measured(b, n, new.gpu, t, again if reruns else None)
    elif n:
        was = f"skipped in BASE: {base.skipped[scenario]}" if scenario in base.skipped else "not in BASE"
        row = Row(scenario, "new", new=n, notes=[] if failed_before else [was])
    else:
        row = Row(scenario, "skipped" if scenario in new.skipped else "removed", base=b,
                  notes=[] if scenario in new.skipped or failures else ["not in NEW"])
    if scenario in new.skipped:
        row.notes.append(f"skipped in NEW: {new.skipped[scenario]}")
    if failures:  # failing in NEW what BASE ran without failing is a regression
        row.notes += [f"failed in NEW: {describe_failure(f)}" for f in failures]
        if b and not failed_before:
            row.status = "regression"
        elif not row.regression:
            row.status = "failed"
    elif failed_before:
        row.notes.append("failed in BASE")
        row.status = "fixed" if row.status in ("ok", "new") else row.status
    return row


def _scenarios(results: Results) -> list[str]:
    return [*results.measurements, *results.failures, *results.skipped]


# Settings outside the scenario id that change what is measured: a 10-step run is not a faster 28-step one.
SETTINGS = ("steps", "height", "width", "frames", "dtype", "compile_vae", "inductor_profile", "quantized_components")


def setting_changes(base: Measurement, new: Measurement) -> list[str]:
    """The SETTINGS that differ between two measurements of one scenario (keys a file lacks are not compared)."""
    return [f"{key} {base.get(key)!r} → {new.get(key)!r}" for key in SETTINGS
            if key in base.info and key in new.info and base.get(key) != new.get(key)]


# machine_info.diffbench keys that are not environment changes worth a line: compared above, or bookkeeping
# (the run files a merged store came from, the xdist workers of a run).
NOT_ENVIRONMENT = ("gpu", "cpu", "cpu_count", "weights", "sources", "xdist_workers")


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


def _combined(runs: Sequence[Results]) -> Results:
    """Several processes of one side as one Results: each scenario's first measurement, every process's failure
    records (a scenario failing in any process of NEW failed), the first skip reason. One run: itself."""
    if len(runs) == 1:
        return runs[0]
    measurements, failures, skipped = {}, {}, {}
    for run in runs:
        for scenario, m in run.measurements.items():
            measurements.setdefault(scenario, m)
        for scenario, records in run.failures.items():
            failures[scenario] = failures.get(scenario, []) + list(records)
        for scenario, reason in run.skipped.items():
            skipped.setdefault(scenario, reason)
    return Results(Path(" + ".join(str(run.path) for run in runs)), runs[0].env, runs[0].datetime, measurements,
                   failures, skipped)


def compare(base: Results, new: Results, thresholds: Tolerances | None = None, allow_mismatch: bool = False,
            reruns: list[Results] = (), base_also: Sequence[Results] = (),
            new_also: Sequence[Results] = ()) -> Comparison:
    """NEW against BASE. `base_also` and `new_also`: more processes of each side (the same code and selection,
    each its own process), judged by the between-process rule; they exclude `reruns` (confirmation of a single
    NEW run: with several NEW processes, give the reruns as NEW processes)."""
    thresholds = thresholds or Tolerances()
    if reruns and (base_also or new_also):
        raise ValueError("confirmation reruns are for a single NEW run; with several processes per side, "
                         "give them as more NEW processes")
    bases, news = [base, *base_also], [new, *new_also]
    mismatches = check_compatible(base, new) + [line for rerun in reruns for line in check_compatible(base, rerun)]
    mismatches += [f"{other.path}: {line}" for other in [*base_also, *new_also]
                   for line in check_compatible(base, other)]
    if mismatches and not allow_mismatch:
        others = ", ".join(str(other.path) for other in [new, *base_also, *new_also])
        raise MismatchError(f"{base.path} and {others} are not comparable ({'; '.join(mismatches)}); "
                            "pass --allow-mismatch to compare anyway")
    processes = (bases, news) if len(bases) > 1 or len(news) > 1 else None
    base, new = _combined(bases), _combined(news)
    scenarios = list(dict.fromkeys([*_scenarios(base), *_scenarios(new)]))
    changed = {scenario: changes for scenario in scenarios
               if (b := base.measurements.get(scenario))
               and (changes := list(dict.fromkeys(
                   change for other in [*bases[1:], *news] if (n := other.measurements.get(scenario))
                   for change in setting_changes(b, n))))}
    if changed and not allow_mismatch:
        listed = "; ".join(f"{scenario}: {', '.join(changes)}" for scenario, changes in changed.items())
        raise MismatchError(f"{base.path} and {new.path} measured scenarios with different settings ({listed}); "
                            "pass --allow-mismatch to compare anyway")
    env_changes = [f"{key}: {base.env.get(key)} → {new.env.get(key)}"
                   for key in dict.fromkeys([*base.env, *new.env])
                   if key not in NOT_ENVIRONMENT and base.env.get(key) != new.env.get(key)]
    rows = [_row(s, base, new, thresholds, reruns, processes) for s in scenarios]
    for row in rows:
        if row.scenario in changed:
            row.notes.append(f"other settings: {', '.join(changed[row.scenario])}")
    return Comparison(base, new, rows, mismatches, env_changes)


def _change(base: float | None, new: float | None, digits: int = 3, percent: bool = True) -> str:
    if base is None and new is None:
        return "—"
    if base is None or new is None:
        return f"{base:.{digits}f} → —" if new is None else f"— → {new:.{digits}f}"
    delta = f"{relative(base, new):+.1%}" if percent and base else f"{new - base:+.{digits}f}"
    return f"{base:.{digits}f} → {new:.{digits}f} ({delta})"


def _cells(row: Row) -> list[str]:
    def pair(read, *args, **kwargs) -> str:
        return _change(*(read(m) if m else None for m in (row.base, row.new)), *args, **kwargs)

    return [
        pair(lambda m: m.median),
        pair(lambda m: m.number("peak_memory_gib")),
        pair(lambda m: m.number("first_call_s"), 2),
        "\n".join(f"{metric} {pair(lambda m: m.quality(metric), 2 if metric == 'psnr' else 4, percent=False)}"
                  for metric in QUALITY_METRICS
                  if any(m and m.quality(metric) is not None for m in (row.base, row.new))) or "—",
    ]


def render(comparison: Comparison, console: Console) -> None:
    for name, results in (("BASE", comparison.base), ("NEW", comparison.new)):
        console.print(Text(f"{name}: {results.path} ({results.gpu or 'no GPU'}, {results.datetime or 'no date'})"),
                      soft_wrap=True)
    table = Table()
    for header in ("scenario", "latency median (s)", "peak memory (GiB)", "first call (s)", "quality", "noise",
                   "verdict", "details"):
        table.add_column(header, no_wrap=header in ("scenario", "verdict"))
    for row in comparison.rows:
        style = STYLES[row.status]
        table.add_row(Text(row.scenario), *_cells(row), row.noise_class or "—", Text(row.status, style=style),
                      Text("; ".join(row.notes)))
    console.print(table)
    for line in comparison.mismatches:
        console.print(Text(f"warning: comparing across environments ({line})", style="yellow"))
    for line in comparison.env_changes:
        console.print(Text(f"environment {line}", style="dim"))
    regressions = comparison.regressions
    for row in comparison.rows:
        if row.status == "inconclusive":
            console.print(Text(f"INCONCLUSIVE {row.scenario}: {'; '.join(row.notes)}", style="magenta"),
                          soft_wrap=True)
    for row in regressions:
        console.print(Text(f"REGRESSION {row.scenario}: {'; '.join(row.notes)}", style="bold red"), soft_wrap=True)
    counts = Counter(row.status for row in comparison.rows)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no scenarios"
    verdict = "FAIL" if regressions else "OK"
    console.print(Text(f"{verdict}: {summary}", style="bold red" if regressions else "bold green"))
