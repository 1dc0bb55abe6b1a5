#!/usr/bin/env bash
# One GPU command of the regression-gate check (issue 18): install the carried wheels, check that the profiler
# sees kernels, then run the FLUX selection into $OUT/<name>.json. Usage: tools/gpu_gate_run.sh NAME [pytest args]
# (DIFFBENCH_SLOWDOWN makes chosen scenarios slower through tools/slowdown_plugin.py).
set -uo pipefail
name=$1; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD/tools || exit 1
# diffbench itself installed as a user installs it: its pytest11 entry point is what loads the plugin.
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target /tmp/site . || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; grep -m1 'model name' /proc/cpuinfo; nproc
SEL=(--models flux-dev --quant bf16,fp8dqrow --compile eager,regional --fuse on --rounds 5)
PYTHONUNBUFFERED=1 python3 -m pytest benchmarks "${SEL[@]}" -p no:cacheprovider -p slowdown_plugin \
  --compile-cache /tmp/diffbench-compile --benchmark-json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log" | tail -25
