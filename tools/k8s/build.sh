#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kubectl and kube-proxy
# from the official Go modules pinned in tools/k8s/go.mod, into
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/k8s-<K8S_VERSION>/bin/
#
# Usage: tools/k8s/build.sh        (no arguments; run from anywhere)
#
# Progress goes to stderr; the last line on stdout is the absolute bin dir. Fast no-op when every
# binary is built and current (tools/lib/go-tool.sh): adding a binary rebuilds.
set -euo pipefail

# Single source of truth for the versions in this script. They must agree
# with go.mod (checked before building).
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
# Fixed build date for reproducible version output: the v1.36.3 tag time.
K8S_BUILD_DATE=2026-07-22T18:07:38Z

gt_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=../lib/go-tool.sh
. "$gt_here/../lib/go-tool.sh"

gt_log=k8s-tools
gt_dir="k8s-$K8S_VERSION"
gt_what="etcd $ETCD_VERSION, kube-apiserver/kube-controller-manager/kubectl/kube-proxy $K8S_VERSION"
gt_inputs=(go.mod go.sum cmd/etcd/main.go tools.go)
gt_require="k8s.io/kubernetes $K8S_VERSION
go.etcd.io/etcd/server/v3 $ETCD_VERSION"

k8s_v="${K8S_VERSION#v}"
k8s_major="${k8s_v%%.*}"
k8s_minor="${k8s_v#*.}"
k8s_minor="${k8s_minor%%.*}"
gt_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	gt_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION"
	gt_ldflags+=" -X $pkg.gitMajor=$k8s_major"
	gt_ldflags+=" -X $pkg.gitMinor=$k8s_minor"
	gt_ldflags+=" -X $pkg.gitCommit="
	gt_ldflags+=" -X $pkg.gitTreeState=clean"
	gt_ldflags+=" -X $pkg.buildDate=$K8S_BUILD_DATE"
done
# etcd's version number is already right in go.etcd.io/etcd/api/v3/version;
# its git SHA is only known to etcd's own ./build, so say "unknown" instead
# of the default "Not provided (use ./build instead of go build)".
gt_ldflags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=unknown"

gt_pkgs=(
	./cmd/etcd
	k8s.io/kubernetes/cmd/kube-apiserver
	k8s.io/kubernetes/cmd/kube-controller-manager
	k8s.io/kubernetes/cmd/kubectl
	k8s.io/kubernetes/cmd/kube-proxy
)
gt_bins=(etcd kube-apiserver kube-controller-manager kubectl kube-proxy)
go_tool_build
