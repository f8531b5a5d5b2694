#!/usr/bin/env bash
# verify against tshark on the same capture, in the same run (BENCHMARKS.md,
# "verify against tshark"; issue 14's figure, issue 18's target).
#
#   bench/verify-vs-tshark.sh [SIZE_BYTES [RUNS]]     # default: 2 GB, 3 runs
#
# It writes a synthetic capture (verify/internal/synth: whole, fragmented,
# VLAN-tagged, VXLAN-tunnelled and corrupt UDP datagrams, TCP, ARP) into a
# temporary directory, reads it once to warm the page cache, then times,
# RUNS times each and alternating: `udpbuild verify FILE` (every verdict
# written), `udpbuild verify -q FILE` (only the drops) and
# `tshark -r FILE -o ip.defragment:TRUE -o udp.check_checksum:TRUE` (one
# line per frame), all to /dev/null. It prints, for each, the median wall
# time and CPU time (user + system; on a shared machine the fairer
# measure), MB/s and frames/s by CPU time, peak RSS, and verify's speed-up
# by both.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-2000000000}
runs=${2:-3}
command -v tshark >/dev/null || { echo "needs tshark" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/verify-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

go build -o "$dir/udpbuild" ./cmd/udpbuild
go run ./verify/internal/synth/gencap -size "$size" -o "$dir/cap.pcap" 2>"$dir/counts.json"
bytes=$(jq .Bytes "$dir/counts.json")
frames=$(jq .Frames "$dir/counts.json")
echo "capture: $bytes bytes, $frames frames ($(jq -c . "$dir/counts.json"))"
cat "$dir/cap.pcap" >/dev/null

# run NAME CMD...: one timed run, appending "wall cpu maxrss_kB" to $dir/NAME.
run() {
	local name=$1
	shift
	/usr/bin/time -q -f "%e %U %S %M" -o "$dir/t" "$@" >/dev/null 2>"$dir/err" || true
	awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$dir/t" >>"$dir/$name"
}
export HOME="$dir" # no tshark profile
for _ in $(seq "$runs"); do
	run verify "$dir/udpbuild" verify "$dir/cap.pcap"
	run verify-q "$dir/udpbuild" verify -q "$dir/cap.pcap"
	run tshark tshark -r "$dir/cap.pcap" -o ip.defragment:TRUE -o udp.check_checksum:TRUE
done

median() { sort -n -k"$2" "$1" | awk -v f="$2" '{a[NR]=$f} END {print a[int((NR+1)/2)]}'; }
printf "%-10s %8s %8s %10s %12s %12s\n" tool wall_s cpu_s MB/s_cpu frames/s_cpu "peak RSS"
for name in verify verify-q tshark; do
	w=$(median "$dir/$name" 1)
	c=$(median "$dir/$name" 2)
	rss=$(median "$dir/$name" 3)
	printf "%-10s %8s %8s %10.0f %12.0f %9.1f MiB\n" "$name" "$w" "$c" "$(echo "$bytes / $c / 1000000" | bc -l)" \
		"$(echo "$frames / $c" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done
ratio() { echo "$(median "$dir/tshark" "$2") / $(median "$dir/$1" "$2")" | bc -l; }
printf "verify is %.1fx tshark by CPU time, %.1fx by wall time (-q: %.1fx, %.1fx); load average %s\n" \
	"$(ratio verify 2)" "$(ratio verify 1)" "$(ratio verify-q 2)" "$(ratio verify-q 1)" "$(cut -d' ' -f1-3 /proc/loadavg)"
