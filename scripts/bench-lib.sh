# Shared by the benchmarks (sourced, not run): the binary, the generated input, the measurement, the baseline.
# Every figure comes from /usr/bin/time: wall seconds, user and system CPU seconds, peak RSS (KB).

# bench_binary: sets EDGELOG_BIN (a prebuilt binary if given, else a release build of this checkout).
bench_binary() {
  if [ -z "${EDGELOG_BIN:-}" ]; then
    source scripts/setup.sh
    swift build -c release --product edgelog >/dev/null
    EDGELOG_BIN=.build/release/edgelog
  fi
}

# bench_generate DIR CONTAINERS BYTES: json-file logs like IoT Edge modules write (scripts/gen-containers.py);
# sets INPUT_BYTES and LINES.
bench_generate() {
  python3 "${GENERATOR:-scripts/gen-containers.py}" "$1" --containers "$2" --bytes "$3" >/dev/null
  INPUT_BYTES=$(find "$1" -name '*-json.log' -printf '%s\n' | awk '{s+=$1} END {print s}')
  LINES=$(find "$1" -name '*-json.log' -exec cat {} + | wc -l)
}

# bench_measure OUTFILE CMD...: runs CMD (its stdout discarded, stderr kept next to OUTFILE) and prints
# "wall user sys maxrss_kb".
bench_measure() {
  local out="$1"
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$out" "$@" >/dev/null 2>"$out.stderr" || { cat "$out.stderr" >&2; exit 1; }
  cat "$out"
}

# bench_gzip DIR OUTFILE: the baseline, single-threaded `gzip -6` over the same json-file bytes.
bench_gzip() {
  bench_measure "$2" sh -c "find '$1' -name '*-json.log' -exec cat {} + | gzip -6 > '$2.gz'"
}

# bench_load: the load average, to print beside wall-clock figures (other work on the machine slows them; CPU
# seconds per GB are not affected).
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }
