#!/usr/bin/env bash
# Build the real `hubble` CLI (Cilium's, from the cilium Go module pinned in tools/hubble/go.mod)
# into
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/hubble-<HUBBLE_VERSION>/bin/hubble
# for the compatibility test (test/integration/hubble-cli.test.ts).
#
# Usage: tools/hubble/build.sh        (no arguments; run from anywhere)
#
# Progress goes to stderr; the last line on stdout is the absolute bin dir. Fast no-op when the
# binary is built and current (tools/lib/go-tool.sh). A cold build takes about 3 minutes on 2 cores.
set -euo pipefail

# Must agree with go.mod (checked before building).
HUBBLE_VERSION=v1.20.2

gt_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=../lib/go-tool.sh
. "$gt_here/../lib/go-tool.sh"

gt_log=hubble-cli
gt_dir="hubble-$HUBBLE_VERSION"
gt_what="hubble $HUBBLE_VERSION"
gt_inputs=(go.mod go.sum tools.go)
gt_require="github.com/cilium/cilium $HUBBLE_VERSION"
gt_ldflags="-s -w -X github.com/cilium/cilium/hubble/pkg.Version=$HUBBLE_VERSION"
gt_pkgs=(github.com/cilium/cilium/hubble)
gt_bins=(hubble)
go_tool_build
