#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kubectl and kube-proxy
# from the official Go modules pinned in tools/k8s/go.mod, into
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/k8s-<K8S_VERSION>/bin/
#
# Usage: tools/k8s/build.sh        (no arguments; run from anywhere)
#
# Progress goes to stderr; the last line on stdout is the absolute bin dir.
# Fast no-op when every binary in bins exists and the stamp matches the hash
# of go.mod, go.sum, cmd/etcd/main.go, tools.go and this script (so a cache
# built before a binary was added is rebuilt: the script and tools.go differ).
# Needs only Go and the Go module proxy (GOFLAGS=-mod=readonly: go.sum must be
# complete; nothing is tidied at build time).
set -euo pipefail

# Single source of truth for the versions in this script. They must agree
# with go.mod (checked before building).
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
# Fixed build date for reproducible version output: the v1.36.3 tag time.
K8S_BUILD_DATE=2026-07-22T18:07:38Z

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
cache="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
[[ "$cache" == /* ]] || cache="$PWD/$cache" # the printed bin dir must be absolute
root="$cache/k8s-$K8S_VERSION"
bin="$root/bin"
bins=(etcd kube-apiserver kube-controller-manager kubectl kube-proxy)

log() { printf 'k8s-tools: %s\n' "$*" >&2; }

stamp_hash() {
	(cd "$here" && cat go.mod go.sum build.sh cmd/etcd/main.go tools.go) |
		sha256sum | cut -d' ' -f1
}

is_current() {
	local b
	for b in "${bins[@]}"; do
		[[ -x "$bin/$b" ]] || return 1
	done
	[[ -f "$bin/.stamp" ]] && [[ "$(<"$bin/.stamp")" == "$want" ]]
}

want="$(stamp_hash)"
if is_current; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$root"
root="$(cd "$root" && pwd -P)"
bin="$root/bin"

# Serialise concurrent builds (if flock is available) and re-check: another
# process may have finished the build while we waited.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$root/.lock"
	flock 9
	if is_current; then
		printf '%s\n' "$bin"
		exit 0
	fi
fi

# Leftovers of killed builds (SIGKILL skips the trap below).
rm -rf "$root"/.tmp.* "$root"/.old.*

gomod_version() { # module -> version as written in go.mod's require block
	awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"
}
k8s_in_mod="$(gomod_version k8s.io/kubernetes)"
etcd_in_mod="$(gomod_version go.etcd.io/etcd/server/v3)"
if [[ "$k8s_in_mod" != "$K8S_VERSION" || "$etcd_in_mod" != "$ETCD_VERSION" ]]; then
	log "version mismatch: build.sh says k8s $K8S_VERSION / etcd $ETCD_VERSION," \
		"go.mod says k8s ${k8s_in_mod:-?} / etcd ${etcd_in_mod:-?}"
	exit 1
fi

tmp="$(mktemp -d "$root/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

k8s_v="${K8S_VERSION#v}"
k8s_major="${k8s_v%%.*}"
k8s_minor="${k8s_v#*.}"
k8s_minor="${k8s_minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION"
	ldflags+=" -X $pkg.gitMajor=$k8s_major"
	ldflags+=" -X $pkg.gitMinor=$k8s_minor"
	ldflags+=" -X $pkg.gitCommit="
	ldflags+=" -X $pkg.gitTreeState=clean"
	ldflags+=" -X $pkg.buildDate=$K8S_BUILD_DATE"
done
# etcd's version number is already right in go.etcd.io/etcd/api/v3/version;
# its git SHA is only known to etcd's own ./build, so say "unknown" instead
# of the default "Not provided (use ./build instead of go build)".
ldflags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=unknown"

log "building etcd $ETCD_VERSION, kube-apiserver/kube-controller-manager/kubectl/kube-proxy $K8S_VERSION"
log "into $bin (cold build takes several minutes)"
start=$SECONDS
(
	cd "$here"
	export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off
	mkdir -p "$tmp/bin"
	# -X for a package a binary does not link is ignored, so one ldflags
	# string serves all five.
	go build -p 2 -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
		./cmd/etcd \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kubectl \
		k8s.io/kubernetes/cmd/kube-proxy
)
for b in "${bins[@]}"; do
	[[ -x "$tmp/bin/$b" ]] || { log "missing $b after build"; exit 1; }
done
printf '%s\n' "$want" >"$tmp/bin/.stamp"

# Swap the finished dir into place. The stamp lives inside bin/, so a bin/
# that exists with a matching stamp is always a complete build; being killed
# between the two renames just means the next run rebuilds.
if [[ -e "$bin" ]]; then
	old="$root/.old.$$"
	mv "$bin" "$old"
	mv "$tmp/bin" "$bin"
	rm -rf "$old"
else
	mv "$tmp/bin" "$bin"
fi
log "done in $((SECONDS - start))s"
printf '%s\n' "$bin"
