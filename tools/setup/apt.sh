#!/usr/bin/env bash
# Debian packages the build and the tests need: clang/llvm for bpf/, libbpf for the addon,
# iproute2 for tc and network namespaces, iptables for the comparison benchmark, valgrind for the
# addon's memory test, util-linux for setpriv, iputils-ping for ICMP probes.
# Quick no-op when everything is installed already.
set -euo pipefail
pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config iproute2 iptables make g++ python3 bpftool valgrind util-linux iputils-ping nftables)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
