#!/usr/bin/env bash
# The copytruncate loss experiment (issue #4): a writer appends numbered json-file lines with O_APPEND, one
# write(2) per line, as fast as it can (or at WRITER_RATE lines/s) while ROTATIONS forced copytruncate rotations
# run, once with EdgeLog (`edgelog rotate --force`) and once with logrotate (`logrotate -f`, state file, 0644
# root-owned config) under the same policy: rotate 1000, compress, delaycompress, copytruncate, notifempty,
# missingok. Then every line of the live file and of the rotated files (gunzipped) is counted: missing and
# duplicated per tool.
#
#   scripts/loss-experiment.sh              # builds edgelog in release mode first
#   EDGELOG_BIN=path/to/edgelog scripts/loss-experiment.sh
#
# Environment: ROTATIONS (20), INTERVAL seconds between rotations (0.4), WARMUP seconds before the first (0.5),
# WRITER_RATE lines/s (0 = as fast as possible), WORKDIR (a fresh temp dir), TOOLS ("edgelog logrotate"),
# RESULTS (a file to append the JSON result lines to).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ROTATIONS="${ROTATIONS:-20}"
INTERVAL="${INTERVAL:-0.4}"
WARMUP="${WARMUP:-0.5}"
WRITER_RATE="${WRITER_RATE:-0}"
TOOLS="${TOOLS:-edgelog logrotate}"
WORKDIR="${WORKDIR:-$(mktemp -d /tmp/edgelog-loss.XXXXXX)}"

if [[ -z "${EDGELOG_BIN:-}" && " $TOOLS " == *" edgelog "* ]]; then
    echo "building edgelog (release)..." >&2
    (cd "$repo" && swift build -c release --product edgelog >&2)
    EDGELOG_BIN="$(cd "$repo" && swift build -c release --show-bin-path)/edgelog"
fi
if [[ " $TOOLS " == *" logrotate "* ]] && ! command -v logrotate >/dev/null; then
    echo "logrotate is not installed (apt-get install -y logrotate)" >&2
    exit 2
fi

run_one() {
    local tool="$1"
    local dir="$WORKDIR/$tool"
    rm -rf "$dir"
    mkdir -p "$dir/logs" "$dir/state"
    local log="$dir/logs/app.log"
    if [[ "$tool" == edgelog ]]; then
        cat >"$dir/config.json" <<JSON
{"stateDirectory": "$dir/state",
 "docker": {"enabled": false},
 "rotation": {"enabled": true, "paths": ["$log"], "rotate": 1000, "maxAgeDays": 0, "compress": true,
              "delayCompress": true, "copyTruncate": true, "notIfEmpty": true, "missingOk": true, "schedule": "daily"}}
JSON
    else
        cat >"$dir/logrotate.conf" <<CONF
$log {
    rotate 1000
    compress
    delaycompress
    copytruncate
    notifempty
    missingok
    daily
}
CONF
        chown root:root "$dir/logrotate.conf" 2>/dev/null || true
        chmod 0644 "$dir/logrotate.conf"
    fi

    python3 "$here/loss-writer.py" write "$log" --rate "$WRITER_RATE" --result "$dir/writer.json" &
    local writer=$!
    until [[ -s "$log" ]]; do sleep 0.05; done  # the interpreter has started writing
    sleep "$WARMUP"
    local started ended
    started=$(date +%s.%N)
    for ((i = 1; i <= ROTATIONS; i++)); do
        if [[ "$tool" == edgelog ]]; then
            "$EDGELOG_BIN" rotate --config "$dir/config.json" --force --log-level warning
        else
            logrotate -f -s "$dir/state/logrotate.status" "$dir/logrotate.conf"
        fi
        sleep "$INTERVAL"
    done
    ended=$(date +%s.%N)
    kill -TERM "$writer"
    wait "$writer" || true
    local total
    total=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lines"])' "$dir/writer.json")
    local counted
    counted=$(python3 "$here/loss-writer.py" count "$dir/logs" app.log "$total")
    python3 - "$tool" "$dir/writer.json" "$counted" "$started" "$ended" "$ROTATIONS" <<'PY'
import json, sys
tool, writer, counted, started, ended, rotations = sys.argv[1:]
w = json.load(open(writer))
c = json.loads(counted)
result = {"tool": tool, "rotations": int(rotations), "linesPerSecond": w["linesPerSecond"],
          "writerSeconds": w["seconds"], "rotationPhaseSeconds": round(float(ended) - float(started), 2), **c}
print(json.dumps(result))
PY
}

for tool in $TOOLS; do
    line=$(run_one "$tool")
    echo "$line"
    if [[ -n "${RESULTS:-}" ]]; then echo "$line" >>"$RESULTS"; fi
done
echo "work files in $WORKDIR" >&2
