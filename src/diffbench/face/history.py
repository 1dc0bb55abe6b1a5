"""`diffbench history`: one self-contained HTML page of how each scenario's figures moved over time.

The data model, in the order the page is built:

- runs: every pytest-benchmark results file under the paths given (other files, such as quality reports,
  references or pictures, are not runs and are passed over; a corrupt results file is skipped and named). A
  merged store (`diffbench merge`) is split back into the runs it was made from, each benchmark placed at its
  own run's date with that run's library versions; a run found both on its own and inside a store counts once.
- points: one scenario measured in one run, on one GPU kind (the machine's folder name in the baseline store,
  `cpu` without a GPU), placed by the run's `datetime`.
- verdicts: each point against the previous point of the same scenario on the same GPU kind, judged by
  `diffbench compare` itself (face/compare.py), so the page never disagrees with the command.
- series: one per (GPU kind, scenario, metric) that has a value: latency (median round), peak memory,
  first-call time, SSIM mean against bf16.
- upgrades: where torch, torchao or diffusers differ between consecutive runs of a GPU kind.

The page itself is history_page.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from diffbench.face.compare import compare
from diffbench.face.tolerances import Tolerances
from diffbench.store import layout
from diffbench.store.results import (
    Measurement,
    MismatchError,
    Results,
    ResultsError,
    parse,
    read_json,
)

VERSION_KEYS = ("torch", "torchao", "diffusers")  # the libraries whose upgrades the page marks


class HistoryError(ValueError):
    """A path that is missing or holds no results file (the message names it)."""


gpu_kind = layout.gpu_folder  # a run's GPU kind is its folder in the baseline store


# ------------------------------------------------------------------------------------------ runs and points


@dataclass(frozen=True)
class Run:
    """One pytest session's results as the page places them."""

    path: Path  # the file it was read from (a merged store for a run split out of one)
    when: datetime  # its `datetime`, in UTC
    env: Mapping[str, Any] = field(compare=False)  # machine_info.diffbench (a store's run: overlaid with its own)
    merged: bool = False  # split out of a merged store: the run's own file wins when both were given

    @property
    def kind(self) -> str:
        return gpu_kind(self.env.get("gpu"))

    @property
    def versions(self) -> dict[str, str | None]:
        return {key: self.env.get(key) for key in VERSION_KEYS}


@dataclass(frozen=True)
class Verdict:
    """`diffbench compare`'s row for a scenario between two runs (status as in compare.STYLES), or
    'not compared' when compare refuses the pair (other weights, CPU or settings such as the step count)."""

    status: str
    notes: tuple[str, ...] = ()
    previous: str = ""  # the file of the run judged against, for the hover


@dataclass(frozen=True)
class Point:
    """One scenario measured in one run."""

    run: Run
    measurement: Measurement
    failures: tuple[dict[str, Any], ...] = ()  # the run's failure records of this scenario (compare counts them)
    verdict: Verdict | None = None  # against the previous point of its timeline; None for the first

    @property
    def scenario(self) -> str:
        return self.measurement.scenario

    @property
    def setting(self) -> str:
        """What `compare` refuses to judge across: runs of one scenario with other steps or weights are another
        timeline (a 2-step smoke run is not a 32-step rerun that got 16 times faster)."""
        m = self.measurement
        return f"{m.get('steps') or '?'} steps, {m.get('weights') or self.run.env.get('weights') or '?'} weights"

    @property
    def timeline(self) -> tuple[str, str, str]:
        return self.run.kind, self.scenario, self.setting

    def as_results(self) -> Results:
        """The run cut down to this scenario, as `diffbench compare` reads a run."""
        failures = {self.scenario: list(self.failures)} if self.failures else {}
        return Results(self.run.path, dict(self.run.env), self.run.when.isoformat(),
                       {self.scenario: self.measurement}, failures)


def parse_when(text: Any) -> datetime | None:
    """A results file's `datetime` in UTC (pytest-benchmark writes UTC; one without an offset is taken as UTC)."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def source_runs(results: Results, when: datetime) -> dict[str, Run]:
    """A merged store's runs by file name (machine_info.diffbench.sources): each at its own date with its own
    versions; the store's other environment keys (CPU, driver) stand for all of them."""
    shared = {key: value for key, value in results.env.items() if key != "sources"}
    return {source["file"]: Run(results.path, parse_when(source.get("datetime")) or when, shared | source, True)
            for source in results.sources if isinstance(source.get("file"), str)}


def points_of(results: Results, when: datetime) -> list[Point]:
    """Every measured scenario of a results file, each at the run it came from. A store's failure records do not
    say which of its runs failed, so only a point of the file's own run carries them."""
    own = Run(results.path, when, results.env)
    sources = source_runs(results, when)
    points = []
    for m in results.measurements.values():
        run = sources.get(m.get("source_file"), own)
        failures = tuple(results.failures.get(m.scenario, ())) if run is own else ()
        points.append(Point(run, m, failures))
    return points


def is_results(data: Any) -> bool:
    """Shaped like pytest-benchmark's output: anything else (quality reports, calibration, references) is not a
    run and is passed over without a word."""
    return isinstance(data, dict) and "benchmarks" in data and "machine_info" in data


def json_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    if path.is_file():
        return [path]
    raise HistoryError(f"{path}: no such file or folder")


@dataclass
class Collection:
    points: list[Point] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # the results files read
    skipped: list[str] = field(default_factory=list)  # "FILE: why" of each corrupt results file


def read_file(file: Path, into: Collection) -> None:
    """Add a file's points when it is a results file; name it in `skipped` when it is corrupt."""
    try:
        data = read_json(file)
        if not is_results(data):
            return
        results = parse(data, file)
    except ResultsError as exc:  # its message starts with the file's name
        into.skipped.append(str(exc))
        return
    when = parse_when(results.datetime)
    if when is None:
        into.skipped.append(f"{file}: no valid 'datetime' ({results.datetime!r}), so no place in time")
        return
    into.files.append(file)
    into.points += points_of(results, when)


def collect(paths: Sequence[Path]) -> Collection:
    """The points of every results file under `paths`; a path without a results file is an error."""
    collection = Collection()
    for path in paths:
        found, skipped = len(collection.files), len(collection.skipped)
        for file in json_files(path):
            read_file(file, collection)
        if len(collection.files) == found:
            corrupt = collection.skipped[skipped:]
            raise HistoryError(f"{path}: no pytest-benchmark results files (JSON with 'machine_info' and "
                               f"'benchmarks')" + (f"; skipped: {'; '.join(corrupt)}" if corrupt else ""))
    return collection


def deduplicated(points: Iterable[Point]) -> list[Point]:
    """One point per (GPU kind, scenario, date), a run's own file before a store's copy of it, oldest first."""
    chosen: dict[tuple[str, str, datetime], Point] = {}
    for point in sorted(points, key=lambda p: p.run.merged):
        chosen.setdefault((*point.timeline, point.run.when), point)
    return sorted(chosen.values(), key=lambda p: (p.run.when, str(p.run.path)))


# ------------------------------------------------------------------------------------------ verdicts


def judge(previous: Point, point: Point, tolerances: Tolerances) -> Verdict:
    """What `diffbench compare PREVIOUS NEXT` says of this scenario (the two runs cut down to it: their other
    scenarios are other timelines)."""
    against = previous.run.path.name
    try:
        row = compare(previous.as_results(), point.as_results(), tolerances).rows[0]
    except MismatchError as exc:  # the hover names both files already: the message keeps only why
        why = str(exc).partition("; pass --allow-mismatch")[0]
        for run in (previous.run, point.run):
            why = why.replace(str(run.path), run.path.name)
        return Verdict("not compared", (why,), against)
    return Verdict(row.status, tuple(row.notes), against)


def judged(points: Sequence[Point], tolerances: Tolerances) -> list[Point]:
    """Each point with its verdict against the previous point of its timeline (points oldest first)."""
    last: dict[tuple[str, str], Point] = {}
    out = []
    for point in points:
        before = last.get(point.timeline)
        point = replace(point, verdict=judge(before, point, tolerances)) if before else point
        last[point.timeline] = point
        out.append(point)
    return out


# ------------------------------------------------------------------------------------------ series and upgrades


@dataclass(frozen=True)
class Metric:
    key: str
    title: str  # the panel's title
    unit: str
    digits: int
    read: Callable[[Measurement], float | None]
    log: bool = False  # a log axis: scenarios seconds apart share a panel, and equal ratios look equal


METRICS = (
    Metric("latency", "latency, median round (s)", "s", 3, lambda m: m.median, log=True),
    # the gate's two channels (face/channels.py): GPU work, and host time (wall time less GPU time)
    Metric("gpu_work", "GPU work, kernel time of a call (s)", "s", 3, lambda m: m.gpu_s, log=True),
    Metric("host_time", "host time, wall less GPU time (s)", "s", 3, lambda m: m.host_s),
    Metric("peak_memory", "peak memory (GiB)", "GiB", 3, lambda m: m.number("peak_memory_gib")),
    Metric("first_call", "first call (s)", "s", 2, lambda m: m.number("first_call_s"), log=True),
    Metric("ssim", "SSIM mean vs bf16", "", 4, lambda m: m.quality("ssim")),
)


@dataclass(frozen=True)
class Series:
    """One metric of one scenario on one GPU kind, over time: the points that have a value for it."""

    kind: str
    scenario: str
    metric: Metric
    points: tuple[Point, ...]
    setting: str = ""  # its steps and weights, where the scenario was run with several on this GPU kind

    @property
    def name(self) -> str:
        return f"{self.scenario} ({self.setting})" if self.setting else self.scenario

    @property
    def values(self) -> list[float]:
        return [self.metric.read(p.measurement) for p in self.points]


@dataclass(frozen=True)
class Upgrade:
    """Library versions that changed between two consecutive runs of a GPU kind."""

    kind: str
    when: datetime  # the first run with the new versions
    changes: tuple[str, ...]  # e.g. "torch 2.11.0 → 2.12.1"


def series_of(points: Sequence[Point]) -> list[Series]:
    timelines: dict[tuple[str, str, str], list[Point]] = {}
    for point in points:
        timelines.setdefault(point.timeline, []).append(point)
    settings: dict[tuple[str, str], int] = {}
    for kind, scenario, _ in timelines:
        settings[kind, scenario] = settings.get((kind, scenario), 0) + 1
    return [Series(kind, scenario, metric, tuple(valued), setting if settings[kind, scenario] > 1 else "")
            for (kind, scenario, setting), timeline in sorted(timelines.items()) for metric in METRICS
            if (valued := [p for p in timeline if metric.read(p.measurement) is not None])]


def runs_of(points: Iterable[Point]) -> list[Run]:
    """The distinct runs, oldest first: a run is one session, one GPU kind at one start date (a store's copy of
    a run is the same run)."""
    runs: dict[tuple[str, datetime], Run] = {}
    for point in points:
        runs.setdefault((point.run.kind, point.run.when), point.run)
    return sorted(runs.values(), key=lambda run: run.when)


def upgrades_of(runs: Sequence[Run]) -> list[Upgrade]:
    """Version changes between consecutive runs of each GPU kind (a version a run did not record is not one)."""
    upgrades = []
    for kind in sorted({run.kind for run in runs}):
        for before, after in pairwise(run for run in runs if run.kind == kind):
            changes = tuple(f"{key} {before.versions[key]} → {after.versions[key]}" for key in VERSION_KEYS
                            if None not in (before.versions[key], after.versions[key])
                            and before.versions[key] != after.versions[key])
            if changes:
                upgrades.append(Upgrade(kind, after.when, changes))
    return upgrades


@dataclass(frozen=True)
class History:
    points: tuple[Point, ...]  # judged, oldest first
    series: tuple[Series, ...]
    upgrades: tuple[Upgrade, ...]
    files: tuple[Path, ...]  # the results files read
    skipped: tuple[str, ...]  # corrupt results files, "FILE: why"

    @property
    def runs(self) -> list[Run]:
        return runs_of(self.points)

    @property
    def kinds(self) -> list[str]:
        return sorted({point.run.kind for point in self.points})

    def of_kind(self, kind: str) -> tuple[list[Series], list[Upgrade], list[Run]]:
        return ([s for s in self.series if s.kind == kind], [u for u in self.upgrades if u.kind == kind],
                [run for run in self.runs if run.kind == kind])


def history(paths: Sequence[Path], tolerances: Tolerances | None = None) -> History:
    collection = collect(paths)
    if not collection.points:  # runs whose every scenario failed or was skipped: nothing to draw
        raise HistoryError(f"no measured scenario in the {len(collection.files)} results files under "
                           f"{', '.join(map(str, paths))}")
    points = judged(deduplicated(collection.points), tolerances or Tolerances())
    return History(tuple(points), tuple(series_of(points)), tuple(upgrades_of(runs_of(points))),
                   tuple(collection.files), tuple(collection.skipped))
