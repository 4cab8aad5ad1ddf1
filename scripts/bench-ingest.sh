#!/usr/bin/env bash
# Logs Ingestion throughput: Docker json-file logs -> records -> gzip batches -> spool -> logsIngestion sink
# -> a local receiver (scripts/ingest-receiver.py: token endpoint + ingest endpoint, 204), with
# `edgelog run --once`, against `gzip -6` over the same input bytes measured in the same run.
#
#   scripts/bench-ingest.sh                      # 200 MB across 8 containers
#   BYTES=1000000000 CONTAINERS=20 scripts/bench-ingest.sh
#   EDGELOG_BIN=/path/to/edgelog scripts/bench-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BYTES="${BYTES:-200000000}"
CONTAINERS="${CONTAINERS:-8}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench-ingest}"
bench_binary

rm -rf "$WORK"
mkdir -p "$WORK"
bench_generate "$WORK/containers" "$CONTAINERS" "$BYTES"

python3 scripts/ingest-receiver.py --port-file "$WORK/port" &
RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
cat > "$WORK/config.json" <<JSON
{"stateDirectory": "$WORK/state", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "spool": {"maxBytes": "4GiB"},
 "sink": {"type": "logsIngestion", "endpoint": "http://127.0.0.1:$PORT", "authorityHost": "http://127.0.0.1:$PORT",
          "dcrImmutableId": "dcr-00000000000000000000000000000000", "tenantId": "bench",
          "clientId": "00000000-0000-4000-8000-000000000000"}}
JSON
sync

LOAD_BEFORE=$(bench_load)
read -r GZ_WALL GZ_USER GZ_SYS GZ_RSS < <(bench_gzip "$WORK/containers" "$WORK/time.gzip")
export EDGELOG_CLIENT_SECRET=bench-secret
# The receiver runs on the same cores: its CPU time during the run is printed beside EdgeLog's.
receiver_ticks() { awk '{print $14 + $15}' "/proc/$RECEIVER/stat"; }
RECEIVER_BEFORE=$(receiver_ticks)
read -r EL_WALL EL_USER EL_SYS EL_RSS < <(bench_measure "$WORK/time.edgelog" "$EDGELOG_BIN" run --config "$WORK/config.json" --once --log-level warning)
STATS=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/_stats').read().decode())")
RECEIVER_CPU=$(awk -v a="$RECEIVER_BEFORE" -v b="$(receiver_ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN {print (b - a) / hz}')
GZ_BYTES=$(stat -c %s "$WORK/time.gzip.gz")

python3 - "$INPUT_BYTES" "$LINES" "$CONTAINERS" "$GZ_BYTES" "$STATS" \
  "$GZ_WALL" "$GZ_USER" "$GZ_SYS" "$GZ_RSS" "$EL_WALL" "$EL_USER" "$EL_SYS" "$EL_RSS" "$RECEIVER_CPU" <<'PY'
import json, sys
b, lines, containers, gzbytes = map(int, sys.argv[1:5])
s = json.loads(sys.argv[5])
gw, gu, gs, grss, ew, eu, es, erss = map(float, sys.argv[6:14])
gb = b / 1e9
if s["records"] == 0 or s["rejected"]:
    sys.exit(f"bench: receiver stats {s}")
print(f"input: {b/1e6:.0f} MB, {lines} lines in {containers} containers")
print(f"shipped: {s['records']} records in {s['calls']} calls, {s['wireBytes']/1e6:.1f} MB gzip on the wire "
      f"({s['plainBytes']/1e6:.1f} MB of JSON), {s['tokens']} token request(s), {s['rejected']} rejected")
print(f"{'':24}{'MB/s':>8}{'lines/s':>12}{'req/s':>8}{'B/record':>10}{'CPU s/GB':>10}{'peak RSS':>10}")
print(f"{'gzip -6 (baseline)':24}{b/1e6/gw:8.1f}{lines/gw:12.0f}{'-':>8}{gzbytes/lines:10.1f}{(gu+gs)/gb:10.1f}{grss/1024:8.1f}MB")
print(f"{'edgelog → logsIngestion':24}{b/1e6/ew:8.1f}{lines/ew:12.0f}{s['calls']/ew:8.1f}{s['wireBytes']/s['records']:10.1f}{(eu+es)/gb:10.1f}{erss/1024:8.1f}MB")
print(f"edgelog/gzip throughput ratio: {gw/ew:.2f}; wall {ew:.1f} s vs {gw:.1f} s")
rc = float(sys.argv[14])
print(f"CPU during the run: edgelog {eu+es:.1f} s, the receiver {rc:.1f} s, on {__import__('os').cpu_count()} cores in {ew:.1f} s")
PY
echo "load average before/after: $LOAD_BEFORE / $(bench_load) on $(nproc) cores (other work on the machine slows wall-clock figures; CPU s/GB is not affected)"
