"""`diffbench-jobs`: the jobs that build and measure outside pytest, one subcommand each (its own options follow
it; `diffbench-jobs JOB --help`). `diffbench` itself only reads results and never runs a model.

Exit codes: 0 done, 1 the job's own check failed, 2 a usage error.
"""

from __future__ import annotations

import importlib
import sys

# subcommand → (module of diffbench.jobs with a main(argv) -> int, what it does)
JOBS = {
    "train-proxy": ("proxy_train", "train the proxy models (vae, flux, clip, or all)"),
    "evaluate-proxy": ("proxy_evaluate", "caption retrieval and a sample grid of the proxy, one row per scheme"),
    "quality-mutations": ("quality_mutations", "the quality gates' mutations on the proxy, for diffbench calibrate"),
    "prompt-sensitivity": ("prompt_sensitivity", "which proxy prompts seeded noise on attention moves past a gate"),
    "fp8-attention-probe": ("fp8_attention_probe", "cuDNN FP8 attention's error and speed per shape (a GPU)"),
}


def usage() -> str:
    width = max(map(len, JOBS))
    return "usage: diffbench-jobs JOB [options]\n\njobs:\n" + "\n".join(
        f"  {name:<{width}}  {about}" for name, (_, about) in JOBS.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in JOBS:
        print(f"diffbench-jobs: error: unknown job {argv[0]!r}; jobs: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"diffbench.jobs.{JOBS[argv[0]][0]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
