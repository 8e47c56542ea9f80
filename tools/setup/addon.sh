#!/usr/bin/env bash
# Builds the native addon (addon/build/Release/cilium_ts_bpf.node) with node-gyp against the
# project's Node 24 headers. Idempotent: does nothing when the .node is newer than every
# addon source. npm 11 does not run install scripts, so this is the only way it gets built.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
addon=$root/addon
out=$addon/build/Release/cilium_ts_bpf.node
node_dir=${CILIUM_TS_NODE_DIR:-$HOME/.cache/cilium-ts/node-v24.21.0}
if [ -f "$out" ] && [ -z "$(find "$addon/binding.gyp" "$addon/src" -newer "$out" -print -quit)" ]; then
  exit 0
fi
export PATH=$node_dir/bin:$PATH
# ~/.npmrc may point nodedir at the system Node 20 headers; the environment wins over the rc file.
export npm_config_nodedir=$node_dir
cd "$addon"
"$root/node_modules/.bin/node-gyp" rebuild --nodedir="$node_dir" >&2
test -f "$out"
