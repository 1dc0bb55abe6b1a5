"""How often the GPU verdicts cry wolf and how often they miss, measured on the population they see: every
committed clean GPU run of a GPU kind (each a night: one process, one run of the suite), grouped by scenario,
settings and library versions, in date order (`diffbench error-rates` writes it; error_rates.py has the CPU's).

- compare's allowances: per channel (GPU work, host time; the wall time of files without kernel time), the
  smallest threshold no ordered pair of same-code nights exceeds (rounded up to a whole percent): in-sample by
  construction, so every pair of committed same-code runs compares without a regression (checked file by file).
- the gate, real: each night judged against the nights before it (face/gate.py, window of up to gate.WINDOW, at
  least REAL_MIN_WINDOW), as the workflow would have judged it: suspected, and confirmed by the night before.
- the gate, simulated: a window of SIMULATED_WINDOW nights drawn from a scenario's clean nights, NEW another one,
  `trials` times; slowed NEW nights are made from clean ones as the slowdown plugin makes them: GPU work × (1 + f)
  (kernel time, and the wall time by the same seconds: `torch.cuda._sleep` per denoiser call) or host time +
  f × the wall time (a host sleep). A night is confirmed when its confirm rerun (another slowed or clean draw) is
  flagged too, or, on the next night, when the night before was. Per-night rates combine a night's gated
  scenarios as independent (stated: the population has too few runs of every scenario at once to draw whole
  nights).
- injected slowdowns, real: committed runs made slower on purpose, judged against the clean nights before them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from diffbench.face import channels, gate, history
from diffbench.face.verdicts import spread_of
from diffbench.store.layout import NOT_NIGHTS, SLOWED
from diffbench.store.results import Measurement

GATED_NIGHTS = 6  # a scenario with this many clean nights of one setting and versions is gated in the estimates
REAL_MIN_WINDOW = 5  # the nights a real night is judged against, at least ("a window of ≥ 5 nights")
SIMULATED_WINDOW = 5
SLOWDOWNS = (("gpu", 0.10), ("host", 0.10), ("gpu", 0.05))


@dataclass(frozen=True)
class Series:
    kind: str
    scenario: str
    setting: str
    versions: tuple
    nights: tuple[gate.Night, ...]  # oldest first


def population(baselines: Path, kind: str) -> tuple[list[Series], list[history.Point]]:
    """A GPU kind's clean nights per (scenario, setting, versions), and the points slowed on purpose."""
    collected = history.collect([baselines / kind])
    points = [p for p in history.deduplicated(collected.points)
              if p.run.kind == kind and _relative(p.run.path, baselines) not in NOT_NIGHTS]
    slowed = [p for p in points if _slowed(p, baselines)]
    clean = [p for p in points if not _slowed(p, baselines)]
    groups: dict[tuple, list[gate.Night]] = {}
    for point in clean:
        groups.setdefault((*point.timeline, tuple(point.run.versions.values())), []).append(gate.Night(point))
    series = [Series(k, scenario, setting, versions, tuple(nights))
              for (k, scenario, setting, versions), nights in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    return series, slowed


def _relative(path: Path, baselines: Path) -> str:
    try:
        return path.resolve().relative_to(baselines.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _slowed(point: history.Point, baselines: Path) -> tuple[str, float] | None:
    """Where and by how much this point was slowed on purpose, None for a clean one."""
    injected = point.measurement.get("injected_slowdown")
    if isinstance(injected, dict):
        return injected.get("where", "host"), float(injected.get("fraction", 0))
    scenario, where, fraction = SLOWED.get(_relative(point.run.path, baselines), ("", "", 0.0))
    return (where, fraction) if scenario == point.scenario else None


# ------------------------------------------------------------------------------------------ compare's allowances


def allowances(series: Sequence[Series]) -> dict:
    """Per channel the largest shift's lower end over every ordered pair of same-code nights, and where."""
    worst = {name: (0.0, "") for name in (channels.GPU.name, channels.HOST.name, "gpu")}
    for s in series:
        for a, b in itertools.permutations(s.nights, 2):
            base, new = a.measurement, b.measurement
            if base.count < 2 or new.count < 2:
                continue
            for channel in channels.channels_of(base, new):
                name = "gpu" if channel is channels.WALL else channel.name
                low = channel.interval(base, new)[0] if channel is not channels.WALL else _wall_low(base, new)
                if low > worst[name][0]:
                    worst[name] = (low, f"{s.scenario}: {a.label} → {b.label}")
    return {name: dict(allowance=math.ceil(low * 100) / 100, worst=where) for name, (low, where) in worst.items()}


def _wall_low(base: Measurement, new: Measurement) -> float:
    return spread_of(new)[0] / spread_of(base)[1] - 1


def same_code_file_pairs(baselines: Path, kind: str, tolerances) -> dict:
    """`diffbench compare` on every ordered pair of the kind's committed results files with the same torch,
    torchao and diffusers (clean runs only; common scenarios of the same settings): the regressions it reports on
    scenarios both measured (a failure fixed in the suite's own code between two runs is not the same code)."""
    from diffbench.face.compare import compare
    from diffbench.store import results
    from diffbench.store.results import MismatchError, ResultsError

    files = []
    for path in sorted((baselines / kind).rglob("*.json")):
        if _relative(path, baselines) in SLOWED.keys() | NOT_NIGHTS:
            continue
        try:
            run = results.load(path)
        except ResultsError:
            continue
        if run.measurements and not any(m.get("injected_slowdown") for m in run.measurements.values()):
            files.append(run)
    pairs, regressions = 0, []
    for base, new in itertools.permutations(files, 2):
        if {k: base.env.get(k) for k in history.VERSION_KEYS} != {k: new.env.get(k) for k in history.VERSION_KEYS}:
            continue
        common = set(base.measurements) & set(new.measurements)
        if not common:
            continue
        try:
            comparison = compare(base, new, tolerances, partial=True)
        except MismatchError:  # other settings (steps), CPU or weights: not the same measurement
            continue
        pairs += 1
        regressions += [f"{_relative(base.path, baselines)} → {_relative(new.path, baselines)}: {row.scenario}: "
                        f"{'; '.join(row.notes)}" for row in comparison.regressions if row.base and row.new]
    return dict(pairs=pairs, regressions=regressions)


# ------------------------------------------------------------------------------------------ the gate


def slowed_measurement(m: Measurement, where: str, fraction: float) -> Measurement:
    """A night made slower as the slowdown plugin makes it: GPU work × (1 + f), the wall time by the same seconds;
    or the host time + f × the wall time."""
    gpu = m.gpu_s or 0.0
    extra = fraction * (gpu if where == "gpu" else m.median)
    info = dict(m.info)
    if where == "gpu" and m.gpu_rounds:
        info["gpu_kernel_rounds_s"] = [x * (1 + fraction) for x in m.gpu_rounds]
        info["gpu_kernel_s"] = gpu * (1 + fraction)
    rounds = tuple(x + extra for x in m.rounds)
    return replace(m, info=info, rounds=rounds, median=m.median + extra, q1=m.q1 + extra, q3=m.q3 + extra,
                   low=None if m.low is None else m.low + extra, high=None if m.high is None else m.high + extra)


def _as_night(night: gate.Night, where: str | None, fraction: float) -> history.Point:
    point = night.point
    return point if where is None else replace(point, measurement=slowed_measurement(point.measurement, where,
                                                                                        fraction))


def real_walk(series: Series, allowances_: dict[str, float]) -> list[dict]:
    """Each night after the first REAL_MIN_WINDOW judged against the nights before it, as the gate would have."""
    judged = []
    for i in range(REAL_MIN_WINDOW, len(series.nights)):
        verdict = gate.walk(series.nights[:i], series.nights[i].point, gate.WINDOW, gate.MIN_SHIFT, allowances_)
        words = [c.word for c in verdict.channels]
        judged.append(dict(night=series.nights[i].label, window=len(verdict.window),
                           suspected=any(w in ("suspected", "confirmed") for w in words),
                           confirmed="confirmed" in words,
                           shifts={c.channel: round(c.shift, 4) for c in verdict.channels}))
    return judged


def _flagged(window: Sequence[gate.Night], point: history.Point, allowances_: dict[str, float]) -> bool:
    verdict = gate.judge_night(window, point, len(window), gate.MIN_SHIFT, allowances_)
    return any(c.status == "regression" for c in verdict.channels)


def simulate(series: Series, allowances_: dict[str, float], trials: int, rng: np.random.Generator) -> dict:
    """Rates over `trials` draws of a window and NEW nights from the series (see the module docstring)."""
    nights = series.nights
    counts = dict(clean_suspected=0, clean_confirmed=0, **{_key(w, f): 0 for w, f in SLOWDOWNS},
                  gpu_5pct_confirmed_within_2_nights=0)
    for _ in range(trials):
        order = rng.permutation(len(nights))
        window = [nights[i] for i in sorted(order[:SIMULATED_WINDOW])]
        new, rerun, second, second_rerun = (nights[i] for i in order[SIMULATED_WINDOW:SIMULATED_WINDOW + 4])
        flagged = _flagged(window, new.point, allowances_)
        counts["clean_suspected"] += flagged
        counts["clean_confirmed"] += flagged and _flagged(window, rerun.point, allowances_)
        for where, fraction in SLOWDOWNS:
            counts[_key(where, fraction)] += _flagged(window, _as_night(new, where, fraction), allowances_)
        # +5% GPU work on two nights in a row, each with its confirm rerun when flagged
        first = _flagged(window, _as_night(new, "gpu", 0.05), allowances_)
        confirmed = first and _flagged(window, _as_night(rerun, "gpu", 0.05), allowances_)
        if not confirmed:
            later = [*window[1:], gate.Night(_as_night(new, "gpu", 0.05))]  # night 1 joined (it did not fail)
            again = _flagged(later, _as_night(second, "gpu", 0.05), allowances_)
            confirmed = again and (first or _flagged(later, _as_night(second_rerun, "gpu", 0.05), allowances_))
        counts["gpu_5pct_confirmed_within_2_nights"] += confirmed
    return {key: value / trials for key, value in counts.items()}


def _key(where: str, fraction: float) -> str:
    return f"{where}_{fraction:.0%}_caught".replace("%", "pct")


def per_night(rates: Sequence[dict], key: str) -> float:
    """A night's rate over its gated scenarios, taken as independent."""
    return 1 - math.prod(1 - r[key] for r in rates)


def injected(series: Sequence[Series], slowed: Sequence[history.Point], baselines: Path,
             allowances_: dict[str, float]) -> list[dict]:
    """Each point slowed on purpose against the clean nights of its series before it."""
    out = []
    for point in slowed:
        where, fraction = _slowed(point, baselines)
        match = [s for s in series if (s.kind, s.scenario, s.setting) == point.timeline
                 and s.versions == tuple(point.run.versions.values())]
        before = [n for n in (match[0].nights if match else ()) if n.point.run.when < point.run.when]
        if not before:
            continue
        verdict = gate.judge_night(before, point, gate.WINDOW, gate.MIN_SHIFT, allowances_)
        out.append(dict(run=_relative(point.run.path, baselines), scenario=point.scenario, where=where,
                        asked=fraction, window=len(verdict.window),
                        caught=any(c.status == "regression" for c in verdict.channels),
                        shifts={c.channel: round(c.shift, 4) for c in verdict.channels}))
    return out


def measure_kind(baselines: Path, kind: str, trials: int, seed: int, tolerances) -> dict:
    series, slowed = population(baselines, kind)
    found = allowances(series)
    measured = {name: entry["allowance"] for name, entry in found.items()}
    gated = [s for s in series if len(s.nights) >= GATED_NIGHTS and s.nights[0].measurement.gpu_s]
    rng = np.random.default_rng(seed)
    simulated = {s.scenario: simulate(s, measured, trials, rng) for s in gated}
    real = {s.scenario: real_walk(s, measured) for s in gated}
    nights = sorted({n.point.run.when for s in gated for n in s.nights})
    return dict(
        kind=kind, allowances=found,
        same_code_file_pairs=same_code_file_pairs(baselines, kind, replace(tolerances, run_noise=measured)),
        gated=[dict(scenario=s.scenario, setting=s.setting, versions=list(s.versions), nights=len(s.nights),
                    days=sorted({n.point.run.when.date().isoformat() for n in s.nights})) for s in gated],
        days=sorted({when.date().isoformat() for when in nights}),
        real=real,
        real_nights=_real_nights(real),
        simulated=simulated,
        simulated_per_night={key: per_night(list(simulated.values()), key)
                             for key in ("clean_suspected", "clean_confirmed") if simulated},
        injected=injected(series, slowed, baselines, measured),
        busy={s.scenario: float(np.median([n.measurement.gpu_s / n.measurement.median for n in s.nights]))
              for s in gated},
        trials=trials, window=SIMULATED_WINDOW)


def _real_nights(real: dict[str, list[dict]]) -> dict:
    """The real judgements per night (run): a night is a false alarm when any of its scenarios was flagged."""
    nights: dict[str, list[dict]] = {}
    for judged in real.values():
        for entry in judged:
            nights.setdefault(entry["night"].split(" ", 2)[-1] + " " + entry["night"][:16], []).append(entry)
    return dict(nights=len(nights), suspected=sum(any(e["suspected"] for e in es) for es in nights.values()),
                confirmed=sum(any(e["confirmed"] for e in es) for es in nights.values()),
                scenario_nights=sum(len(es) for es in nights.values()))
