"""`diffbench gate HISTORY NEW`: the nightly gate, the newest run judged against its own history.

The history is every run of the same GPU kind under HISTORY (the nights; face/history.py reads them, a merged
store split into its runs). For each scenario NEW measured:

- the window: the last `window` nights of the same scenario and settings (steps, weights) on the same GPU kind
  and library versions. Where fewer than MIN_WINDOW nights have NEW's versions (an upgrade night), the window is
  the last nights of any versions, and the verdict names the upgrade inside it (`torchao 0.17.0 → 0.18.0`): what
  moved, moved with it.
- each channel (channels.py: GPU work, host time; the wall time where kernel time is missing) is judged against
  the window's own spread, as Perfherder and Bencher judge a series: NEW's value against the window's mean, with a
  one-sided prediction bound t(1 − ALPHA, n − 1) · sd · sqrt(1 + 1/n) around the window's median (GPU work and wall
  time on the log scale; host time as a fraction of the window's median wall time), never below `min_shift`. GPU
  work is near-normal from night to night, so its sd leaves the window's farthest night out: one bad night inside
  the window does not hide the next; host time is heavy-tailed (a host-bound scenario's slow nights are real host
  behaviour), so its sd keeps every night. A window of fewer than
  MIN_WINDOW nights has no spread of its own: the channel's measured run-to-run allowance (data/run_noise.toml)
  stands in for it.
- a regression one night shows is `suspected` (the workflow reruns it in fresh processes); it is `confirmed` when
  the night before was itself a regression of the same scenario and channel against its own window, or when every
  confirm rerun (`--confirm RUN ...`, judged against the same window) shows it too. Only a confirmed regression
  fails the gate.
- change points over each scenario's whole series (apache-otava's E-divisive means with a t-test), so a shift that
  crept in over several nights, or an old one, is located and dated, with any library upgrade at that night.

Nothing here runs a model: it reads results files (store/) and judges them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from diffbench.face import channels, history
from diffbench.face.channels import Channel
from diffbench.store.results import Measurement, Results

WINDOW = 10  # nights in the rolling window
MIN_WINDOW = 3  # nights a window needs for a spread of its own
ALPHA = 0.01  # one-sided: a same-code night exceeds the prediction bound this often, per scenario and channel
MIN_SHIFT = 0.02  # the smallest shift reported, whatever the window's spread
CHANGE_POINT_PVALUE = 0.001  # apache-otava's significance for a change point


@dataclass(frozen=True)
class Night:
    """One scenario measured in one run of the history (or NEW itself)."""

    point: history.Point

    @property
    def measurement(self) -> Measurement:
        return self.point.measurement

    @property
    def label(self) -> str:
        return f"{self.point.run.when:%Y-%m-%d %H:%M} {self.point.run.path.name}"


@dataclass(frozen=True)
class ChannelVerdict:
    channel: str  # channels.Channel.name
    status: str  # ok, regression (suspected or confirmed), improved
    shift: float  # NEW against the window's centre: a ratio − 1 (GPU, wall), a share of the wall time (host)
    bound: float  # the shift beyond which it is flagged
    spread: str  # where the bound came from: the window's own spread, or the measured allowance
    confirmed: bool = False
    why_confirmed: str = ""

    @property
    def word(self) -> str:
        if self.status == "regression":
            return "confirmed" if self.confirmed else "suspected"
        return self.status

    def describe(self, label: str) -> str:
        text = f"{label} {self.shift:+.1%} (bound ±{self.bound:.1%}, {self.spread})"
        return f"{text}; {self.why_confirmed}" if self.why_confirmed else text


@dataclass(frozen=True)
class ChangePoint:
    channel: str
    night: str  # the first night after the change
    shift: float  # mean after over mean before, − 1 (host: difference as a share of the wall time)
    pvalue: float
    upgrade: str = ""  # library versions that changed at that night


@dataclass
class ScenarioVerdict:
    scenario: str
    setting: str
    window: list[Night]
    channels: list[ChannelVerdict] = field(default_factory=list)
    upgrades: list[str] = field(default_factory=list)  # version changes between the window and NEW
    change_points: list[ChangePoint] = field(default_factory=list)
    status: str = "ok"  # confirmed, suspected, improved, ok, new (no history), failed, missing
    note: str = ""

    @property
    def flagged(self) -> bool:
        """Worth a confirm rerun: a suspected regression."""
        return self.status == "suspected"


@dataclass
class Verdict:
    new: Results
    kind: str
    scenarios: list[ScenarioVerdict]
    incomplete: list[str]

    @property
    def confirmed(self) -> list[ScenarioVerdict]:
        return [s for s in self.scenarios if s.status in ("confirmed", "failed")]

    @property
    def passed(self) -> bool:
        return not self.confirmed and not self.incomplete

    def of(self, status: str) -> list[ScenarioVerdict]:
        return [s for s in self.scenarios if s.status == status]


# ------------------------------------------------------------------------------------------ one channel


def _value(channel: Channel, m: Measurement, wall: float) -> float | None:
    """A channel's value on its additive scale: log seconds (GPU work, wall), host seconds over `wall`."""
    rounds = channel.rounds(m)
    if not rounds:
        return None
    value = statistics.median(rounds)
    if channel.ratio:
        return math.log(value) if value > 0 else None
    return value / wall


def _as_shift(channel: Channel, difference: float) -> float:
    return math.expm1(difference) if channel.ratio else difference


def t_quantile(p: float, df: int) -> float:
    from scipy import stats  # here: a gate over one night's runs never pays for scipy otherwise

    return float(stats.t.ppf(p, df))


def robust_sd(values: Sequence[float], centre: float) -> float:
    """The window's spread, robust to one bad night inside it (a suspected night joins the window when it is not
    confirmed, and must not hide the next one): the sample sd of the window without its night farthest from the
    median (with four nights or more)."""
    if len(values) < 4:
        return statistics.stdev(values)
    farthest = max(range(len(values)), key=lambda i: abs(values[i] - centre))
    return statistics.stdev(v for i, v in enumerate(values) if i != farthest)


def judge_channel(channel: Channel, window: Sequence[Measurement], new: Measurement, min_shift: float,
                  allowance: float) -> ChannelVerdict | None:
    """NEW's value against the window's; None where either lacks the channel."""
    wall = statistics.median(m.median for m in window) if window else new.median
    values = [v for m in window if (v := _value(channel, m, wall)) is not None]
    value = _value(channel, new, wall)
    if value is None or not values:
        return None
    centre, n = statistics.median(values), len(values)
    if n >= MIN_WINDOW:
        sd = robust_sd(values, centre) if channel is channels.GPU else statistics.stdev(values)
        half = t_quantile(1 - ALPHA, n - 1) * sd * math.sqrt(1 + 1 / n)
        bound, spread = max(min_shift, _as_shift(channel, half)), f"window of {n} nights"
    else:
        bound, spread = max(min_shift, allowance), f"{n}-night window: the measured run-to-run allowance"
    shift = _as_shift(channel, value - centre)
    status = "regression" if shift > bound else "improved" if shift < -bound else "ok"
    return ChannelVerdict(channel.name, status, shift, bound, spread)


# ------------------------------------------------------------------------------------------ one scenario


def _upgrades(window: Sequence[Night], new: history.Point) -> list[str]:
    changes = []
    for key, version in new.run.versions.items():
        before = sorted({str(n.point.run.versions[key]) for n in window if n.point.run.versions[key] != version
                         and n.point.run.versions[key] is not None})
        if before and version is not None:
            changes.append(f"{key} {', '.join(before)} → {version}")
    return changes


def choose_window(series: Sequence[Night], new: history.Point, size: int) -> list[Night]:
    """The last `size` nights with NEW's library versions, or, with fewer than MIN_WINDOW of them, of any."""
    same = [n for n in series if n.point.run.versions == new.run.versions]
    return list(same[-size:] if len(same) >= MIN_WINDOW else series[-size:])


def judge_night(series: Sequence[Night], new: history.Point, size: int, min_shift: float,
                allowances: dict[str, float]) -> ScenarioVerdict:
    """One scenario of NEW against the nights before it (oldest first), each channel on its own."""
    window = choose_window(series, new, size)
    verdict = ScenarioVerdict(new.scenario, new.setting, window, upgrades=_upgrades(window, new))
    if not window:
        verdict.status, verdict.note = "new", "no earlier night of this scenario on this GPU kind"
        return verdict
    measurements = [n.measurement for n in window]
    for channel in channels.channels_of(measurements[-1], new.measurement):
        name = channels.wall_class(new.run.env.get("gpu")) if channel is channels.WALL else channel.name
        judged = judge_channel(channel, measurements, new.measurement, min_shift, allowances.get(name, 0.0))
        if judged is not None:
            verdict.channels.append(judged)
    return verdict


def _status(verdict: ScenarioVerdict) -> str:
    words = [c.word for c in verdict.channels]
    for word in ("confirmed", "suspected", "improved"):
        if word in words:
            return word
    return "ok"


def confirm(verdict: ScenarioVerdict, previous: ScenarioVerdict | None, reruns: Sequence[Measurement],
            min_shift: float, allowances: dict[str, float]) -> None:
    """Mark each regressed channel confirmed when the night before regressed on it too (against its own window),
    or when every rerun regresses on it against the same window."""
    window = [n.measurement for n in verdict.window]
    for i, judged in enumerate(verdict.channels):
        if judged.status != "regression":
            continue
        channel = channels.CHANNELS.get(judged.channel) or channels.WALL
        why = ""
        before = next((c for c in previous.channels if c.channel == judged.channel), None) if previous else None
        if before is not None and before.status == "regression":
            why = f"the night before was {before.shift:+.1%} too"
        elif reruns:
            again = [judge_channel(channel, window, m, min_shift, allowances.get(judged.channel, 0.0))
                     for m in reruns]
            if all(r is not None and r.status == "regression" for r in again):
                why = "every confirm rerun shows it: " + ", ".join(f"{r.shift:+.1%}" for r in again)
        if why:
            verdict.channels[i] = ChannelVerdict(judged.channel, judged.status, judged.shift, judged.bound,
                                                 judged.spread, True, why)


CHANGE_POINTS_NEED = "change points need apache-otava: pip install 'diffbench[gate]'"


def change_points_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("otava") is not None


def change_points(series: Sequence[Night], min_shift: float) -> list[ChangePoint]:
    """apache-otava's change points over a scenario's whole series, per channel (needs 6 nights or more)."""
    if len(series) < 6 or not change_points_available():
        return []
    from otava.analysis import compute_change_points  # the `gate` extra (apache-otava)

    found = []
    last = series[-1].measurement
    wall = statistics.median(n.measurement.median for n in series)
    for channel in channels.channels_of(last, last):
        pairs = [(n, v) for n in series if (v := _value(channel, n.measurement, wall)) is not None]
        if len(pairs) < 6:
            continue
        nights, values = zip(*pairs)
        raw = [math.exp(v) if channel.ratio else v for v in values]
        points, _ = compute_change_points(raw, window_len=max(30, len(raw)), max_pvalue=CHANGE_POINT_PVALUE,
                                          min_magnitude=min_shift)
        for point in points:
            after, before = nights[point.index], nights[point.index - 1]
            stats = point.stats
            shift = stats.forward_rel_change() if channel.ratio else stats.mean_2 - stats.mean_1
            found.append(ChangePoint(channel.name, after.label, shift, float(stats.pvalue),
                                     "; ".join(_upgrades([before], after.point))))
    return found


# ------------------------------------------------------------------------------------------ the night


def nights_by_timeline(points: Sequence[history.Point]) -> dict[tuple, list[Night]]:
    """The history's nights per (GPU kind, scenario, setting), oldest first; runs with an injected slowdown are
    experiments, never nights."""
    timelines: dict[tuple, list[Night]] = {}
    for point in points:
        if point.measurement.get("injected_slowdown"):
            continue
        timelines.setdefault(point.timeline, []).append(Night(point))
    return timelines


def walk(series: Sequence[Night], new: history.Point, size: int, min_shift: float,
         allowances: dict[str, float]) -> ScenarioVerdict:
    """NEW judged against its series, confirmed by the night before (itself judged against the nights before
    it)."""
    verdict = judge_night(series, new, size, min_shift, allowances)
    previous = judge_night(series[:-1], series[-1].point, size, min_shift, allowances) if series else None
    confirm(verdict, previous, [], min_shift, allowances)
    return verdict


def gate(history_paths: Sequence[Path], new: Results, reruns: Sequence[Results] = (), size: int = WINDOW,
         min_shift: float = MIN_SHIFT, allowances: dict[str, float] | None = None) -> Verdict:
    """NEW against the history of its GPU kind (HISTORY: results files or folders of them)."""
    collected = history.collect(history_paths)
    return judge(collected.points, new, reruns, size, min_shift, allowances)


def judge(points: Sequence[history.Point], new: Results, reruns: Sequence[Results] = (), size: int = WINDOW,
          min_shift: float = MIN_SHIFT, allowances: dict[str, float] | None = None,
          expect_last_night: bool = True) -> Verdict:
    """NEW against the history's points of its GPU kind from before it; `expect_last_night`: NEW must measure every
    scenario the last night measured (a nightly history; not for a store of runs of different selections)."""
    from diffbench.face.tolerances import load_run_noise

    allowances = load_run_noise() if allowances is None else allowances
    when = history.parse_when(new.datetime)
    if when is None:
        raise history.HistoryError(f"{new.path}: no valid 'datetime' ({new.datetime!r}), so no place in time")
    new_points = {p.scenario: p for p in history.points_of(new, when)}
    kind = history.gpu_kind(new.gpu)
    own = {(p.run.when, p.scenario) for p in new_points.values()}
    earlier = [p for p in history.deduplicated(points)
               if p.run.kind == kind and p.run.when < when and (p.run.when, p.scenario) not in own]
    timelines = nights_by_timeline(earlier)
    incomplete = []
    if any((p.run.when, p.scenario) in own for p in points if p.run.kind == kind):
        incomplete.append(f"{new.path.name} is already in the history: a night is judged before it joins it")
    if not new.measurements:
        incomplete.append("NEW measured no scenario")
    scenarios = []
    for scenario, point in new_points.items():
        series = timelines.get(point.timeline, [])
        verdict = walk(series, point, size, min_shift, allowances)
        again = [r.measurements[scenario] for r in reruns if scenario in r.measurements]
        confirm(verdict, None, again, min_shift, allowances)
        verdict.change_points = change_points([*series, Night(point)], min_shift)
        verdict.status = verdict.status if verdict.status == "new" else _status(verdict)
        scenarios.append(verdict)
    gated = _gated(earlier) if expect_last_night else set()
    measured = set(new.measurements)
    for scenario in sorted(gated - measured):
        failed = scenario in new.failures
        scenarios.append(ScenarioVerdict(scenario, "", [], status="failed" if failed else "missing",
                                         note="failed in NEW" if failed else "measured on the last night, not in NEW"))
    missing = [s.scenario for s in scenarios if s.status == "missing"]
    if missing:
        incomplete.append(f"{len(missing)} gated scenario(s) not measured in NEW: {', '.join(missing)}")
    if new.measurements and gated and not gated & measured:
        incomplete.append("NEW measured none of the history's scenarios")
    return Verdict(new, kind, scenarios, incomplete)


def _gated(points: Sequence[history.Point]) -> set[str]:
    """The scenarios of the last night: what the gate expects NEW to measure."""
    if not points:
        return set()
    last = max(p.run.when for p in points if not p.measurement.get("injected_slowdown"))
    return {p.scenario for p in points if p.run.when == last}
