#!/usr/bin/env bash
# ab-turns.sh: compare the library benchmarks of two commits on a machine
# that is not quiet. Both test binaries are built, then run in turns
# (base, head, base, head, ...) so that load drifts hit both alike; for each
# benchmark it prints the minimum (the run least disturbed: interference
# only ever adds time) and the median of each side, and head/base of both.
#
#   bench/ab-turns.sh BASE [HEAD] [ROUNDS] [BENCH-REGEXP]
#   bench/ab-turns.sh f63c493 HEAD 12 'SmallSend$|LargeSend$'
#
# Needs git and go; leaves nothing behind (temporary worktrees and
# binaries are removed on exit, also on a signal).
set -euo pipefail

base=${1:?usage: bench/ab-turns.sh BASE [HEAD] [ROUNDS] [BENCH-REGEXP]}
head=${2:-HEAD}
rounds=${3:-12}
re=${4:-'SmallSend$|SmallSend6$|SmallSendGopacket$|LargeSend$'}

root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
cleanup() {
	git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
	git -C "$root" worktree remove --force "$tmp/head" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for side in base head; do
	rev=$base
	[ "$side" = head ] && rev=$head
	git -C "$root" worktree add --detach "$tmp/$side" "$rev" >/dev/null 2>&1
	(cd "$tmp/$side" && go test -c -o "$tmp/$side.test" ./bench/)
done

for _ in $(seq "$rounds"); do
	for side in base head; do
		"$tmp/$side.test" -test.run '^$' -test.bench "$re" -test.benchtime 300000x |
			awk -v side="$side" '$1 ~ /^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") print side, $1, $i }'
	done
done >"$tmp/runs"

echo "benchmark                      base min  head min  ratio   base med  head med  ratio   (ns/op, $rounds turns, $base vs $head)"
awk '
function sortnum(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
{ k = $2 SUBSEP $1; n[k]++; v[k, n[k]] = $3; names[$2] = 1 }
END {
	for (b in names) {
		for (s = 0; s < 2; s++) {
			side = s ? "head" : "base"; k = b SUBSEP side
			if (!n[k]) continue
			delete a; for (i = 1; i <= n[k]; i++) a[i] = v[k, i]
			sortnum(a, n[k]); mn[side] = a[1]; md[side] = a[int((n[k] + 1) / 2)]
		}
		if (!n[b SUBSEP "base"] || !n[b SUBSEP "head"]) { printf "%-30s only on %s\n", b, (n[b SUBSEP "base"] ? "base" : "head"); continue }
		printf "%-30s %9.1f %9.1f %6.3f  %9.1f %9.1f %6.3f\n", b, mn["base"], mn["head"], mn["head"] / mn["base"], md["base"], md["head"], md["head"] / md["base"]
	}
}' "$tmp/runs" | sort
