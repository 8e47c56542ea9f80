#!/usr/bin/env bash
# Build CoreDNS (github.com/coredns/coredns's main package, pinned in tools/coredns/go.mod, with the
# default plugin set of its plugin.cfg: kubernetes, forward, hosts, cache, errors, health, ready,
# loop, reload, loadbalance, ...) into
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/coredns-<COREDNS_VERSION>/bin/coredns
# for the lab's cluster DNS and test/integration/coredns.test.ts.
#
# Usage: tools/coredns/build.sh        (no arguments; run from anywhere)
#
# Progress goes to stderr; the last line on stdout is the absolute bin dir. Fast no-op when the
# binary is built and current (tools/lib/go-tool.sh). A cold build takes about 3 minutes on 2 cores.
set -euo pipefail

# Must agree with go.mod (checked before building).
COREDNS_VERSION=v1.15.0

gt_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=../lib/go-tool.sh
. "$gt_here/../lib/go-tool.sh"

gt_log=coredns
gt_dir="coredns-$COREDNS_VERSION"
gt_what="coredns $COREDNS_VERSION"
gt_inputs=(go.mod go.sum tools.go)
gt_require="github.com/coredns/coredns $COREDNS_VERSION"
# CoreDNS's own Makefile stamps the git commit here; a module build has none, so say which tag.
gt_ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
gt_pkgs=(github.com/coredns/coredns)
gt_bins=(coredns)
go_tool_build
