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

from diffbench import results
from diffbench.compare import Tolerances, judge_latency, judge_scenario_latency, noise_class, spread_of
from diffbench.results import Measurement

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "baselines"
RUN_NOISE = ROOT / "src" / "diffbench" / "data" / "run_noise.toml"


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


def measure_all(trials: int = 4000, seed: int = 0) -> dict:
    t = Tolerances(run_noise={})
    report: dict = dict(trials=trials, seed=seed, classes={})
    for rerun_set in RERUNS:
        runs = [load(p) for p in rerun_set.clean]
        kind = rerun_set.name
        vectors = noise_of(runs, kind, t)
        run_noise = allowance(runs, kind, t)
        tolerances = Tolerances(run_noise={kind: run_noise})
        threshold = max(tolerances.latency, run_noise)
        report["classes"][kind] = dict(
            runs=list(rerun_set.clean), allowance=run_noise, threshold=threshold,
            rounds=min(len(v) for v in vectors), run_medians=sorted(float(np.median(v)) for v in vectors),
            real_false_alarms=real_false_alarms(runs, tolerances),
            real_detections=real_detections(runs, rerun_set, tolerances),
            simulated={f"{s:.0%}": simulate(vectors, s, threshold, trials, seed)
                       for s in (0.0, 0.05, 0.10, 0.20, 0.30)},
            target=rerun_set.target,
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
        lines += ["", f"simulated ({report['trials']} pairs each):", "",
                  "| slowdown | regression | inconclusive | ok | improved |", "|---|---|---|---|---|"]
        lines += [f"| {s} | {r['regression']:.1%} | {r['inconclusive']:.1%} | {r['ok']:.1%} | {r['improved']:.1%} |"
                  for s, r in c["simulated"].items()]
        lines.append("")
    return "\n".join(lines)


def write_run_noise(report: dict, path: Path = RUN_NOISE) -> None:
    lines = ["# Run-to-run allowance per noise class: the smallest latency threshold that no ordered pair of",
             "# committed reruns of the same code exceeds (rounded up to a whole percent). Written by",
             "# tools/error_rates.py from the runs listed; do not edit by hand.", ""]
    for kind, c in report["classes"].items():
        lines += [f"[{kind}]", f"allowance = {c['allowance']}", f"runs = {json.dumps(c['runs'])}", ""]
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
