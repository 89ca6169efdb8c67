#!/usr/bin/env bash
# A Docker daemon owned by shipyard's tests, next to (never instead of) a system one.
#
#   scripts/engine/dockerd.sh start    # idempotent; waits until `docker info` answers,
#                                      # then prints DOCKER_HOST=unix://<dir>/docker.sock
#   scripts/engine/dockerd.sh stop [--purge]   # idempotent; --purge deletes images and state
#   scripts/engine/dockerd.sh status   # exit 0 if it answers, 1 if not
#   scripts/engine/dockerd.sh host     # prints DOCKER_HOST=... (starts nothing)
#
# Everything lives in $SHIPYARD_DOCKER_DIR (default /tmp/shipyard-docker): data-root data/,
# exec-root exec/ (its own supervised containerd, namespace "shipyard"), docker.sock,
# dockerd.pid, dockerd.log, daemon.json (read instead of /etc/docker/daemon.json).
# Nothing uses /var/run/docker.sock, /var/lib/docker, docker0 or the "moby" containerd
# namespace, so a system dockerd (or another state dir) can run at the same time.
#
# Networking: an own bridge shipdkrNN with 10.223.NN.1/24 (NN derived from the dir, as
# env.sh does for podman), --iptables=false: `docker run -p 127.0.0.1:PORT:8000` is served
# by docker-proxy (the userland proxy) on the host, and the daemon never rewrites the
# shared iptables chains or FORWARD policy that podman's netavark (or another dockerd)
# uses. Containers reach each other and the host over the bridge; they get no NAT to the
# outside (the tests need none).
#
# Inputs: SHIPYARD_DOCKER_DIR, SHIPYARD_DOCKERD_TIMEOUT (seconds to wait, default 60),
# SHIPYARD_DOCKERD_BIN (default: dockerd on PATH or /usr/sbin/dockerd).
set -euo pipefail

dir="${SHIPYARD_DOCKER_DIR:-/tmp/shipyard-docker}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
timeout_s="${SHIPYARD_DOCKERD_TIMEOUT:-60}"
# dockerd finds containerd, runc and docker-proxy on PATH; they live in /usr/sbin and /usr/bin.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
bin="${SHIPYARD_DOCKERD_BIN:-$(command -v dockerd || echo /usr/sbin/dockerd)}"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"
net_index=$(($(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 200 + 20))
bridge="shipdkr${net_index}"
bridge_cidr="10.223.${net_index}.1/24"
export DOCKER_HOST="unix://$sock"
# The probe must not read (or write) root's ~/.docker.
DOCKER_CONFIG="$(mktemp -d)"
export DOCKER_CONFIG
trap 'rm -rf "$DOCKER_CONFIG"' EXIT

log() { echo "dockerd.sh: $*" >&2; }

answers() { timeout 10 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

# alive PID: the process exists and is not a zombie (an init that is slow to reap would
# otherwise keep a killed daemon "running").
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${state%% *}" != Z ]]
}

# PID from the pid file if that process is alive and really is dockerd.
running_pid() {
  local pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  grep -qa -- dockerd "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

ensure_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add name "$bridge" type bridge
  fi
  if ! ip -4 addr show dev "$bridge" | grep -qF "inet $bridge_cidr"; then
    ip addr add "$bridge_cidr" dev "$bridge"
  fi
  ip link set "$bridge" up
}

start() {
  local pid deadline started cpid
  [[ "$(id -u)" == 0 ]] || { log "must run as root (dockerd is rootful)"; exit 1; }
  [[ -x "$bin" ]] || { log "$bin not found (apt-get install docker.io)"; exit 1; }
  command -v docker >/dev/null || { log "docker client not found (apt-get install docker.io)"; exit 1; }
  mkdir -p "$dir/data" "$dir/exec"
  # Serialise concurrent `start`s (several jest workers). fd 9 is closed for dockerd itself.
  exec 9>"$dir/lock"
  flock -w $((timeout_s + 30)) 9 || { log "timed out waiting for $dir/lock"; exit 1; }

  if pid="$(running_pid)"; then
    if answers; then
      log "already running (pid $pid)"
      echo "DOCKER_HOST=$DOCKER_HOST"
      return 0
    fi
    log "pid $pid exists but does not answer; restarting it"
    stop_pid "$pid"
  fi
  if answers; then
    log "$sock answers but its pid file is gone; stop that daemon first"
    exit 1
  fi
  # Stale pid files of a killed daemon: dockerd refuses to start over its own, and waits for
  # (then gives up on) a dead supervised containerd whose pid is still in the file.
  rm -f "$pidfile"
  cpid="$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)"
  if [[ -n "$cpid" ]] && ! { [[ "$cpid" =~ ^[0-9]+$ ]] && alive "$cpid"; }; then
    rm -f "$dir/exec/containerd/containerd.pid"
  fi
  ensure_bridge || { log "could not create bridge $bridge ($bridge_cidr)"; exit 1; }
  # Our own config file: a system /etc/docker/daemon.json must not leak into the test daemon.
  printf '{}\n' >"$dir/daemon.json"
  rm -f "$sock"

  # setsid: own session, so the caller's Ctrl-C / process-group kill leaves it alone.
  setsid "$bin" \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$pidfile" \
    --host "unix://$sock" \
    --containerd-namespace shipyard \
    --containerd-plugins-namespace shipyard-plugins \
    --cgroup-parent shipyard-docker \
    --bridge "$bridge" \
    --iptables=false \
    --ip-masq=false \
    --userland-proxy=true \
    --log-level warn \
    >"$logfile" 2>&1 </dev/null 9>&- &
  pid=$!

  started="${EPOCHREALTIME/./}"
  deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    if answers; then
      log "started (pid $pid) in $(((${EPOCHREALTIME/./} - started) / 1000)) ms, data-root $dir/data"
      echo "DOCKER_HOST=$DOCKER_HOST"
      return 0
    fi
    alive "$pid" || break
    sleep 0.2
  done
  if alive "$pid"; then
    log "no answer from $sock within ${timeout_s}s; last log lines:"
  else
    log "dockerd exited; last log lines:"
  fi
  tail -n 25 "$logfile" >&2 || true
  stop_pid "$pid"
  exit 1
}

stop_pid() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || true
  # dockerd stops its containers first (10 s grace each, in parallel).
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    stop_pid "$pid"
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge" || true; fi
  if [[ "${1:-}" == --purge ]]; then
    # Left-over overlay mounts (a killed daemon) would make rm fail.
    grep -F " $dir/" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
  fi
}

status() {
  local pid
  if pid="$(running_pid)" && answers; then
    echo "running pid=$pid DOCKER_HOST=$DOCKER_HOST dir=$dir bridge=$bridge"
  else
    echo "stopped DOCKER_HOST=$DOCKER_HOST"
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
status) status ;;
host) echo "DOCKER_HOST=$DOCKER_HOST" ;;
*) echo "usage: $0 start|stop [--purge]|status|host" >&2; exit 2 ;;
esac
