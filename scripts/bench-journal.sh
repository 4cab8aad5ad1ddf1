#!/usr/bin/env bash
# Journal source benchmark (not a test): writes a journal of ENTRIES entries with systemd-journal-remote, reads it
# with `journalctl -o export` (the baseline: libsystemd's own reader), then with `edgelog run --once` into the file
# sink, and reports entries/s, CPU seconds per million entries and peak RSS for both.
#
#   scripts/bench-journal.sh                       # builds release, 1,000,000 entries
#   ENTRIES=200000 EDGELOG_BIN=/path/to/edgelog scripts/bench-journal.sh
#
# Environment:
#   ENTRIES       entries to write (default 1000000)
#   EDGELOG_BIN   a prebuilt edgelog; without it `swift build -c release` runs (SCRATCH_PATH picks its --scratch-path)
#   WORK          working folder (default: a new one under /tmp, removed at the end unless KEEP=1)
#   MAX_PRIORITY  journal.maxPriority for the run (default 7: every entry becomes a record)
set -euo pipefail

ENTRIES=${ENTRIES:-1000000}
MAX_PRIORITY=${MAX_PRIORITY:-7}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
REMOTE=${JOURNAL_REMOTE:-/lib/systemd/systemd-journal-remote}

die() { echo "bench-journal: $*" >&2; exit 1; }
[ -x "$REMOTE" ] || die "$REMOTE is missing: apt-get install -y systemd-journal-remote"
command -v journalctl >/dev/null || die "journalctl is missing: apt-get install -y systemd"
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (/usr/bin/time -v)" >&2
    apt-get install -y time >/dev/null || die "/usr/bin/time is missing: apt-get install -y time"
fi

if [ -z "${EDGELOG_BIN:-}" ]; then
    echo "building release…" >&2
    (cd "$REPO" && swift build -c release ${SCRATCH_PATH:+--scratch-path "$SCRATCH_PATH"} >&2)
    EDGELOG_BIN="${SCRATCH_PATH:-$REPO/.build}/release/edgelog"
fi
[ -x "$EDGELOG_BIN" ] || die "$EDGELOG_BIN is not an executable"

WORK=${WORK:-$(mktemp -d /tmp/edgelog-bench-journal.XXXXXX)}
mkdir -p "$WORK/journal"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi

echo "writing $ENTRIES entries with systemd-journal-remote…" >&2
python3 "$HERE/gen-journal-export.py" "$ENTRIES" | "$REMOTE" -o "$WORK/journal/bench.journal" - 2>/dev/null
JOURNAL_BYTES=$(du -sb "$WORK/journal" | cut -f1)

# measure NAME COMMAND…: runs it under /usr/bin/time -v and prints "wall user sys rss_kib".
measure() {
    local name=$1; shift
    /usr/bin/time -v -o "$WORK/$name.time" "$@"
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident set size/ { r = $2 }
        END { printf "%s %s %s %s\n", w, u, s, r }' "$WORK/$name.time"
}

echo "baseline: journalctl -o export…" >&2
read -r BW BU BS BR < <(measure journalctl sh -c "journalctl -D '$WORK/journal' -o export > /dev/null")
BASE_ENTRIES=$(journalctl -D "$WORK/journal" -q | wc -l)

cat > "$WORK/config.json" <<EOF
{
  "stateDirectory": "$WORK/state",
  "docker": {"enabled": false},
  "journal": {"enabled": true, "directory": "$WORK/journal", "readFrom": "beginning", "maxPriority": $MAX_PRIORITY},
  "spool": {"maxBytes": "8GiB"},
  "sink": {"type": "file", "directory": "$WORK/out"}
}
EOF
echo "edgelog run --once…" >&2
read -r EW EU ES ER < <(measure edgelog "$EDGELOG_BIN" run --once --config "$WORK/config.json" --log-level warning)
RECORDS=$(find "$WORK/out" -type f -exec zcat {} + | wc -l)

report() {  # name wall user sys rss entries
    awk -v n="$1" -v w="$2" -v u="$3" -v s="$4" -v r="$5" -v e="$6" 'BEGIN {
        printf "%-22s %9d entries %7.2f s wall %10.0f entries/s %7.2f CPU s/M entries %8.1f MiB peak RSS\n",
            n, e, w, (w > 0 ? e / w : 0), (e > 0 ? (u + s) / (e / 1e6) : 0), r / 1024 }'
}
echo
echo "journal: $ENTRIES entries, $((JOURNAL_BYTES / 1048576)) MiB on disk ($(ls "$WORK/journal" | wc -l) file(s)); $(nproc) CPUs"
report "journalctl -o export" "$BW" "$BU" "$BS" "$BR" "$BASE_ENTRIES"
report "edgelog run --once" "$EW" "$EU" "$ES" "$ER" "$RECORDS"
[ "$RECORDS" -eq "$ENTRIES" ] || [ "$MAX_PRIORITY" != 7 ] || die "edgelog delivered $RECORDS records, expected $ENTRIES"
