#!/usr/bin/env bash
# The GPU commands of one device session, each writing the suite's JSON and log under $OUT (then committed under
# baselines/<gpu>/). Usage: tools/gpu_session.sh PHASE [PHASE ...] (several run one after another)
#   caches   issue 22, two GPUs side by side: GPU 0 times FLUX.1-dev (synthetic, 1024², 28 steps) with the
#            fixed-schedule caches x bf16/fp8dqrow, compiled (regional for uncached, regional-breaks for all);
#            GPU 1 runs every cache mode on the trained proxy, benchmarks and quality (the front, the gates).
#   taylorseer   issue 22: the TaylorSeer runs the denoiser floor broke (FLUX.1-dev synthetic on GPU 0; the
#            proxy's FBC and TaylorSeer timings on GPU 1)
#   parallel issue 20 (2 GPUs): FLUX.1-dev 1024², 28 steps, fused, compiled, one GPU against Ulysses-2 and ring-2,
#            benchmarks and quality (the parallel output against the one-GPU one). Cold, it ran past 10 minutes.
#   parallel-wan     the same for Wan2.1 (4 steps), compiled with graph breaks allowed (regional fails: a
#            known failure of diffusers 0.42.1's hook on blocks.0)
#   box-n2, box-n0   issue 20: the box selection (FLUX.1-dev + SDXL, bf16/fp8dqrow/int8dq, eager and compiled),
#            each with a new compile cache, two workers against one process on GPU 0
#   nightly-n2   the nightly selection with two workers, cold (a new compile cache) then warm (the same cache)
#   nightly-n0-cold, nightly-n0-warm   the nightly selection in one process on GPU 0 (warm: the cache an earlier
#            phase left)
#   store-flux-eager, store-flux-regional, store-models, store-int8dq-eager   issue 21, the H200 store: the
#            `store` selection in four parts (10, 14, 24 and 2 scenarios), each on GPU $GPU (default 0);
#            the H200's catch-up phases, each within one of those parts (a new GPU kind needs none of them):
#            store-flux-rest, the eager scenario the first session's deadline left (int8wo fused);
#            store-int8dq-fuse, the one the second session's left (int8dq eager fused, about 300 s);
#            store-zero-rows, SDXL's and Wan2.1's fp8dq (store-models had 20 scenarios before that part was added)
#   store-n2 the store but eager int8dq with -n 2 on the 2-GPU machine, balanced by the H100 store's durations
#   side PHASE_A PHASE_B   two phases at once, A on GPU 0 and B on GPU 1 (a 2-GPU machine)
#   start PHASE ...   run phases detached (setsid), writing under /tmp/detached: they outlive the device's
#            10-minute command limit while the machine is held (the next call must come within its idle time);
#            DEADLINE_IN=SECONDS ends the last suite by SIGTERM that long after the start (default a day), so one
#            still running when the session's device time ends has written what it timed
#   collect  wait (up to 9.5 minutes) for the detached phases, then copy what they wrote to $OUT
# A one-process nightly took more than 10 minutes on the H200 (11 of 14 scenarios in 9.5): run it with start/collect.
set -uo pipefail
DETACHED=/tmp/detached
case $1 in
start)
  shift; rm -rf "$DETACHED"; mkdir -p "$DETACHED"
  OUT=$DETACHED DEADLINE=$(( $(date +%s) + ${DEADLINE_IN:-86400} )) setsid nohup bash "$0" "$@" > "$DETACHED/session.log" 2>&1 < /dev/null &
  echo $! > "$DETACHED/pid"; echo "started: $*"; exit 0 ;;
collect)
  pid=$(cat "$DETACHED/pid")
  for _ in $(seq 570); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && echo "still running: collect again"
  cp "$DETACHED"/* "$OUT"/ 2>/dev/null; tail -n 15 "$DETACHED/session.log"; exit 0 ;;
esac
# once per machine session: the phases a `side` starts find it done. DIFFBENCH_DRY_RUN=1 (tests/test_gpu_session.py,
# on a CPU) only collects each suite: its options are checked before device time is spent on them
[ -n "${DIFFBENCH_SETUP_DONE:-}${DIFFBENCH_DRY_RUN:-}" ] || source tools/gpu_setup.sh
export DIFFBENCH_SETUP_DONE=1
# The device kills a command at 10 minutes with no chance to write what it timed (a cold `parallel` lost all 10
# of its finished tests so). A suite stopped by SIGTERM writes its JSON (the plugin stops it as Ctrl-C does), so
# each suite gets a SIGTERM before that limit; detached phases (start) have none.
export DEADLINE=${DEADLINE:-$(( $(date +%s) + 570 ))}
dry_run() {  # options parsed and scenarios collected; on a CPU a CUDA-only scheme is refused after the parse: fine
  local log; log=$(python3 -m pytest "$@" --collect-only -q 2>&1) && return
  echo "$log"; grep -q "needs a CUDA device and none is in use" <<< "$log" || echo "$*" >> "$OUT/dry-run-failed"
}
suite() {
  local left=$(( DEADLINE - $(date +%s) ))
  [ -n "${DIFFBENCH_DRY_RUN:-}" ] && { dry_run "$@"; return; }
  timeout -s TERM -k 30 $(( left > 1 ? left : 1 )) python3 -m pytest "$@"
}
NIGHTLY_CACHE=/tmp/diffbench-nightly-compile
for phase in "$@"; do
echo "== $phase $(date -u +%T)"
case $phase in
caches)
  CUDA_VISIBLE_DEVICES=0 suite benchmarks -p no:cacheprovider --models flux-dev \
    --quant bf16,fp8dqrow --compile regional,regional-breaks --cache none,taylorseer-5,pab,fastercache --fuse on \
    --rounds 3 --scenario-timeout 240 --compile-cache /tmp/diffbench-compile-0 -rfEs \
    --benchmark-json "$OUT/flux-dev-caches.json" > "$OUT/flux-dev-caches.log" 2>&1 &
  CUDA_VISIBLE_DEVICES=1 suite benchmarks quality -p no:cacheprovider --weights proxy --models flux-dev \
    --quant bf16,fp8dqrow --compile eager,regional-breaks \
    --cache none,fbcache-0.05,fbcache-0.12,taylorseer-5,fastercache,pab,magcache,textkv \
    --quality-prompts 8 --baselines-dir /tmp/proxy-refs --update-baselines --scenario-timeout 240 \
    --compile-cache /tmp/diffbench-compile-1 -rfEs --quality-json "$OUT/proxy-caches-quality.json" \
    --benchmark-json "$OUT/proxy-caches.json" > "$OUT/proxy-caches.log" 2>&1 &
  wait
  tail -n 15 "$OUT"/*.log ;;
taylorseer)
  CUDA_VISIBLE_DEVICES=0 suite benchmarks -p no:cacheprovider --models flux-dev \
    --quant bf16,fp8dqrow --compile regional-breaks --cache none,taylorseer-5 --fuse on --rounds 3 \
    --scenario-timeout 240 --compile-cache /tmp/diffbench-compile-0 -rfEs \
    --benchmark-json "$OUT/flux-dev-caches-taylorseer.json" > "$OUT/flux-dev-caches-taylorseer.log" 2>&1 &
  CUDA_VISIBLE_DEVICES=1 suite benchmarks -p no:cacheprovider --weights proxy --models flux-dev \
    --quant bf16,fp8dqrow --compile eager,regional-breaks --cache none,fbcache-0.05,fbcache-0.12,taylorseer-5 \
    --scenario-timeout 240 --compile-cache /tmp/diffbench-compile-1 -rfEs \
    --benchmark-json "$OUT/proxy-caches-adaptive.json" > "$OUT/proxy-caches-adaptive.log" 2>&1 &
  wait
  tail -n 8 "$OUT"/*.log ;;
parallel)
  suite benchmarks quality -p no:cacheprovider --models flux-dev --quant bf16,fp8dqrow \
    --compile regional --fuse on --parallel none,ulysses2,ring2 --attention native-cudnn --rounds 3 \
    --quality-prompts 2 --update-baselines --baselines-dir /tmp/refs --scenario-timeout 300 -rfEs \
    --quality-json "$OUT/flux-dev-parallel-quality.json" --benchmark-json "$OUT/flux-dev-parallel.json" \
    > "$OUT/flux-dev-parallel.log" 2>&1
  tail -n 15 "$OUT/flux-dev-parallel.log" ;;
parallel-wan)
  suite benchmarks -p no:cacheprovider --models wan2.1-t2v-1.3b --quant bf16,fp8dqrow \
    --compile regional-breaks --parallel none,ulysses2 --steps 4 --rounds 3 --scenario-timeout 300 -rfEs \
    --benchmark-json "$OUT/wan-parallel-breaks.json" > "$OUT/wan-parallel-breaks.log" 2>&1
  tail -n 15 "$OUT/wan-parallel-breaks.log" ;;
store-flux-eager|store-flux-regional|store-models|store-int8dq-eager|store-flux-rest|store-int8dq-fuse|store-zero-rows)
  # issue 21: `--selection store` (spec/selections.py) in four parts, 3 rounds as the H100 store was made;
  # eager int8dq (40 s a call, host-bound) with 1
  case $phase in
    store-flux-eager) select="flux-dev and eager and not int8dq" rounds=3 ;;
    store-flux-regional) select="flux-dev and regional" rounds=3 ;;
    store-models) select="not flux-dev" rounds=3 ;;
    store-int8dq-eager) select="flux-dev-int8dq and eager" rounds=1 ;;
    store-flux-rest) select="flux-dev-int8wo-eager-fuse" rounds=3 ;;
    store-int8dq-fuse) select="flux-dev-int8dq-eager-fuse" rounds=1 ;;
    store-zero-rows) select="sdxl-fp8dq- or wan2.1-t2v-1.3b-fp8dq-" rounds=3 ;;
  esac
  CUDA_VISIBLE_DEVICES=${GPU:-0} suite benchmarks -p no:cacheprovider --selection store -k "$select" \
    --rounds $rounds --scenario-timeout 600 --compile-cache /tmp/diffbench-store -rfEs \
    --benchmark-json "$OUT/$phase.json" > "$OUT/$phase.log" 2>&1
  tail -n 12 "$OUT/$phase.log" ;;
store-n2)
  # the same on the 2-GPU machine but eager int8dq, two workers balanced by the H100 store's durations
  CUDA_VISIBLE_DEVICES=0,1 suite benchmarks -p no:cacheprovider -n 2 --selection store \
    -k "not (flux-dev-int8dq and eager)" --durations-from baselines/nvidia-h100-80gb-hbm3 --rounds 3 \
    --scenario-timeout 600 --compile-cache /tmp/diffbench-store -rfEs --benchmark-json "$OUT/store-n2.json" \
    > "$OUT/store-n2.log" 2>&1
  tail -n 12 "$OUT/store-n2.log" ;;
side)
  GPU=0 bash "$0" "$2" & GPU=1 bash "$0" "$3" & wait; break ;;
box-n2|box-n0)
  workers=${phase#box-n}; cache=/tmp/diffbench-box-compile-$workers; rm -rf "$cache"
  gpus=$([ "$workers" = 0 ] && echo 0 || echo 0,1)
  CUDA_VISIBLE_DEVICES=$gpus suite benchmarks -p no:cacheprovider -n "$workers" --selection box \
    --rounds 3 --compile-cache "$cache" --durations-from baselines/nvidia-h100-80gb-hbm3 --scenario-timeout 400 \
    -rfEs --benchmark-json "$OUT/box-n$workers-cold.json" > "$OUT/box-n$workers-cold.log" 2>&1
  tail -n 12 "$OUT/box-n$workers-cold.log" ;;
nightly-n2)
  for run in cold warm; do
    suite benchmarks -p no:cacheprovider -n 2 --selection nightly --compile-cache "$NIGHTLY_CACHE" \
      --scenario-timeout 300 -rfEs --benchmark-json "$OUT/nightly-n2-$run.json" > "$OUT/nightly-n2-$run.log" 2>&1
    tail -n 12 "$OUT/nightly-n2-$run.log"
  done ;;
nightly-n0-cold|nightly-n0-warm)
  run=${phase#nightly-n0-}
  [ "$run" = cold ] && rm -rf "$NIGHTLY_CACHE"
  CUDA_VISIBLE_DEVICES=0 suite benchmarks -p no:cacheprovider --selection nightly \
    --compile-cache "$NIGHTLY_CACHE" --scenario-timeout 300 -rfEs --benchmark-json "$OUT/nightly-n0-$run.json" \
    > "$OUT/nightly-n0-$run.log" 2>&1
  tail -n 12 "$OUT/nightly-n0-$run.log" ;;
*) echo "unknown phase $phase"; exit 2 ;;
esac
done
