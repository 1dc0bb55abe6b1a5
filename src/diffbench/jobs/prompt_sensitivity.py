"""Which of the proxy's evaluation prompts sit near a bifurcation of the sampler? `diffbench-jobs prompt-sensitivity`.

bf16 eager on the trained proxy with every attention output perturbed by seeded noise of each relative size
(build/perturbation.py), scored against the unperturbed run exactly as `pytest quality` scores a scheme. Noise the
size of bf16 rounding (2^-9 relative) is what any change of kernel, fusion or compile mode does to a trajectory: a
prompt it moves below a quality gate's bounds on some seeds fails that gate for reasons of its own, not of the
scheme under test. Per size and prompt, the log says how many seeds did (`--gate`: whose bounds; by default
fp8dqrow with FP8 attention's, the gate whose failure on one prompt this was written to explain).

    diffbench-jobs prompt-sensitivity --sizes 0.002,0.01,0.03 --seeds 8 --json LOG
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from diffbench.spec.gates import Gate


def prompts_below(records: list[dict[str, Any]], gates: list[Gate]) -> list[dict[str, Any]]:
    """Per noise size: for each prompt, how many of the seeds' images fail one of `gates` (each judged on that
    prompt's own value, as the gate judges the worst prompt), and the lowest value of each gated metric."""
    sizes: dict[float, list[dict[str, Any]]] = {}
    for record in records:
        sizes.setdefault(record["perturbation"]["relative"], []).append(record)
    summary = []
    for relative, runs in sorted(sizes.items()):
        per_prompt = {g.key: np.array([r["metrics"][g.metric]["per_prompt"] for r in runs]) for g in gates}
        failing = np.zeros_like(next(iter(per_prompt.values())), dtype=bool)
        for gate in gates:
            failing |= ~gate.passes(per_prompt[gate.key])  # elementwise: each seed's prompt on its own
        summary.append(dict(relative=relative, seeds=len(runs), failing_seeds_per_prompt=failing.sum(0).tolist(),
                            worst_per_prompt={g.key: (per_prompt[g.key].min(0) if g.lower else
                                                      per_prompt[g.key].max(0)).tolist() for g in gates}))
    return summary


def measure(sizes: list[float], seeds: int, prompts: int, gate: tuple[str, str], path: Path,
            device: str = "cpu") -> list[dict[str, Any]]:
    """The perturbed runs (module docstring); the log is rewritten after each size, so a run stopped early keeps
    what it measured. Returns the summary also written to the log."""
    from diffbench.build.perturbation import perturbed_attention
    from diffbench.jobs.quality_mutations import proxy_pipelines, quality_session
    from diffbench.measure import machine, quality
    from diffbench.spec import proxy_scenes as scenes
    from diffbench.spec.matrix import Scenario

    scheme, attention = gate
    records: list[dict[str, Any]] = []
    with proxy_pipelines(device) as (cache, _, references):
        session = quality_session(scenes.evaluation_prompts()[:prompts], device, references, cache)
        gates = session.gates(Scenario("flux-dev", scheme, attention=attention))
        context = dict(environment=machine.environment(), gate=dict(
            scheme=scheme, attention=attention, bounds={g.key: g.bound for g in gates}))
        bf16 = Scenario("flux-dev", "bf16")
        for relative in sizes:
            for seed in range(seeds):
                with perturbed_attention(cache.get(bf16).pipe.transformer, relative, seed) as layers:
                    record = session.evaluate(bf16, cache.get)
                record.update(perturbation=dict(relative=relative, seed=seed, layers=layers), evidence=None)
                records.append(record)
                psnr = " ".join(f"{v:5.1f}" for v in record["metrics"]["psnr"]["per_prompt"])
                print(f"noise {relative:g} seed {seed}: PSNR per prompt {psnr} dB", flush=True)
            summary = prompts_below(records, gates)
            quality.write_log(path, records, dict(context, summary=summary))
    return summary


def _gate(value: str) -> tuple[str, str]:
    from diffbench.spec.attention import ATTENTION_KERNELS
    from diffbench.spec.schemes import SCHEMES

    scheme, _, attention = value.partition("+")
    attention = attention or "sdpa"
    if scheme not in SCHEMES or attention not in ATTENTION_KERNELS:
        raise argparse.ArgumentTypeError(f"{value!r}: SCHEME[+ATTENTION], schemes {', '.join(SCHEMES)}; attention "
                                         f"{', '.join(ATTENTION_KERNELS)}")
    return scheme, attention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffbench-jobs prompt-sensitivity", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.002,0.01,0.03",
                        help="relative noise sizes, comma-separated (default 0.002,0.01,0.03: bf16 rounding, 5x, 15x)")
    parser.add_argument("--seeds", type=int, default=8, help="noise seeds per size (default 8)")
    parser.add_argument("--prompts", type=int, default=8, help="evaluation prompts (default 8, as the GPU runs)")
    parser.add_argument("--gate", type=_gate, default=("fp8dqrow", "cudnn-fp8"),
                        help="SCHEME[+ATTENTION] whose bounds a prompt is judged by (default fp8dqrow+cudnn-fp8)")
    parser.add_argument("--json", type=Path, required=True, help="the quality log to write")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        sizes = [float(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: comma-separated numbers, e.g. 0.002,0.01")
    if not all(0 < size < 1 for size in sizes) or args.seeds < 1 or args.prompts < 1:
        parser.error("--sizes within (0, 1), --seeds and --prompts at least 1")
    summary = measure(sizes, args.seeds, args.prompts, args.gate, args.json, args.device)
    for size in summary:
        print(f"noise {size['relative']:g}: seeds of {size['seeds']} failing the gate, per prompt: "
              f"{size['failing_seeds_per_prompt']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
