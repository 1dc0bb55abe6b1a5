"""Each GPU kind's figures side by side, one table per model (`diffbench gpus`).

The runs given are grouped by the GPU that made them and merged within each group as `diffbench merge` does
(the later file winning). A row is one configuration: the scenario id together with the run settings the id
leaves out (steps, resolution, frames), so a 10-step nightly run never faces a 50-step one. Each GPU kind
contributes its median time and peak memory, with the seeds' published time for that GPU kind where there is
one, and the time relative to the first GPU kind given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffbench.face.report import cell, markdown_table, model_of
from diffbench.face.seeds import Seeds, seed_row
from diffbench.store import merge
from diffbench.store.results import Measurement, Results, parse

# What a scenario id does not say but its figures depend on (a row matches across GPUs only when these agree).
RUN_SETTINGS = ("steps", "height", "width", "frames")


@dataclass(frozen=True)
class GpuRuns:
    gpu: str
    results: Results  # the group's runs merged
    files: tuple[Path, ...]


def group(paths: list[Path]) -> list[GpuRuns]:
    """The runs grouped by GPU kind (CPU runs under "CPU"), in the order each kind first appears."""
    runs: dict[str, list] = {}
    for path in paths:
        run = merge.read_run(path)
        runs.setdefault(run.results.gpu or "CPU", []).append(run)
    groups = []
    for gpu, members in runs.items():
        merged = merge.merge_runs(members)
        name = Path(" + ".join(run.path.name for run in members))
        groups.append(GpuRuns(gpu, parse(merged.data, name), tuple(run.path for run in members)))
    return groups


def row_key(m: Measurement) -> tuple:
    return (m.scenario, *(m.get(setting) for setting in RUN_SETTINGS))


def unmeasured(g: GpuRuns, scenario: str) -> str:
    """The time cell of a configuration a GPU kind has no figure for: its runs' failure, stop or skip there
    (the report says why; neither record carries the run settings, so only a scenario never measured there gets
    one), else `—`."""
    if scenario in g.results.measurements:
        return "—"  # measured there, at other run settings
    if failures := g.results.failures.get(scenario):
        return f"failed ({failures[-1].get('error_type', 'error')})"
    if any(stop.get("scenario") == scenario for stop, _ in g.results.stops):
        return "interrupted"
    return "skipped" if scenario in g.results.skipped else "—"


def short(gpu: str) -> str:
    """A column's GPU label: the device name without its vendor ("NVIDIA H100 80GB HBM3" → "H100 80GB HBM3")."""
    return gpu.removeprefix("NVIDIA ").removeprefix("AMD ")


def tables(groups: list[GpuRuns], seeds: Seeds | None = None) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Model → (headers, rows): a row per configuration any group measured, sorted by scenario id."""
    by_key: dict[tuple, dict[str, Measurement]] = {}
    for g in groups:
        for m in g.results.measurements.values():
            by_key.setdefault(row_key(m), {})[g.gpu] = m
    first = groups[0].gpu
    # a seed column only for a GPU kind the seeds published figures for
    seeded = {g.gpu for g in groups
              if seeds and any(seed_row(m, g.gpu, seeds) for m in g.results.measurements.values())}
    headers = ["scenario", "steps", "resolution"]
    for g in groups:
        headers += [f"time {short(g.gpu)}", f"memory {short(g.gpu)}"]
        headers += [f"seed_time {short(g.gpu)}"] if g.gpu in seeded else []
        headers += [f"{short(g.gpu)} / {short(first)}"] if g.gpu != first else []
    out: dict[str, tuple[list[str], list[list[str]]]] = {}
    for key in sorted(by_key, key=lambda k: tuple(str(part) for part in k)):
        cells = by_key[key]
        some = next(iter(cells.values()))
        frames = f"×{some.get('frames')}" if some.get("frames") else ""
        row = [f"`{key[0]}`", cell(some.get("steps")), f"{some.get('width')}×{some.get('height')}{frames}"]
        base = cells.get(first)
        for g in groups:
            m = cells.get(g.gpu)
            row += [cell(m.median), cell(m.number("peak_memory_gib"))] if m else [unmeasured(g, key[0]), "—"]
            if g.gpu in seeded:
                published = seed.get("time") if m and (seed := seed_row(m, g.gpu, seeds)) else None
                row.append(cell(float(published) if isinstance(published, (int, float)) else None))
            if g.gpu != first:
                row.append(cell(m.median / base.median, 2) if m and base and base.median else "—")
        out.setdefault(model_of(some), (headers, []))[1].append(row)
    return out


def render(groups: list[GpuRuns], seeds: Seeds | None = None) -> str:
    lines = ["# Across GPU kinds", "",
             "`time`: the median of the timed rounds in seconds; `memory`: the peak during them in GiB (1024³ "
             "bytes); the last column of a GPU kind, its time over the first kind's. A row is one configuration, "
             "its run settings included; `—` where that GPU kind has no run of it, `failed (…)`, `interrupted` or "
             "`skipped` where its runs record the scenario failing, stopped in or skipped (the GPU kind's report "
             "gives the reason).", ""]
    for g in groups:
        lines.append(f"- {g.gpu}: {', '.join(f'`{p.as_posix()}`' for p in g.files)} "
                     f"(torch {g.results.env.get('torch', '?')}, torchao "
                     f"{g.results.env.get('torchao', '?')}, diffusers "
                     f"{g.results.env.get('diffusers', '?')}, weights {g.results.weights or '?'})")
    lines.append("")
    if seeds:
        lines += ["`seed_time`: published by the seed documents, not measured here (see the report's notes).", ""]
    for model, (headers, rows) in tables(groups, seeds).items():
        lines += [f"## {model}", "", markdown_table(headers, rows), ""]
    return "\n".join(lines)
