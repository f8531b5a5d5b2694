#!/bin/sh
# regen.sh regenerates the golden kernel corpus: for every NNN-*.yaml in this
# directory it runs the scenario through the running kernel and rewrites
# NNN-*.pcap and NNN-*.json, then records the kernel release in KERNEL.
#
# Needs root (network namespaces, veth, ethtool). Read README.md first:
# goldens are never regenerated to make a test pass without understanding
# the drift.
#
# Usage: sudo testdata/kernel/regen.sh [SCENARIO.yaml ...]
# With no arguments every scenario is regenerated. Exit status 1 when any
# scenario's `expect` did not hold on this kernel (its goldens are still
# written, so the difference can be inspected) or a run failed.
set -eu

# REGEN_DIR names another corpus directory under testdata (the IPv6 ones
# call this script with theirs); by default it is this script's.
dir=$(cd "${REGEN_DIR:-$(dirname "$0")}" && pwd)
root=$(cd "$dir/../.." && pwd)
go=${GO:-go}
if ! command -v "$go" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	go=/usr/local/go/bin/go
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && "$go" build -o "$bin/udpbuild" ./cmd/udpbuild)

if [ $# -eq 0 ]; then
	set -- "$dir"/[0-9][0-9][0-9]-*.yaml
fi

status=0
for sc in "$@"; do
	base=${sc%.yaml}
	if ! "$bin/udpbuild" kernel "$sc" -o "$base.pcap" --report "$base.json"; then
		echo "regen: $(basename "$sc"): kernel run failed or an expect did not hold" >&2
		status=1
	fi
done

uname -r >"$dir/KERNEL"
exit $status
