# shellcheck shell=bash
# Shared body of tools/{k8s,hubble,coredns}/build.sh: build main packages of a pinned Go tools module
# into a versioned cache dir
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/<dir>/bin/
# Progress goes to stderr; the last line on stdout is the absolute bin dir. Fast no-op when every
# binary exists and bin/.stamp matches the stamp of the inputs (see go_tool_stamp). Concurrent builds
# are serialised with flock when it is available. Needs only Go and the Go module proxy
# (GOFLAGS=-mod=readonly: go.sum must be complete; nothing is tidied at build time).
#
# Sourced by a build.sh with `set -euo pipefail`, which sets these and calls go_tool_build:
#   gt_here      absolute dir of the tools module (go.mod, go.sum, tools.go)
#   gt_log       log prefix                        e.g. hubble-cli
#   gt_dir       cache dir name, keyed by version  e.g. hubble-v1.20.2
#   gt_what      what is built, for the log        e.g. "hubble v1.20.2"
#   gt_inputs    files of gt_here that the build reads besides the module cache
#   gt_require   "module version" pairs that go.mod must require (checked before building)
#   gt_ldflags   -ldflags for go build
#   gt_pkgs      packages for go build (main packages; each binary is named after its last element)
#   gt_bins      the binaries those packages produce

# The environment of go build: static binaries, go.sum as is, no VCS stamping, no go.work.
go_tool_env=(CGO_ENABLED=0 "GOFLAGS=-mod=readonly -buildvcs=false" GOWORK=off)

go_tool_log() { printf '%s: %s\n' "$gt_log" "$*" >&2; }

# The stamp hashes the inputs and the recipe (environment, flags, packages, binaries): what decides the
# binaries, and not the scripts' text, so a comment edit does not rebuild and a recipe change does.
go_tool_stamp() {
	{
		(cd "$gt_here" && cat "${gt_inputs[@]}")
		printf '%s\n' "${go_tool_env[@]}" -trimpath -ldflags "$gt_ldflags" "${gt_pkgs[@]}" -- "${gt_bins[@]}"
	} | sha256sum | cut -d' ' -f1
}

go_tool_is_current() {
	local b stamp
	for b in "${gt_bins[@]}"; do
		[[ -x "$gt_bin/$b" ]] || return 1
	done
	[[ -f "$gt_bin/.stamp" ]] || return 1
	stamp="$(<"$gt_bin/.stamp")"
	[[ "$stamp" == "$gt_want" ]]
}

go_tool_check_versions() {
	local mod want in_mod ok=1
	while read -r mod want; do
		[[ -n "$mod" ]] || continue
		# The version as written in go.mod, in a require block or on a one-line require.
		in_mod="$(awk -v m="$mod" '{ sub(/^require[ \t]+/, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' \
			"$gt_here/go.mod")"
		if [[ "$in_mod" != "$want" ]]; then
			go_tool_log "version mismatch: build.sh says $mod $want, go.mod says ${in_mod:-?}"
			ok=0
		fi
	done <<<"$gt_require"
	((ok))
}

go_tool_build() {
	local cache root start b
	cache="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
	[[ "$cache" == /* ]] || cache="$PWD/$cache" # the printed bin dir must be absolute
	root="$cache/$gt_dir"
	gt_bin="$root/bin"

	gt_want="$(go_tool_stamp)"
	if go_tool_is_current; then
		printf '%s\n' "$gt_bin"
		exit 0
	fi

	mkdir -p "$root"
	root="$(cd "$root" && pwd -P)"
	gt_bin="$root/bin"

	# Serialise concurrent builds and re-check: another process may have finished while we waited.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$root/.lock"
		flock 9
		if go_tool_is_current; then
			printf '%s\n' "$gt_bin"
			exit 0
		fi
	fi

	# Leftovers of killed builds (SIGKILL skips the trap below).
	rm -rf "$root"/.tmp.* "$root"/.old.*

	go_tool_check_versions || exit 1

	gt_tmp="$(mktemp -d "$root/.tmp.XXXXXX")"
	trap 'rm -rf "$gt_tmp"' EXIT

	go_tool_log "building $gt_what into $gt_bin (a cold build takes minutes)"
	start=$SECONDS
	(
		cd "$gt_here"
		mkdir -p "$gt_tmp/bin"
		# -X for a package a binary does not link is ignored, so one ldflags string serves all.
		env "${go_tool_env[@]}" go build -p 2 -trimpath -ldflags "$gt_ldflags" -o "$gt_tmp/bin/" "${gt_pkgs[@]}"
	)
	for b in "${gt_bins[@]}"; do
		[[ -x "$gt_tmp/bin/$b" ]] || {
			go_tool_log "missing $b after build"
			exit 1
		}
	done
	printf '%s\n' "$gt_want" >"$gt_tmp/bin/.stamp"

	# Swap the finished dir into place. The stamp lives inside bin/, so a bin/ that exists with a
	# matching stamp is always a complete build; being killed between the two renames just means the
	# next run rebuilds.
	if [[ -e "$gt_bin" ]]; then
		local old="$root/.old.$$"
		mv "$gt_bin" "$old"
		mv "$gt_tmp/bin" "$gt_bin"
		rm -rf "$old"
	else
		mv "$gt_tmp/bin" "$gt_bin"
	fi
	go_tool_log "done in $((SECONDS - start))s"
	printf '%s\n' "$gt_bin"
}
