#!/usr/bin/env bash
# Checks the optimized (release) build, which is what the Dockerfile ships and the tests do not exercise:
#  1. no outlined constant of @inlinable code is defined by two modules under one name (Swift 6.3 names
#     these weak globals after the function and numbers them per module, so the linker can hand one
#     module another's table: it once turned every `"` in a message into a form feed);
#  2. messages full of escapes go through the release binary unchanged (decoded with Python's json as the
#     reference).
# Run by scripts/test.sh; alone: scripts/release-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Linked as the Dockerfile links it (the static Swift standard library), so that this is the shipped binary and
# scripts/image-check.sh takes it as it is (toggling the flag recompiles EdgeLog's own modules: minutes).
swift build -c release --product edgelog --static-swift-stdlib
BIN=.build/release/edgelog

echo "release-check: outlined constants"
dupes=$(for dir in .build/release/EdgeLog*.build; do
  find "$dir" -maxdepth 1 -name '*.o' -exec nm {} + | awk '$2 == "V" && $3 ~ /Tv[0-9]*_$/ { print $3 }' | sort -u
done | sort | uniq -d)
if [ -n "$dupes" ]; then
  echo "release-check: FAILED: these outlined constants are defined by more than one module:" >&2
  echo "$dupes" >&2
  echo "(an array literal inside @inlinable code; build it with scalar appends instead)" >&2
  exit 1
fi

echo "release-check: escapes through the release binary"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mkdir -p "$WORK/containers/$ID"
python3 - "$WORK/containers/$ID" "$ID" <<'PY'
import json, sys
d, cid = sys.argv[1], sys.argv[2]
json.dump({"ID": cid, "Name": "/escapes", "Config": {"Image": "probe", "Labels": {}}}, open(f"{d}/config.v2.json", "w"))
samples = ['a "quoted" word', 'back\\slash and /slash', 'tab\there', 'cr\rlf', 'bell\x07 esc\x1b nul\x00',
           'form\ffeed back\bspace', 'é ü ß 中文', 'emoji 😀 pair', 'mixed "\\\t\x01" end', '\u2028 line sep']
with open(f"{d}/{cid}-json.log", "w") as f:
    for i, s in enumerate(samples * 50):
        for ascii in (True, False):
            f.write(json.dumps({"log": f"{i} {s}\n", "stream": "stdout", "time": "2026-01-01T00:00:00Z"},
                               ensure_ascii=ascii) + "\n")
PY
cat > "$WORK/config.json" <<JSON
{"stateDirectory": "$WORK/state", "docker": {"containersDirectory": "$WORK/containers", "excludeSelf": false},
 "sink": {"type": "file", "directory": "$WORK/out"}}
JSON
"$BIN" run --config "$WORK/config.json" --once --log-level warning
python3 - "$WORK" "$ID" <<'PY'
import glob, gzip, json, sys
work, cid = sys.argv[1], sys.argv[2]
expected = [json.loads(l)["log"].rstrip("\n") for l in open(f"{work}/containers/{cid}/{cid}-json.log")]
got = []
for path in sorted(glob.glob(f"{work}/out/*.gz")):
    got += [json.loads(l)["Message"] for l in gzip.open(path, "rt", encoding="utf-8")]
if got != expected:
    bad = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(got), len(expected)))
    print(f"release-check: FAILED: {len(got)} messages shipped, {len(expected)} expected; first difference at {bad}:",
          file=sys.stderr)
    print(f"  expected {expected[bad]!r}" if bad < len(expected) else "  (none expected)", file=sys.stderr)
    print(f"  shipped  {got[bad]!r}" if bad < len(got) else "  (none shipped)", file=sys.stderr)
    sys.exit(1)
print(f"release-check: {len(got)} messages shipped unchanged")
PY
