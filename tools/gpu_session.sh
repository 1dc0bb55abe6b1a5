#!/usr/bin/env bash
# The device sessions' phases, each writing the suite's JSON and log under $OUT (then committed under
# baselines/<gpu>/). Usage: tools/gpu_session.sh PHASE [PHASE ...] (several run one after another)
#   PHASE    a phase of src/diffbench/spec/sessions.py (its runs: named selections of spec/selections.py with the
#            run options they were measured with); `python -m diffbench.spec.sessions` lists them
#   side PHASE_A PHASE_B   two phases at once, A on GPU 0 and B on GPU 1 (a 2-GPU machine)
#   start PHASE ...   run phases detached (setsid), writing under /tmp/detached: they outlive the device's
#            10-minute command limit while the machine is held (the next call must come within its idle time);
#            DEADLINE_IN=SECONDS ends the last suite by SIGTERM that long after the start (default a day), so one
#            still running when the session's device time ends has written what it timed
#   collect  wait (up to 9.5 minutes) for the detached phases, then pack what they wrote into $OUT/session.tgz
# Name the carried wheels (.whl/..., .whl/ao017) in `carry` on every device call: a path not carried is removed.
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
  # one archive: the device returns at most 8 files
  tar czf "$OUT/session.tgz" -C "$DETACHED" --exclude pid . ; tail -n 15 "$DETACHED/session.log"; exit 0 ;;
esac
# once per machine session: the phases a `side` starts find it done. DIFFBENCH_DRY_RUN=1 (tests/test_gpu_session.py,
# on a CPU) only collects each suite: its options are checked before device time is spent on them
[ -n "${DIFFBENCH_SETUP_DONE:-}${DIFFBENCH_DRY_RUN:-}" ] || source tools/gpu_setup.sh
export DIFFBENCH_SETUP_DONE=1
export PYTHONPATH="$PWD/tools${PYTHONPATH:+:$PYTHONPATH}"  # -p slowdown_plugin (the gate phases)
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
for phase in "$@"; do
echo "== $phase $(date -u +%T)"
case $phase in
side)
  GPU=0 bash "$0" "$2" & GPU=1 bash "$0" "$3" & wait; break ;;
*)
  commands=$(python3 -m diffbench.spec.sessions "$phase") || exit 2
  eval "$commands" ;;
esac
done
