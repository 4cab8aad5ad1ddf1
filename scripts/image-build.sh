#!/usr/bin/env bash
# Builds the EdgeLog image with the engine DOCKER_HOST names (the base images must be there:
# scripts/base-images.sh makes them without a registry).
#
#   scripts/image-build.sh [-t TAG]                     # the Dockerfile as it is: the release build inside swift:6.3-bookworm
#   scripts/image-build.sh --prebuilt [BINARY] [-t TAG] # the Dockerfile's runtime stage plus a binary built here
#                                                      # (default: swift build -c release --static-swift-stdlib)
# Prints the image size, the binary size and the shared libraries the binary loads (ldd inside the image).
# The build uses the host's network (--network host): the runtime stage installs its libraries with apt, and a
# private engine (scripts/private-dockerd.sh) has no bridge.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DOCKER_HOST:?set DOCKER_HOST to the engine to build with (scripts/private-dockerd.sh prints it)}"
export DOCKER_HOST
TAG=edgelog:0.1.0-amd64
prebuilt=false
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
  -t) TAG=$2; shift 2 ;;
  --prebuilt)
    prebuilt=true
    shift
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then binary=$1; shift; fi
    ;;
  *) echo "usage: $0 [--prebuilt [BINARY]] [-t TAG]" >&2; exit 2 ;;
  esac
done

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t=$(now)
if ! $prebuilt; then
  docker build --network host -t "$TAG" . >"${IMAGE_BUILD_LOG:-/dev/stderr}"
  echo "image-build: docker build (release build inside the image): $(took "$t") s"
else
  if [ -z "$binary" ]; then
    source scripts/setup.sh
    # As scripts/release-check.sh builds it: after it, nothing to do.
    swift build -c release --product edgelog --static-swift-stdlib
    binary="$(swift build -c release --show-bin-path)/edgelog"
    echo "image-build: swift build -c release --static-swift-stdlib: $(took "$t") s"
    t=$(now)
  fi
  [ -x "$binary" ] || { echo "image-build: $binary is not an executable" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  install -m 0755 "$binary" "$work/edgelog"
  strip "$work/edgelog"
  # The runtime stage alone (it comes first in the Dockerfile, so either builder stops there), then the binary
  # where the last stage puts it, and the same smoke test.
  docker build --network host --target runtime -t "$TAG-runtime" . >"${IMAGE_BUILD_LOG:-/dev/stderr}"
  id=$(docker create "$TAG-runtime")
  docker cp "$work/edgelog" "$id:/usr/local/bin/edgelog"
  docker commit "$id" "$TAG" >/dev/null
  docker rm "$id" >/dev/null
  docker run --rm --network none --entrypoint /usr/local/bin/edgelog "$TAG" --version >/dev/null
  echo "image-build: runtime stage + prebuilt binary: $(took "$t") s"
fi

size=$(docker image inspect -f '{{.Size}}' "$TAG")
bin=$(docker run --rm --network none --entrypoint stat "$TAG" -c %s /usr/local/bin/edgelog)
echo "image-build: $TAG: image $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }'), binary $(awk -v s="$bin" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
echo "image-build: the binary loads:"
docker run --rm --network none --entrypoint ldd "$TAG" /usr/local/bin/edgelog | sed 's/^/  /'
