#!/usr/bin/env bash
# Build CoreDNS (github.com/coredns/coredns's main package, pinned in tools/coredns/go.mod, with the
# default plugin set of its plugin.cfg: kubernetes, forward, hosts, cache, errors, health, ready,
# loop, reload, loadbalance, ...) into
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/coredns-<COREDNS_VERSION>/bin/coredns
# for the lab's cluster DNS and test/integration/coredns.test.ts.
#
# Usage: tools/coredns/build.sh        (no arguments; run from anywhere)
#
# Progress goes to stderr; the last line on stdout is the absolute bin dir.
# Fast no-op when the binary exists and the stamp matches the hash of go.mod, go.sum, tools.go and
# this script. Needs only Go and the Go module proxy (GOFLAGS=-mod=readonly: go.sum must be
# complete). A cold build takes about 3 minutes on 2 cores.
set -euo pipefail

# Must agree with go.mod (checked before building).
COREDNS_VERSION=v1.15.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
cache="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
[[ "$cache" == /* ]] || cache="$PWD/$cache"
root="$cache/coredns-$COREDNS_VERSION"
bin="$root/bin"

log() { printf 'coredns: %s\n' "$*" >&2; }

stamp_hash() {
	(cd "$here" && cat go.mod go.sum build.sh tools.go) | sha256sum | cut -d' ' -f1
}
is_current() {
	[[ -x "$bin/coredns" && -f "$bin/.stamp" && "$(<"$bin/.stamp")" == "$want" ]]
}

want="$(stamp_hash)"
if is_current; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$root"
root="$(cd "$root" && pwd -P)"
bin="$root/bin"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$root/.lock"
	flock 9
	if is_current; then
		printf '%s\n' "$bin"
		exit 0
	fi
fi
rm -rf "$root"/.tmp.* "$root"/.old.*

in_mod="$(awk '{ sub(/^require[ \t]+/, "") } $1 == "github.com/coredns/coredns" && $2 ~ /^v/ { print $2; exit }' \
	"$here/go.mod")"
if [[ "$in_mod" != "$COREDNS_VERSION" ]]; then
	log "version mismatch: build.sh says $COREDNS_VERSION, go.mod says ${in_mod:-?}"
	exit 1
fi

tmp="$(mktemp -d "$root/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# CoreDNS's own Makefile stamps the git commit here; a module build has none, so say which tag.
ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
log "building coredns $COREDNS_VERSION into $bin"
start=$SECONDS
(
	cd "$here"
	export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off
	mkdir -p "$tmp/bin"
	go build -p 2 -trimpath -ldflags "$ldflags" -o "$tmp/bin/coredns" github.com/coredns/coredns
)
[[ -x "$tmp/bin/coredns" ]] || { log "missing coredns after build"; exit 1; }
printf '%s\n' "$want" >"$tmp/bin/.stamp"
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
