#!/usr/bin/env bash
# build-local.sh builds every native Go fuzz target of udpbuild as a
# libFuzzer binary exactly as ClusterFuzzLite / OSS-Fuzz would, but without
# Docker, then runs each one briefly. It runs .clusterfuzzlite/build.sh
# itself, in a throwaway copy of the working tree, with the environment the
# base-builder-go image gives it ($SRC, $OUT, $WORK, $CXX,
# $LIB_FUZZING_ENGINE) and a stand-in for the image's
# compile_native_go_fuzzer that does what it does for a libFuzzer build.
#
# Usage: fuzz/ossfuzz/build-local.sh
#   RUNS=N       inputs per target after its seeds (default 2000)
#   KEEP=DIR     copy the binaries, seed corpora and crashers to DIR
#   GO118_FUZZ_BUILD_VERSION  go-118-fuzz-build and its shim (default: pinned below)
#
# Needs go, clang with libFuzzer (Debian: apt-get install clang) and zip;
# go-118-fuzz-build is installed into the temporary directory with
# `go install` through the Go module proxy. The checkout is never changed:
# the shim goes into the copy's go.mod only. Exits non-zero if any target
# fails to build or to run, or if build.sh and the tree disagree about which
# targets exist. Prints one line per target.
set -euo pipefail

runs=${RUNS:-2000}
# The newest go-118-fuzz-build the module proxy serves; the shim must match.
version=${GO118_FUZZ_BUILD_VERSION:-v0.0.0-20250520111509-a70c2aa677fa}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export PATH="$PATH:/usr/local/go/bin"

for tool in go clang clang++ zip unzip; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-local.sh: $tool not found (Debian: apt-get install -y clang zip unzip golang-go)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/src" "$tmp/out" "$tmp/work" "$tmp/logs" "$tmp/corpus"

# Targets: what build.sh builds, and what the tree declares.
grep -E '^build_target [^ ]+ Fuzz[A-Za-z0-9_]*$' .clusterfuzzlite/build.sh |
	awk '{print $2, $3}' | sort >"$tmp/listed"
grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	grep -v '/testdata/' |
	sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort >"$tmp/declared"
status=0
while read -r dir func; do
	echo "$func: declared in $dir but not built by .clusterfuzzlite/build.sh"
	status=1
done < <(comm -13 "$tmp/listed" "$tmp/declared")
while read -r dir func; do
	echo "$func: listed in .clusterfuzzlite/build.sh but not declared in $dir"
	status=1
done < <(comm -23 "$tmp/listed" "$tmp/declared")

echo "== installing go-118-fuzz-build $version"
GOBIN="$tmp/bin" go install "github.com/AdamKorcz/go-118-fuzz-build@$version"

# The stand-in for the image's compile_native_go_fuzzer, libFuzzer case:
# find the one file that declares the target (the image's helper greps the
# package directory for the name and silently builds nothing when that is
# not exactly one file), rewrite the target's *testing.F to the shim's F as
# the helper does, build with go-118-fuzz-build -tags gofuzz, link with
# $CXX $CXXFLAGS $LIB_FUZZING_ENGINE.
cat >"$tmp/bin/compile_native_go_fuzzer" <<'EOF'
#!/bin/bash -eu
path=$1 function=$2 fuzzer=$3
dir=$(go list -tags gofuzz -f '{{.Dir}}' "$path")
files=$(grep -r -l -s "$function" "$dir" || true)
if [ -z "$files" ] || [ "$(printf '%s\n' "$files" | wc -l)" -ne 1 ]; then
	echo "compile_native_go_fuzzer: $function must be named in exactly one file under $dir; found: ${files:-none}" >&2
	exit 1
fi
if [ "$(grep "func $function" "$files" | grep -c 'testing\.F')" -ne 1 ]; then
	echo "compile_native_go_fuzzer: no func $function(f *testing.F) in $files" >&2
	exit 1
fi
saved=$(mktemp)
cp "$files" "$saved"
sed -i "s/func $function(\([a-zA-Z0-9]*\) \*testing\.F)/func $function(\1 *go118fuzzbuildutils.F)/" "$files"
sed -i '0,/^package /s|^\(package .*\)$|\1\n\nimport go118fuzzbuildutils "github.com/AdamKorcz/go-118-fuzz-build/testing"|' "$files"
rc=0
go-118-fuzz-build -tags gofuzz -o "$WORK/$fuzzer.a" -func "$function" "$dir" || rc=$?
cp "$saved" "$files"
rm -f "$saved"
[ "$rc" -eq 0 ] || exit "$rc"
$CXX $CXXFLAGS $LIB_FUZZING_ENGINE "$WORK/$fuzzer.a" -o "$OUT/$fuzzer"
EOF
chmod +x "$tmp/bin/compile_native_go_fuzzer"

echo "== copying the working tree"
tar --exclude=./.git --exclude='*.test' --exclude=./udpbuild --exclude=./out -cf - . |
	tar -xf - -C "$tmp/src"

echo "== running .clusterfuzzlite/build.sh"
if ! (
	cd "$tmp/src"
	export PATH="$tmp/bin:$PATH" SRC="$tmp" OUT="$tmp/out" WORK="$tmp/work"
	export CC=clang CXX=clang++ CFLAGS="" CXXFLAGS="" LIB_FUZZING_ENGINE=-fsanitize=fuzzer
	export SANITIZER=address FUZZING_ENGINE=libfuzzer GO118_FUZZ_BUILD_VERSION="$version"
	bash -eux .clusterfuzzlite/build.sh
) >"$tmp/logs/build.log" 2>&1; then
	echo "build.sh failed:"
	tail -n 40 "$tmp/logs/build.log"
	status=1
fi

while read -r dir func; do
	name=${dir//\//_}_$func
	bin="$tmp/out/$name"
	if [ ! -x "$bin" ]; then
		echo "$func: NOT built (see the build.sh log above)"
		status=1
		continue
	fi
	corpus="$tmp/corpus/$name"
	mkdir -p "$corpus"
	seeds=0
	if [ -f "$tmp/out/${name}_seed_corpus.zip" ]; then
		unzip -q -o "$tmp/out/${name}_seed_corpus.zip" -d "$corpus"
		seeds=$(find "$corpus" -type f | wc -l)
	fi
	log="$tmp/logs/$name.log"
	mkdir -p "$tmp/out/crashes"
	if (cd "$tmp/work" && "$bin" -runs="$runs" -seed=1 -timeout=60 -rss_limit_mb=2560 \
		-artifact_prefix="$tmp/out/crashes/$name-" "$corpus") >"$log" 2>&1 &&
		done_line=$(grep -E '^Done [0-9]+ runs' "$log"); then
		echo "$func: built, $runs runs ok ($seeds seeds; ${done_line#Done })"
	else
		# The target's own words come just before the Go panic.
		echo "$func: built, run FAILED:"
		awk '/^(panic|fatal error): /{exit} !/^(INFO|#)/{print "    " $0}' "$log" | tail -n 8
		grep -E '^(SUMMARY|artifact_prefix|Test unit written)' "$log" | sed 's/^/    /' || true
		status=1
	fi
done <"$tmp/listed"

if [ -n "${KEEP:-}" ]; then
	mkdir -p "$KEEP"
	cp -pr "$tmp"/out/* "$KEEP"/
	echo "binaries, seed corpora and crashers (crashes/) copied to $KEEP"
fi
exit "$status"
