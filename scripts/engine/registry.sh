#!/usr/bin/env bash
# Local CNCF distribution registry (docker-registry) for shipyard tests/demos.
#
#   scripts/engine/registry.sh start    # idempotent; waits until /v2/ answers 401
#   scripts/engine/registry.sh stop [--purge]  # idempotent; --purge deletes its data
#   scripts/engine/registry.sh status   # exit 0 if running, 1 if not
#   scripts/engine/registry.sh login    # `podman login` into it (uses REGISTRY_AUTH_FILE)
#
# Listens on 127.0.0.1:$SHIPYARD_REGISTRY_PORT (default 5555), plain HTTP, htpasswd
# (bcrypt) auth, deletes enabled. State: $SHIPYARD_ENGINE_DIR/registry-<port>/
# (config.yml, htpasswd, data/, registry.log, registry.pid).
#   SHIPYARD_REGISTRY_USER      default: shipyard
#   SHIPYARD_REGISTRY_PASSWORD  default: shipyard-test-password
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/engine/env.sh
source "$here/env.sh"

port="$SHIPYARD_REGISTRY_PORT"
user="${SHIPYARD_REGISTRY_USER:-shipyard}"
password="${SHIPYARD_REGISTRY_PASSWORD:-shipyard-test-password}"
rdir="$SHIPYARD_ENGINE_DIR/registry-$port"
pidfile="$rdir/registry.pid"
bin="${SHIPYARD_REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}"

log() { echo "registry.sh: $*" >&2; }

# HTTP status of GET /v2/ (empty if nothing listens). Pure bash, no curl needed.
probe() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
    printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$port" >&3
    IFS=' ' read -r -t 3 _ code _ <&3 || true
    printf '%s' "${code:-}"
  ) 2>/dev/null
}

# PID from the pid file if that process is alive and really is the registry.
running_pid() {
  local pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -qa -- "$(basename "$bin")" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  local pid i
  mkdir -p "$rdir/data"
  # Serialise concurrent `start`s. fd 9 is closed for the registry itself.
  exec 9>"$rdir/lock"
  flock -w 30 9 || { log "timed out waiting for $rdir/lock"; exit 1; }

  if pid="$(running_pid)"; then
    if [[ "$(probe)" == 401 ]]; then log "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
    log "pid $pid exists but does not answer yet; restarting it"
    stop_pid "$pid"
  fi
  if [[ -n "$(probe)" ]]; then
    log "port $port is already in use by another process"; exit 1
  fi
  [[ -x "$bin" ]] || { log "$bin not found (apt-get install docker-registry)"; exit 1; }
  command -v htpasswd >/dev/null || { log "htpasswd not found (apt-get install apache2-utils)"; exit 1; }

  htpasswd -Bbn "$user" "$password" >"$rdir/htpasswd.tmp" 2>/dev/null
  mv -f "$rdir/htpasswd.tmp" "$rdir/htpasswd"
  cat >"$rdir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $rdir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: shipyard-local-test-registry
auth:
  htpasswd:
    realm: shipyard-registry
    path: $rdir/htpasswd
YAML

  # The registry treats every REGISTRY_* env var as a config override; podman's
  # REGISTRY_AUTH_FILE would become `auth.file` and break config parsing.
  local -a unset_env=()
  local v
  for v in $(compgen -e); do [[ "$v" == REGISTRY_* ]] && unset_env+=(-u "$v"); done
  # setsid: own session, so the caller's Ctrl-C / process-group kill leaves it alone.
  setsid env "${unset_env[@]}" "$bin" serve "$rdir/config.yml" >"$rdir/registry.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$pidfile"

  for ((i = 0; i < 100; i++)); do
    if [[ "$(probe)" == 401 ]]; then log "started (pid $pid) on 127.0.0.1:$port"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  log "failed to start; last log lines:"
  tail -n 20 "$rdir/registry.log" >&2 || true
  stop_pid "$pid"
  exit 1
}

stop_pid() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
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
    rm -f "$pidfile"
    log "not running"
  fi
  if [[ "${1:-}" == --purge ]]; then rm -rf "$rdir"; fi
}

status() {
  local pid
  if pid="$(running_pid)" && [[ "$(probe)" == 401 ]]; then
    echo "running pid=$pid addr=127.0.0.1:$port user=$user dir=$rdir"
  else
    echo "stopped addr=127.0.0.1:$port"
    return 1
  fi
}

login() {
  printf '%s' "$password" | podman login --tls-verify=false -u "$user" --password-stdin "127.0.0.1:$port"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
status) status ;;
login) login ;;
*) echo "usage: $0 start|stop [--purge]|status|login" >&2; exit 2 ;;
esac
