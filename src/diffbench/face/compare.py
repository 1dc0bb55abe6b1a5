"""Comparing two results files (BASE, NEW) scenario by scenario: a verdict per scenario (latency by the rules of
verdicts.py, memory and SSIM by plain thresholds), and the table that shows it.

Memory (peak) and SSIM are deterministic enough for plain thresholds. Scenarios that are new, removed, failed or
skipped are listed; failing in NEW a scenario that BASE measured is a regression.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from diffbench.face.tolerances import Tolerances
from diffbench.face.verdicts import (MIN_PROCESSES, Judgement, confirm, geometric_mean, judge_scenario_latency,
                                     judge_scenario_processes, relative)
from diffbench.store.results import (QUALITY_METRICS, Measurement, MismatchError, Results, check_compatible,
                                     describe_failure)

STYLES = dict(regression="bold red", failed="red", improved="green", fixed="green", ok="dim", new="cyan",
              removed="yellow", skipped="yellow", inconclusive="magenta")


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
