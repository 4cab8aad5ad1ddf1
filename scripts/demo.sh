#!/usr/bin/env bash
# Builds EdgeLog and runs it once over a generated sample containers tree, shipping to the local file sink
# (no cloud account needed), then shows what it shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -n "${EDGELOG_BIN:-}" ]; then
  BIN="$EDGELOG_BIN"   # a prebuilt binary
else
  swift build -c release --product edgelog
  BIN=.build/release/edgelog
fi
WORK="${EDGELOG_DEMO_DIR:-/tmp/edgelog-demo}"
rm -rf "$WORK"
mkdir -p "$WORK"
python3 scripts/gen-containers.py "$WORK/containers" --containers 5 --bytes 20000000
cat > "$WORK/config.json" <<JSON
{
  "stateDirectory": "$WORK/state",
  "docker": { "containersDirectory": "$WORK/containers" },
  "sink": { "type": "file", "directory": "$WORK/shipped" }
}
JSON
"$BIN" config validate "$WORK/config.json"
"$BIN" run --config "$WORK/config.json" --once
echo
echo "Shipped batches in $WORK/shipped:"
ls -l "$WORK/shipped" | head -8
echo
echo "First record (zcat $WORK/shipped/edgelog-000000000001.ndjson.gz | head -1):"
zcat "$WORK/shipped/edgelog-000000000001.ndjson.gz" | head -1
echo
echo "Records per module:"
zcat "$WORK"/shipped/*.ndjson.gz | python3 -c '
import sys, json, collections
c = collections.Counter(json.loads(l)["ModuleId"] for l in sys.stdin)
for k, v in sorted(c.items()): print(f"  {k:30} {v}")'
echo
"$BIN" status --config "$WORK/config.json" | head -20
