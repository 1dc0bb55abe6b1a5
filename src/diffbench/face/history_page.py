"""The `diffbench history` page, per GPU kind: first what the latest night changed (the gate's verdict against the
nights before it: confirmed, suspected, improved, change points, upgrades), then one scenario at a time, picked
from a list (the flagged first): a small figure with a panel per metric (latency, GPU work, host time, memory,
first call, SSIM), verdicts as the markers' shapes, upgrades as vertical lines. plotly.js is embedded once, so the
page opens offline."""

from __future__ import annotations

import html
import json
import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from diffbench.face import gate, gate_view
from diffbench.face.history import METRICS, History, Point, Series, Upgrade, history
from diffbench.face.tolerances import Tolerances
from diffbench.store.results import Results

# How a verdict shows on a point: marker symbol, colour (None: the series' own), size. Statuses as compare.STYLES.
MARKERS = {
    "regression": ("triangle-up", "#d62728", 14),
    "failed": ("x", "#d62728", 12),
    "improved": ("triangle-down", "#2ca02c", 14),
    "fixed": ("star", "#2ca02c", 12),
    "inconclusive": ("diamond", "#c000c0", 11),
    "not compared": ("x-thin-open", "#7f7f7f", 10),
}
PLAIN = ("circle", None, 7)  # the first point of a timeline, and an `ok` one


def _utc(when: datetime) -> datetime:
    # plotly.js shows dates as given, so naive UTC keeps every run where its file says (the axis says UTC).
    return when.astimezone(UTC).replace(tzinfo=None)


def _hover(series: Series, point: Point, value: float) -> str:
    run, m = point.run, series.metric
    versions = " · ".join(f"{key} {version or '?'}" for key, version in run.versions.items())
    lines = [f"<b>{html.escape(series.name)}</b>",
             f"{_utc(run.when):%Y-%m-%d %H:%M:%S} UTC · {html.escape(run.path.name)}",
             f"{m.title.split(' (')[0]}: {value:.{m.digits}f} {m.unit}".rstrip(), html.escape(versions)]
    verdict = point.verdict
    if verdict is None:
        lines.append("first run of this scenario on this GPU kind")
    else:
        lines.append(f"vs previous run ({html.escape(verdict.previous)}): <b>{html.escape(verdict.status)}</b>")
        lines += [html.escape(line) for note in verdict.notes for line in _wrapped(note)]
    return "<br>".join(lines)


def _wrapped(note: str, width: int = 110) -> list[str]:
    """A long compare note as several hover lines (plotly does not wrap hover text)."""
    return textwrap.wrap(note, width) or [""]


def _trace(series: Series, colour: str, first_of_scenario: bool):
    import plotly.graph_objects as go

    markers = [MARKERS.get(p.verdict.status, PLAIN) if p.verdict else PLAIN for p in series.points]
    return go.Scatter(
        x=[_utc(p.run.when) for p in series.points], y=series.values, mode="lines+markers",
        name=series.name, legendgroup=series.name, showlegend=first_of_scenario,
        line={"color": colour, "width": 1.5},
        marker={"symbol": [s for s, _, _ in markers], "color": [c or colour for _, c, _ in markers],
                "size": [size for _, _, size in markers], "line": {"width": 0}},
        hovertext=[_hover(series, p, v) for p, v in zip(series.points, series.values)],
        hoverinfo="text")


def log_ticks(values: Sequence[float]) -> list[float]:
    """1-2-5 ticks spanning `values` (finer when that leaves fewer than 4 in range): plotly's own log ticks
    label 20 and 0.2 alike as '2'."""
    if not values:
        return []
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8)):
        ticks = [round(m * 10.0 ** e, 12) for e in range(low, high + 1) for m in mantissas]
        shown = [t for t in ticks if min(values) / 1.1 <= t <= max(values) * 1.1]
        if len(shown) >= 4:
            break
    return [t for t in ticks if min(values) / 2 <= t <= max(values) * 2]


def figure(series: Sequence[Series], upgrades: Sequence[Upgrade]):
    """One scenario's figure: a small panel per metric it has, a trace per series (per setting), upgrades as dashed
    vertical lines."""
    import plotly.colors
    from plotly.subplots import make_subplots

    metrics = [m for m in METRICS if any(s.metric is m for s in series)]
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=[m.title for m in metrics])
    palette = plotly.colors.qualitative.Dark24
    names = list(dict.fromkeys(s.name for s in series))
    colours = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    in_legend: set[str] = set()
    for s in series:
        fig.add_trace(_trace(s, colours[s.name], s.name not in in_legend), row=metrics.index(s.metric) + 1, col=1)
        in_legend.add(s.name)
    for upgrade in upgrades:
        # Shapes and annotations, not traces: the figure's traces are exactly its series.
        fig.add_shape(type="line", x0=_utc(upgrade.when), x1=_utc(upgrade.when), xref="x", y0=0, y1=1,
                      yref="paper", line={"color": "#555", "width": 1, "dash": "dash"})
        fig.add_annotation(x=_utc(upgrade.when), xref="x", y=1.02, yref="paper", showarrow=False,
                           text="<br>".join(map(html.escape, upgrade.changes)), font={"size": 10},
                           xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.8)")
    for row, metric in enumerate(metrics, start=1):
        if metric.log:
            values = [v for s in series if s.metric is metric for v in s.values if v > 0]
            fig.update_yaxes(type="log", tickvals=log_ticks(values), row=row, col=1)
    fig.update_xaxes(title_text="run date (UTC)", row=len(metrics), col=1)
    fig.update_layout(height=170 * len(metrics) + 110, template="plotly_white", hovermode="closest",
                      showlegend=len(names) > 1, legend={"font": {"size": 10}},
                      margin={"t": 70 if upgrades else 40, "l": 60, "r": 20, "b": 50})
    return fig


# ------------------------------------------------------------------------------------------ the latest night


def latest_night(page: History, kind: str) -> gate.Verdict | None:
    """The gate's verdict on the kind's latest run against the runs before it (None with a single run)."""
    runs = [run for run in page.runs if run.kind == kind]
    if len(runs) < 2:
        return None
    last = runs[-1]
    points = [p for p in page.points if p.run == last]
    new = Results(last.path, dict(last.env), last.when.isoformat(), {p.scenario: p.measurement for p in points},
                  {p.scenario: list(p.failures) for p in points if p.failures})
    # the committed stores hold runs of different selections: the latest is judged on what it measured
    return gate.judge([p for p in page.points if p.run != last], new, expect_last_night=False)


def _summary(verdict: gate.Verdict | None) -> str:
    if verdict is None:
        return "<p class='note'>One run: nothing to judge it against yet.</p>"
    new = verdict.new
    lines = "".join(f"<li class='{html.escape(status)}'>{html.escape(line)}</li>"
                    for status, line in gate_view.detail_lines(verdict))
    return (f"<div class='latest'><h3>Latest night: {_utc(datetime.fromisoformat(new.datetime)):%Y-%m-%d %H:%M} UTC, "
            f"<code>{html.escape(new.path.name)}</code></h3><p><b>{html.escape(gate_view.verdict_line(verdict))}"
            f"</b> (each scenario against the nights before it, GPU work and host time apart: "
            "<code>diffbench gate</code>)</p>"
            + (f"<ul>{lines}</ul>" if lines else "<p>Nothing moved.</p>") + "</div>")


def _order(series: Sequence[Series], verdict: gate.Verdict | None) -> list[str]:
    """The kind's scenarios, those the latest night flagged first."""
    rank = {"confirmed": 0, "failed": 0, "suspected": 1, "missing": 2, "improved": 3}
    status = {s.scenario: s.status for s in verdict.scenarios} if verdict else {}
    scenarios = sorted({s.scenario for s in series})
    return sorted(scenarios, key=lambda name: (rank.get(status.get(name, ""), 9), name))


# ------------------------------------------------------------------------------------------ the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.note { color: #555; max-width: 75em; } .legend span { margin-right: 1.5em; white-space: nowrap; }
code { background: #f3f3f3; padding: 0 0.25em; } select { font-size: 1em; max-width: 60em; }
.latest { background: #fafafa; border: 1px solid #e3e3e3; padding: 0.2em 1em; max-width: 80em; }
.latest li.confirmed, .latest li.failed { color: #d62728; } .latest li.suspected { color: #a000a0; }
.latest li.improved { color: #2ca02c; } .latest li.dim { color: #666; }
"""

KEY = ("<p class='legend'><span><b style='color:#d62728'>▲</b> regression</span>"
       "<span><b style='color:#2ca02c'>▼</b> improved</span>"
       "<span><b style='color:#c000c0'>◆</b> inconclusive</span>"
       "<span><b style='color:#d62728'>✕</b> failed</span><span><b style='color:#2ca02c'>★</b> fixed</span>"
       "<span><b style='color:#7f7f7f'>✕</b> not compared (other settings, weights or CPU)</span>"
       "<span>● first run or ok</span><span>┆ library upgrade</span></p>")

# Draws the picked scenario's figure (the figures are JSON in the page: plotly draws one at a time).
SCRIPT = """
function diffbenchShow(kind) {
  const pick = document.getElementById('pick-' + kind);
  const figure = DIFFBENCH_FIGURES[kind][pick.value];
  Plotly.react('history-' + kind, figure.data, figure.layout, {displaylogo: false, responsive: true});
}
window.addEventListener('load', () => Object.keys(DIFFBENCH_FIGURES).forEach(diffbenchShow));
"""


def _section(kind: str, page: History) -> tuple[str, dict]:
    series, upgrades, runs = page.of_kind(kind)
    name = html.escape(kind)
    verdict = latest_night(page, kind)
    order = _order(series, verdict)
    span = f"{_utc(runs[0].when):%Y-%m-%d} to {_utc(runs[-1].when):%Y-%m-%d}"
    figures = {scenario: json.loads(figure([s for s in series if s.scenario == scenario], upgrades).to_json())
               for scenario in order}
    status = {s.scenario: s.status for s in verdict.scenarios} if verdict else {}
    options = "".join(f"<option value='{html.escape(scenario)}'>{html.escape(scenario)}"
                      f"{' — ' + html.escape(status[scenario]) if status.get(scenario, 'ok') != 'ok' else ''}</option>"
                      for scenario in order)
    return (f"<h2>{name}</h2><p class='note'>{len(runs)} runs ({span}), {len(order)} scenarios, "
            f"{len(series)} series, {len(upgrades)} library upgrades.</p>\n{_summary(verdict)}"
            f"<p><label>Scenario: <select id='pick-{name}' onchange=\"diffbenchShow('{name}')\">{options}</select>"
            f"</label></p><div id='history-{name}' class='scenario-figure'></div>",
            figures)


def render(page: History, sources: Sequence[Path]) -> str:
    """The whole page, one HTML document."""
    from plotly.offline import get_plotlyjs

    intro = (f"<p class='note'>{len(page.runs)} runs from {len(page.files)} results files under "
             f"{', '.join(f'<code>{html.escape(str(p))}</code>' for p in sources)}; {len(page.series)} series. "
             "Per GPU kind: what its latest night changed, then one scenario at a time (pick it; the flagged come "
             "first). Each point is a scenario measured in one run, placed at the run's date; hover for the run's "
             "file, library versions and verdict. A point's marker is <code>diffbench compare</code>'s verdict for "
             "the scenario against its previous run on the same GPU kind.</p>" + KEY)
    sections, figures = [], {}
    for kind in sorted(page.kinds, key=lambda kind: (kind == "cpu", kind)):  # the GPU kinds first
        markup, figures[kind] = _section(kind, page)
        sections.append(markup)
    skipped = "".join(f"<li>{html.escape(line)}</li>" for line in page.skipped)
    footer = f"<h2>Skipped files</h2><ul>{skipped}</ul>" if skipped else ""
    data = json.dumps(figures).replace("</", "<\\/")  # a figure's text must not close the script
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>diffbench history</title>"
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body><h1>diffbench history</h1>"
            f"{intro}\n" + "\n".join(sections) + f"{footer}<script>const DIFFBENCH_FIGURES = {data};{SCRIPT}"
            "</script></body></html>\n")


def write(paths: Sequence[Path], out: Path, tolerances: Tolerances | None = None) -> History:
    page = history(paths, tolerances)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(page, paths), encoding="utf-8")
    return page
