#!/usr/bin/env bash
# Unit tests of the example app's scripts, without any container engine:
# feeds raw HTTP requests to src/handler.sh through busybox sh, then runs
# src/start.sh on a free local port for a short live smoke test.
#   examples/app/test.sh          (needs only bash + busybox)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox="${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}"
failures=0

check() { # check NAME HAYSTACK NEEDLE
  if [[ "$2" == *"$3"* ]]; then echo "ok   - $1"; else
    echo "FAIL - $1: expected to find [$3] in:"; printf '%s\n' "$2" | sed 's/^/       /'
    failures=$((failures + 1))
  fi
}
check_not() { # check_not NAME HAYSTACK NEEDLE
  if [[ "$2" != *"$3"* ]]; then echo "ok   - $1"; else
    echo "FAIL - $1: did not expect [$3]"; failures=$((failures + 1))
  fi
}
request() { # request "METHOD PATH" [ENV=VALUE...] -> raw HTTP response
  local line="$1"; shift
  printf '%s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n' "$line" |
    env "$@" "$busybox" sh "$here/src/handler.sh" 2>/dev/null
}

r="$(request "GET /health" APP_VERSION=1.2.3)"
check "GET /health -> 200" "$r" $'HTTP/1.0 200 OK\r\n'
check "GET /health -> JSON body" "$r" $'\r\n\r\n{"status":"ok","version":"1.2.3"}'
check "GET /health -> Content-Length" "$r" $'Content-Length: 33\r\n'
check "GET /health -> JSON type" "$r" 'Content-Type: application/json'

r="$(request "GET /health?probe=1" APP_VERSION=1.2.3)"
check "query string ignored" "$r" 'HTTP/1.0 200 OK'

r="$(request "GET /health" APP_VERSION=1.2.3 APP_BROKEN=true)"
check "BROKEN=true -> 500" "$r" 'HTTP/1.0 500 Internal Server Error'
check "BROKEN=true -> error JSON" "$r" '{"status":"error","version":"1.2.3"}'

r="$(request "GET /" APP_VERSION=4.5.6)"
check "GET / -> 200 + version" "$r" 'version 4.5.6'

r="$(request "HEAD /health" APP_VERSION=1.2.3)"
check "HEAD -> 200" "$r" 'HTTP/1.0 200 OK'
check_not "HEAD -> no body" "$r" '"status"'

r="$(request "GET /nope")"
check "unknown path -> 404" "$r" 'HTTP/1.0 404 Not Found'
r="$(request "POST /health")"
check "POST -> 405" "$r" 'HTTP/1.0 405 Method Not Allowed'

r="$(request "GET /health")"
check "default version is dev" "$r" '"version":"dev"'
r="$(request "GET /health" 'APP_VERSION=1"}')"
check "unsafe version cannot break JSON" "$r" '"version":"invalid"'

out="$(APP_BROKEN=crash "$busybox" sh "$here/src/start.sh" 2>&1)"
code=$?
check "BROKEN=crash -> exits non-zero" "exit=$code" "exit=1"
check "BROKEN=crash -> says why" "$out" "BROKEN=crash"

# Live smoke test: real sockets via busybox nc -ll -e, on a free port.
port=$((20000 + RANDOM % 20000))
APP_DIR="$here/src" PORT="$port" APP_VERSION=7.7.7 "$busybox" sh "$here/src/start.sh" >/dev/null 2>&1 &
pid=$!
body=""
for _ in $(seq 1 50); do
  # (busybox 1.35 static `wget -T N` segfaults on Debian 12; use `timeout` instead)
  body="$("$busybox" timeout 3 "$busybox" wget -q -O - "http://127.0.0.1:$port/health" 2>/dev/null)" && break
  sleep 0.1
done
check "live: GET /health over TCP" "$body" '{"status":"ok","version":"7.7.7"}'
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  echo "FAIL - live: start.sh ignored SIGTERM"; failures=$((failures + 1)); kill -KILL "$pid"
else
  echo "ok   - live: start.sh stops on SIGTERM"
fi

if ((failures)); then echo "$failures test(s) failed"; exit 1; fi
echo "all tests passed"
