"""A report from a results file: markdown tables in the seeds' column layout and latency-vs-memory plots.

One table and one plot per model. The table keeps the seeds' columns (ckpt, batch_size, fuse, compile,
compile_vae, quantization, model_memory, inference_memory, time), then step_s and first_call_s, then the
quality metrics where the run recorded them, then (with seeds) the seeds' published time and model memory
for the same configuration. The plot shows the median latency against the peak memory of every scenario,
with the Pareto front (nothing both faster and smaller) highlighted per batch size.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from diffbench.spec.dimensions import DIMENSIONS
from diffbench.store.results import QUALITY_METRICS, Measurement, Results, describe_failure
from diffbench.store.schema import idle_per_step_s
from diffbench.face import fronts, labels_apart
from diffbench.face.fronts import pareto_front
from diffbench.face.seeds import Seeds, seed_row

SEED_COLUMNS = ("ckpt", "batch_size", "fuse", "compile", "compile_vae", "quantization", "model_memory",
                "inference_memory", "time")
# Dimensions added after the seeds, from their records (spec/dimensions.py): extra_info key → its default, and the
# column that shows it. Each gets a column only where a run left it.
OPTIONAL_COLUMNS = {d.name: d.default for d in DIMENSIONS if d.column}
OPTIONAL_HEADERS = {d.name: d.column for d in DIMENSIONS if d.column}
MEMORY_STRATEGIES = ("offload", "vae")  # with these, host memory matters: weights move to the host
EXTRA_COLUMNS = ("step_s", "first_call_s")
SEED_FIGURE_COLUMNS = ("seed_time", "seed_model_memory")  # the seeds' published figures, with --seeds
ENV_KEYS = ("gpu", "weights", "torch", "torchao", "diffusers", "transformers", "cuda", "driver", "diffbench_git")


def hub_id(model: str) -> str:
    from diffbench.spec.models import MODELS

    spec = MODELS.get(model)
    return spec.hub_id if spec else model


def ckpt(model: str, weights: str | None) -> str:
    """The `ckpt` cell: real weights by their hub id or folder; random weights by the config they copy, so no
    one reads a tiny or synthetic row as a real checkpoint's."""
    if weights in ("tiny", "synthetic"):
        return f"{weights} ({hub_id(model)} config)"
    if weights == "proxy":
        return "proxy"
    return weights or f"{hub_id(model)} (weights not recorded)"


def model_of(m: Measurement) -> str:
    return m.get("model") or "unknown"


def by_model(results: Results) -> dict[str, list[Measurement]]:
    groups: dict[str, list[Measurement]] = {}
    for m in results.measurements.values():
        groups.setdefault(model_of(m), []).append(m)
    return groups


def cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(model: str, measurements: list[Measurement], seeds: Seeds | None = None,
          gpu: str | None = None, weights: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Headers and rows; with `seeds`, the seed row matching each scenario (on `gpu`) fills the seed columns.
    `weights`: the run's weights source, for rows that do not record their own."""
    metrics = [q for q in QUALITY_METRICS if any(m.quality(q) is not None for m in measurements)]
    optional = [c for c, default in OPTIONAL_COLUMNS.items()
                 if any((m.get(c) or default) != default for m in measurements)]
    host = any(c in MEMORY_STRATEGIES for c in optional)
    headers = [*SEED_COLUMNS, *EXTRA_COLUMNS, *(OPTIONAL_HEADERS[c] for c in optional),
               *(["host_peak_rss"] if host else []), *metrics, *(SEED_FIGURE_COLUMNS if seeds else ())]
    rows = []
    for m in measurements:
        row = [ckpt(model, m.get("weights") or weights), cell(m.get("batch")), cell(bool(m.get("fuse_qkv"))),
               cell(m.get("compile")), cell(bool(m.get("compile_vae"))), cell(m.get("scheme")),
               cell(m.number("model_memory_gib")),
               cell(m.number("peak_memory_gib")), cell(m.median), cell(m.number("step_s")),
               cell(m.number("first_call_s")), *(cell(m.get(c) or OPTIONAL_COLUMNS[c]) for c in optional),
               *([cell(m.number("host_peak_rss_gib"))] if host else []), *(cell(m.quality(q), 4) for q in metrics)]
        if seeds:
            seed = seed_row(m, gpu, seeds)
            row += [cell(_float(seed.get("time")) if seed else None),
                    cell(_float(seed.get("model_memory")) if seed else None)]
        rows.append(row)
    return headers, rows


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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


def label(m: Measurement) -> str:
    extras = [f"+{c} {m.get(c)}" for c, default in OPTIONAL_COLUMNS.items() if (m.get(c) or default) != default]
    flags = ("+fuse" if m.get("fuse_qkv") else "") + ("+compile_vae" if m.get("compile_vae") else "")
    return f"{m.get('scheme')}/{m.get('compile')}" + flags + "".join(extras)


def plot(measurements: list[Measurement], title: str, path: Path) -> None:
    figure(measurements, title).savefig(path, dpi=120)


def figure(measurements: list[Measurement], title: str):
    """Latency vs peak memory, one colour per batch size, its Pareto front, every point labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    batches = sorted({m.get("batch") for m in measurements}, key=lambda b: (b is None, b))
    labels = []
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
        labels += [labels_apart.annotate(ax, label(m), (xi, yi)) for m, xi, yi in zip(group, x, y)]
    latencies = [m.median for m in measurements if m.median]
    log_scale = bool(latencies) and max(latencies) > LOG_SCALE_SPAN * min(latencies)
    if log_scale:  # a slow outlier would squash every other point into one band
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        seconds = FuncFormatter(lambda value, _: f"{value:g}")
        ax.yaxis.set_major_formatter(seconds)
        ax.yaxis.set_minor_formatter(seconds)
    ax.set_xlabel("peak memory during inference (GiB)")
    ax.set_ylabel("latency, median of timed rounds (s)" + (", log scale" if log_scale else ""))
    ax.set_title(textwrap.fill(title, 90), fontsize=10)  # a long checkpoint name would run off the figure
    ax.grid(alpha=0.3)
    ax.margins(x=0.15, y=0.12)
    ax.legend(fontsize=8)
    labels_apart.spread(fig, ax, labels)
    return fig


LOG_SCALE_SPAN = 5  # latencies spanning more than this factor are plotted on a log axis


def _colors(n: int) -> list[str]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    return [palette[i % len(palette)] for i in range(n)]


def environment_line(results: Results) -> str:
    return " · ".join(f"{key} {results.env[key]}" for key in ENV_KEYS if results.env.get(key) is not None)


def sources_lines(results: Results) -> list[str]:
    """The runs a merged file was made from, one bullet each."""
    if not results.sources:
        return []
    lines = [f"Merged from {len(results.sources)} run file{'s' if len(results.sources) != 1 else ''} "
             "(environment above: the newest):", ""]
    for source in results.sources:
        details = ", ".join(f"{key} {source[key]}" for key in ("diffbench_git", "torch", "torchao", "diffusers")
                            if source.get(key) is not None)
        lines.append(f"- `{source.get('file')}`: {source.get('datetime') or 'no date'}"
                     + (f", {details}" if details else ""))
    return [*lines, ""]


def seed_notes(measurements: list[Measurement], results: Results, seeds: Seeds) -> list[str]:
    """What the seed columns are, where their figures come from, and how our rows differ from the seeds'."""
    matched = [(m, row) for m in measurements if (row := seed_row(m, results.gpu, seeds)) is not None]
    lines = ["`seed_time`, `seed_model_memory`: **published by the seed documents, not measured here**: the "
             "diffusers-torchao README's figures for the same model on the same kind of GPU, at the settings they "
             "state, with the same batch size, fuse, compile_vae and quantization (our bf16 = their None), "
             "compiled or not. They ran real weights with the PyTorch nightly, torchao and diffusers of 2024 and "
             f"CUDA 12.2; our rows ran {results.weights or 'unrecorded'} weights in the environment above. "
             "— where the seeds published no figure for the configuration."]
    sources: dict[str, None] = dict.fromkeys(row.citation for _, row in matched)
    if sources:
        lines[0] += " Figures from " + "; ".join(sources) + "."
    modes = sorted({str(m.get("compile")) for m, row in matched if m.get("compile") != "eager"})
    if modes:
        from diffbench.spec.compile_modes import COMPILE_MODES

        lines[0] += (" The seeds compiled the whole transformer with `torch.compile(mode=\"max-autotune\", "
                     "fullgraph=True)`; our compiled rows matched to theirs used "
                     + ", ".join(f"`{mode}`" for mode in modes)
                     + "".join(f"; `{mode}`: {COMPILE_MODES[mode].description}"
                               for mode in modes if COMPILE_MODES[mode].regional) + ".")
    return [*lines, ""]


def headline_lines(models: list[str], results: Results, seeds: Seeds) -> list[str]:
    headlines = [h for h in seeds.headlines if h.model in models and results.gpu and h.gpu in results.gpu]
    if not headlines:
        return []
    lines = ["## Seed headline figures", "",
             "Quoted in the seed documents' text (their figures, not measured here):", ""]
    for h in headlines:
        figure = f"{h.time:g} s" if h.time is not None else f"{h.speedup_pct:g}% speedup"
        where = f"line{'s' if '-' in h.lines else ''} {h.lines}"
        lines.append(f"- {h.model}, {h.gpu}: **{figure}**, {h.what}. “{h.quote}” ({h.source}, {where})")
    return [*lines, ""]


QUANTIZATION_COST_COLUMNS = ("load_s", "load_quantized_s", "quantize_s", "quantize_onto_device_s", "to_device_s",
                             "total_s", "peak_device_gib", "host_peak_rss_gib", "bf16_gib", "quantized_gib")


def quantization_cost_lines(results: Results) -> list[str]:
    """The quantization-cost records: one row per model, scheme and path, each step's seconds and the peaks."""
    records = results.quantization_cost
    if not records:
        return []
    columns = [c for c in QUANTIZATION_COST_COLUMNS if any(r.get(c) is not None for r in records)]
    rows = [[r.get("model", "?"), r.get("scheme", "?"), r.get("path", "?"), *(cell(r.get(c)) for c in columns)]
            for r in records]
    return ["## Quantization cost", "",
            "Each path starts from the same saved bf16 denoiser and ends with the quantized denoiser on the device "
            "(seconds per step, synchronized; peaks since the path began, in GiB).", "",
            markdown_table(["model", "quantization", "path", *columns], rows), ""]


def context_parallel_lines(results: Results) -> list[str]:
    """Each context-parallel scenario against the same scenario on one GPU, and where rank 0's GPU time of a step
    went: compute and communication (NCCL) from the profiled call, idle from the timed rounds (their median less
    the GPU's busy time; the profiler's own slowdown of the host is no idle time of a timed call)."""
    rows = []
    for m in results.measurements.values():
        layout = m.get("context_parallel")
        if not isinstance(layout, dict):
            continue
        single = results.measurements.get(layout.get("single_gpu_scenario"))
        busy, steps = m.number("gpu_kernel_s"), m.number("steps")
        idle = idle_per_step_s(m.median, busy, steps) if busy is not None and steps else None
        rows.append([f"`{m.scenario}`", cell(layout.get("gpus")), cell(m.median),
                     cell(single.median if single else None), cell(_float(layout.get("speedup")), 2),
                     cell(_float(layout.get("efficiency")), 2), cell(m.number("gpu_busy"), 2),
                     *(cell(_float(layout.get(key)), 4) for key in ("compute_per_step_s", "communication_per_step_s")),
                     cell(idle, 4)])
    if not rows:
        return []
    headers = ["scenario", "gpus", "time", "one GPU", "speedup", "efficiency", "gpu_busy", "compute/step",
               "communication/step", "idle/step"]
    return ["## Context parallelism", "",
            "Seconds. `one GPU`: the same scenario without context parallelism in these runs; rank 0's GPU time per "
            "denoising step: compute and communication (NCCL kernels) from the profiled call, idle from the timed "
            "rounds (median less the GPU's busy time, over the steps).", "", markdown_table(headers, rows), ""]


def data_notes(results: Results) -> list[str]:
    """Oddities in the data worth a reader's attention, stated as recorded (never corrected)."""
    notes = []
    for m in results.measurements.values():
        model, peak = m.number("model_memory_gib"), m.number("peak_memory_gib")
        weights = m.number("weights_gib")
        if model is not None and peak is not None and model > peak:
            notes.append(f"- `{m.scenario}`: model_memory {model:.3f} GiB exceeds its inference_memory (peak) "
                         f"{peak:.3f} GiB" + (f"; its weights are {weights:.3f} GiB" if weights else "") + ". "
                         "model_memory is the memory allocated after loading and quantizing, the peak is measured "
                         "during the timed calls after a reset: something allocated when model_memory was taken "
                         "(another pipeline or temporaries still resident) was freed before the timed calls. "
                         "Shown as recorded.")
    return ["## Notes on the data", "", *notes, ""] if notes else []


def render(results: Results, out: Path, seeds: Seeds | None = None, link_base: Path | None = None) -> str:
    """The report's markdown; image links relative to `link_base` (default `out`)."""
    title = results.path.name
    lines = [f"# diffbench report: {title}", "",
             f"{environment_line(results) or 'environment not recorded'} · run {results.datetime or '?'}", "",
             *sources_lines(results),
             "Memory in GiB (1024³ bytes): `model_memory` after loading, `inference_memory` the peak during the "
             "timed calls. `time` is the median of the timed rounds in seconds, `step_s` the median denoising "
             "step, `first_call_s` the first call (compilation included).", ""]
    groups = by_model(results)
    for model, measurements in groups.items():
        link = os.path.relpath((out / f"{model}.png").resolve(), (link_base or out).resolve())
        headers_rows = table(model, measurements, seeds, results.gpu, results.weights)
        lines += [f"## {model}", "", markdown_table(*headers_rows), ""]
        if seeds:
            lines += seed_notes(measurements, results, seeds)
        lines += [f"![{model}: latency vs peak memory]({Path(link).as_posix()})", ""]
        if fronts.points(measurements, label) is not None:
            front = os.path.relpath((out / f"{model}-speed-quality.png").resolve(), (link_base or out).resolve())
            lines += [f"![{model}: speed vs quality, Pareto set marked]({Path(front).as_posix()})", ""]
    if seeds:
        lines += headline_lines(list(groups), results, seeds)
    lines += context_parallel_lines(results)
    lines += data_notes(results)
    lines += quantization_cost_lines(results)
    if results.failures:
        lines += ["## Failed", ""] + [f"- `{scenario}`: {describe_failure(f)}"
                                      for scenario, records in results.failures.items() for f in records] + [""]
    if results.stops:
        lines += ["## Interrupted", ""] + [
            f"- `{stopped.get('scenario')}`: the session{f' of `{run}`' if run else ''} was stopped in it "
            f"(phase {stopped.get('phase')}, after {stopped.get('elapsed_s', 0):.1f} s)"
            for stopped, run in results.stops] + [""]
    if results.skipped:
        lines += ["## Skipped", ""] + [f"- `{s}`: {reason}" for s, reason in results.skipped.items()] + [""]
    return "\n".join(lines)


def write(results: Results, out: Path, seeds: Seeds | None = None, note: str | None = None) -> list[Path]:
    """Write `report.md` and one `<model>.png` per model into `out`; returns their paths, markdown first.
    `note` (readme.generated_by: the command that made it) heads the markdown as a comment."""
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for model, measurements in by_model(results).items():
        image = out / f"{model}.png"
        images.append(image)
        title = f"{model} ({ckpt(model, results.weights)}) on {results.gpu or 'CPU'}: latency vs peak memory"
        plot(measurements, title, image)
        front = out / f"{model}-speed-quality.png"
        if fronts.plot(measurements, f"{model} on {results.gpu or 'CPU'}: speed vs quality", front, label):
            images.append(front)
    path = out / "report.md"
    path.write_text((f"<!-- {note} -->\n" if note else "") + render(results, out, seeds))
    return [path, *images]
