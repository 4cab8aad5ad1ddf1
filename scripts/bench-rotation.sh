#!/usr/bin/env bash
# Rotation speed: gzip a SIZE_MB json-file log with EdgeLog and with `gzip -LEVEL` on the same file in the same
# run; MB/s (10^6 bytes of input per second of wall time) and peak RSS from /usr/bin/time -v.
#   1. gzip -LEVEL -c FILE > FILE.gz                       (the reference)
#   2. edgelog rotate: compress an already rotated FILE.2  (EdgeLog's gzip alone: temp file, fsync, rename)
#   3. edgelog rotate --force: copy_file_range + truncate + gzip of the copy (a whole rotation)
#
#   scripts/bench-rotation.sh                # builds edgelog in release mode first
#   EDGELOG_BIN=path/to/edgelog SIZE_MB=256 scripts/bench-rotation.sh
#
# Environment: SIZE_MB (1024), LEVEL (6), WORKDIR (a fresh temp dir, removed at the end unless KEEP=1),
# VERIFY (1: check that each .gz decompresses to the original).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SIZE_MB="${SIZE_MB:-1024}"
LEVEL="${LEVEL:-6}"
VERIFY="${VERIFY:-1}"
WORKDIR="${WORKDIR:-$(mktemp -d /tmp/edgelog-bench.XXXXXX)}"

if [[ ! -x /usr/bin/time ]]; then
    echo "/usr/bin/time is missing: apt-get install -y time" >&2
    exit 2
fi
if [[ -z "${EDGELOG_BIN:-}" ]]; then
    echo "building edgelog (release)..." >&2
    (cd "$repo" && swift build -c release --product edgelog >&2)
    EDGELOG_BIN="$(cd "$repo" && swift build -c release --show-bin-path)/edgelog"
fi
cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORKDIR"; fi; }
trap cleanup EXIT

src="$WORKDIR/source-json.log"
echo "generating $SIZE_MB MB of json-file lines in $src ..." >&2
python3 - "$src" "$SIZE_MB" <<'PY'
import json, random, sys
path, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(4)
modules = ["edgeHub", "edgeAgent", "SimulatedTemperatureSensor", "opcpublisher", "filtermodule"]
lines = []
for i in range(120_000):  # ~16 MB of varied lines, repeated (deflate looks back 32 KiB, so repeats cost nothing)
    t = "2026-11-27T%02d:%02d:%02d.%09dZ" % (i // 3600 % 24, i // 60 % 60, i % 60, rng.randrange(10**9))
    kind = rng.random()
    if kind < 0.5:
        msg = "<6> %s [%s] Processed %d messages for device %d in %.3f ms\n" % (
            t[:19], rng.choice(modules), rng.randrange(5000), rng.randrange(100), rng.random() * 50)
    elif kind < 0.85:
        msg = "Sending message: " + json.dumps({"machine": {"temperature": round(rng.uniform(20, 110), 4),
              "pressure": round(rng.uniform(1, 10), 5)}, "ambient": {"temperature": round(rng.uniform(15, 30), 3),
              "humidity": rng.randrange(20, 30)}, "timeCreated": t}) + "\n"
    else:
        msg = "\tat Module.Handler.Process(Message m) in /src/Handler.cs:line %d\n" % rng.randrange(10, 900)
    lines.append(json.dumps({"log": msg, "stream": rng.choice(["stdout", "stdout", "stderr"]), "time": t}) + "\n")
block = "".join(lines).encode()
target = size_mb * 1_000_000
with open(path, "wb") as f:
    written = 0
    while written + len(block) <= target:
        f.write(block)
        written += len(block)
    rest = block[: target - written]
    f.write(rest[: rest.rfind(b"\n") + 1])
PY
bytes=$(stat -c %s "$src")

# Runs a command under /usr/bin/time -v; prints "seconds rss_kb".
measure() {
    local out="$WORKDIR/time.txt"
    /usr/bin/time -v -o "$out" "$@"
    python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1).split(":")
seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(seconds, rss)
PY
}

config() {  # folder, delayCompress
    cat >"$1/config.json" <<JSON
{"stateDirectory": "$1/state", "docker": {"enabled": false},
 "rotation": {"paths": ["$1/logs/bench-json.log"], "compress": true, "delayCompress": $2, "compressionLevel": $LEVEL,
              "rotate": 10, "maxAgeDays": 0, "schedule": "none"}}
JSON
}

verify() {  # gz file
    if [[ "$VERIFY" == 1 ]]; then
        if ! gzip -dc "$1" | cmp -s - "$src"; then echo "MISMATCH: $1 does not decompress to the source" >&2; exit 1; fi
    fi
}

report() {  # name seconds rss gz
    python3 - "$1" "$2" "$3" "$bytes" "$(stat -c %s "$4")" <<'PY'
import json, sys
name, seconds, rss, size, gz = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"run": name, "inputMB": round(size / 1e6, 1), "seconds": round(seconds, 2),
                  "MBps": round(size / 1e6 / seconds, 1), "peakRSSMiB": round(rss / 1024, 1),
                  "ratio": round(size / gz, 2)}))
PY
}

# 1. gzip
read -r s r < <(measure sh -c "gzip -$LEVEL -c '$src' > '$WORKDIR/gzip.gz'")
verify "$WORKDIR/gzip.gz"
report "gzip -$LEVEL" "$s" "$r" "$WORKDIR/gzip.gz"
rm -f "$WORKDIR/gzip.gz"

# 2. EdgeLog compressing an already rotated file (x.log.2; x.log.1 stays plain with delayCompress).
d="$WORKDIR/compress"
mkdir -p "$d/logs"
config "$d" true
: >"$d/logs/bench-json.log"
echo "newest" >"$d/logs/bench-json.log.1"
cp "$src" "$d/logs/bench-json.log.2"
read -r s r < <(measure "$EDGELOG_BIN" rotate --config "$d/config.json" --log-level warning)
verify "$d/logs/bench-json.log.2.gz"
report "edgelog gzip level $LEVEL" "$s" "$r" "$d/logs/bench-json.log.2.gz"
rm -rf "$d"

# 3. EdgeLog rotating the live file: copy, truncate, gzip.
d="$WORKDIR/rotate"
mkdir -p "$d/logs"
config "$d" false
cp "$src" "$d/logs/bench-json.log"
read -r s r < <(measure "$EDGELOG_BIN" rotate --config "$d/config.json" --force --log-level warning)
verify "$d/logs/bench-json.log.1.gz"
report "edgelog rotate --force (copy+truncate+gzip)" "$s" "$r" "$d/logs/bench-json.log.1.gz"
