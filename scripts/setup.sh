#!/usr/bin/env bash
# Installs what EdgeLog needs to build and test on Debian/Ubuntu, skipping what is already there.
# Swift 6.3 itself must be installed (swift.org toolchain or the swift:6.3 image); everything else comes from apt.
set -euo pipefail

PACKAGES=(
  zlib1g-dev                # gzip streaming (rotation) and decompression
  libdeflate-dev            # gzip for batches
  libsystemd-dev            # sd-journal API for the journal source
  systemd-journal-remote    # tests write real journal files from export format
  systemd                   # journald tests: a real systemd-journald in a private mount namespace (no init needed)
  util-linux                # journald tests: unshare -m for that namespace
  logrotate                 # the rotation loss experiment compares against it
  mosquitto                 # twin tests: a real MQTT broker over TLS
  docker.io                 # Docker tests: a private dockerd (its own data root and socket under /tmp)
  busybox-static            # Docker tests: the image those containers run, made with docker import
  openssl                   # twin tests: certificates made in the test
  python3                   # sample and benchmark generators
  time                      # /usr/bin/time -v for peak RSS in benchmarks
  gzip
  pkg-config
  docker.io                 # image check: a private Docker engine builds and runs the image (scripts/image-check.sh)
  busybox-static            # image check: the sibling containers' image
  debootstrap               # image check: the base images, made without a registry (scripts/base-images.sh)
  python3-paho-mqtt         # image check: IoT Hub's side of the module twin (scripts/edge_standins.py)
)

if [ -x /opt/swift/usr/bin/swift ] && ! command -v swift >/dev/null 2>&1; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "setup: Swift 6.3 is required (https://www.swift.org/install/linux/); 'swift' is not on PATH" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
