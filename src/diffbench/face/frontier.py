"""`diffbench frontier`: FLUX.1-dev's speed/quality frontier per GPU kind, from committed runs, with the peers'
published figures beside it (the README's "Frontier" section).

- rows: every FLUX.1-dev scenario measured at the model's own size and steps (spec/models: 1024×1024, 28 steps)
  with batch 1, one per GPU kind and step (the scenario's dimensions but model and batch, read from its record, so
  a run whose id left a setting out still counts as what it ran). Where several runs measured a step on a kind,
  the newest run (its `datetime`; a merged store's benchmark at its own run's) wins, its own file before a
  store's copy of it, and the row names that file. A scenario a file records failing or being stopped in gets a
  row where no file measured it on that kind (a failure record holds no run settings: it is taken from a file
  whose FLUX.1-dev measurements, if any, are all at the table's size and steps).
- passed over: runs slowed on purpose (`injected_slowdown`, and those recorded before that key in
  store.layout.SLOWED) and runs whose rows do not measure what their ids say (store.layout.NOT_NIGHTS).
- quality: the worst prompt's PSNR and SSIM against bf16 eager from quality logs (`pytest quality
  --quality-json`, e.g. the trained proxy's), matched by scheme, compile mode and attention kernel only (the
  proxy's runs are its own size, some without fused QKV); where several records match, the worst of them. `gate`:
  whether every matched record passes the quality gates in force (data/thresholds.toml, as `pytest quality`
  resolves them for its weights, scheme and lossy components), not those it was judged by when run.
- lossy: a scheme other than bf16, a lossy attention kernel (`AttentionKernel.lossy`) or a lossy step cache.
- shown: the frontier (`on_frontier`) with bf16 eager and bf16 regional as references, then the failed and
  stopped steps; `--all` shows every row.
- peers: data/peer_figures.toml as published, and for a figure whose kind we can take from our rows
  (PEER_MEASURES), ours beside it, computed from the same rows.

A face module: it reads results and quality logs, never runs a model.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from diffbench.face import record_gates
from diffbench.face.across_gpus import short
from diffbench.face.history import gpu_kind, parse_when, points_of, source_runs
from diffbench.face.report import cell, markdown_table
from diffbench.spec.attention import lossy_attention
from diffbench.spec.caching import CACHE_MODES
from diffbench.spec.dimensions import BY_NAME, DIMENSIONS, Dimension, OnOff, PositiveInts
from diffbench.spec.models import MODELS
from diffbench.store import quality_logs, results
from diffbench.store.quality_logs import QualityLog
from diffbench.store.layout import NOT_NIGHTS, SLOWED
from diffbench.store.results import Measurement, Results, describe_failure

MODEL = "flux-dev"
BATCH = 1
# The run settings a row must have: the model's own (full-size) call arguments.
SETTINGS = {"steps": MODELS[MODEL].inputs.steps, "height": MODELS[MODEL].inputs.height,
            "width": MODELS[MODEL].inputs.width}
# The dimensions a step is made of (model and batch are the table's own), and those its text always names.
STEP = tuple(d for d in DIMENSIONS if d.name not in ("model", "batch"))
ALWAYS_NAMED = ("scheme", "compile")
QUALITY_MATCH = ("model", "scheme", "compile", "attention")  # how a quality record is matched to a row
REFERENCE_SCHEME = "bf16"  # the weights' own precision: the scheme quality is measured against
# The steps kept whatever the frontier: bf16 eager (what quality is measured against) and bf16 regional.
REFERENCES = ({"scheme": REFERENCE_SCHEME, "compile": "eager"}, {"scheme": REFERENCE_SCHEME, "compile": "regional"})
# A dimension's values that change the outputs beyond bf16's rounding (missing: none of its values do).
LOSSY: dict[str, Callable[[Any], bool]] = {
    "scheme": lambda name: name != REFERENCE_SCHEME,
    "attention": lossy_attention,
    "cache": lambda name: name not in CACHE_MODES or (CACHE_MODES[name].config is not None
                                                      and not CACHE_MODES[name].lossless),
}
PEER_FIGURES = Path(__file__).resolve().parents[1] / "data" / "peer_figures.toml"
PEER_KEYS = ("name", "gpu", "setting", "figure", "measure", "source")
REASON_CHARS = 90  # a failure's reason in a row, at most
_EPOCH = datetime.min.replace(tzinfo=UTC)  # the place of a run without a valid `datetime`: older than any


class FrontierError(ValueError):
    """Nothing to tabulate, or a malformed peers file (the message says which)."""


# ------------------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Quality:
    psnr: float  # the worst prompt's PSNR against bf16 eager, dB (inf: identical)
    ssim: float  # the worst prompt's SSIM
    failed: tuple[str, ...] = ()  # the gates in force (`gate` keys) a matched record fails


@dataclass(frozen=True)
class Row:
    gpu: str  # the GPU's name
    settings: tuple[tuple[str, Any], ...]  # the step: (dimension, value) for each of STEP
    file: Path  # the results file it was read from
    when: datetime  # its run's datetime
    measurement: Measurement | None = None
    outcome: str = ""  # a row without a measurement: "failed: why" or "interrupted ..."
    own: bool = True  # read from its run's own file, not a merged store's copy (wins a tie)
    quality: Quality | None = None

    @property
    def kind(self) -> str:
        return gpu_kind(self.gpu)

    def value(self, name: str) -> Any:
        return dict(self.settings)[name]

    @property
    def step(self) -> str:
        """'fp8dqrow, regional, fuse, attn-cudnn-fp8': the scheme and compile mode, then each setting off its
        default in its id words."""
        return ", ".join(d.fragment(value) for d, (_, value) in zip(STEP, self.settings)
                         if d.name in ALWAYS_NAMED or value != d.default)

    @property
    def lossy(self) -> bool:
        return any(is_lossy(self.value(name)) for name, is_lossy in LOSSY.items())

    @property
    def reference(self) -> bool:
        values = dict(self.settings)
        return any(all(values[d.name] == reference.get(d.name, d.default) for d in STEP) for reference in REFERENCES)

    @property
    def median(self) -> float | None:
        return self.measurement.median if self.measurement else None


def settings_of(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A step's settings from a record's dimension values (None, as files older than a dimension have it: its
    default)."""
    return tuple((d.name, d.default if values.get(d.name) is None else values[d.name]) for d in STEP)


def _id_words(d: Dimension) -> dict[str, Any]:
    """A dimension's id words → the value they stand for, for each value the id names (integers: 1 to 64)."""
    valid = d.valid()
    if isinstance(valid, PositiveInts):
        values = range(1, 65)
    elif isinstance(d.parse, OnOff):
        values = {value for choice in valid.values() for value in choice}
    else:
        values = valid  # a table: its names
    return {words: value for value in values if (words := d.id_fragment(value)) is not None}


def scenario_values(scenario: str) -> dict[str, Any] | None:
    """A scenario id read back into its dimensions' values (a dimension it leaves out at its default), or None
    where it is not an id of this suite's dimensions (a failure record names its scenario by id alone)."""
    words = scenario.split("-")
    tables = [(d, _id_words(d)) for d in DIMENSIONS]

    def read(index: int, at: int) -> dict[str, Any] | None:
        if index == len(tables):
            return {} if at == len(words) else None
        d, table = tables[index]
        for end in range(at + 1, len(words) + 1):
            key = "-".join(words[at:end])
            if key in table and (rest := read(index + 1, end)) is not None:
                return {d.name: table[key], **rest}
        if not d.always_in_id and (rest := read(index + 1, at)) is not None:
            return {d.name: d.default, **rest}
        return None

    return read(0, 0)


def at_table_settings(m: Measurement) -> bool:
    return m.get("model") == MODEL and m.get("batch") == BATCH and all(m.get(k) == v for k, v in SETTINGS.items())


def experiment(run: Results) -> str | None:
    """Why a run is no measurement of what its ids say (slowed on purpose, or mislabelled), or None."""
    if any(m.get("injected_slowdown") for m in run.measurements.values()):
        return "a slowdown injected on purpose (injected_slowdown): an experiment"
    path = run.path.resolve().as_posix()
    if any(path.endswith("/" + known) for known in SLOWED):
        return "slowed on purpose before results recorded it (store.layout.SLOWED): an experiment"
    if any(path.endswith("/" + known) for known in NOT_NIGHTS):
        return "its rows do not measure what their ids say (store.layout.NOT_NIGHTS)"
    return None


def _outcomes(run: Results, when: datetime) -> list[Row]:
    """Rows for the scenarios the run records failing or being stopped in (their ids read back), when the run's
    FLUX.1-dev measurements, if any, are all at the table's size and steps. A merged store's stop is placed at its
    own run's date; its failure records do not say which run failed, so they are the store's."""
    if not all(m.get(k) == v for m in run.measurements.values() if m.get("model") == MODEL
               for k, v in SETTINGS.items()):
        return []
    sources = source_runs(run, when)
    outcomes = [(scenario, f"failed: {describe_failure(records[-1], brief=REASON_CHARS)}", when, not sources)
                for scenario, records in run.failures.items()]
    outcomes += [(str(stop.get("scenario")), f"interrupted ({stop.get('phase') or '?'}, after "
                                             f"{stop.get('elapsed_s') or 0:.0f} s)",
                  sources[source].when if source in sources else when, source is None)
                 for stop, source in run.stops]
    rows = []
    for scenario, outcome, at, own in outcomes:
        values = scenario_values(scenario)
        if values and values["model"] == MODEL and values["batch"] == BATCH:
            rows.append(Row(run.gpu or "CPU", settings_of(values), run.path, at, outcome=outcome, own=own))
    return rows


def _quality(settings: tuple[tuple[str, Any], ...], logs: Sequence[QualityLog]) -> Quality | None:
    values = {"model": MODEL, **dict(settings)}
    found = []
    for log in logs:
        for record in log.results:  # each set of prompts a job scored
            if all(record.get(name, BY_NAME[name].default) == values[name] for name in QUALITY_MATCH):
                metrics = record.get("metrics") or {}
                worst = [(metrics.get(metric) or {}).get("min") for metric in ("psnr", "ssim")]
                if None not in worst:
                    failed = tuple(gate.key for gate, _ in record_gates.failed(record))
                    found.append(Quality(*map(quality_logs.number, worst), failed=failed))
    if not found:
        return None
    failed = tuple(sorted({key for q in found for key in q.failed}))
    return Quality(min(q.psnr for q in found), min(q.ssim for q in found), failed)


@dataclass
class Table:
    rows: list[Row]  # every row: by GPU kind (in the order the files give them), then median, outcomes last
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # each file passed over, and why
    logs: list[QualityLog] = field(default_factory=list)

    @property
    def weights(self) -> list[str]:
        return sorted({str(r.measurement.get("weights") or "?") for r in self.rows if r.measurement})


def collect(paths: Sequence[Path], logs: Sequence[QualityLog] = ()) -> Table:
    """The rows of the results files (read by store.results.load: an unreadable file raises ResultsError)."""
    measured: dict[tuple, Row] = {}
    stopped: dict[tuple, Row] = {}
    kinds: list[str] = []
    skipped = []
    for path in paths:
        run = results.load(path)
        if why := experiment(run):
            skipped.append((path, why))
            continue
        when = parse_when(run.datetime) or _EPOCH
        found = [Row(point.run.env.get("gpu") or "CPU", settings_of(point.measurement.info), path, point.run.when,
                     point.measurement, own=not point.run.merged)
                 for point in points_of(run, when) if at_table_settings(point.measurement)]
        for rows, into in ((found, measured), (_outcomes(run, when), stopped)):
            for row in rows:
                key = (row.kind, row.settings)
                kinds += [row.kind] if row.kind not in kinds else []
                if key not in into or (row.when, row.own) >= (into[key].when, into[key].own):
                    into[key] = row  # the newest run; its own file before a store's copy; else the later file
    rows = [replace(row, quality=_quality(row.settings, logs)) for row in measured.values()]
    rows += [row for key, row in stopped.items() if key not in measured]
    if not rows:
        raise FrontierError(f"no {MODEL} scenario at {SETTINGS['width']}×{SETTINGS['height']}, "
                            f"{SETTINGS['steps']} steps, batch {BATCH} in the files given")
    rows.sort(key=lambda r: (kinds.index(r.kind), r.measurement is None, r.median or 0.0, r.step))
    return Table(rows, skipped, list(logs))


# ------------------------------------------------------------------------------------------ the frontier


def as_good(a: Row, b: Row) -> bool:
    """Whether `a`'s quality is known to be at least `b`'s: lossless beats lossy (lossless rows are equals);
    between lossy rows, worst-prompt PSNR and SSIM both at least as high, and a row without a quality figure is
    compared only with another without one."""
    if a.lossy != b.lossy:
        return not a.lossy
    if not a.lossy or (a.quality is None and b.quality is None):
        return True
    if a.quality is None or b.quality is None:
        return False
    return a.quality.psnr >= b.quality.psnr and a.quality.ssim >= b.quality.ssim


def on_frontier(row: Row, rows: Sequence[Row]) -> bool:
    """No faster measured row of the same GPU kind is at least as good (`as_good`)."""
    return row.median is not None and not any(
        other.kind == row.kind and other.median is not None and other.median < row.median and as_good(other, row)
        for other in rows)


def shown(table: Table, every: bool = False) -> list[Row]:
    """The rows the section shows: every one, or the frontier, the references, the failed and stopped."""
    return [r for r in table.rows if every or r.measurement is None or r.reference or on_frontier(r, table.rows)]


# ------------------------------------------------------------------------------------------ peers


@dataclass(frozen=True)
class Peer:
    name: str
    gpu: str  # as published ("H100"): matched against our GPU kinds' names
    setting: str
    figure: str  # as published
    measure: str  # what kind of figure: a key of PEER_MEASURES
    sources: tuple[str, ...]


def speedup_over_bf16_eager(rows: Sequence[Row], gpu: str) -> str | None:
    """Our ratio of the same kind on one GPU: bf16 eager's median over our fastest lossy row's."""
    measured = [r for r in rows if r.gpu == gpu and r.median]
    eager = [r for r in measured if r.reference and r.value("compile") == REFERENCES[0]["compile"]]
    lossy = sorted((r for r in measured if r.lossy), key=lambda r: r.median)
    if not (eager and lossy):
        return None
    best = lossy[0]
    return (f"{eager[0].median / best.median:.2f}x on {short(gpu)} (bf16 eager {eager[0].median:.3f} s over "
            f"{best.step} {best.median:.3f} s)")


def lossless_seconds(rows: Sequence[Row], gpu: str) -> str | None:
    """Our fastest lossless row's median on one GPU: a peer's bf16 seconds beside ours."""
    lossless = sorted((r for r in rows if r.gpu == gpu and r.median and not r.lossy), key=lambda r: r.median)
    return f"{lossless[0].median:.3f} s on {short(gpu)} ({lossless[0].step})" if lossless else None


# measure → how we take a figure of that kind from our rows on one GPU (None: printed as published only)
PEER_MEASURES: dict[str, Callable[[Sequence[Row], str], str | None] | None] = {
    "speedup over bf16 eager": speedup_over_bf16_eager,
    "seconds per image, lossless": lossless_seconds,
    "seconds per image": None,
}


def load_peers(path: Path = PEER_FIGURES) -> list[Peer]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FrontierError(f"{path}: cannot read the peers' figures ({exc})") from None
    peers = []
    for index, entry in enumerate(data.get("peer", [])):
        missing = [key for key in PEER_KEYS if not entry.get(key)]
        if missing or entry["measure"] not in PEER_MEASURES:
            why = (f"lacks {', '.join(missing)}" if missing else
                   f"measure {entry['measure']!r} is none of {', '.join(map(repr, PEER_MEASURES))}")
            raise FrontierError(f"{path}: peer #{index + 1} {why}")
        source = entry["source"]
        peers.append(Peer(*(str(entry[key]) for key in PEER_KEYS[:-1]),
                          tuple(map(str, source if isinstance(source, list) else [source]))))
    return peers


def ours(peer: Peer, rows: Sequence[Row]) -> str:
    take = PEER_MEASURES[peer.measure]
    gpus = dict.fromkeys(r.gpu for r in rows if peer.gpu.lower() in r.gpu.lower())
    figures = [figure for gpu in gpus if take and (figure := take(rows, gpu))]
    return "; ".join(figures) or "—"


def _source(text: str) -> str:
    return f"<{text}>" if text.startswith(("http://", "https://")) else text


# ------------------------------------------------------------------------------------------ markdown

HEADERS = ["GPU", "step", "lossless / lossy", "median s", "GPU work s", "attention share", "first call s",
           "peak GiB", "PSNR min dB", "SSIM min", "quality gate", "run"]


def _gate(quality: Quality | None) -> str:
    if quality is None:
        return "—"
    return f"fails ({', '.join(quality.failed)})" if quality.failed else "passes"


def _psnr(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.1f}"


def _cells(row: Row, link_base: Path | None) -> list[str]:
    run = row.file.name if link_base is None else \
        f"[{row.file.name}]({Path(os.path.relpath(row.file, link_base)).as_posix()})"
    step = f"{row.step} (reference)" if row.reference else row.step
    head = [short(row.gpu), step, "lossy" if row.lossy else "lossless"]
    if (m := row.measurement) is None:
        return [*head, row.outcome, *["—"] * (len(HEADERS) - len(head) - 2), run]
    share = m.number("attention_share")
    q = row.quality
    return [*head, cell(m.median), cell(m.number("gpu_kernel_s")), "—" if share is None else f"{share:.0%}",
            cell(m.number("first_call_s"), 1), cell(m.number("peak_memory_gib"), 2),
            _psnr(q.psnr) if q else "—", f"{q.ssim:.4f}" if q else "—", _gate(q), run]


def intro(table: Table) -> str:
    logs = ", ".join(f"`{log.path.name}` ({log.gpu or 'CPU'})" for log in table.logs) or "none given"
    return (f"{MODELS[MODEL].hub_id.rpartition('/')[2]} at {SETTINGS['width']}×{SETTINGS['height']}, "
            f"{SETTINGS['steps']} steps, batch {BATCH}, {', '.join(table.weights)} weights. `median`: the timed "
            "rounds; `GPU work`: the profiled call's kernel time, `attention share` its attention kernels' part; "
            "`first call`: compiling included, with the compile caches the run had; `peak`: allocated during the "
            "timed calls (GiB, 1024³ bytes). Each row is the newest run of its step on its GPU kind (`run`). Lossy: "
            "a scheme other than bf16, a lossy attention kernel or step cache. Quality: the worst prompt against "
            f"bf16 eager from {logs}, matched by scheme, compile mode and attention kernel; `—` where not measured; "
            "`quality gate`: whether it passes the gates in force (`data/thresholds.toml`), and those it fails."
            + (f" Passed over: {', '.join(f'`{path.name}`' for path, _ in table.skipped)} (slowed on purpose, or "
               "not measuring what their ids say)." if table.skipped else ""))


RULE = ("Rows: the frontier (no faster row of the same GPU kind is as good: lossless beats lossy; between lossy rows, "
        "worst-prompt PSNR and SSIM both at least as high; a row without quality figures is weighed only against "
        "others without), bf16 eager and bf16 regional as references, then the steps that failed or were stopped. "
        "`--all` lists every row.")


def render(table: Table, peers: Sequence[Peer], every: bool = False, link_base: Path | None = None) -> str:
    """The section's markdown; `run` links relative to `link_base` (None: file names alone)."""
    return "\n".join([
        intro(table), "", "Every row." if every else RULE, "",
        markdown_table(HEADERS, [_cells(r, link_base) for r in shown(table, every)]), "",
        "Peers' published figures (theirs, not measured here: real weights, their own software and baselines), "
        "with ours of the same kind where our rows give one:", "",
        markdown_table(["peer", "GPU", "setting", "published", "ours, same measure", "source"],
                       [[p.name, p.gpu, p.setting, p.figure, ours(p, table.rows), ", ".join(map(_source, p.sources))]
                        for p in peers])])
