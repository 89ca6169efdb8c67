#!/bin/busybox sh
# shellcheck shell=sh
# Handles exactly one HTTP/1.0 request. stdin/stdout are the client socket
# (started per connection by `busybox nc -ll -e`, see start.sh).
#
#   GET /health  -> 200 {"status":"ok","version":"<VERSION>"}
#                   500 {"status":"error","version":"<VERSION>"}  when APP_BROKEN=true
#   GET /        -> 200 text/plain greeting with the version
#   anything else -> 404 / 405
# Only shell builtins are used, so it runs with nothing but /bin/busybox.
# shellcheck disable=SC3045 # `read -t` is supported by busybox ash

version="${APP_VERSION:-dev}"
# Keep the JSON valid whatever the build arg was.
case "$version" in *[!A-Za-z0-9._+:@/-]*) version="invalid" ;; esac
cr="$(printf '\r')"

# respond STATUS CONTENT_TYPE BODY
respond() {
  printf 'HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nX-App-Version: %s\r\nConnection: close\r\n\r\n' \
    "$1" "$2" "${#3}" "$version"
  [ "$method" = HEAD ] || printf '%s' "$3"
  echo "$method $path -> ${1%% *}" >&2
}

method="" path=""
IFS=' ' read -r -t 10 method path _proto || [ -n "$method" ] || exit 0
path="${path%%\?*}"
# Drain the request headers: closing a socket with unread input makes the
# kernel send RST, which can eat the response on the client side.
while IFS= read -r -t 5 line; do
  line="${line%"$cr"}"
  [ -z "$line" ] && break
done

case "$method" in
GET | HEAD) ;;
*)
  respond "405 Method Not Allowed" "text/plain" "method not allowed
"
  exit 0
  ;;
esac

case "$path" in
/health)
  if [ "${APP_BROKEN:-false}" = "true" ]; then
    respond "500 Internal Server Error" "application/json" "{\"status\":\"error\",\"version\":\"$version\"}"
  else
    respond "200 OK" "application/json" "{\"status\":\"ok\",\"version\":\"$version\"}"
  fi
  ;;
/)
  respond "200 OK" "text/plain" "Hello from the shipyard example app, version $version
"
  ;;
*)
  respond "404 Not Found" "text/plain" "not found
"
  ;;
esac
