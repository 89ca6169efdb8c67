#!/usr/bin/env bash
# The README's two commands must work in a fresh clone: install the npm packages the first time
# (exactly those of package-lock.json), and never again once they are there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ]; then
  echo "ensure-deps: installing the npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
