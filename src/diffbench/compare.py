"""Comparing two results files (BASE, NEW) scenario by scenario, with a verdict that respects measured noise.

A latency regression needs both a relative slowdown of the medians above `--fail-latency` *and* a shift
beyond the noise: the median difference must exceed `noise_k` × the larger interquartile range of the rounds,
and, where scipy is installed and there are enough rounds for it to mean anything, a one-sided Mann-Whitney
test on the rounds must agree (p < alpha). Memory (peak) and SSIM are deterministic enough for plain
thresholds. Scenarios that are new, removed, failed or skipped are listed; failing in NEW a scenario that
BASE measured is a regression.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .results import QUALITY_METRICS, Measurement, Results, describe_failure

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"

STYLES = dict(regression="bold red", failed="red", improved="green", fixed="green", ok="dim", new="cyan",
              removed="yellow", skipped="yellow")


class MismatchError(ValueError):
    """BASE and NEW ran on different GPUs or with different weights."""


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


@dataclass(frozen=True)
class Thresholds:
    latency: float = 0.05  # relative slowdown of the median
    memory: float = 0.02  # relative growth of peak memory
    ssim: float = 0.01  # absolute drop of the mean SSIM
    noise_k: float = 2.0  # the shift must exceed noise_k × IQR
    alpha: float = 0.05  # significance for the rank test


@dataclass
class Row:
    scenario: str
    status: str  # one of STYLES
    base: Measurement | None = None
    new: Measurement | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return self.status == "regression"


@dataclass
class Comparison:
    base: Results
    new: Results
    rows: list[Row]
    mismatches: list[str]  # gpu / weights differences (allowed by --allow-mismatch)
    env_changes: list[str]  # other environment differences, for information

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.regression]


def rank_test_p(base: tuple[float, ...], new: tuple[float, ...], slower: bool, alpha: float) -> float | None:
    """One-sided Mann-Whitney p-value, or None without scipy or with too few rounds to reach `alpha`."""
    if not base or not new or 1 / math.comb(len(base) + len(new), len(base)) >= alpha:
        return None
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return None
    return float(mannwhitneyu(new, base, alternative="greater" if slower else "less").pvalue)


def beyond_noise(base: Measurement, new: Measurement, t: Thresholds) -> bool:
    if abs(new.median - base.median) <= t.noise_k * max(base.iqr, new.iqr):
        return False
    p = rank_test_p(base.rounds, new.rounds, new.median > base.median, t.alpha)
    return p is None or p < t.alpha


def relative(base: float | None, new: float | None) -> float | None:
    return None if base is None or new is None or base == 0 else new / base - 1


def _measured(base: Measurement, new: Measurement, t: Thresholds) -> Row:
    row = Row(base.scenario, "ok", base, new)
    slowdown = relative(base.median, new.median) or 0.0
    if abs(slowdown) > t.latency:
        if not beyond_noise(base, new, t):
            row.notes.append(f"latency {slowdown:+.1%} within noise")
        elif slowdown > 0:
            row.status = "regression"
            row.notes.append(f"latency {slowdown:+.1%}")
        else:
            row.status = "improved"
            row.notes.append(f"latency {slowdown:+.1%}")
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


def _row(scenario: str, base: Results, new: Results, t: Thresholds) -> Row:
    b, n = base.measurements.get(scenario), new.measurements.get(scenario)
    failed_before, failures = scenario in base.failures, new.failures.get(scenario, [])
    if b and n:
        row = _measured(b, n, t)
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
NOT_ENVIRONMENT = ("gpu", "weights", "sources", "xdist_workers")


def check_compatible(base: Results, new: Results) -> list[str]:
    """What makes the two runs incomparable: a different GPU or a different weights source."""
    return [f"{key}: {b!r} (BASE) vs {n!r} (NEW)"
            for key, b, n in (("gpu", base.gpu, new.gpu), ("weights", base.weights, new.weights)) if b != n]


def compare(base: Results, new: Results, thresholds: Thresholds = Thresholds(),
            allow_mismatch: bool = False) -> Comparison:
    mismatches = check_compatible(base, new)
    if mismatches and not allow_mismatch:
        raise MismatchError(f"{base.path} and {new.path} are not comparable ({'; '.join(mismatches)}); "
                            "pass --allow-mismatch to compare anyway")
    scenarios = list(dict.fromkeys([*_scenarios(base), *_scenarios(new)]))
    changed = {scenario: changes for scenario in scenarios
               if (b := base.measurements.get(scenario)) and (n := new.measurements.get(scenario))
               and (changes := setting_changes(b, n))}
    if changed and not allow_mismatch:
        listed = "; ".join(f"{scenario}: {', '.join(changes)}" for scenario, changes in changed.items())
        raise MismatchError(f"{base.path} and {new.path} measured scenarios with different settings ({listed}); "
                            "pass --allow-mismatch to compare anyway")
    env_changes = [f"{key}: {base.env.get(key)} → {new.env.get(key)}"
                   for key in dict.fromkeys([*base.env, *new.env])
                   if key not in NOT_ENVIRONMENT and base.env.get(key) != new.env.get(key)]
    rows = [_row(s, base, new, thresholds) for s in scenarios]
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
    for header in ("scenario", "latency median (s)", "peak memory (GiB)", "first call (s)", "quality", "verdict",
                   "details"):
        table.add_column(header, no_wrap=header in ("scenario", "verdict"))
    for row in comparison.rows:
        style = STYLES[row.status]
        table.add_row(Text(row.scenario), *_cells(row), Text(row.status, style=style), Text("; ".join(row.notes)))
    console.print(table)
    for line in comparison.mismatches:
        console.print(Text(f"warning: comparing across environments ({line})", style="yellow"))
    for line in comparison.env_changes:
        console.print(Text(f"environment {line}", style="dim"))
    regressions = comparison.regressions
    for row in regressions:
        console.print(Text(f"REGRESSION {row.scenario}: {'; '.join(row.notes)}", style="bold red"), soft_wrap=True)
    counts = Counter(row.status for row in comparison.rows)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no scenarios"
    verdict = "FAIL" if regressions else "OK"
    console.print(Text(f"{verdict}: {summary}", style="bold red" if regressions else "bold green"))
