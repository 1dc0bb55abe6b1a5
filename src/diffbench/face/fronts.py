"""Speed versus quality per model: the points a run measured both for (latency and quality against bf16 eager),
the Pareto set marked, lossless and lossy points told apart (step caching, `spec/caching.py`).

The x axis is the latency, unless a point's latency depends on the weights (an adaptive cache on random
weights: it skips what the activations allow, so its speed says nothing); then every point is placed by the
fraction of denoiser work it computed (1 without a cache), which the trained proxy measures honestly.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from diffbench.face import labels_apart
from diffbench.store.results import Measurement

QUALITY_AXES = ("ssim", "psnr", "clip_score")  # the first one a run measured is the y axis


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    lossy: bool


def kind(m: Measurement) -> str:
    """'none', 'lossless', or 'lossy, ...' (the cache_work record's kind)."""
    return (m.get("cache_work") or {}).get("kind", "none")


def weight_dependent(m: Measurement) -> bool:
    return bool((m.get("cache_work") or {}).get("weight_dependent_latency"))


def computed_fraction(m: Measurement) -> float | None:
    work = m.get("cache_work")
    return 1.0 if not work else work.get("computed_fraction")


def quality_axis(measurements: list[Measurement]) -> str | None:
    return next((q for q in QUALITY_AXES if sum(m.quality(q) is not None for m in measurements) >= 2), None)


def points(measurements: list[Measurement], label) -> tuple[list[Point], str, str] | None:
    """The plotted points and the axes' names; None when fewer than two points have both coordinates."""
    metric = quality_axis(measurements)
    if metric is None:
        return None
    by_fraction = any(weight_dependent(m) for m in measurements)
    x_of = computed_fraction if by_fraction else (lambda m: m.median)
    found = [Point(label(m), x, y, kind(m).startswith("lossy"))
             for m in measurements if (x := x_of(m)) is not None and (y := m.quality(metric)) is not None]
    if len(found) < 2:
        return None
    x_name = ("denoiser work computed (fraction of an uncached call; some latencies depend on the weights)"
              if by_fraction else "latency, median of timed rounds (s)")
    return found, x_name, metric


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points that no other point beats on both coordinates (both minimized), by x."""
    front, best = [], float("inf")
    for i in sorted(range(len(points)), key=lambda i: points[i]):
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def pareto(found: list[Point]) -> list[Point]:
    """The points no other point beats on both speed (lower x) and quality (higher y), by x."""
    return [found[i] for i in pareto_front([(p.x, -p.y) for p in found])]


def figure(measurements: list[Measurement], title: str, label):
    """The model's speed-versus-quality figure, or None when there is nothing to draw."""
    drawn = points(measurements, label)
    if drawn is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    found, x_name, metric = drawn
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for lossy, marker, name in ((False, "o", "uncached or lossless"), (True, "^", "lossy cache")):
        group = [p for p in found if p.lossy == lossy]
        if group:
            ax.scatter([p.x for p in group], [p.y for p in group], marker=marker, s=50, alpha=0.6, label=name)
    front = pareto(found)
    ax.plot([p.x for p in front], [p.y for p in front], linestyle="--", color="black", marker="o", markersize=11,
            markerfacecolor="none", label="Pareto set (no other point both faster and better)")
    ax.set_xlabel(x_name)
    ax.set_ylabel(f"{metric} against bf16 eager (mean over prompts; higher is better)")
    ax.set_title(textwrap.fill(title, 90), fontsize=10)  # a long checkpoint name would run off the figure
    ax.grid(alpha=0.3)
    ax.margins(x=0.15, y=0.12)
    ax.legend(fontsize=8)
    labels_apart.spread(fig, ax, [labels_apart.annotate(ax, p.label, (p.x, p.y)) for p in found])
    return fig


def plot(measurements: list[Measurement], title: str, path: Path, label) -> bool:
    """Write the figure to `path`; False (nothing written) when there is nothing to draw."""
    fig = figure(measurements, title, label)
    if fig is None:
        return False
    fig.savefig(path, dpi=120)
    return True
