#!/usr/bin/env bash
# Bundle every action into its committed dist/: actions/<name>/index.ts -> dist/index.js. An
# action with a post step (post.ts) gets dist/post/index.js, a shim that loads the same bundle as
# the post step: one bundle per action, one start-up path. Usage: build.sh [name...]
set -euo pipefail
cd "$(dirname "$0")/.."

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for entry in actions/*/index.ts; do names+=("$(basename "$(dirname "$entry")")"); done
fi

for name in "${names[@]}"; do
  dir="actions/$name"
  rm -rf "$dir/dist"
  # One licence file per chunk (ncc writes a fixed name once per chunk, so the last chunk would
  # win), joined into licenses.txt: the main bundle's first, then those of the lazily loaded chunks.
  npx ncc build "$dir/index.ts" -o "$dir/dist" --minify --target es2022 --license '[name].licenses.txt' --quiet
  cat "$dir/dist/main.licenses.txt" >"$dir/dist/licenses.txt"
  rm "$dir/dist/main.licenses.txt"
  seen=""
  for chunk in "$dir"/dist/*.licenses.txt; do
    [ -e "$chunk" ] || continue
    sum="$(sha256sum <"$chunk" | cut -c1-64)"
    case "$seen" in *"$sum"*) ;; *) cat "$chunk" >>"$dir/dist/licenses.txt" ;; esac
    seen="$seen $sum"
    rm "$chunk"
  done
  if [ -f "$dir/post.ts" ]; then
    mkdir -p "$dir/dist/post"
    cp "$dir/dist/package.json" "$dir/dist/post/package.json"
    printf '%s\n' '// The post step: the main bundle, told which step it is (see ../../index.ts).' \
      "process.env.SHIPYARD_STEP = 'post';" "await import('../index.js');" >"$dir/dist/post/index.js"
  fi
  printf '%-16s %s bytes\n' "$name" "$(wc -c < "$dir/dist/index.js")"
done
