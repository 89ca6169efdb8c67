#!/usr/bin/env bash
# Bundle every action into its committed dist/: actions/<name>/index.ts -> dist/index.js,
# and, for actions with a post step, post.ts -> dist/post/index.js. Usage: build.sh [name...]
set -euo pipefail
cd "$(dirname "$0")/.."

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for entry in actions/*/index.ts; do names+=("$(basename "$(dirname "$entry")")"); done
fi

for name in "${names[@]}"; do
  dir="actions/$name"
  rm -rf "$dir/dist"
  npx ncc build "$dir/index.ts" -o "$dir/dist" --minify --target es2022 --license licenses.txt --quiet
  if [ -f "$dir/post.ts" ]; then
    npx ncc build "$dir/post.ts" -o "$dir/dist/post" --minify --target es2022 --quiet
  fi
  printf '%-16s %s bytes\n' "$name" "$(wc -c < "$dir/dist/index.js")"
done
