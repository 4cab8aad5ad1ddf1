#!/usr/bin/env bash
# Docker's `local` logging driver against json-file on the same lines: `edgelog run --once` over a json-file
# containers tree (scripts/gen-containers.py) and over the same lines stored as the `local` driver stores them
# (scripts/json-to-local.py), into the file sink. Prints MB/s of each format's own bytes, lines per second and
# CPU seconds, and checks both runs shipped the same messages.
#
#   scripts/bench-local.sh                 # 300 MB of json-file lines across 8 containers
#   BYTES=100000000 scripts/bench-local.sh
#   EDGELOG_BIN=/path/to/edgelog scripts/bench-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BYTES="${BYTES:-300000000}"
CONTAINERS="${CONTAINERS:-8}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench-local}"
bench_binary

rm -rf "$WORK"
mkdir -p "$WORK"
bench_generate "$WORK/json" "$CONTAINERS" "$BYTES"
JSON_BYTES=$INPUT_BYTES
python3 scripts/json-to-local.py "$WORK/json" "$WORK/local"
LOCAL_BYTES=$(find "$WORK/local" -name 'container.log' -printf '%s\n' | awk '{s+=$1} END {print s}')
for kind in json local; do
  cat > "$WORK/config-$kind.json" <<JSON
{"stateDirectory": "$WORK/state-$kind", "docker": {"containersDirectory": "$WORK/$kind", "excludeSelf": false},
 "spool": {"maxBytes": "4GiB"}, "sink": {"type": "file", "directory": "$WORK/out-$kind"}}
JSON
done
sync

LOAD_BEFORE=$(bench_load)
read -r J_WALL J_USER J_SYS J_RSS < <(bench_measure "$WORK/time.json" "$EDGELOG_BIN" run --config "$WORK/config-json.json" --once --log-level warning)
read -r L_WALL L_USER L_SYS L_RSS < <(bench_measure "$WORK/time.local" "$EDGELOG_BIN" run --config "$WORK/config-local.json" --once --log-level warning)
python3 - "$WORK/out-json" "$WORK/out-local" <<'PY' || exit 1
import glob, gzip, json, os, sys
def shipped(out):
    r = {}
    for path in sorted(glob.glob(os.path.join(out, "*.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                r.setdefault(d["ContainerId"], []).append((d["Stream"], d["TimeGenerated"], d["Message"]))
    return r
a, b = shipped(sys.argv[1]), shipped(sys.argv[2])
if a != b:
    print("bench-local: the two runs shipped different records", file=sys.stderr)
    sys.exit(1)
print(f"both runs shipped the same {sum(map(len, a.values()))} records (stream, time, message)")
PY
awk -v jb="$JSON_BYTES" -v lb="$LOCAL_BYTES" -v lines="$LINES" \
    -v jw="$J_WALL" -v ju="$J_USER" -v js="$J_SYS" -v jr="$J_RSS" \
    -v lw="$L_WALL" -v lu="$L_USER" -v ls="$L_SYS" -v lr="$L_RSS" -v load="$LOAD_BEFORE" 'BEGIN {
  printf "input: %d json-file lines; json-file %.1f MB, local %.1f MB (load before: %s)\n", lines, jb/1e6, lb/1e6, load
  printf "%-10s %8s %12s %14s %8s %16s %18s %8s\n", "format", "wall s", "MB/s (own)", "json-eq MB/s", "CPU s", "MB/CPU-s (own)", "json-eq MB/CPU-s", "RSS MB"
  printf "%-10s %8.2f %12.1f %14.1f %8.2f %16.1f %18.1f %8.1f\n", "json-file", jw, jb/1e6/jw, jb/1e6/jw, ju+js, jb/1e6/(ju+js), jb/1e6/(ju+js), jr/1024
  printf "%-10s %8.2f %12.1f %14.1f %8.2f %16.1f %18.1f %8.1f\n", "local", lw, lb/1e6/lw, jb/1e6/lw, lu+ls, lb/1e6/(lu+ls), jb/1e6/(lu+ls), lr/1024
  printf "json-eq: the json-file bytes of the same lines (the same work, either format); per CPU second is not\n"
  printf "affected by other work on the machine, per wall second is\n"
}'
