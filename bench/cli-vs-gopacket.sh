#!/usr/bin/env bash
# cli-vs-gopacket.sh: issue 18's targets 1 and 2, measured as a user runs
# them: whole processes, wall time, both sides in the same run, in turns.
#
#   bench/cli-vs-gopacket.sh [ROUNDS] [COUNT]
#
# Target 1: `udpbuild send --len 64 --count COUNT -o F.pcap` against
# bench/gopacket-send (gopacket SerializeLayers + pcapgo, the program a Go
# programmer writes without udpbuild) writing the same frames; with
# --no-verify (goal: at most 0.5x) and with verification on (goal: at most
# 1.0x).
# Target 2: `udpbuild send --len 65507 --count N` at MTU 1500 (45 fragments
# each), payload bytes per second of the whole process, against the
# library's BenchmarkLargeSend (the same send to pcap on io.Discard) in
# the same run (goal: at least 0.7x).
#
# Every output goes to a fresh file in one temporary directory on
# $TMPDIR's file system (removed on exit), so no run pays for deleting the
# previous run's file. Prints medians and the ratios.
set -euo pipefail

rounds=${1:-7}
count=${2:-1000000}
largecount=$((count / 100))
[ "$largecount" -ge 100 ] || largecount=100

root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

(cd "$root" && go build -o "$tmp/udpbuild" ./cmd/udpbuild && go build -o "$tmp/gopacket-send" ./bench/gopacket-send &&
	go test -c -o "$tmp/bench.test" ./bench/)

# wall CMD...: runs CMD, prints its wall time in seconds.
wall() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$tmp/gp"
: >"$tmp/nv"
: >"$tmp/v"
: >"$tmp/large"
: >"$tmp/lib"
for r in $(seq "$rounds"); do
	wall "$tmp/gopacket-send" -len 64 -count "$count" -o "$tmp/gp$r.pcap" >>"$tmp/gp"
	wall "$tmp/udpbuild" send --len 64 --count "$count" --no-verify -o "$tmp/nv$r.pcap" >>"$tmp/nv"
	wall "$tmp/udpbuild" send --len 64 --count "$count" -o "$tmp/v$r.pcap" >>"$tmp/v"
	wall "$tmp/udpbuild" send --len 65507 --count "$largecount" -o "$tmp/l$r.pcap" >>"$tmp/large"
	"$tmp/bench.test" -test.run '^$' -test.bench 'LargeSend$' -test.benchtime 2000x |
		awk '$1 ~ /^BenchmarkLargeSend/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }' >>"$tmp/lib"
	rm -f "$tmp"/*.pcap
done

gp=$(median <"$tmp/gp")
nv=$(median <"$tmp/nv")
v=$(median <"$tmp/v")
large=$(median <"$tmp/large")
lib=$(median <"$tmp/lib")
cli=$(echo "65507 * $largecount / $large / 1000000" | bc -l)

printf 'target 1: %d 64-byte sends to pcap, whole process, median of %d turns\n' "$count" "$rounds"
printf '  gopacket-send            %6.3f s\n' "$gp"
printf '  udpbuild --no-verify     %6.3f s   %.2fx (goal <= 0.5x)\n' "$nv" "$(echo "$nv / $gp" | bc -l)"
printf '  udpbuild (verify)        %6.3f s   %.2fx (goal <= 1.0x)\n' "$v" "$(echo "$v / $gp" | bc -l)"
printf 'target 2: %d 65507-byte sends at MTU 1500\n' "$largecount"
printf '  udpbuild send            %8.1f MB/s payload (%.3f s)\n' "$cli" "$large"
printf '  BenchmarkLargeSend       %8.1f MB/s\n' "$lib"
printf '  ratio                    %.2fx (goal >= 0.7x)\n' "$(echo "$cli / $lib" | bc -l)"
