#!/usr/bin/env bash
# Runs exercise-addon.ts under valgrind (memcheck). Fails on invalid reads/writes, use of
# uninitialised values and definite leaks; V8's own "possibly lost" blocks are not counted.
#   bash test/datapath/valgrind/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
node=${CILIUM_TS_NODE:-$HOME/.cache/cilium-ts/node-v24.21.0/bin/node}
exec valgrind --quiet --smc-check=all-non-file --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --track-origins=yes --suppressions="$root/test/datapath/valgrind/node.supp" \
  "$node" --expose-gc "$root/test/datapath/valgrind/exercise-addon.ts"
