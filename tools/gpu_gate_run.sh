#!/usr/bin/env bash
# One GPU command of the regression-gate check (issue 18): install the carried wheels, check that the profiler
# sees kernels, then run the FLUX selection into $OUT/<name>.json. Usage: tools/gpu_gate_run.sh NAME [pytest args]
# (DIFFBENCH_SLOWDOWN makes chosen scenarios slower through tools/slowdown_plugin.py).
set -uo pipefail
name=$1; shift
source tools/gpu_setup.sh
SEL=(--models flux-dev --quant bf16,fp8dqrow --compile eager,regional --fuse on --rounds 5)
python3 -m pytest benchmarks "${SEL[@]}" -p no:cacheprovider -p slowdown_plugin \
  --compile-cache /tmp/diffbench-compile --benchmark-json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log" | tail -25
