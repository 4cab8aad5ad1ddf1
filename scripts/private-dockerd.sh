#!/usr/bin/env bash
# A Docker engine of its own, for building and running the image without touching the machine's engine: its
# own data root, exec root and socket under DIR, no bridge, no iptables (containers use --network none, or the
# host's network namespace with --network host).
#
#   scripts/private-dockerd.sh up DIR      start it (returns once it answers); prints DOCKER_HOST=unix://DIR/docker.sock
#   scripts/private-dockerd.sh down DIR    stop it by the process id it wrote (its containerd goes with it)
#
# Needs root and docker.io (scripts/setup.sh installs it).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"

case "$cmd" in
up)
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "DOCKER_HOST=unix://$sock"
    exit 0
  fi
  mkdir -p "$dir/data" "$dir/exec"
  # A long socket path fails (sun_path holds 108 bytes); containerd's socket lives under the exec root.
  if [ ${#sock} -gt 100 ] || [ $((${#dir} + 40)) -gt 100 ]; then
    echo "private-dockerd: $dir is too long a path for unix sockets; use a shorter one" >&2
    exit 2
  fi
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" -H "unix://$sock" \
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
    --exec-opt native.cgroupdriver=cgroupfs --storage-driver overlay2 --log-driver json-file \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 150); do
    DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
    echo "private-dockerd: dockerd did not answer within 30 s; its log:" >&2
    tail -30 "$dir/dockerd.log" >&2
    exit 1
  fi
  echo "DOCKER_HOST=unix://$sock"
  ;;
down)
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # Containers first (dockerd would stop them too, but with its own 10 s per container).
    ids=$(DOCKER_HOST="unix://$sock" docker ps -q 2>/dev/null || true)
    [ -z "$ids" ] || DOCKER_HOST="unix://$sock" docker kill $ids >/dev/null 2>&1 || true
    kill "$pid"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  # What the engine leaves mounted under its folders (the default network namespace's nsfs mount).
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ;;
*)
  echo "usage: $0 up|down DIR" >&2
  exit 2
  ;;
esac
