#!/usr/bin/env bash
# Install the local container engine used by shipyard's integration tests and
# demos (Debian/Ubuntu, run as root). Idempotent: apt is skipped when every
# command is already present. Quiet unless something fails.
#
#   sudo scripts/engine/install.sh
set -euo pipefail

# netavark + iptables are what `podman run -p` needs (rootful bridge networking);
# listed explicitly so apt cannot pick the CNI plugins for podman's network stack.
# curl is the health command of the host-script tests and the rehearsal.
# docker.io is the real Docker daemon (20.10, classic builder) the docker tests start with
# scripts/engine/dockerd.sh; iproute2 (`ip`) creates that daemon's own bridge.
packages=(podman runc docker-registry skopeo shellcheck busybox-static apache2-utils netavark iptables curl docker.io iproute2)
# command (or absolute path) that proves each package is installed
commands=(podman runc docker-registry skopeo shellcheck /bin/busybox htpasswd /usr/lib/podman/netavark iptables curl /usr/sbin/dockerd /sbin/ip)

have_all() {
  local c
  for c in "${commands[@]}"; do
    if [[ "$c" == /* ]]; then [[ -x "$c" ]] || return 1; else command -v "$c" >/dev/null 2>&1 || return 1; fi
  done
  # busybox must be the static build: the example image is FROM scratch.
  if command -v file >/dev/null 2>&1; then file -L /bin/busybox | grep -q 'statically linked' || return 1; fi
}

if have_all; then
  echo "install.sh: engine tools already installed"
  exit 0
fi

# Not fatal: `npm test` runs this first, and the engine-backed integration tests
# skip themselves (engineAvailable()/dockerAvailable() === false) when the tools are missing.
if [[ "$(id -u)" != 0 ]]; then
  echo "install.sh: engine tools missing and not root; skipping (run: sudo $0)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install.sh: engine tools missing and apt-get not found (Debian/Ubuntu only); skipping" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; } >"$log" 2>&1; then
  echo "install.sh: apt-get failed:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
have_all || { echo "install.sh: packages installed but some commands are still missing" >&2; exit 1; }
echo "install.sh: installed ${packages[*]}"
