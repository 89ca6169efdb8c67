#!/usr/bin/env bash
# Publish one action directory (action.yml, dist/, README.md: self-contained once built) as the
# root of its own repository, tagged with the release and its major version.
# Usage: MIRROR_TOKEN=... mirror-action.sh <action> <owner> <tag>
set -euo pipefail
action="$1" owner="$2" tag="$3"
src="actions/$action"
if [ ! -f "$src/action.yml" ] || [ ! -f "$src/dist/index.js" ]; then
  echo "no built action at $src" >&2
  exit 1
fi
: "${MIRROR_TOKEN:?MIRROR_TOKEN is required}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
remote="https://github.com/${owner}/${action}.git"
# The token reaches git through a credential helper that reads it from the environment when
# asked, so it is never on a command line or in a URL that git could print.
export MIRROR_TOKEN
# shellcheck disable=SC2016 # expanded by the helper's shell, not here
helper='!f() { echo username=x-access-token; echo "password=${MIRROR_TOKEN}"; }; f'
git() { command git -c credential.helper= -c credential.helper="$helper" "$@"; }
git clone --quiet "$remote" "$work/repo" 2>/dev/null || git init --quiet -b main "$work/repo"
find "$work/repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
cp -R "$src/action.yml" "$src/dist" "$src/README.md" "$work/repo/"
cd "$work/repo"
git add -A
git -c user.name="shipyard release" -c user.email="release@users.noreply.github.com" \
  commit --quiet --allow-empty -m "shipyard $tag: $action"
git tag -f "$tag"
git tag -f "${tag%%.*}"
git push --quiet "$remote" HEAD:main
git push --quiet -f "$remote" "refs/tags/$tag" "refs/tags/${tag%%.*}"
echo "published ${owner}/${action}@${tag}"
