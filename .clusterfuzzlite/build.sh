#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build script for udpbuild: leaves one libFuzzer
# binary per native Go fuzz target (func FuzzX(f *testing.F)) in $OUT, and a
# <binary>_seed_corpus.zip beside it when the target has a `go test` corpus
# under testdata/fuzz/.
#
# It runs inside gcr.io/oss-fuzz-base/base-builder-go with the checkout as
# the working directory (.clusterfuzzlite/Dockerfile). The tree is a
# throwaway copy and is changed in place: go.mod gains go-118-fuzz-build's
# testing shim and, while a target builds, its package's _test.go files
# give way to the one file libfuzzerprep generates (see
# fuzz/ossfuzz/libfuzzerprep and docs/fuzzing.md). Each package is put back
# before the next target.
#
# fuzz/ossfuzz/build-local.sh runs this very script outside Docker, with a
# stand-in for compile_native_go_fuzzer, to check it builds and runs.

module=github.com/udpbuild/udpbuild

# go.mod may ask for a newer Go than the image has: let go fetch it.
export GOTOOLCHAIN=auto

# go-118-fuzz-build replaces package testing by its shim, which must be
# in go.mod. The image's go-118-fuzz-build is built from the tool's latest
# commit; build-local.sh pins both to one version.
go get "github.com/AdamKorcz/go-118-fuzz-build/testing@${GO118_FUZZ_BUILD_VERSION:-latest}"

# libfuzzerprep reads the _test.go files from an untouched copy.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pristine=$scratch/pristine
mkdir "$pristine"
cp -a . "$pristine/"
go build -o "$scratch/libfuzzerprep" ./fuzz/ossfuzz/libfuzzerprep

# build_target PKGDIR FUNC builds FuncX of package PKGDIR (relative to the
# module root) as $OUT/<pkgdir>_<FUNC>.
build_target() {
	local dir=$1 func=$2
	local name=${dir//\//_}_$func
	# The generated harness gets a name no other file of the package
	# tree contains: compile_native_go_fuzzer finds it by grep.
	local as=Libfuzzer$func
	"$scratch/libfuzzerprep" harness -src "$pristine/$dir" -dst "$dir" -func "$func" -as "$as"
	compile_native_go_fuzzer "$module/$dir" "$as" "$name"
	rm -f "$dir/libfuzzer_harness.go"
	cp -p "$pristine/$dir/"*_test.go "$dir/"

	if [ -d "$pristine/$dir/testdata/fuzz/$func" ]; then
		local seeds=$scratch/seeds/$name
		"$scratch/libfuzzerprep" seeds -in "$pristine/$dir/testdata/fuzz/$func" -out "$seeds"
		if [ -n "$(ls -A "$seeds")" ]; then
			rm -f "$OUT/${name}_seed_corpus.zip"
			(cd "$seeds" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
		fi
	fi
}

# Every native target of the module. build-local.sh fails when a
# func FuzzX(f *testing.F) in a _test.go file is missing here.
build_target fuzz FuzzScenario
build_target fuzz FuzzScenarioIPv6
build_target fuzz FuzzScenarioYAML
build_target fuzz FuzzLoad
build_target ipopt FuzzIPOptions
build_target cmsg FuzzCmsg
build_target cmsg FuzzBuild
build_target verify FuzzVerify
build_target verify FuzzFrames
build_target verify FuzzFragmentReassemble
build_target header FuzzIPv6ExtHeaders
