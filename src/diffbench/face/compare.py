"""Comparing two results files (BASE, NEW) scenario by scenario: a verdict per scenario (its time channels by the
rules of channels.py and verdicts.py, memory and SSIM by plain thresholds), and the table that shows it.

Memory (peak) and SSIM are deterministic enough for plain thresholds. Scenarios that are new, removed, failed or
skipped are listed; failing in NEW a scenario that BASE measured is a regression. A comparison that judged
nothing (NEW measured none of BASE's scenarios, NEW is BASE itself) or left one of BASE's scenarios unmeasured is
`incomplete`: the gate must not pass on it (face/cli.py's exit status 3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from diffbench.face import channels
from diffbench.face.tolerances import Tolerances
from diffbench.face.verdicts import MIN_PROCESSES, Judgement, confirm, geometric_mean, relative
from diffbench.store.results import (Measurement, MismatchError, Results, check_compatible,
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
    partial: bool = False  # NEW measures a part of BASE's scenarios on purpose: the others are not missing
    same_run: bool = False  # NEW is BASE itself (the same file, or the same run's data)

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.regression]

    @property
    def missing(self) -> list[Row]:
        """BASE's measured scenarios NEW did not measure (removed or skipped; a failure is a regression)."""
        return [row for row in self.rows if row.base and not row.new and row.status in ("removed", "skipped")]

    @property
    def incomplete(self) -> list[str]:
        """Why this comparison cannot pass as a gate, one line each (empty: it judged what BASE gates)."""
        if self.same_run:
            return ["NEW is BASE itself: nothing was judged"]
        if not self.new.measurements:
            return ["NEW measured no scenario"]
        if not any(row.base and row.new for row in self.rows):
            return ["BASE and NEW measured no scenario in common"]
        if self.missing and not self.partial:
            names = ", ".join(row.scenario for row in self.missing[:5])
            more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
            return [f"{len(self.missing)} of BASE's scenarios not measured in NEW ({names}{more}); pass --partial "
                    "if NEW measures a part of them on purpose"]
        return []

    @property
    def flagged(self) -> list[Row]:
        return [row for row in self.rows if row.flagged]


def judge_time(base: Measurement, new: Measurement, gpu: str | None, t: Tolerances) -> tuple[str, Judgement]:
    """The scenario's time channels and its verdict over them (channels.py)."""
    return channels.judge_scenario(base, new, gpu, t.latency, t.run_noise)


def _measured(base: Measurement, new: Measurement, gpu: str | None, t: Tolerances,
              reruns: list[tuple[Measurement, str | None]] | None = None,
              judged: tuple[str, Judgement] | None = None) -> Row:
    """Time (confirmed by `reruns` of NEW when given and flagged; `judged`, the channels and judgement, when already
    made over several processes), then memory and SSIM."""
    kind, latency = judged or judge_time(base, new, gpu, t)
    if reruns is not None and latency.status in ("regression", "inconclusive"):
        latency = confirm(latency, [judge_time(base, rerun, rerun_gpu, t)[1].status for rerun, rerun_gpu in reruns])
    row = Row(base.scenario, latency.status, base, new, [latency.note] if latency.note else [], kind)
    host = relative(base.number("host_probe_s"), new.number("host_probe_s"))
    if host is not None and latency.status != "ok":  # said, not judged: no rule on it has measured error rates
        moved = "unchanged" if abs(host) < 0.005 else "slower" if host > 0 else "faster"
        row.notes.append(f"host probe {host:+.1%}: the host's single-thread dispatch {moved}")
    if gpu is None and latency.status in ("regression", "inconclusive", "improved"):
        allowance = t.run_noise.get("cpu", 0.0)
        row.notes.append(f"one CPU run a side settles only shifts beyond {max(t.latency, allowance):.0%} (the cpu "
                         "class's run-to-run allowance); run several processes a side (--base-also/--new-also) "
                         "in one session to settle a smaller one")
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
    return _measured(*shown, gpu, t, judged=channels.judge_scenario_processes(bs, ns, gpu, t.latency,
                                                                              t.process_noise))


def _row(scenario: str, base: Results, new: Results, t: Tolerances, reruns: list[Results] = (),
         processes: tuple[Sequence[Results], Sequence[Results]] | None = None) -> Row:
    """`base` and `new` are each side's runs combined (_combined); `processes` the runs themselves, when a
    side has several."""
    b, n = base.measurements.get(scenario), new.measurements.get(scenario)
    failed_before = any(map(is_failure, base.failures.get(scenario, [])))
    failures = [f for f in new.failures.get(scenario, []) if is_failure(f)]
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


# The quality suite fails a test on purpose when it writes a missing reference (pytest-regressions' way): that run's
# scenario did not fail, its reference was made.
DELIBERATE = ("ReferenceWritten",)


def is_failure(record: dict) -> bool:
    return record.get("error_type") not in DELIBERATE


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


def same_run(base: Results, new: Results) -> bool:
    """NEW is BASE: the same file, or a copy of the same run (its date and measurements)."""
    def measured(run: Results) -> dict:
        return {s: (m.median, m.low, m.high, m.rounds, m.info) for s, m in run.measurements.items()}

    return base.path.resolve() == new.path.resolve() or (
        base.datetime == new.datetime and base.env == new.env and measured(base) == measured(new))


def compare(base: Results, new: Results, thresholds: Tolerances | None = None, allow_mismatch: bool = False,
            reruns: list[Results] = (), base_also: Sequence[Results] = (),
            new_also: Sequence[Results] = (), partial: bool = False) -> Comparison:
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
    return Comparison(base, new, rows, mismatches, env_changes, partial, same_run(bases[0], news[0]))


def _shift(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def _seconds(m: Measurement | None, read) -> str:
    value = read(m) if m else None
    return "—" if value is None else f"{value:.3f}"


def cells(row: Row) -> dict[str, str]:
    """A row's figures as short strings (NEW's value and the shift from BASE), for the table, markdown and JSON:
    wall time, GPU work, host time (as a share of BASE's call), peak memory, SSIM."""
    b, n = row.base, row.new
    both = b is not None and n is not None
    ssim = [m.quality("ssim") if m else None for m in (b, n)]
    return dict(
        wall=f"{_seconds(n or b, lambda m: m.median)} {_shift(relative(b.median, n.median)) if both else ''}".strip(),
        gpu=_shift(channels.GPU.shift(b, n)) if both else "—",
        host=_shift(channels.HOST.shift(b, n)) if both else "—",
        memory=_shift(relative(b.number("peak_memory_gib"), n.number("peak_memory_gib"))) if both else "—",
        ssim="—" if None in ssim else f"{ssim[1] - ssim[0]:+.4f}",
    )


# Short headers keep the table at 100 columns with the longest scenario ids: GPU work and host time shifts, the
# peak memory's (the reasons after the table spell them out)
COLUMNS = dict(wall="wall s", gpu="GPU", host="host", memory="mem", ssim="SSIM")


def _columns(comparison: Comparison) -> list[str]:
    """The figure columns worth showing: SSIM only where a run measured quality."""
    has_quality = any(m and m.quality("ssim") is not None for row in comparison.rows for m in (row.base, row.new))
    return [key for key in COLUMNS if key != "ssim" or has_quality]


def render(comparison: Comparison, console: Console) -> None:
    """The table (one line per scenario, readable at 100 columns: the details follow it, one line per flagged
    scenario), the environment, and the verdict line."""
    for name, results in (("BASE", comparison.base), ("NEW", comparison.new)):
        console.print(Text(f"{name}: {results.path} ({results.gpu or 'no GPU'}, {results.datetime or 'no date'})"),
                      soft_wrap=True)
    keys = _columns(comparison)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("scenario", overflow="fold")
    for key in keys:
        table.add_column(COLUMNS[key], justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for row in comparison.rows:
        figures = cells(row)
        table.add_row(Text(row.scenario), *[figures[key] for key in keys],
                      Text(row.status, style=STYLES[row.status]))
    console.print(table)
    for line in comparison.mismatches:
        console.print(Text(f"warning: comparing across environments ({line})", style="yellow"), soft_wrap=True)
    for line in comparison.env_changes:
        console.print(Text(f"environment {line}", style="dim"), soft_wrap=True)
    for row in comparison.rows:
        if row.status != "regression" and row.notes:
            console.print(Text(f"{row.status.upper()} {row.scenario}: {'; '.join(row.notes)}",
                               style=STYLES[row.status]), soft_wrap=True)
    for row in comparison.regressions:
        console.print(Text(f"REGRESSION {row.scenario}: {'; '.join(row.notes)}", style="bold red"), soft_wrap=True)
    for line in comparison.incomplete:
        console.print(Text(f"INCOMPLETE: {line}", style="bold yellow"), soft_wrap=True)
    console.print(Text(verdict_line(comparison), style="bold red" if not passed(comparison) else "bold green"))


def passed(comparison: Comparison) -> bool:
    return not comparison.regressions and not comparison.incomplete


def verdict_line(comparison: Comparison) -> str:
    counts = Counter(row.status for row in comparison.rows)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no scenarios"
    word = "FAIL" if comparison.regressions else "INCOMPLETE" if comparison.incomplete else "OK"
    return f"{word}: {summary}"


def as_json(comparison: Comparison) -> dict:
    """The verdict for machines (CI summaries, dashboards): one record per scenario and the overall word."""
    return dict(
        verdict=verdict_line(comparison).split(":")[0].lower(), base=str(comparison.base.path),
        new=str(comparison.new.path), incomplete=comparison.incomplete,
        scenarios=[dict(scenario=row.scenario, status=row.status, channels=row.noise_class, notes=row.notes,
                        **cells(row)) for row in comparison.rows])


def as_markdown(comparison: Comparison) -> str:
    """The verdict as GitHub-flavoured markdown (e.g. for $GITHUB_STEP_SUMMARY): the verdict line, a table of the
    scenarios that are not ok, then every scenario in a collapsed table."""
    keys = _columns(comparison)
    header = "| scenario | " + " | ".join(COLUMNS[k] for k in keys) + " | verdict | details |"
    rule = "|---|" + "---:|" * len(keys) + "---|---|"

    def line(row: Row) -> str:
        figures = cells(row)
        notes = "; ".join(row.notes).replace("|", "\\|")
        return f"| `{row.scenario}` | " + " | ".join(figures[k] for k in keys) + f" | **{row.status}** | {notes} |"

    flagged = [row for row in comparison.rows if row.status != "ok"]
    parts = [f"**{verdict_line(comparison)}** — BASE `{comparison.base.path.name}`, NEW `{comparison.new.path.name}`"]
    parts += [f"- {line}" for line in comparison.incomplete]
    if flagged:
        parts += ["", header, rule, *map(line, flagged)]
    parts += ["", "<details><summary>every scenario</summary>", "", header, rule, *map(line, comparison.rows), "",
              "</details>"]
    return "\n".join(parts) + "\n"
