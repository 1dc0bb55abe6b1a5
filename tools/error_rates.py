"""How often `diffbench compare` cries wolf and how often it misses, measured on committed runs.

    python tools/error_rates.py            # writes baselines/error-rates.{json,md} and the run-noise allowances

Two estimates per noise class (`gpu`, `cpu`), both from runs the suite wrote and that are committed (RERUNS):

- real: every ordered pair of reruns of the same code and selection (false alarms: a regression verdict), and
  every clean rerun against a run with a known slowdown injected by tools/slowdown_plugin.py (misses);
- simulated: BASE and NEW drawn as two different committed reruns of the class (any scenario of it), each
  scenario's rounds divided by the geometric mean of its medians over the reruns (so a run keeps its run
  factor and its round noise together: a slow run often has one normal round), the rounds resampled with
  replacement; NEW multiplied by 1 + slowdown.

The run-to-run allowance of a class (src/diffbench/data/run_noise.toml) is the smallest threshold that none of
the class's committed rerun pairs exceeds (rounded up to the next whole percent): reruns of the same code are
never a regression by construction there, so the real false-alarm count is in-sample; the simulation, which
draws new combinations of round and run noise, is the out-of-sample estimate.

Several processes per side (`diffbench compare --base-also/--new-also`, the between-process rule), for k = 3
and 5 processes a side (PROCESSES), each estimate only where the class has the runs for it (else the report
says what is missing):

- real false alarms: every ordered pair of disjoint k-subsets of the clean reruns (k BASE, k NEW processes);
- real detections: every k-subset of the clean reruns as BASE against the slowed runs as NEW (k of them
  needed: the slowed runs are used all together);
- simulated: 2k different process vectors (see above) drawn, each one's rounds resampled and its median taken,
  k of them as BASE and k, multiplied by 1 + slowdown, as NEW. The vectors of one run's scenarios share its
  run factor but are drawn as separate processes, as in the single-run simulation.

The between-process rule uses --fail-latency alone as its threshold (no run-to-run allowance), 5% here, and
as its sd the larger of the comparison's pooled sample sd and the class's process sd (run_noise.toml
`process_sd`, `process_df`): the sd of the log of each clean rerun's median over its scenario's geometric mean
(the same centre the single-run simulation divides by), pooled over the class's scenarios, with df = clean
process medians − scenarios; rounded up to 0.001. A class with fewer than MIN_RERUNS_FOR_PROCESS_SD clean reruns
gets none (its comparisons use the sample sd alone), and the report says so. The real and simulated estimates
use the value measured here, so they are in-sample for it, as the allowance's real false alarms are.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffbench.store import results
from diffbench.face.compare import CONFIDENCE, ProcessNoise, Tolerances, geometric_mean, judge_latency, judge_processes, judge_scenario_latency, judge_scenario_processes, noise_class, spread_of
from diffbench.store.results import Measurement

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "baselines"
RUN_NOISE = ROOT / "src" / "diffbench" / "data" / "run_noise.toml"
PROCESSES = (3, 5)  # processes per side of the between-process estimates
SLOWDOWNS = (0.0, 0.05, 0.10, 0.20, 0.30)
# Clean reruns a class needs for a process sd: as many as one disjoint 3 + 3 comparison. With fewer (the GPU's 3
# reruns of one scenario: 2 df) the floor would be as uncertain as the sample sd it is meant to steady.
MIN_RERUNS_FOR_PROCESS_SD = 6


@dataclass(frozen=True)
class RerunSet:
    """Reruns of one selection with the same code, and runs of it with a known slowdown injected."""

    name: str
    clean: tuple[str, ...]  # paths under baselines/
    slowed: tuple[tuple[str, str, float], ...] = ()  # (path, scenario id, slowdown asked of the plugin)
    target: float = 0.10  # the slowdown the simulation must catch


RERUNS = (
    RerunSet("gpu", clean=("nvidia-h200/gate/flux-run-a.json", "nvidia-h200/gate/flux-run-b.json",
                           "nvidia-h200/gate/flux-fp8dqrow-regional-sleep-0.json"),
             slowed=(("nvidia-h200/gate/flux-fp8dqrow-regional-sleep-0.10.json",
                      "flux-dev-fp8dqrow-regional-fuse-bs1", 0.10),
                     ("nvidia-h200/gate/flux-run-c-fp8dqrow-regional-10pct-slower.json",
                      "flux-dev-fp8dqrow-regional-fuse-bs1", 0.10)),
             target=0.10),
    RerunSet("cpu", clean=tuple(f"cpu/reruns/rerun-{i}.json" for i in range(1, 9)),
             slowed=tuple((f"cpu/reruns/slower30-{i}.json", "*", 0.30) for i in (1, 2, 3)),
             target=0.30),
)


def load(path: str) -> results.Results:
    return results.load(BASELINES / path)


def classify(m: Measurement, gpu: str | None, t: Tolerances) -> str:
    return noise_class(m, m, gpu, t)


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


def process_noise(runs: list[results.Results], kind: str, t: Tolerances) -> ProcessNoise | None:
    """The class's between-process sd of log medians: each clean rerun's median over its scenario's geometric
    mean, pooled over the class's scenarios (df = medians − scenarios), rounded up to 0.001; None with fewer
    than MIN_RERUNS_FOR_PROCESS_SD reruns."""
    if len(runs) < MIN_RERUNS_FOR_PROCESS_SD:
        return None
    squares, medians, scenarios = 0.0, 0, 0
    for scenario in _common(runs):
        ms = [r.measurements[scenario] for r in runs]
        if any(classify(m, r.gpu, t) != kind or not m.median > 0 for m, r in zip(ms, runs)):
            continue
        logs = np.log([m.median for m in ms])
        squares += float(np.sum((logs - logs.mean()) ** 2))
        medians, scenarios = medians + len(ms), scenarios + 1
    if medians - scenarios < 1:
        return None
    return ProcessNoise(math.ceil(math.sqrt(squares / (medians - scenarios)) * 1000) / 1000, medians - scenarios, kind)


def real_false_alarms(runs: list[results.Results], t: Tolerances) -> dict:
    pairs = list(itertools.permutations(runs, 2))
    alarms = [f"{b.path.name} → {n.path.name}: {s}" for b, n in pairs for s, m in b.measurements.items()
              if s in n.measurements
              and judge_scenario_latency(m, n.measurements[s], n.gpu, t)[1].status == "regression"]
    return dict(pairs=len(pairs), pairs_with_a_regression=len({a.split(":")[0] for a in alarms}), alarms=alarms)


def real_detections(runs: list[results.Results], rerun_set: RerunSet, t: Tolerances) -> dict:
    cases = []
    for path, wanted, asked in rerun_set.slowed:
        slowed = load(path)
        for base in runs:
            for scenario in (base.measurements if wanted == "*" else [wanted]):
                if scenario in slowed.measurements and scenario in base.measurements:
                    b, n = base.measurements[scenario], slowed.measurements[scenario]
                    verdict = judge_scenario_latency(b, n, slowed.gpu, t)[1]
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


def process_false_alarms(runs: list[results.Results], k: int, t: Tolerances) -> dict:
    """Every ordered pair of disjoint k-subsets of the clean reruns, judged by the between-process rule."""
    if len(runs) < 2 * k:
        return dict(missing=f"{len(runs)} clean reruns, {2 * k} needed for disjoint {k} + {k} processes")
    pairs, alarms = 0, []
    for chosen in itertools.combinations(range(len(runs)), k):
        rest = [i for i in range(len(runs)) if i not in chosen]
        for other in itertools.combinations(rest, k):
            base, new = [runs[i] for i in chosen], [runs[i] for i in other]
            pairs += 1
            for scenario in _common(base + new):
                kind, verdict = judge_scenario_processes([r.measurements[scenario] for r in base],
                                                         [r.measurements[scenario] for r in new], new[0].gpu, t)
                if verdict.status == "regression":
                    alarms.append(f"{_names(base)} → {_names(new)}: {scenario}: {verdict.note}")
    return dict(pairs=pairs, pairs_with_a_regression=len({a.split(":")[0] for a in alarms}), alarms=alarms)


def process_detections(runs: list[results.Results], rerun_set: RerunSet, k: int, t: Tolerances) -> dict:
    """Every k-subset of the clean reruns as BASE against the slowed runs, all k of them, as NEW."""
    paths = list(dict.fromkeys(path for path, _, _ in rerun_set.slowed))
    if len(paths) < k or len(runs) < k:
        return dict(missing=f"{len(paths)} slowed runs and {len(runs)} clean reruns, {k} of each needed")
    if len(paths) > k:
        return dict(missing=f"{len(paths)} slowed runs: the estimate uses exactly {k}")
    slowed = [load(path) for path in paths]
    wanted = {scenario for _, scenario, _ in rerun_set.slowed}
    asked = {scenario: slowdown for _, scenario, slowdown in rerun_set.slowed}
    cases = []
    for chosen in itertools.combinations(runs, k):
        base = list(chosen)
        for scenario in _common(base + slowed, None if "*" in wanted else wanted):
            bs, ns = [r.measurements[scenario] for r in base], [r.measurements[scenario] for r in slowed]
            verdict = judge_scenario_processes(bs, ns, slowed[0].gpu, t)[1]
            cases.append(dict(base=_names(base), new=_names(slowed), scenario=scenario,
                              asked=asked.get(scenario, asked.get("*")),
                              measured=geometric_mean([m.median for m in ns]) / geometric_mean([m.median for m in bs])
                              - 1, verdict=verdict.status, note=verdict.note))
    return dict(cases=len(cases), caught=sum(c["verdict"] == "regression" for c in cases), details=cases)


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


def measure_all(trials: int = 4000, seed: int = 0) -> dict:
    t = Tolerances(run_noise={}, process_noise={})
    report: dict = dict(trials=trials, seed=seed, classes={})
    for rerun_set in RERUNS:
        runs = [load(p) for p in rerun_set.clean]
        kind = rerun_set.name
        vectors = noise_of(runs, kind, t)
        run_noise = allowance(runs, kind, t)
        floor = process_noise(runs, kind, t)
        tolerances = Tolerances(run_noise={kind: run_noise}, process_noise={kind: floor} if floor else {})
        threshold = max(tolerances.latency, run_noise)
        report["classes"][kind] = dict(
            runs=list(rerun_set.clean), allowance=run_noise, threshold=threshold,
            process_sd=floor.sd if floor else None, process_df=floor.df if floor else None,
            process_sd_missing=None if floor else (f"{len(runs)} clean reruns, {MIN_RERUNS_FOR_PROCESS_SD} needed "
                                                   "for a process sd: the between-process rule uses the sample sd"),
            rounds=min(len(v) for v in vectors), run_medians=sorted(float(np.median(v)) for v in vectors),
            real_false_alarms=real_false_alarms(runs, tolerances),
            real_detections=real_detections(runs, rerun_set, tolerances),
            simulated={f"{s:.0%}": simulate(vectors, s, threshold, trials, seed) for s in SLOWDOWNS},
            target=rerun_set.target,
            processes={str(k): measure_processes(runs, rerun_set, vectors, k, tolerances, trials, seed)
                       for k in PROCESSES},
        )
    return report


def markdown(report: dict) -> str:
    lines = ["# How often `diffbench compare` cries wolf and misses", "",
             "Written by `python tools/error_rates.py` from the committed runs it names; do not edit by hand.", ""]
    for kind, c in report["classes"].items():
        fa, det = c["real_false_alarms"], c["real_detections"]
        lines += [f"## {kind}", "", f"runs: {', '.join(c['runs'])}", "",
                  f"- run-to-run allowance {c['allowance']:.0%}, threshold {c['threshold']:.0%}, "
                  f"{c['rounds']} rounds a run; run medians over their scenario's centre "
                  f"{c['run_medians'][0]:.3f}..{c['run_medians'][-1]:.3f}",
                  f"- real reruns: {fa['pairs_with_a_regression']} of {fa['pairs']} ordered pairs report a regression",
                  f"- real injected slowdowns: {det['caught']} of {det['cases']} caught"]
        lines += [f"  - {d['base']} → {d['new']} {d['scenario']}: asked +{d['asked']:.0%}, measured "
                  f"{d['measured']:+.1%}, {d['verdict']}" for d in det["details"]]
        lines += ["", f"simulated ({report['trials']} pairs each):", ""] + _table(c["simulated"]) + [""]
        lines += _processes_markdown(c["processes"], report["trials"], c)
    return "\n".join(lines)


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
    lines = ["### Several processes per side (`--base-also`, `--new-also`)", "",
             f"Student's t interval ({first['confidence']:.0%}) of the ratio of the geometric means of the process "
             f"medians, {sd}, threshold ±{first['threshold']:.0%} (--fail-latency, no run-to-run allowance).", ""]
    for k, p in processes.items():
        fa, det, sim = p["real_false_alarms"], p["real_detections"], p["simulated"]
        lines += [f"#### {k} + {k} processes", ""]
        if "missing" in fa:
            lines.append(f"- real reruns: not enough runs ({fa['missing']})")
        else:
            lines.append(f"- real reruns: {fa['pairs_with_a_regression']} of {fa['pairs']} ordered pairs of disjoint "
                         f"{k} + {k} clean reruns report a regression")
            lines += [f"  - {alarm}" for alarm in fa["alarms"]]
        if "missing" in det:
            lines.append(f"- real injected slowdowns: not enough runs ({det['missing']})")
        else:
            measured = sorted(d["measured"] for d in det["details"])
            lines.append(f"- real injected slowdowns: {det['caught']} of {det['cases']} caught ({k} clean reruns as "
                         f"BASE, the {k} slowed runs as NEW; measured {measured[0]:+.1%}..{measured[-1]:+.1%})")
            lines += [f"  - {d['base']} → {d['new']} {d['scenario']}: asked +{d['asked']:.0%}, measured "
                      f"{d['measured']:+.1%}, {d['verdict']}" for d in det["details"] if d["verdict"] != "regression"]
        if "missing" in sim:
            lines += [f"- simulated: not enough runs ({sim['missing']})", ""]
        else:
            lines += ["", f"simulated ({trials} pairs of {k} + {k} processes each):", ""] + _table(sim) + [""]
    return lines


def write_run_noise(report: dict, path: Path = RUN_NOISE) -> None:
    lines = ["# Run-to-run allowance per noise class: the smallest latency threshold that no ordered pair of",
             "# committed reruns of the same code exceeds (rounded up to a whole percent).",
             "# process_sd (the floor of the between-process rule's sd, --base-also/--new-also): the sd of the log of",
             "# each clean rerun's median over its scenario's geometric mean over the reruns, pooled over the class's",
             "# scenarios (rounded up to 0.001); process_df = clean process medians - scenarios. Only for a class with",
             f"# at least {MIN_RERUNS_FOR_PROCESS_SD} clean reruns (else absent: the sample sd alone is used).",
             "# Written by tools/error_rates.py from the runs listed; do not edit by hand.", ""]
    for kind, c in report["classes"].items():
        lines += [f"[{kind}]", f"allowance = {c['allowance']}"]
        if c["process_sd"] is not None:
            lines += [f"process_sd = {c['process_sd']}", f"process_df = {c['process_df']}"]
        else:
            lines += [f"# no process_sd: {c['process_sd_missing']}"]
        lines += [f"runs = {json.dumps(c['runs'])}", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=BASELINES / "error-rates")
    args = parser.parse_args(argv)
    report = measure_all(args.trials)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    write_run_noise(report)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
