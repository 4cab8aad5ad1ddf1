#!/usr/bin/env bash
# The image, built and run the way IoT Edge runs it, on a private Docker engine:
#   1. scripts/private-dockerd.sh: an engine of its own under a temporary folder;
#   2. scripts/base-images.sh: debian:bookworm-slim (and, with --full, swift:6.3-bookworm) without a registry;
#   3. scripts/image-build.sh: the image (by default the Dockerfile's runtime stage plus the release binary
#      built here with --static-swift-stdlib; with --full, the Dockerfile's own release build inside the image);
#   4. scripts/module-run.py for deployment.template.json and deployment.constrained.template.json.
#
#   scripts/image-check.sh [--full] [--keep]
#
# Run by scripts/test.sh (without --full). Figures and checks go to $IMAGE_CHECK_OUT (default
# /var/tmp/edgelog-image-check): image-build.txt, module-run-*.json. Needs root; skips, saying why, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
full=false
keep=false
for a in "$@"; do
  case "$a" in
  --full) full=true ;;
  --keep) keep=true ;;
  *) echo "usage: $0 [--full] [--keep]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "image-check: SKIPPED: a private Docker engine needs root"
  exit 0
fi
source scripts/setup.sh
OUT=${IMAGE_CHECK_OUT:-/var/tmp/edgelog-image-check}
mkdir -p "$OUT"
# A short path: the engine's sockets live under it.
WORK=$(mktemp -d /var/tmp/edgelog-img.XXXXXX)
cleanup() {
  scripts/private-dockerd.sh down "$WORK/engine" || true
  if ! $keep; then
    # The engine has unmounted its layers when it stopped; anything still mounted below is left alone.
    if ! grep -q " $WORK/" /proc/self/mounts; then rm -rf "$WORK"; else echo "image-check: $WORK still has mounts; left in place" >&2; fi
  fi
}
trap cleanup EXIT
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
eval "export $(scripts/private-dockerd.sh up "$WORK/engine")"
t=$(now)
if $full; then scripts/base-images.sh; else scripts/base-images.sh --runtime-only; fi
echo "image-check: base images: $(took "$t") s"
t=$(now)
if $full; then
  IMAGE_BUILD_LOG="$OUT/docker-build.log" scripts/image-build.sh -t edgelog:check | tee "$OUT/image-build.txt"
else
  IMAGE_BUILD_LOG="$OUT/docker-build.log" scripts/image-build.sh --prebuilt -t edgelog:check | tee "$OUT/image-build.txt"
fi
echo "image-check: image: $(took "$t") s"

# paho-mqtt comes from Debian (python3-paho-mqtt), for the system's python3.
PY=python3
if ! python3 -c 'import paho.mqtt' 2>/dev/null && /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null; then PY=/usr/bin/python3; fi
status=0
for template in deployment.template.json deployment.constrained.template.json; do
  t=$(now)
  name=${template%.json}
  "$PY" scripts/module-run.py --image edgelog:check --template "$template" --work "$WORK/$name" \
    --report "$OUT/module-run-$name.json" $($keep && echo --keep) || status=1
  echo "image-check: $template: $(took "$t") s"
done
echo "image-check: total $(took "$t0") s"
exit $status
