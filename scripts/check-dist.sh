#!/usr/bin/env bash
# Fails when a committed bundle is not what the source builds to (users run the bundle, not the source).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
if ! git diff --quiet -- actions/ || [ -n "$(git ls-files --others --exclude-standard -- 'actions/*/dist')" ]; then
  echo "dist/ is stale: run 'npm run build' and commit actions/*/dist. Changed:" >&2
  git status --short --untracked-files=all -- actions >&2
  exit 1
fi
echo "dist/ is up to date"
