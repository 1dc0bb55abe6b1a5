"""A report from one results file: markdown tables in the seeds' column layout and latency-vs-memory plots.

One table and one plot per model. The table keeps the seeds' columns (ckpt, batch_size, fuse, compile,
compile_vae, quantization, model_memory, inference_memory, time), then step_s and first_call_s, then the
quality metrics where the run recorded them. The plot shows the median latency against the peak memory of
every scenario, with the Pareto front (nothing both faster and smaller) highlighted per batch size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .results import QUALITY_METRICS, Measurement, Results, describe_failure

SEED_COLUMNS = ("ckpt", "batch_size", "fuse", "compile", "compile_vae", "quantization", "model_memory",
                "inference_memory", "time")
EXTRA_COLUMNS = ("step_s", "first_call_s")
ENV_KEYS = ("gpu", "weights", "torch", "torchao", "diffusers", "transformers", "cuda", "driver", "diffbench_git")


def hub_id(model: str) -> str:
    from .models import MODELS

    spec = MODELS.get(model)
    return spec.hub_id if spec else model


def by_model(results: Results) -> dict[str, list[Measurement]]:
    groups: dict[str, list[Measurement]] = {}
    for m in results.measurements.values():
        groups.setdefault(m.get("model") or "unknown", []).append(m)
    return groups


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(model: str, measurements: list[Measurement]) -> tuple[list[str], list[list[str]]]:
    metrics = [q for q in QUALITY_METRICS if any(m.quality(q) is not None for m in measurements)]
    headers = [*SEED_COLUMNS, *EXTRA_COLUMNS, *metrics]
    rows = [
        [hub_id(model), _cell(m.get("batch")), _cell(bool(m.get("fuse_qkv"))), _cell(m.get("compile")),
         _cell(bool(m.get("compile_vae"))), _cell(m.get("scheme")), _cell(m.number("model_memory_gib")),
         _cell(m.number("peak_memory_gib")), _cell(m.median), _cell(m.number("step_s")),
         _cell(m.number("first_call_s")), *(_cell(m.quality(q), 4) for q in metrics)]
        for m in measurements
    ]
    return headers, rows


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "—"
    return True


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points that no other point beats on both coordinates (both minimized), by x."""
    front, best = [], float("inf")
    for i in sorted(range(len(points)), key=lambda i: points[i]):
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def label(m: Measurement) -> str:
    return f"{m.get('scheme')}/{m.get('compile')}" + ("+fuse" if m.get("fuse_qkv") else "")


def plot(model: str, measurements: list[Measurement], title: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    batches = sorted({m.get("batch") for m in measurements}, key=lambda b: (b is None, b))
    for color, batch in zip(_colors(len(batches)), batches):
        group = [m for m in measurements if m.get("batch") == batch and m.number("peak_memory_gib") is not None]
        if not group:
            continue
        x = [m.number("peak_memory_gib") for m in group]
        y = [m.median for m in group]
        errors = [[m.median - m.q1 for m in group], [m.q3 - m.median for m in group]]
        ax.errorbar(x, y, yerr=errors, fmt="o", color=color, alpha=0.45, capsize=3,
                    label=f"batch {batch} (bars: IQR of rounds)")
        front = pareto_front(list(zip(x, y)))
        ax.plot([x[i] for i in front], [y[i] for i in front], marker="o", drawstyle="steps-post", linestyle="--",
                color=color, markersize=9, markeredgecolor="black", label=f"batch {batch}: Pareto front")
        for m, xi, yi in zip(group, x, y):
            ax.annotate(label(m), (xi, yi), xytext=(5, 4), textcoords="offset points", fontsize=8)
    ax.set_xlabel("peak memory during inference (GiB)")
    ax.set_ylabel("latency, median of timed rounds (s)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.15, y=0.12)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def _colors(n: int) -> list[str]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    return [palette[i % len(palette)] for i in range(n)]


def environment_line(results: Results) -> str:
    return " · ".join(f"{key} {results.env[key]}" for key in ENV_KEYS if results.env.get(key) is not None)


def write(results: Results, out: Path) -> list[Path]:
    """Write `report.md` and one `<model>.png` per model into `out`; returns their paths, markdown first."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# diffbench report: {results.path.name}", "",
             f"{environment_line(results) or 'environment not recorded'} · run {results.datetime or '?'}", "",
             "Memory in GiB (1024³ bytes): `model_memory` after loading, `inference_memory` the peak during the "
             "timed calls. `time` is the median of the timed rounds in seconds, `step_s` the median denoising "
             "step, `first_call_s` the first call (compilation included).", ""]
    images = []
    for model, measurements in by_model(results).items():
        image = out / f"{model}.png"
        images.append(image)
        plot(model, measurements, f"{model} ({hub_id(model)}) on {results.gpu or 'CPU'}: latency vs peak memory",
             image)
        lines += [f"## {model}", "", markdown_table(*table(model, measurements)), "",
                  f"![{model}: latency vs peak memory]({image.name})", ""]
    if results.failures:
        lines += ["## Failed", ""] + [f"- `{scenario}`: {describe_failure(f)}"
                                      for scenario, records in results.failures.items() for f in records] + [""]
    if results.skipped:
        lines += ["## Skipped", ""] + [f"- `{s}`: {reason}" for s, reason in results.skipped.items()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return [path, *images]
