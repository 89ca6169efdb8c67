#!/usr/bin/env bash
# Make examples/app buildable: the image is FROM scratch, so the static busybox
# binary must be inside the build context (binaries are not committed to git).
#
#   examples/app/prepare-context.sh          # copies busybox into examples/app/
#   examples/app/prepare-context.sh DEST     # writes a complete, standalone build
#                                            # context to DEST (repo stays untouched)
#
# BUSYBOX=/path/to/busybox overrides the source (default: /bin/busybox from the
# Debian package busybox-static). Idempotent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${BUSYBOX:-/bin/busybox}"
dest="${1:-$here}"

[[ -x "$src" ]] || { echo "prepare-context: $src not found (apt-get install busybox-static)" >&2; exit 1; }
if command -v file >/dev/null && ! file -L "$src" | grep -q 'statically linked'; then
  echo "prepare-context: $src is not statically linked (need busybox-static)" >&2
  exit 1
fi

mkdir -p "$dest"
if [[ "$(cd "$dest" && pwd)" != "$here" ]]; then
  cp -R "$here/Dockerfile" "$here/.dockerignore" "$here/src" "$dest/"
fi
cmp -s "$src" "$dest/busybox" || install -m 0755 "$src" "$dest/busybox"
