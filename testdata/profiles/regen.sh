#!/bin/sh
# regen.sh captures the kernel corpora on another kernel than the host's:
# for PROFILE (6.1 or 6.12) it boots Debian's packaged kernel of that series
# in QEMU (`udpbuild kernel --boot`, one boot per corpus) and writes, for
# every scenario testdata/CORPUS/NNN-*.yaml, PROFILE/CORPUS/NNN-*.pcap and
# .json; then PROFILE/CORPUS/KERNEL, the guest's uname -r.
#
# The scenarios themselves stay in testdata/CORPUS: a profile's directory
# holds only what that kernel did with them. Read README.md first: goldens
# are never regenerated to make a test pass without understanding the
# drift.
#
# Needs qemu-system-x86_64, ip and ethtool on the host (copied into the
# guest), and the kernel package in $UDPBUILD_KERNEL_CACHE (fetched with
# apt-get download when missing). No root is needed.
#
# Usage: testdata/profiles/regen.sh PROFILE [CORPUS ...]
# CORPUS defaults to: kernel gso-selftest kernel-ipv6 gso-selftest-ipv6.
# Exit status 1 when any scenario's `expect` did not hold on that kernel
# (its goldens are still written: that is a difference to record in
# docs/kernel-profiles.md) or a run failed.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 PROFILE [CORPUS ...]" >&2
	exit 2
fi
profile=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
testdata=$(cd "$here/.." && pwd)
root=$(cd "$testdata/.." && pwd)
go=${GO:-go}
if ! command -v "$go" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	go=/usr/local/go/bin/go
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Static, so the guest needs no shared library for its init.
(cd "$root" && CGO_ENABLED=0 "$go" build -o "$bin/udpbuild" ./cmd/udpbuild)

if [ $# -eq 0 ]; then
	set -- kernel gso-selftest kernel-ipv6 gso-selftest-ipv6
fi

status=0
for corpus in "$@"; do
	out="$here/$profile/$corpus"
	mkdir -p "$out"
	rm -f "$out"/[0-9][0-9][0-9]-*.pcap "$out"/[0-9][0-9][0-9]-*.json
	if ! "$bin/udpbuild" kernel --boot "$profile" --out-dir "$out" "$testdata/$corpus"/[0-9][0-9][0-9]-*.yaml; then
		echo "regen: $profile/$corpus: a run failed or an expect did not hold" >&2
		status=1
	fi
	# The release the guest reported, from any of the reports.
	first=$(ls "$out"/[0-9][0-9][0-9]-*.json | head -n 1)
	sed -n 's/^  "kernel": "\(.*\)",$/\1/p' "$first" >"$out/KERNEL"
done
exit $status
