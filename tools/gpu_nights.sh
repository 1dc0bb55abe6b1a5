#!/usr/bin/env bash
# The gate's GPU nights (issue 32): each phase one process of a named selection (src/diffbench/spec/selections.py)
# writing $OUT/<phase>.json and its log. Usage: tools/gpu_nights.sh PHASE [PHASE ...], or `start PHASE ...` then
# `collect` (detached, as tools/gpu_session.sh: the phases outlive one device command; collect packs what they wrote
# into $OUT/nights.tgz, the device returning at most 8 files).
#   night-N            the `gate` selection's compiled scenarios (-k regional), 5 rounds: one clean night
#   gpu-slow-N         the same with +N% GPU work injected (tools/slowdown_plugin.py, torch.cuda._sleep)
#   host-slow-N        the same with +N% host time injected (a sleep after each call)
#   ao017-N, ao018-N   the `upgrade` selection with torchao 0.17.0 (carried as .whl/ao017/) or the carried 0.18.0
set -uo pipefail
DETACHED=/tmp/detached
case ${1:-} in
start)
  shift; rm -rf "$DETACHED"; mkdir -p "$DETACHED"
  OUT=$DETACHED setsid nohup bash "$0" "$@" > "$DETACHED/session.log" 2>&1 < /dev/null &
  echo $! > "$DETACHED/pid"; echo "started: $*"; exit 0 ;;
collect)
  pid=$(cat "$DETACHED/pid")
  for _ in $(seq "${WAIT_S:-560}"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && echo "still running: collect again"
  tar czf "$OUT/nights.tgz" -C "$DETACHED" --exclude pid . ; tail -n 25 "$DETACHED/session.log"; exit 0 ;;
esac
[ -n "${DIFFBENCH_SETUP_DONE:-}" ] || source tools/gpu_setup.sh
export DIFFBENCH_SETUP_DONE=1 DIFFBENCH_GIT_REVISION=${DIFFBENCH_GIT_REVISION:-unknown}
CACHE=/tmp/diffbench-nights-compile
suite() {  # one process of the suite, its JSON and log under $OUT
  local name=$1; shift
  python3 -m pytest benchmarks -p no:cacheprovider -p slowdown_plugin --compile-cache "$CACHE" \
    --scenario-timeout 400 -rfEs --benchmark-json "$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name $(date -u +%T) rc=$? $(tail -n 1 "$OUT/$name.log")"
}
for phase in "$@"; do
case $phase in
night-*) suite "$phase" --selection gate -k regional --rounds 5 ;;
gpu-slow-*) DIFFBENCH_SLOWDOWN="*=0.${phase#gpu-slow-}:gpu" suite "$phase" --selection gate -k regional --rounds 5 ;;
host-slow-*) DIFFBENCH_SLOWDOWN="*=0.${phase#host-slow-}:host" suite "$phase" --selection gate -k regional --rounds 5 ;;
ao017-*)
  [ -d /tmp/ao017 ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ao017 .whl/ao017/*.whl
  PYTHONPATH=/tmp/ao017:$PYTHONPATH suite "$phase" --selection upgrade --rounds 3 -k "not fp8dqrow-eager" ;;
ao018-*) suite "$phase" --selection upgrade --rounds 3 -k "not fp8dqrow-eager" ;;
*) echo "unknown phase $phase"; exit 2 ;;
esac
done
