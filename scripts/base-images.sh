#!/usr/bin/env bash
# Makes the two base images the Dockerfile names without a registry, from what this machine can reach:
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm from Debian's mirror (the one apt uses here),
#                          slimmed like the official image (no docs, man pages, locales, apt lists or caches)
#   swift:6.3-bookworm     that root file system plus the -dev packages the build needs, the installed Swift
#                          toolchain (the `swift` on PATH, copied whole to /opt/swift) and the Swift package
#                          mirror git reads github.com URLs from (its `url.*.insteadOf`, copied to /etc/gitconfig)
# and `docker import`s them into the engine DOCKER_HOST names. Nothing is pulled.
#
#   DOCKER_HOST=unix://… scripts/base-images.sh [--runtime-only]
#
# --runtime-only makes debian:bookworm-slim alone (enough for the Dockerfile's `prebuilt` target).
# The debootstrapped root file system is kept in $EDGELOG_ROOTFS_CACHE (default /var/tmp/edgelog-rootfs) and
# reused by later runs. Needs root, debootstrap and docker.io (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
runtime_only=false
[ "${1:-}" = "--runtime-only" ] && runtime_only=true
: "${DOCKER_HOST:?set DOCKER_HOST to the engine to import into (scripts/private-dockerd.sh prints it)}"
export DOCKER_HOST
SUITE=bookworm
CACHE=${EDGELOG_ROOTFS_CACHE:-/var/tmp/edgelog-rootfs}
RUNTIME_TAG=${RUNTIME_IMAGE:-debian:bookworm-slim}
SWIFT_TAG=${SWIFT_IMAGE:-swift:6.3-bookworm}
mkdir -p "$CACHE"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Debian's mirror and security mirror from apt's own sources (one-line or deb822 format).
sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in
    *.sources)
      awk 'BEGIN { RS = ""; FS = "\n" }
           { uris = ""; suites = ""
             for (i = 1; i <= NF; i++) {
               if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
               if ($i ~ /^Suites:/) { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
             }
             n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
             for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print u[a], s[b] }' "$f"
      ;;
    *) awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f" ;;
    esac
  done
}
MIRROR=${DEBIAN_MIRROR:-$(sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')}
SECURITY=${DEBIAN_SECURITY_MIRROR:-$(sources | awk -v s="$SUITE-security" '$2 == s { print $1; exit }')}
[ -n "$MIRROR" ] || { echo "base-images: no '$SUITE' source in apt's sources lists; set DEBIAN_MIRROR" >&2; exit 1; }
echo "base-images: Debian mirror $MIRROR${SECURITY:+, security $SECURITY}"

# 1. The minbase root file system (about 5 minutes the first time).
ROOTFS="$CACHE/$SUITE-minbase"
if [ ! -f "$CACHE/$SUITE-minbase.done" ]; then
  t=$(now)
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "base-images: debootstrap failed; the end of its log:" >&2; tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
  } >"$ROOTFS/etc/apt/sources.list"
  # As the official slim image: packages installed later leave out docs, man pages and locales, and apt
  # keeps neither its downloads nor (with the Dockerfile's rm) its lists.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends"
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian/*
  find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
  : >"$ROOTFS/etc/hostname"
  touch "$CACHE/$SUITE-minbase.done"
  echo "base-images: debootstrap --variant=minbase $SUITE: $(took "$t") s, $(du -sh "$ROOTFS" | cut -f1)"
else
  echo "base-images: reusing $ROOTFS"
fi

# apt-get inside a root file system (proc and dev mounted in a mount namespace of its own, no service started).
in_root() {
  local root=$1 log=$2
  shift 2
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  local status=0
  unshare -m sh -ec "
    mount -t proc proc '$root/proc'
    mount --rbind /dev '$root/dev'
    export DEBIAN_FRONTEND=noninteractive
    $*
  " >"$log" 2>&1 || status=$?
  rm -rf "$root/usr/sbin/policy-rc.d" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  : >"$root/etc/resolv.conf"
  if [ $status -ne 0 ]; then
    echo "base-images: apt-get in $root failed; the end of its log ($log):" >&2
    tail -20 "$log" >&2
    exit 1
  fi
}

# Like the official image: the suite's updates and security fixes of the day.
t=$(now)
in_root "$ROOTFS" "$CACHE/upgrade.log" "chroot '$ROOTFS' apt-get update -qq && chroot '$ROOTFS' apt-get upgrade -y -qq"
echo "base-images: apt-get upgrade: $(took "$t") s ($(grep -c '^Unpacking' "$CACHE/upgrade.log" || true) package(s))"

t=$(now)
tar --numeric-owner -C "$ROOTFS" -c . \
  | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$RUNTIME_TAG" >/dev/null
echo "base-images: $RUNTIME_TAG imported: $(took "$t") s, $(docker image inspect -f '{{.Size}}' "$RUNTIME_TAG" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
$runtime_only && exit 0

# 2. The Swift build image: the root file system, what the build and the Swift toolchain need from Debian,
#    the toolchain and the package mirror.
SWIFT_BIN=$(command -v swift || true)
[ -n "$SWIFT_BIN" ] || { [ -x /opt/swift/usr/bin/swift ] && SWIFT_BIN=/opt/swift/usr/bin/swift; }
[ -n "$SWIFT_BIN" ] || { echo "base-images: 'swift' is not on PATH" >&2; exit 1; }
TOOLCHAIN=$(cd "$(dirname "$(readlink -f "$SWIFT_BIN")")/../.." && pwd)   # …/usr/bin/swift -> …
[ -x "$TOOLCHAIN/usr/bin/swift-frontend" ] || { echo "base-images: no toolchain around $SWIFT_BIN" >&2; exit 1; }
SWIFT_ROOT="$CACHE/$SUITE-swift"
t=$(now)
rm -rf "$SWIFT_ROOT"
cp -a "$ROOTFS" "$SWIFT_ROOT"
# Build: the system libraries' headers and pkg-config. The toolchain: git (SwiftPM fetches with it), binutils
# (strip; the gold linker), the C runtime and C++ library to link against, and the shared libraries its
# programs load (curl, xml2, sqlite3, ncurses: see `ldd` on swift-build and swift-frontend).
BUILD_PACKAGES="zlib1g-dev libdeflate-dev libsystemd-dev pkg-config \
  git ca-certificates binutils libc6-dev libgcc-12-dev libstdc++-12-dev \
  libcurl4 libxml2 libsqlite3-0 libncurses6 libedit2 tzdata"
in_root "$SWIFT_ROOT" "$CACHE/swift-apt.log" "chroot '$SWIFT_ROOT' apt-get update -qq && chroot '$SWIFT_ROOT' apt-get install -y -qq $BUILD_PACKAGES"
# The package mirror: the same insteadOf rules as this machine's git configuration.
mirror_rules=$(git config --get-regexp '^url\..*\.insteadof$' || true)
: >"$SWIFT_ROOT/etc/gitconfig"
mirrors=()
while read -r key value; do
  [ -n "$key" ] || continue
  base=${key#url.}
  base=${base%.insteadof}
  git config --file "$SWIFT_ROOT/etc/gitconfig" --add "url.$base.insteadOf" "$value"
  case "$base" in /*) [ -d "$base" ] && mirrors+=("${base%/}") ;; esac
done <<<"$mirror_rules"
mirrors=($(printf '%s\n' "${mirrors[@]}" | sort -u))
echo "base-images: apt-get install in the Swift root: $(took "$t") s; package mirrors: ${mirrors[*]:-none}"

t=$(now)
# One tar stream: the root file system, then the toolchain and the mirrors at their own paths.
extra=("${TOOLCHAIN#/}")
for m in "${mirrors[@]}"; do extra+=("${m#/}"); done
tar --numeric-owner -c -C "$SWIFT_ROOT" . -C / "${extra[@]}" \
  | docker import --change "ENV PATH=$TOOLCHAIN/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'CMD ["bash"]' - "$SWIFT_TAG" >/dev/null
rm -rf "$SWIFT_ROOT"
echo "base-images: $SWIFT_TAG imported (toolchain $TOOLCHAIN): $(took "$t") s, $(docker image inspect -f '{{.Size}}' "$SWIFT_TAG" | awk '{ printf "%.2f GB", $1 / 1e9 }')"
