"""How often `diffbench compare` cries wolf and how often it misses, measured on committed runs.

    diffbench error-rates           # writes baselines/error-rates.{json,md} and the run-noise allowances

Two estimates per session of a noise class (`gpu`, `cpu`), both from runs the suite wrote and that are
committed (RERUNS); a session is one stretch of runs on one machine, its slowed runs interleaved with its clean
ones. Estimates stay within a session, as `compare` is meant to be used: on a shared CPU the whole machine moves
between sessions (measured: the session centres in the report), which no rule on two runs can tell from a
change of the code.

- real: every ordered pair of reruns of the same code and selection (false alarms: a regression verdict), and
  every clean rerun against a run with a known slowdown injected by tools/slowdown_plugin.py (misses);
- simulated: BASE and NEW drawn as two different committed reruns of the session (any scenario of it), each
  scenario's rounds divided by the geometric mean of its medians over the reruns (so a run keeps its run
  factor and its round noise together: a slow run often has one normal round), the rounds resampled with
  replacement; NEW multiplied by 1 + slowdown.

The run-to-run allowance of a class (src/diffbench/data/run_noise.toml) is the smallest threshold that none of
the class's committed rerun pairs of one session exceeds (rounded up to the next whole percent): reruns of the same
code are never a regression by construction there, so the real false-alarm count is in-sample; the simulation, which
draws new combinations of round and run noise, is the out-of-sample estimate.

Several processes per side (`diffbench compare --base-also/--new-also`, the between-process rule), for the k
processes a side in PROCESSES and the fewest that meet the session's target in simulation (processes_needed),
each estimate only where the session has the runs for it (else the report says what is missing); where the
combinations exceed MAX_COMBINATIONS, that many are drawn at random (seeded):

- real false alarms: ordered pairs of disjoint k-subsets of the clean reruns (k BASE, k NEW processes);
- real detections: k-subsets of the clean reruns as BASE against k-subsets of the slowed runs as NEW;
- simulated: 2k different process vectors (see above) drawn, each one's rounds resampled and its median taken,
  k of them as BASE and k, multiplied by 1 + slowdown, as NEW. The vectors of one run's scenarios share its
  run factor but are drawn as separate processes, as in the single-run simulation.

The between-process rule uses --fail-latency alone as its threshold (no run-to-run allowance), 5% here, and
as its sd the larger of the comparison's pooled sample sd and the class's process sd (run_noise.toml
`process_sd`, `process_df`): the sd of the log of each clean rerun's median over its scenario's geometric mean
(the same centre the single-run simulation divides by), pooled over the class's scenarios and sessions (each
session its own centre), with df = clean process medians − scenarios × sessions; rounded up to 0.001. A class
with fewer than MIN_RERUNS_FOR_PROCESS_SD clean reruns gets none (its comparisons use the sample sd alone), and
the report says so. The real and simulated estimates use the value measured here, so they are in-sample for it,
as the allowance's real false alarms are.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffbench.face import channels, gpu_error_rates
from diffbench.face.tolerances import RUN_NOISE_FILE, ProcessNoise, Tolerances
from diffbench.face.verdicts import CONFIDENCE, geometric_mean, judge_latency, judge_processes, spread_of
from diffbench.store import results
from diffbench.store.results import Measurement

BASELINES = Path("baselines")  # the repository's baseline store (the command runs from its root: --baselines)
RUN_NOISE = RUN_NOISE_FILE
PROCESSES = (3, 5, 8, 10, 16)  # processes per side of the between-process estimates
# Real estimates enumerate every combination of runs while there are at most this many, else draw this many at
# random (seeded): 20 clean reruns make 3.4e7 ordered pairs of disjoint 5-subsets.
MAX_COMBINATIONS = 2000
SLOWDOWNS = (0.0, 0.05, 0.10, 0.20, 0.30)
# Clean reruns a class needs for a process sd: as many as one disjoint 3 + 3 comparison. With fewer (the GPU's 3
# reruns of one scenario: 2 df) the floor would be as uncertain as the sample sd it is meant to steady.
MIN_RERUNS_FOR_PROCESS_SD = 6


@dataclass(frozen=True)
class RerunSet:
    """Reruns of one selection with the same code, made in one session on one machine, and runs of it with a
    known slowdown injected in that session."""

    name: str  # the noise class (run_noise.toml's section)
    clean: tuple[str, ...]  # paths under baselines/
    slowed: tuple[tuple[str, str, float], ...] = ()  # (path, scenario id, slowdown asked of the plugin)
    target: float = 0.10  # the slowdown the simulation must catch
    session: str = ""  # which session of the class, where it has several

    @property
    def label(self) -> str:
        return f"{self.name}-{self.session}" if self.session else self.name


RERUNS = (
    # CPU sessions (tiny FLUX, 32 steps, 10 rounds, on the 2-core CI kind, nothing else running), each slowed run
    # made right after a clean one. Compare judges runs of one session: across sessions the whole machine moved
    # (session 2 ran about 35% faster than session 1 throughout), which the report measures as the session centres.
    RerunSet("cpu", clean=tuple(f"cpu/reruns/rerun-{i}.json" for i in range(1, 9)),
             slowed=tuple((f"cpu/reruns/slower30-{i}.json", "*", 0.30) for i in range(1, 4)),
             target=0.30, session="1"),
    RerunSet("cpu", clean=tuple(f"cpu/reruns/rerun-{i}.json" for i in range(9, 21)),
             slowed=tuple((f"cpu/reruns/slower30-{i}.json", "*", 0.30) for i in range(4, 13)),
             target=0.30, session="2"),
    RerunSet("cpu", clean=tuple(f"cpu/reruns/rerun-{i}.json" for i in range(21, 37)),
             slowed=tuple((f"cpu/reruns/slower30-{i}.json", "*", 0.30) for i in range(13, 29)),
             target=0.30, session="3"),
)


def load(path: str) -> results.Results:
    return results.load(BASELINES / path)


def classify(m: Measurement, gpu: str | None, t: Tolerances) -> str:
    """The wall channel's class of a rerun (these sessions are CPU runs: `cpu`)."""
    return channels.wall_class(gpu)


def noise_of(runs: list[results.Results], kind: str, t: Tolerances) -> list[np.ndarray]:
    """Every run's rounds of the class's scenarios, each scenario's divided by the geometric mean of its medians
    over the reruns: what one run of the same code looks like, its run factor and round noise kept together."""
    common = set.intersection(*(set(r.measurements) for r in runs))
    vectors = []
    for scenario in sorted(common):
        ms = [r.measurements[scenario] for r in runs]
        if any(classify(m, r.gpu, t) != kind or len(m.rounds) < 2 for m, r in zip(ms, runs)):
            continue
        centre = math.exp(np.mean([math.log(m.median) for m in ms]))
        vectors += [np.array(m.rounds) / centre for m in ms]
    return vectors


def allowance(runs: list[results.Results], kind: str, t: Tolerances) -> float:
    """The smallest threshold no ordered pair of these reruns exceeds on the class's scenarios."""
    worst = 0.0
    for base, new in itertools.permutations(runs, 2):
        for scenario, b in base.measurements.items():
            n = new.measurements.get(scenario)
            if n is None or classify(b, base.gpu, t) != kind or not (b.low and b.high and n.low and n.high):
                continue
            (b_low, b_high), (n_low, n_high) = spread_of(b), spread_of(n)
            worst = max(worst, n_low / b_high - 1, b_low / n_high - 1)
    return math.ceil(worst * 100) / 100


def process_squares(runs: list[results.Results], kind: str, t: Tolerances) -> tuple[float, int]:
    """The sum of squares of the log of each clean rerun's median over its scenario's geometric mean (over
    these reruns), and its degrees of freedom (medians − scenarios), over the class's scenarios."""
    squares, df = 0.0, 0
    for scenario in _common(runs):
        ms = [r.measurements[scenario] for r in runs]
        if any(classify(m, r.gpu, t) != kind or not m.median > 0 for m, r in zip(ms, runs)):
            continue
        logs = np.log([m.median for m in ms])
        squares += float(np.sum((logs - logs.mean()) ** 2))
        df += len(ms) - 1
    return squares, df


def process_noise(sessions: list[list[results.Results]], kind: str, t: Tolerances) -> ProcessNoise | None:
    """The class's between-process sd of log medians, pooled over its sessions (each session's own centres),
    rounded up to 0.001; None with fewer than MIN_RERUNS_FOR_PROCESS_SD clean reruns."""
    if sum(len(runs) for runs in sessions) < MIN_RERUNS_FOR_PROCESS_SD:
        return None
    parts = [process_squares(runs, kind, t) for runs in sessions]
    squares, df = sum(p[0] for p in parts), sum(p[1] for p in parts)
    if df < 1:
        return None
    return ProcessNoise(math.ceil(math.sqrt(squares / df) * 1000) / 1000, df, kind)


def session_centres(sessions: list[list[results.Results]], labels: list[str]) -> dict[str, dict[str, float]]:
    """Each session's geometric mean median per scenario over the first session's: how far the whole machine
    moved between sessions."""
    centres = [{s: geometric_mean([r.measurements[s].median for r in runs]) for s in _common(runs)}
               for runs in sessions]
    return {label: {s: c[s] / centres[0][s] for s in c if s in centres[0]} for label, c in zip(labels, centres)}


def real_false_alarms(runs: list[results.Results], t: Tolerances) -> dict:
    pairs = list(itertools.permutations(runs, 2))
    alarms = [f"{b.path.name} → {n.path.name}: {s}" for b, n in pairs for s, m in b.measurements.items()
              if s in n.measurements
              and judge_latency(m, n.measurements[s], max(t.latency, t.run_noise.get(classify(m, n.gpu, t), 0)))
              .status == "regression"]
    return dict(pairs=len(pairs), pairs_with_a_regression=len({a.split(":")[0] for a in alarms}), alarms=alarms)


def real_detections(runs: list[results.Results], rerun_set: RerunSet, t: Tolerances) -> dict:
    cases = []
    for path, wanted, asked in rerun_set.slowed:
        slowed = load(path)
        for base in runs:
            for scenario in (base.measurements if wanted == "*" else [wanted]):
                if scenario in slowed.measurements and scenario in base.measurements:
                    b, n = base.measurements[scenario], slowed.measurements[scenario]
                    verdict = judge_latency(b, n, max(t.latency, t.run_noise.get(classify(b, slowed.gpu, t), 0)))
                    cases.append(dict(base=base.path.name, new=slowed.path.name, scenario=scenario,
                                      asked=asked, measured=n.median / b.median - 1, verdict=verdict.status))
    caught = sum(c["verdict"] == "regression" for c in cases)
    return dict(cases=len(cases), caught=caught, details=cases)


def simulate(vectors: list[np.ndarray], slowdown: float, threshold: float, trials: int, seed: int) -> dict[str, float]:
    """Verdict rates for pairs of measured runs (two different ones, drawn at random, each with its rounds
    shuffled and resampled), NEW multiplied by 1 + slowdown (see the module docstring)."""
    rng = np.random.default_rng(seed)
    counts = dict(regression=0, improved=0, ok=0, inconclusive=0)
    for _ in range(trials):
        i, j = rng.choice(len(vectors), 2, replace=False)
        base = rng.choice(vectors[i], len(vectors[i]))
        new = (1 + slowdown) * rng.choice(vectors[j], len(vectors[j]))
        b, n = (Measurement("sim", {}, float(np.median(x)), 0.0, 0.0, 0.0, tuple(x), float(x.min()),
                            float(x.max()), len(x)) for x in (base, new))
        counts[judge_latency(b, n, threshold).status] += 1
    return {k: v / trials for k, v in counts.items()}


def _names(runs: list[results.Results]) -> str:
    return ",".join(run.path.stem for run in runs)


def _common(runs: list[results.Results], wanted: set[str] | None = None) -> list[str]:
    """The scenarios every run measured (only `wanted` ones when given), in the first run's order."""
    return [s for s in runs[0].measurements if all(s in r.measurements for r in runs) and (not wanted or s in wanted)]


def subsets(n: int, k: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every k-subset of range(n) while there are at most MAX_COMBINATIONS, else that many drawn at random."""
    if math.comb(n, k) <= MAX_COMBINATIONS:
        return list(itertools.combinations(range(n), k))
    return [tuple(sorted(rng.choice(n, k, replace=False).tolist())) for _ in range(MAX_COMBINATIONS)]


def disjoint_pairs(n: int, k: int, rng: np.random.Generator) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every ordered pair of disjoint k-subsets of range(n) while there are at most MAX_COMBINATIONS, else that
    many drawn at random."""
    if math.comb(n, k) * math.comb(n - k, k) <= MAX_COMBINATIONS:
        return [(chosen, other) for chosen in itertools.combinations(range(n), k)
                for other in itertools.combinations([i for i in range(n) if i not in chosen], k)]
    pairs = []
    for _ in range(MAX_COMBINATIONS):
        drawn = rng.permutation(n)[:2 * k].tolist()
        pairs.append((tuple(sorted(drawn[:k])), tuple(sorted(drawn[k:]))))
    return pairs


def _sampled(count: int, total: int) -> str:
    return "" if count == total else f" (drawn at random from {total:.2g})"


def process_false_alarms(runs: list[results.Results], k: int, t: Tolerances, seed: int = 0) -> dict:
    """Ordered pairs of disjoint k-subsets of the clean reruns (every one, or MAX_COMBINATIONS drawn), judged
    by the between-process rule."""
    if len(runs) < 2 * k:
        return dict(missing=f"{len(runs)} clean reruns, {2 * k} needed for disjoint {k} + {k} processes")
    pairs, alarms = disjoint_pairs(len(runs), k, np.random.default_rng(seed)), []
    for chosen, other in pairs:
        base, new = [runs[i] for i in chosen], [runs[i] for i in other]
        for scenario in _common(base + new):
            kind, verdict = channels.judge_scenario_processes([r.measurements[scenario] for r in base],
                                                              [r.measurements[scenario] for r in new], new[0].gpu,
                                                              t.latency, t.process_noise)
            if verdict.status == "regression":
                alarms.append(f"{_names(base)} → {_names(new)}: {scenario}: {verdict.note}")
    total = math.comb(len(runs), k) * math.comb(len(runs) - k, k)
    return dict(pairs=len(pairs), of=total, pairs_with_a_regression=len({a.split(":")[0] for a in alarms}),
                alarms=alarms)


def process_detections(runs: list[results.Results], rerun_set: RerunSet, k: int, t: Tolerances,
                       seed: int = 0) -> dict:
    """k clean reruns as BASE against k slowed runs as NEW: every such pair of subsets, or MAX_COMBINATIONS
    drawn at random."""
    paths = list(dict.fromkeys(path for path, _, _ in rerun_set.slowed))
    if len(paths) < k or len(runs) < k:
        return dict(missing=f"{len(paths)} slowed runs and {len(runs)} clean reruns, {k} of each needed")
    rng = np.random.default_rng(seed)
    slowed_runs = [load(path) for path in paths]
    wanted = {scenario for _, scenario, _ in rerun_set.slowed}
    asked = {scenario: slowdown for _, scenario, slowdown in rerun_set.slowed}
    total = math.comb(len(runs), k) * math.comb(len(paths), k)
    if total <= MAX_COMBINATIONS:
        combos = list(itertools.product(subsets(len(runs), k, rng), subsets(len(paths), k, rng)))
    else:
        combos = [(tuple(sorted(rng.choice(len(runs), k, replace=False).tolist())),
                   tuple(sorted(rng.choice(len(paths), k, replace=False).tolist()))) for _ in range(MAX_COMBINATIONS)]
    cases = []
    for chosen, slowed_chosen in combos:
        base, slowed = [runs[i] for i in chosen], [slowed_runs[i] for i in slowed_chosen]
        for scenario in _common(base + slowed, None if "*" in wanted else wanted):
            bs, ns = [r.measurements[scenario] for r in base], [r.measurements[scenario] for r in slowed]
            verdict = channels.judge_scenario_processes(bs, ns, slowed[0].gpu, t.latency, t.process_noise)[1]
            cases.append(dict(base=_names(base), new=_names(slowed), scenario=scenario,
                              asked=asked.get(scenario, asked.get("*")),
                              measured=geometric_mean([m.median for m in ns]) / geometric_mean([m.median for m in bs])
                              - 1, verdict=verdict.status, note=verdict.note))
    return dict(cases=len(cases), of=total * len(_common(runs + slowed_runs)), subsets=len(combos),
                caught=sum(c["verdict"] == "regression" for c in cases), details=cases)


def simulate_processes(vectors: list[np.ndarray], k: int, slowdown: float, threshold: float, trials: int,
                       seed: int, floor: ProcessNoise | None = None) -> dict[str, float]:
    """Verdict rates of the between-process rule for k + k processes drawn from the measured runs (2k different
    vectors, each one's rounds resampled, its median the process's), NEW multiplied by 1 + slowdown."""
    rng = np.random.default_rng(seed)
    counts = dict(regression=0, improved=0, ok=0, inconclusive=0)
    for _ in range(trials):
        chosen = rng.choice(len(vectors), 2 * k, replace=False)
        medians = [float(np.median(rng.choice(vectors[i], len(vectors[i])))) for i in chosen]
        new = [(1 + slowdown) * m for m in medians[k:]]
        counts[judge_processes(medians[:k], new, threshold, floor=floor).status] += 1
    return {key: value / trials for key, value in counts.items()}


def measure_processes(runs: list[results.Results], rerun_set: RerunSet, vectors: list[np.ndarray], k: int,
                      t: Tolerances, trials: int, seed: int) -> dict:
    floor = t.process_noise.get(rerun_set.name)
    simulated = ({f"{s:.0%}": simulate_processes(vectors, k, s, t.latency, trials, seed, floor) for s in SLOWDOWNS}
                 if len(vectors) >= 2 * k else
                 dict(missing=f"{len(vectors)} process vectors (scenario × clean rerun), {2 * k} needed"))
    return dict(k=k, confidence=CONFIDENCE, threshold=t.latency,
                real_false_alarms=process_false_alarms(runs, k, t),
                real_detections=process_detections(runs, rerun_set, k, t), simulated=simulated)


def processes_needed(vectors: list[np.ndarray], rerun_set: RerunSet, t: Tolerances, trials: int,
                     seed: int) -> int | None:
    """The fewest processes a side with which simulated pairs catch the set's target slowdown at least 95% of
    the time and alarm on no slowdown at most 1 in 30; None if the set's runs cannot draw that many."""
    floor = t.process_noise.get(rerun_set.name)
    for k in range(2, len(vectors) // 2 + 1):
        caught = simulate_processes(vectors, k, rerun_set.target, t.latency, trials, seed, floor)["regression"]
        cried = simulate_processes(vectors, k, 0.0, t.latency, trials, seed, floor)["regression"]
        if caught >= 0.95 and cried <= 1 / 30:
            return k
    return None


def measure_set(rerun_set: RerunSet, runs: list[results.Results], t: Tolerances, trials: int, seed: int) -> dict:
    """Every estimate for one session of a class, judged with the class's allowance and process sd."""
    kind = rerun_set.name
    vectors = noise_of(runs, kind, t)
    threshold = max(t.latency, t.run_noise[kind])
    needed = processes_needed(vectors, rerun_set, t, min(trials, 1000), seed) if t.process_noise.get(kind) else None
    own = process_noise([runs], kind, Tolerances(run_noise={}, process_noise={}))  # this session's alone
    return dict(
        noise_class=kind, runs=list(rerun_set.clean), threshold=threshold, target=rerun_set.target,
        session_process_sd=own.sd if own else None,
        rounds=min(len(v) for v in vectors), run_medians=sorted(float(np.median(v)) for v in vectors),
        real_false_alarms=real_false_alarms(runs, t), real_detections=real_detections(runs, rerun_set, t),
        simulated={f"{s:.0%}": simulate(vectors, s, threshold, trials, seed) for s in SLOWDOWNS},
        processes_needed=needed,
        processes={str(k): measure_processes(runs, rerun_set, vectors, k, t, trials, seed)
                   for k in sorted(set(PROCESSES) | ({needed} if needed else set()))},
    )


def measure_all(trials: int = 4000, seed: int = 0) -> dict:
    """The class's allowance and process sd from all its sessions, then every estimate per session."""
    plain = Tolerances(run_noise={}, process_noise={})
    report: dict = dict(trials=trials, seed=seed, classes={}, sets={})
    for kind in dict.fromkeys(r.name for r in RERUNS):
        sets = [r for r in RERUNS if r.name == kind]
        sessions = [[load(p) for p in r.clean] for r in sets]
        run_noise = max(allowance(runs, kind, plain) for runs in sessions)
        floor = process_noise(sessions, kind, plain)
        clean = sum(len(runs) for runs in sessions)
        report["classes"][kind] = dict(
            sets=[r.label for r in sets], runs=[p for r in sets for p in r.clean], allowance=run_noise,
            process_sd=floor.sd if floor else None, process_df=floor.df if floor else None,
            process_sd_missing=None if floor else (f"{clean} clean reruns, {MIN_RERUNS_FOR_PROCESS_SD} needed "
                                                   "for a process sd: the between-process rule uses the sample sd"),
            session_centres=session_centres(sessions, [r.label for r in sets]) if len(sets) > 1 else None)
        tolerances = Tolerances(run_noise={kind: run_noise}, process_noise={kind: floor} if floor else {})
        for rerun_set, runs in zip(sets, sessions):
            report["sets"][rerun_set.label] = measure_set(rerun_set, runs, tolerances, trials, seed)
    report["gpu"] = {kind: gpu_error_rates.measure_kind(BASELINES, kind, min(trials, GPU_TRIALS), seed, plain)
                     for kind in gpu_kinds()}
    for name in GPU_CLASSES:
        found = [r["allowances"][name] for r in report["gpu"].values() if r["allowances"][name]["worst"]]
        worst = max(found, key=lambda entry: entry["allowance"], default=None)
        if worst is not None:
            report["classes"][name] = dict(allowance=worst["allowance"], worst=worst["worst"], process_sd=None,
                                           runs=[], process_sd_missing="judged per channel across processes "
                                           "with the sample sd")
    return report


GPU_TRIALS = 2000  # simulated gate nights per scenario: each is several window judgements
GPU_CLASSES = ("gpu-time", "host-time", "gpu")  # compare's channel classes on a GPU (channels.py)


def gpu_kinds() -> list[str]:
    """The GPU kinds of the baseline store (its folders other than `cpu`)."""
    return sorted(p.name for p in BASELINES.iterdir() if p.is_dir() and p.name != "cpu")


def markdown(report: dict) -> str:
    lines = ["# How often `diffbench compare` and `diffbench gate` cry wolf and miss", "",
             "Written by `diffbench error-rates` from the committed runs; do not edit by hand.", ""]
    lines += gpu_markdown(report)
    for kind, c in report["classes"].items():
        if kind in GPU_CLASSES:
            continue
        sd = (f"process sd {c['process_sd']:.3f} ({c['process_df']} df, pooled over its sessions)"
              if c["process_sd"] is not None else f"no process sd ({c['process_sd_missing']})")
        lines += [f"## {kind}", "", f"- run-to-run allowance {c['allowance']:.0%} (the largest of its sessions'), {sd}"]
        if c["session_centres"]:
            lines.append("- session centres (each session's geometric mean median over the first session's): "
                         + "; ".join(
                f"{label} " + ", ".join(f"{ratio:.3f}" for ratio in centres.values())
                for label, centres in c["session_centres"].items()))
        lines.append("")
        for label in c["sets"]:
            lines += _set_markdown(label, report["sets"][label], c, report["trials"])
    return "\n".join(lines)


def _set_markdown(label: str, st: dict, c: dict, trials: int) -> list[str]:
    fa, det = st["real_false_alarms"], st["real_detections"]
    needed = (f"{st['processes_needed']} + {st['processes_needed']} processes" if st["processes_needed"]
              else "not reached with the processes these runs can draw" if c["process_sd"] is not None
              else "no estimate (no process sd)")
    lines = [f"### {label}", "", f"runs: {', '.join(st['runs'])}", "",
             f"- threshold {st['threshold']:.0%}, {st['rounds']} rounds a run; run medians over their scenario's "
             f"centre {st['run_medians'][0]:.3f}..{st['run_medians'][-1]:.3f}"
             + (f"; this session's own process sd {st['session_process_sd']:.3f}" if st["session_process_sd"] else ""),
             f"- real reruns: {fa['pairs_with_a_regression']} of {fa['pairs']} ordered pairs report a regression",
             f"- real injected slowdowns: {det['caught']} of {det['cases']} caught"]
    lines += _listed([f"  - {d['base']} → {d['new']} {d['scenario']}: asked +{d['asked']:.0%}, measured "
                      f"{d['measured']:+.1%}, {d['verdict']}" for d in det["details"]])
    lines += [f"- processes needed to catch +{st['target']:.0%} in 95% of simulated pairs with at most 1 false alarm "
              f"in 30: {needed}"]
    lines += ["", f"simulated ({trials} pairs each):", ""] + _table(st["simulated"]) + [""]
    return lines + _processes_markdown(st["processes"], trials, c)


LISTED = 12  # cases listed by name per estimate; the counts cover them all


def _listed(lines: list[str]) -> list[str]:
    return lines if len(lines) <= LISTED else lines[:LISTED] + [f"  - ... and {len(lines) - LISTED} more (in the JSON)"]


def _table(simulated: dict) -> list[str]:
    return ["| slowdown | regression | inconclusive | ok | improved |", "|---|---|---|---|---|"] + [
        f"| {s} | {r['regression']:.1%} | {r['inconclusive']:.1%} | {r['ok']:.1%} | {r['improved']:.1%} |"
        for s, r in simulated.items()]


def _processes_markdown(processes: dict, trials: int, c: dict) -> list[str]:
    first = next(iter(processes.values()))
    sd = (f"sd the larger of the comparison's pooled sample sd and the class's process sd {c['process_sd']:.3f} "
          f"({c['process_df']} df: the log of each clean rerun's median over its scenario's geometric mean, pooled)"
          if c["process_sd"] is not None else f"sd the comparison's pooled sample sd alone (no class process sd: "
                                               f"{c['process_sd_missing']})")
    lines = ["#### Several processes per side (`--base-also`, `--new-also`)", "",
             f"Student's t interval ({first['confidence']:.0%}) of the ratio of the geometric means of the process "
             f"medians, {sd}, threshold ±{first['threshold']:.0%} (--fail-latency, no run-to-run allowance).", ""]
    for k, p in processes.items():
        fa, det, sim = p["real_false_alarms"], p["real_detections"], p["simulated"]
        lines += [f"##### {k} + {k} processes", ""]
        if "missing" in fa:
            lines.append(f"- real reruns: not enough runs ({fa['missing']})")
        else:
            lines.append(f"- real reruns: {fa['pairs_with_a_regression']} of {fa['pairs']} ordered pairs of disjoint "
                         f"{k} + {k} clean reruns{_sampled(fa['pairs'], fa['of'])} report a regression")
            lines += _listed([f"  - {alarm}" for alarm in fa["alarms"]])
        if "missing" in det:
            lines.append(f"- real injected slowdowns: not enough runs ({det['missing']})")
        else:
            measured = sorted(d["measured"] for d in det["details"])
            lines.append(f"- real injected slowdowns: {det['caught']} of {det['cases']} caught ({k} clean reruns as "
                         f"BASE, {k} slowed runs as NEW{_sampled(det['cases'], det['of'])}; measured "
                         f"{measured[0]:+.1%}..{measured[-1]:+.1%})")
            lines += _listed([f"  - {d['base']} → {d['new']} {d['scenario']}: asked +{d['asked']:.0%}, measured "
                              f"{d['measured']:+.1%}, {d['verdict']}"
                              for d in det["details"] if d["verdict"] != "regression"])
        if "missing" in sim:
            lines += [f"- simulated: not enough runs ({sim['missing']})", ""]
        else:
            lines += ["", f"simulated ({trials} pairs of {k} + {k} processes each):", ""] + _table(sim) + [""]
    return lines


def gpu_summary(report: dict) -> list[str]:
    """The gate's error rates per GPU kind, as a markdown table (README/docs generated section)."""
    lines = ["| GPU kind | nights (days) | same-code nights: suspected / confirmed | +10% GPU work caught | "
             "+10% host time caught (GPU-bound) | +5% GPU work confirmed within 2 nights |",
             "|---|---|---|---|---|---|"]
    for kind, r in report["gpu"].items():
        if not r["simulated"]:
            continue
        sim, night = r["simulated"], r["simulated_per_night"]
        bound = [s for s in sim if r["busy"].get(s, 0) >= BUSY_GPU_BOUND]
        real = r["real_nights"]
        lines.append(
            f"| {kind} | {max(g['nights'] for g in r['gated'])} ({', '.join(r['days'])}) | simulated "
            f"{night['clean_suspected']:.1%} / {night['clean_confirmed']:.1%} a night; real {real['suspected']} / "
            f"{real['confirmed']} of {real['nights']} | {_worst(sim, 'gpu_10pct_caught', sim)} | "
            f"{_worst(sim, 'host_10pct_caught', bound)} | {_worst(sim, 'gpu_5pct_confirmed_within_2_nights', sim)} |")
    return lines


BUSY_GPU_BOUND = 0.9  # a scenario whose GPU is this busy (kernel over wall time, median night) is GPU-bound


def _worst(sim: dict, key: str, scenarios) -> str:
    rates = {s: sim[s][key] for s in scenarios}
    if not rates:
        return "—"
    worst = min(rates, key=rates.get)
    return f"{min(rates.values()):.1%} (worst: {worst})"


def _shifts(shifts: dict) -> str:
    return ", ".join(f"{channel} {shift:+.1%}" for channel, shift in shifts.items())


def gpu_markdown(report: dict) -> list[str]:
    lines = ["## The GPU verdicts, on the population they see", "",
             "Every committed clean GPU run of a kind is a night (face/gpu_error_rates.py). The gate judges one night "
             f"against a window of {gpu_error_rates.SIMULATED_WINDOW} nights in the simulation; per-night rates "
             "combine a night's gated scenarios as independent.", ""] + gpu_summary(report) + [""]
    for kind, r in report["gpu"].items():
        lines += [f"### {kind}", ""]
        lines += [f"- compare's allowance for {name}: {a['allowance']:.0%}"
                  + (f" (set by {a['worst']})" if a["worst"] else " (no pair)") for name, a in r["allowances"].items()]
        pairs = r["same_code_file_pairs"]
        lines.append(f"- `diffbench compare` on {pairs['pairs']} ordered pairs of same-code committed files: "
                     f"{len(pairs['regressions'])} regressions")
        lines += [f"  - {line}" for line in pairs["regressions"][:LISTED]]
        injected = [f"- {i['run']} {i['scenario']}: {i['where']} +{i['asked']:.0%}, window {i['window']}, "
                    f"{'caught' if i['caught'] else 'missed'} ({_shifts(i['shifts'])})" for i in r["injected"]]
        lines += ["- real injected slowdowns, each against the clean nights before it:"] + \
            [f"  {line}" for line in injected or ["- none"]]
        if not r["gated"]:
            lines += [f"- no scenario has {gpu_error_rates.GATED_NIGHTS} clean nights with kernel time yet: no "
                      "estimate of the gate's rates on this kind", ""]
            continue
        lines += ["- gated: " + "; ".join(f"{g['scenario']} ({g['nights']} nights, {', '.join(g['days'])})"
                                            for g in r["gated"]),
                  f"- real, each night against the nights before it (at least {gpu_error_rates.REAL_MIN_WINDOW}): "
                  f"{r['real_nights']['suspected']} suspected, {r['real_nights']['confirmed']} confirmed of "
                  f"{r['real_nights']['nights']} nights ({r['real_nights']['scenario_nights']} scenario-nights)", "",
                  f"simulated ({r['trials']} draws per scenario):", "",
                  "| scenario | GPU busy | clean: suspected | clean: confirmed | +10% GPU | +10% host | +5% GPU | "
                  "+5% GPU confirmed in 2 nights |", "|---|---|---|---|---|---|---|---|"]
        for scenario, rates in r["simulated"].items():
            lines.append(f"| {scenario} | {r['busy'][scenario]:.2f} | {rates['clean_suspected']:.1%} | "
                         f"{rates['clean_confirmed']:.1%} | {rates['gpu_10pct_caught']:.1%} | "
                         f"{rates['host_10pct_caught']:.1%} | {rates['gpu_5pct_caught']:.1%} | "
                         f"{rates['gpu_5pct_confirmed_within_2_nights']:.1%} |")
        lines.append("")
    return lines


def write_run_noise(report: dict, path: Path = RUN_NOISE) -> None:
    lines = ["# Run-to-run allowance per noise class: the smallest latency threshold that no ordered pair of",
             "# committed reruns of the same code in one session exceeds (rounded up to a whole percent).",
             "# process_sd (the floor of the between-process rule's sd, --base-also/--new-also): the sd of the log of",
             "# each clean rerun's median over its scenario's geometric mean over the reruns, pooled over the class's",
             "# scenarios and sessions (rounded up to 0.001); process_df = clean process medians - scenarios x "
             "sessions.",
             f"# Only for a class with at least {MIN_RERUNS_FOR_PROCESS_SD} clean reruns (else absent: the "
             "sample sd",
             "# alone is used).",
             "# gpu-time, host-time (diffbench compare's channels on a GPU) and gpu (the wall time of GPU files",
             "# without kernel time): the smallest threshold no ordered pair of committed same-code runs of a GPU",
             "# kind exceeds.",
             "# Written by `diffbench error-rates` from the committed runs; do not edit by hand.", ""]
    for kind, c in report["classes"].items():
        lines += [f"[{kind}]", f"allowance = {c['allowance']}"]
        if c["process_sd"] is not None:
            lines += [f"process_sd = {c['process_sd']}", f"process_df = {c['process_df']}"]
        else:
            lines += [f"# no process_sd: {c['process_sd_missing']}"]
        lines += [f"runs = {json.dumps(c['runs'])}" if c["runs"] else f"# set by {c['worst']}", ""]
    path.write_text("\n".join(lines))


JSON_LISTED = 50  # cases kept by name per list in the JSON (the counts cover them all): it is committed


def _listed_at_most(value):
    """The report with each list of cases cut to JSON_LISTED, the number left out said in its last entry."""
    if isinstance(value, dict):
        return {key: _listed_at_most(v) for key, v in value.items()}
    if isinstance(value, list) and len(value) > JSON_LISTED and not all(isinstance(v, (int, float)) for v in value):
        return [_listed_at_most(v) for v in value[:JSON_LISTED]] + [f"... and {len(value) - JSON_LISTED} more"]
    return value


def write(report: dict, out: Path) -> list[Path]:
    """The report as JSON and markdown beside each other, and the allowances compare reads."""
    written = [out.with_suffix(".json"), out.with_suffix(".md"), RUN_NOISE]
    written[0].write_text(json.dumps(_listed_at_most(report), indent=1, default=str) + "\n")
    written[1].write_text(markdown(report))
    write_run_noise(report)
    return written
