#!/usr/bin/env bash
# What the record-shaping sections cost and save, on the same generated json-file logs in one run:
#
#  1. throughput of `edgelog run --once` into the file sink with no filtering at all, with the default redaction,
#     and with a typical rule set (a level rule, a drop pattern, a rate limit that drops nothing), each the best of
#     REPEAT runs: MB/s, CPU seconds per GB, and the cost against no filtering;
#  2. record bytes per message byte and uplink (gzip) bytes per input byte, with records as they were before the
#     `records` section and the `docker.labels` default changed (every column, empty values too, full container
#     ids, every label but two) and with today's defaults.
#
#   scripts/bench-filters.sh                     # 100 MB across 8 containers
#   BYTES=20000000 CONTAINERS=5 REPEAT=1 scripts/bench-filters.sh
#   EDGELOG_BIN=/path/to/edgelog scripts/bench-filters.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BYTES="${BYTES:-100000000}"
CONTAINERS="${CONTAINERS:-8}"
REPEAT="${REPEAT:-3}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench-filters}"
bench_binary

rm -rf "$WORK"
mkdir -p "$WORK"
bench_generate "$WORK/containers" "$CONTAINERS" "$BYTES"
MESSAGE_BYTES=$(python3 - "$WORK/containers" <<'PY'
import glob, json, sys
total = 0
for path in glob.glob(sys.argv[1] + "/*/*-json.log"):
    pending = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            pending += json.loads(line)["log"]
            if pending.endswith("\n"):
                total += len(pending[:-1].encode())
                pending = ""
print(total)
PY
)

# run NAME SECTIONS: one `run --once` with the sections (JSON members) added to the configuration; prints
# "wall user sys rss" and leaves the shipped files in $WORK/out-NAME.
run() {
  local name="$1" sections="$2"
  rm -rf "$WORK/state-$name" "$WORK/out-$name"
  cat > "$WORK/config-$name.json" <<JSON
{"stateDirectory": "$WORK/state-$name", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "spool": {"maxBytes": "4GiB"}, "sink": {"type": "file", "directory": "$WORK/out-$name"}${sections:+, $sections}}
JSON
  "$EDGELOG_BIN" config validate "$WORK/config-$name.json" >/dev/null
  sync
  bench_measure "$WORK/time-$name" "$EDGELOG_BIN" run --config "$WORK/config-$name.json" --once --log-level warning
}

# best NAME SECTIONS: the run with the least CPU of REPEAT; prints "mb_per_s cpu_s_per_gb".
best() {
  local result=""
  for _ in $(seq "$REPEAT"); do
    read -r wall user sys _ < <(run "$1" "$2")
    result=$(printf '%s\n%s %s\n' "$result" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')")
  done
  echo "$result" | awk -v b="$INPUT_BYTES" 'NF == 2 && (min == "" || $2 < min) {min = $2; wall = $1}
    END {printf "%.1f %.1f\n", b / wall / 1e6, min / (b / 1e9)}'
}

# shape NAME: "records bytes-per-message-byte uplink-bytes-per-input-byte" of a finished run.
shape() {
  local out="$WORK/out-$1"
  local records record_bytes gz_bytes
  records=$(find "$out" -name '*.gz' -exec zcat {} + | wc -l)
  record_bytes=$(( $(find "$out" -name '*.gz' -exec zcat {} + | wc -c) - records ))
  gz_bytes=$(find "$out" -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')
  awk -v r="$records" -v rb="$record_bytes" -v m="$MESSAGE_BYTES" -v g="$gz_bytes" -v i="$INPUT_BYTES" \
    'BEGIN {printf "%d %.2f %.4f\n", r, rb / m, g / i}'
}

echo "input: $INPUT_BYTES bytes, $LINES lines, $MESSAGE_BYTES message bytes; load average $(bench_load)"
echo
OFF='"redaction": {"defaults": false}'
RULES='"filters": {"rules": [{"match": {"modules": ["edgeAgent"]}, "maxLevel": 4},
  {"match": {"modules": ["*"]}, "drop": ["^healthcheck ok"], "rateLimit": {"linesPerSecond": 1000000, "burst": 1000000}}]}'
read -r OFF_MBS OFF_CPU < <(best off "$OFF")
read -r RED_MBS RED_CPU < <(best redaction "")
read -r RUL_MBS RUL_CPU < <(best rules "$RULES")
printf '%-44s %8s %12s %10s\n' "run --once into the file sink" "MB/s" "CPU s/GB" "CPU cost"
printf '%-44s %8s %12s %10s\n' "no filters, no redaction" "$OFF_MBS" "$OFF_CPU" "-"
printf '%-44s %8s %12s %+9.1f%%\n' "redaction defaults (the default)" "$RED_MBS" "$RED_CPU" "$(awk -v a="$RED_CPU" -v b="$OFF_CPU" 'BEGIN {print (a / b - 1) * 100}')"
printf '%-44s %8s %12s %+9.1f%%\n' "rules: level, drop pattern, rate limit" "$RUL_MBS" "$RUL_CPU" "$(awk -v a="$RUL_CPU" -v b="$OFF_CPU" 'BEGIN {print (a / b - 1) * 100}')"
echo

BEFORE='"records": {"omitEmpty": false, "containerId": "full"},
  "docker": {"containersDirectory": "'"$WORK"'/containers", "excludeSelf": false,
             "labels": ["*", "!net.azure-devices.edge.create-options", "!net.azure-devices.edge.env"]}'
run before "$BEFORE" >/dev/null
read -r B_RECORDS B_RATIO B_UPLINK < <(shape before)
read -r A_RECORDS A_RATIO A_UPLINK < <(shape redaction)
printf '%-44s %10s %22s %24s\n' "records" "records" "bytes per message byte" "uplink per input byte"
printf '%-44s %10s %22s %24s\n' "before: every column, full ids, labels" "$B_RECORDS" "$B_RATIO" "$B_UPLINK"
printf '%-44s %10s %22s %24s\n' "after: records and docker.labels defaults" "$A_RECORDS" "$A_RATIO" "$A_UPLINK"
FIRST=$(find "$WORK/out-redaction" -name '*.gz' | sort | head -1)
echo "first record after: $(zcat "$FIRST" | head -1)"
