"""The `diffbench history` page: one plotly figure per GPU kind (one panel per metric, one trace per series of
history.py; verdicts are the markers' shapes, upgrades vertical lines), with plotly.js embedded so that the page
opens offline."""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from diffbench.face.history import METRICS, History, Point, Series, Upgrade, history
from diffbench.face.tolerances import Tolerances

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


def figure(kind: str, series: Sequence[Series], upgrades: Sequence[Upgrade]):
    """A GPU kind's figure: one panel per metric it has, one trace per series (a scenario's traces, per setting,
    share its colour and one legend entry, which shows or hides all of them), upgrades as dashed vertical lines."""
    import plotly.colors
    from plotly.subplots import make_subplots

    metrics = [m for m in METRICS if any(s.metric is m for s in series)]
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[m.title for m in metrics])
    palette = plotly.colors.qualitative.Dark24 + plotly.colors.qualitative.Light24
    names = dict.fromkeys(s.name for s in series)
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
    fig.update_layout(height=260 * len(metrics) + 120, template="plotly_white", hovermode="closest",
                      legend={"title": {"text": "scenario (click: show/hide)"}, "font": {"size": 10}},
                      margin={"t": 80 if upgrades else 40, "l": 60, "r": 20, "b": 50})
    return fig


# ------------------------------------------------------------------------------------------ the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.note { color: #555; max-width: 75em; } .legend span { margin-right: 1.5em; white-space: nowrap; }
code { background: #f3f3f3; padding: 0 0.25em; }
"""

KEY = ("<p class='legend'><span><b style='color:#d62728'>▲</b> regression</span>"
       "<span><b style='color:#2ca02c'>▼</b> improved</span>"
       "<span><b style='color:#c000c0'>◆</b> inconclusive</span>"
       "<span><b style='color:#d62728'>✕</b> failed</span><span><b style='color:#2ca02c'>★</b> fixed</span>"
       "<span><b style='color:#7f7f7f'>✕</b> not compared (other settings, weights or CPU)</span>"
       "<span>● first run or ok</span><span>┆ library upgrade</span></p>")


def _section(kind: str, page: History, with_plotlyjs: bool) -> str:
    series, upgrades, runs = page.of_kind(kind)
    scenarios = len({s.scenario for s in series})
    span = f"{_utc(runs[0].when):%Y-%m-%d} to {_utc(runs[-1].when):%Y-%m-%d}"
    # plotly's own HTML for the figure; plotly.js is embedded once, with the first figure, so the page is offline.
    plot = figure(kind, series, upgrades).to_html(full_html=False, include_plotlyjs=with_plotlyjs,
                                                  div_id=f"history-{kind}", config={"displaylogo": False})
    return (f"<h2>{html.escape(kind)}</h2><p class='note'>{len(runs)} runs ({span}), {scenarios} scenarios, "
            f"{len(series)} series, {len(upgrades)} library upgrades.</p>\n{plot}")


def render(page: History, sources: Sequence[Path]) -> str:
    """The whole page, one HTML document."""
    intro = (f"<p class='note'>{len(page.runs)} runs from {len(page.files)} results files under "
             f"{', '.join(f'<code>{html.escape(str(p))}</code>' for p in sources)}; {len(page.series)} series. "
             "Each point is a scenario measured in one run, placed at the run's date; hover for the run's file, "
             "library versions and verdict. A point's marker is <code>diffbench compare</code>'s verdict for the "
             "scenario against its previous run on the same GPU kind (latency, peak memory and SSIM judged "
             "together, as that command does; the hover says which moved).</p>" + KEY)
    sections = [_section(kind, page, index == 0) for index, kind in enumerate(page.kinds)]
    skipped = "".join(f"<li>{html.escape(line)}</li>" for line in page.skipped)
    footer = f"<h2>Skipped files</h2><ul>{skipped}</ul>" if skipped else ""
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>diffbench history</title>"
            f"<style>{STYLE}</style></head><body><h1>diffbench history</h1>{intro}\n"
            + "\n".join(sections) + f"{footer}</body></html>\n")


def write(paths: Sequence[Path], out: Path, tolerances: Tolerances | None = None) -> History:
    page = history(paths, tolerances)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(page, paths), encoding="utf-8")
    return page
