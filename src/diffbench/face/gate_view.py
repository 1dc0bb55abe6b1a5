"""How a gate verdict (gate.py) reads: a terminal table that stays readable at 100 columns with its details as
lines after it, markdown for CI summaries, and JSON."""

from __future__ import annotations

from collections import Counter

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from diffbench.face import channels
from diffbench.face import gate
from diffbench.face.gate import ScenarioVerdict, Verdict

STYLES = dict(confirmed="bold red", failed="bold red", suspected="magenta", improved="green", ok="dim", new="cyan",
              missing="yellow")
LABELS = {c.name: c.label for c in channels.CHANNELS.values()}


def _shift(verdict: ScenarioVerdict, channel: str) -> str:
    judged = next((c for c in verdict.channels if c.channel == channel), None)
    return "—" if judged is None else f"{judged.shift:+.1%}"


def _wall(verdict: ScenarioVerdict, new) -> str:
    m = new.measurements.get(verdict.scenario)
    return "—" if m is None else f"{m.median:.3f}"


def verdict_line(verdict: Verdict) -> str:
    counts = Counter(s.status for s in verdict.scenarios)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no scenarios"
    word = "FAIL" if verdict.confirmed else "INCOMPLETE" if verdict.incomplete else "OK"
    return f"{word}: {summary}"


def detail_lines(verdict: Verdict) -> list[tuple[str, str]]:
    """(style, line) for everything a person must read: what regressed and why, what to rerun, change points,
    upgrades, what is missing."""
    lines = []
    new = [s.scenario for s in verdict.scenarios if s.status == "new"]
    if new:
        lines.append(("new", f"NEW: {len(new)} scenario(s) with no earlier night on this GPU kind: {', '.join(new)}"))
    for s in verdict.scenarios:
        if s.status == "new":
            continue
        flagged = [c.describe(LABELS.get(c.channel, c.channel)) for c in s.channels if c.status != "ok"]
        if s.status in ("confirmed", "suspected", "improved") and flagged:
            hint = " — rerun it in a fresh process (--flagged), then gate with --confirm" \
                if s.status == "suspected" else ""
            lines.append((s.status, f"{s.status.upper()} {s.scenario}: {'; '.join(flagged)}{hint}"))
        elif s.note:
            lines.append((s.status, f"{s.status.upper()} {s.scenario}: {s.note}"))
        if s.upgrades:
            lines.append(("dim", f"UPGRADE {s.scenario}: {', '.join(s.upgrades)} inside its window"))
        for point in s.change_points:
            upgrade = f"; {point.upgrade}" if point.upgrade else ""
            lines.append(("dim", f"CHANGE POINT {s.scenario}: {LABELS.get(point.channel, point.channel)} "
                                 f"{point.shift:+.1%} from {point.night} (p={point.pvalue:.1g}{upgrade})"))
    lines += [("missing", f"INCOMPLETE: {line}") for line in verdict.incomplete]
    if not gate.change_points_available():
        lines.append(("dim", f"NOTE: {gate.CHANGE_POINTS_NEED}"))
    return lines


def render(verdict: Verdict, console: Console) -> None:
    new = verdict.new
    nights = sorted({n.label for s in verdict.scenarios for n in s.window})
    console.print(Text(f"NEW: {new.path} ({new.gpu or 'no GPU'}, {new.datetime}) against {len(nights)} nights of "
                       f"{verdict.kind}"), soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("scenario", overflow="fold")
    for header in ("wall s", "GPU", "host", "nights"):  # short: 100 columns hold the longest scenario ids
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for s in verdict.scenarios:
        gpu = _shift(s, channels.GPU.name)
        table.add_row(Text(s.scenario), _wall(s, new), gpu if gpu != "—" else _shift(s, channels.WALL.name),
                      _shift(s, channels.HOST.name), str(len(s.window)), Text(s.status, style=STYLES[s.status]))
    console.print(table)
    for status, line in detail_lines(verdict):
        console.print(Text(line, style=STYLES.get(status, status)), soft_wrap=True)
    console.print(Text(verdict_line(verdict), style="bold green" if verdict.passed else "bold red"))


def as_json(verdict: Verdict) -> dict:
    return dict(
        verdict=verdict_line(verdict).split(":")[0].lower(), new=str(verdict.new.path), gpu_kind=verdict.kind,
        incomplete=verdict.incomplete,
        scenarios=[dict(
            scenario=s.scenario, setting=s.setting, status=s.status, note=s.note, upgrades=s.upgrades,
            window=[n.label for n in s.window],
            channels=[dict(channel=c.channel, status=c.word, shift=c.shift, bound=c.bound, spread=c.spread,
                           confirmed_by=c.why_confirmed) for c in s.channels],
            change_points=[dict(channel=p.channel, night=p.night, shift=p.shift, pvalue=p.pvalue, upgrade=p.upgrade)
                           for p in s.change_points])
            for s in verdict.scenarios])


def as_markdown(verdict: Verdict) -> str:
    rows = [f"| `{s.scenario}` | {_wall(s, verdict.new)} | {_shift(s, channels.GPU.name)} | "
            f"{_shift(s, channels.HOST.name)} | {len(s.window)} | **{s.status}** |" for s in verdict.scenarios]
    parts = [f"**{verdict_line(verdict)}** — `{verdict.new.path.name}` against the {verdict.kind} history", "",
             "| scenario | wall s | GPU work | host time | nights | verdict |", "|---|---:|---:|---:|---:|---|",
             *rows, ""]
    parts += [f"- {line}" for _, line in detail_lines(verdict)]
    return "\n".join(parts) + "\n"


def flagged_expression(verdict: Verdict) -> str:
    """The suspected scenarios as a pytest -k expression, for the confirm reruns (empty when none)."""
    return " or ".join(s.scenario for s in verdict.scenarios if s.flagged)
