#!/bin/busybox sh
# shellcheck shell=sh
# Container entrypoint: serve HTTP on $PORT with one handler.sh per connection.
#   APP_BROKEN=crash  exit immediately (container never becomes healthy)
#   APP_BROKEN=true   serve, but /health answers 500
port="${PORT:-8000}"
app_dir="${APP_DIR:-/app}"

if [ "${APP_BROKEN:-false}" = "crash" ]; then
  echo "shipyard example app ${APP_VERSION:-dev}: built with BROKEN=crash, exiting" >&2
  exit 1
fi

echo "shipyard example app ${APP_VERSION:-dev} (broken=${APP_BROKEN:-false}) listening on :$port"
/bin/busybox nc -ll -p "$port" -e "$app_dir/handler.sh" &
pid=$!
# As PID 1 we must handle SIGTERM ourselves, or `stop` waits for the kill timeout.
trap 'kill "$pid" 2>/dev/null; exit 0' TERM INT
wait "$pid"
