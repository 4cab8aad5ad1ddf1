#!/usr/bin/env bash
# Idle cost: `edgelog run` following CONTAINERS (50) containers whose logs are all read, nobody writing.
# Reports resident memory (total, and how much of it is the binary's and libraries' pages as opposed to heap and
# stacks) once it has settled, and the CPU it uses over SECONDS (30) of idling.
#
#   scripts/bench-idle.sh
#   CONTAINERS=20 SECONDS_IDLE=60 EDGELOG_BIN=/path/to/edgelog scripts/bench-idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
CONTAINERS="${CONTAINERS:-50}"
SECONDS_IDLE="${SECONDS_IDLE:-30}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench-idle}"
bench_binary

rm -rf "$WORK"
mkdir -p "$WORK"
bench_generate "$WORK/containers" "$CONTAINERS" $((CONTAINERS * 20000))
cat > "$WORK/config.json" <<JSON
{"stateDirectory": "$WORK/state", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "sink": {"type": "file", "directory": "$WORK/out"}}
JSON
"$EDGELOG_BIN" run --config "$WORK/config.json" --log-level warning 2>"$WORK/stderr.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
# Settled: everything read and shipped (the count of shipped records stops moving), then a moment more.
shipped() { find "$WORK/out" -name '*.gz' -exec zcat {} + 2>/dev/null | wc -l || true; }
SHIPPED=0
STABLE=0
for _ in $(seq 300); do
  sleep 1
  NOW=$(shipped)
  if [ "$NOW" -gt 0 ] && [ "$NOW" -eq "$SHIPPED" ]; then STABLE=$((STABLE + 1)); else STABLE=0; fi
  SHIPPED=$NOW
  [ "$STABLE" -ge 3 ] && break
done
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
T0=$(ticks)
sleep "$SECONDS_IDLE"
T1=$(ticks)
HZ=$(getconf CLK_TCK)
read -r RSS ANON FILE THREADS < <(awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} /^Threads/{t=$2} END{print r, a, f, t}' "/proc/$PID/status")
kill -TERM $PID
wait $PID || true
trap - EXIT
python3 -c "
import sys
c, secs, rss, anon, file, threads, t0, t1, hz, shipped = map(float, sys.argv[1:11])
print(f'{int(c)} idle containers ({int(shipped)} records shipped first), {int(threads)} threads')
print(f'resident: {rss/1024:.1f} MB = {anon/1024:.1f} MB heap and stacks + {file/1024:.1f} MB of the binary and shared libraries')
print(f'CPU while idle: {(t1-t0)/hz:.2f} s in {secs:.0f} s = {100*(t1-t0)/hz/secs:.3f} % of a core')
" "$CONTAINERS" "$SECONDS_IDLE" "$RSS" "$ANON" "$FILE" "$THREADS" "$T0" "$T1" "$HZ" "$SHIPPED"
