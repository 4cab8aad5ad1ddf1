#!/usr/bin/env bash
# Throughput benchmark: Docker json-file logs -> parse -> records -> gzip -> spool -> file sink, with
# `edgelog run --once`, against `gzip -6` over the same input bytes measured in the same run.
#
#   scripts/bench.sh                  # 1 GB across 8 containers
#   BYTES=200000000 CONTAINERS=20 scripts/bench.sh
#   EDGELOG_BIN=/path/to/edgelog scripts/bench.sh   # use a prebuilt binary
#   GENERATOR=scripts/gen-mixed.py scripts/bench.sh   # data in other shapes (tiny lines, JSON, traces, dumps, ...)
#   CONFIG_EXTRA='"redaction": {"defaults": false}' scripts/bench.sh   # more configuration sections
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BYTES="${BYTES:-1000000000}"
CONTAINERS="${CONTAINERS:-8}"
WORK="${BENCH_DIR:-/tmp/edgelog-bench}"
bench_binary

rm -rf "$WORK"
mkdir -p "$WORK"
bench_generate "$WORK/containers" "$CONTAINERS" "$BYTES"
cat > "$WORK/config.json" <<JSON
{"stateDirectory": "$WORK/state", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "spool": {"maxBytes": "4GiB"}, "sink": {"type": "file", "directory": "$WORK/out"}${CONFIG_EXTRA:+, $CONFIG_EXTRA}}
JSON
sync

LOAD_BEFORE=$(bench_load)
read -r GZ_WALL GZ_USER GZ_SYS GZ_RSS < <(bench_gzip "$WORK/containers" "$WORK/time.gzip")
read -r EL_WALL EL_USER EL_SYS EL_RSS < <(bench_measure "$WORK/time.edgelog" "$EDGELOG_BIN" run --config "$WORK/config.json" --once --log-level warning)
OUT_BYTES=$(find "$WORK/out" -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')
RECORDS=$(find "$WORK/out" -name '*.gz' -exec zcat {} + | wc -l)
[ "$RECORDS" -gt 0 ] || { echo "bench: nothing shipped" >&2; exit 1; }
# The release build must ship what was written: compare every message of the first containers' lines
# (debug-built tests cannot see an optimiser's mistake).
python3 - "$WORK/containers" "$WORK/out" <<'PY' || exit 1
import glob, gzip, json, os, sys
root, out = sys.argv[1:3]
shipped = {}
for path in sorted(glob.glob(os.path.join(out, "*.gz"))):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            shipped.setdefault(r["ContainerId"][:12], []).append(r["Message"])  # short (12) or full id
checked = 0
for d in sorted(os.listdir(root))[:2]:
    expected, pending = [], ""
    with open(os.path.join(root, d, d + "-json.log"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            pending += json.loads(line)["log"]
            if pending.endswith("\n"):
                expected.append(pending[:-1])
                pending = ""
            if i > 20000:
                break
    got = shipped.get(d[:12], [])[:len(expected)]
    if got != expected:
        bad = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        print(f"bench: container {d[:12]} message {bad} differs:\n  shipped  {got[bad]!r}\n  written  {expected[bad]!r}", file=sys.stderr)
        sys.exit(1)
    checked += len(expected)
print(f"checked {checked} shipped messages against the input: identical")
PY

python3 - "$INPUT_BYTES" "$LINES" "$RECORDS" "$OUT_BYTES" "$CONTAINERS" \
  "$GZ_WALL" "$GZ_USER" "$GZ_SYS" "$GZ_RSS" "$EL_WALL" "$EL_USER" "$EL_SYS" "$EL_RSS" <<'PY'
import sys
b, lines, records, out, containers = map(int, sys.argv[1:6])
gw, gu, gs, grss, ew, eu, es, erss = map(float, sys.argv[6:14])
gb = b / 1e9
print(f"input: {b/1e6:.0f} MB, {lines} lines in {containers} containers; shipped {records} records, {out/1e6:.1f} MB gzip")
print(f"{'':24}{'MB/s':>8}{'lines/s':>12}{'CPU s/GB':>10}{'peak RSS':>10}")
print(f"{'gzip -6 (baseline)':24}{b/1e6/gw:8.1f}{lines/gw:12.0f}{(gu+gs)/gb:10.1f}{grss/1024:8.1f}MB")
print(f"{'edgelog run --once':24}{b/1e6/ew:8.1f}{lines/ew:12.0f}{(eu+es)/gb:10.1f}{erss/1024:8.1f}MB")
print(f"edgelog/gzip throughput ratio: {gw/ew:.2f}; wall {ew:.1f} s vs {gw:.1f} s")
PY
echo "load average before/after: $LOAD_BEFORE / $(bench_load) on $(nproc) cores (other work on the machine slows wall-clock figures; CPU s/GB is not affected)"
