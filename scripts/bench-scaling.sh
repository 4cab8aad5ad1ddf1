#!/usr/bin/env bash
# Cost against the number of files: the same total bytes spread over 1, 10, 100 and 1,000 containers' json-file
# logs, each through `edgelog run --once` into the file sink, beside `gzip -6` over the same bytes in the same run.
# Throughput should stay flat and peak RSS bounded (one task reads every file in turn with one shared buffer).
#
#   scripts/bench-scaling.sh                         # 200 MB per run
#   BYTES=100000000 COUNTS="1 10" EDGELOG_BIN=/path/to/edgelog scripts/bench-scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BYTES="${BYTES:-200000000}"
COUNTS="${COUNTS:-1 10 100 1000}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench-scaling}"
bench_binary

printf '%-7s %9s %12s %10s %10s %12s %10s\n' files "MB/s" "lines/s" "CPU s/GB" "peak RSS" "gzip MB/s" "ratio"
for n in $COUNTS; do
  rm -rf "$WORK"
  mkdir -p "$WORK"
  bench_generate "$WORK/containers" "$n" "$BYTES"
  cat > "$WORK/config.json" <<JSON
{"stateDirectory": "$WORK/state", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "spool": {"maxBytes": "4GiB"}, "sink": {"type": "file", "directory": "$WORK/out"}}
JSON
  sync
  read -r GW GU GS GR < <(bench_gzip "$WORK/containers" "$WORK/time.gzip")
  read -r EW EU ES ER < <(bench_measure "$WORK/time.edgelog" "$EDGELOG_BIN" run --config "$WORK/config.json" --once --log-level warning)
  RECORDS=$(find "$WORK/out" -name '*.gz' -exec zcat {} + | wc -l)
  [ "$RECORDS" -gt 0 ] || { echo "bench-scaling: nothing shipped with $n files" >&2; exit 1; }
  python3 -c "
import sys
n, b, lines = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
gw, ew, eu, es, er = map(float, sys.argv[4:9])
print(f'{n:<7} {b/1e6/ew:9.1f} {lines/ew:12.0f} {(eu+es)/(b/1e9):10.1f} {er/1024:8.1f}MB {b/1e6/gw:12.1f} {gw/ew:10.2f}')
" "$n" "$INPUT_BYTES" "$LINES" "$GW" "$EW" "$EU" "$ES" "$ER"
done
echo "($((BYTES / 1000000)) MB per run; ratio = gzip's wall time / edgelog's; load average now $(bench_load) on $(nproc) cores)"
