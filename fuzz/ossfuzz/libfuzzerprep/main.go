// Command libfuzzerprep readies a throwaway copy of the udpbuild tree for
// go-118-fuzz-build, the tool OSS-Fuzz and ClusterFuzzLite use (through
// compile_native_go_fuzzer) to turn a native `go test` fuzz target into a
// libFuzzer binary, and converts `go test` seed corpora into the byte layout
// that tool's testing shim decodes.
//
// Usage:
//
//	libfuzzerprep harness -src PKGDIR -dst PKGDIR -func FuzzX -as NAME
//	libfuzzerprep seeds -in testdata/fuzz/FuzzX -out DIR
//	libfuzzerprep crasher -src PKGDIR -func FuzzX -in crash-FILE -out testdata/fuzz/FuzzX/NAME
//
// # harness
//
// go-118-fuzz-build compiles the target's package as an ordinary package:
// of the _test.go files it keeps only the one that declares the target,
// rewritten to import its shim of "testing". Our targets call helpers from
// other _test.go files (seed builders, invariant checks) and share files
// with benchmarks that use testing.B, which the shim lacks, so they do not
// build as they stand. harness extracts from the package's _test.go files
// in src exactly the declarations the target reaches (the target, then
// whatever those declarations name, transitively, with the methods of every
// type taken), writes them to one ordinary file, libfuzzer_harness.go, in
// dst with the shim as "testing", renames the target to NAME, and deletes
// every _test.go file from dst. NAME must be unique in the directory tree:
// compile_native_go_fuzzer finds the harness file by grepping for it, and a
// target whose name is a prefix of another's (or appears in a comment)
// would match twice.
//
// The extraction is by name, not by type: an identifier that names a
// top-level test declaration pulls it in even where a local variable
// shadows it. That can only add declarations, never lose one; a pulled-in
// declaration that needs what the shim lacks (testing.B, testing.M) is an
// error naming it. testing.TB, which the shim does not define either, is
// replaced by an interface of the methods the shim's *T has.
//
// # seeds
//
// The shim does not hand the fuzzer's bytes to the target as they are: it
// decodes every argument of the f.Fuzz function in turn with
// go-fuzz-headers (a []byte is a big-endian uint32 length and the bytes,
// a uint16 two bytes and a byte-order flag, and so on). seeds rewrites each
// file of a `go test` corpus directory ("go test fuzz v1" and one Go
// literal per argument) into that layout, so that the libFuzzer binary
// starts from the same inputs as `go test -fuzz`. A value the layout cannot
// express (an empty final []byte, say) skips its file with a note.
//
// # crasher
//
// crasher goes the other way: it decodes a libFuzzer input (a crash-*
// file from ClusterFuzzLite or build-local.sh) as the shim would, using the
// types of the target's f.Fuzz arguments, and writes the arguments as a
// `go test` corpus file, so that `go test -run=FuzzX/NAME` replays it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// usage is printed for a missing or unknown subcommand.
const usage = `usage:
  libfuzzerprep harness -src PKGDIR -dst PKGDIR -func FuzzX -as NAME
  libfuzzerprep seeds -in CORPUSDIR -out DIR
  libfuzzerprep crasher -src PKGDIR -func FuzzX -in INPUT -out CORPUSFILE`

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "libfuzzerprep:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand; notes (skipped seeds) go to log.
func run(args []string, log io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "harness":
		fs := flag.NewFlagSet("harness", flag.ContinueOnError)
		src := fs.String("src", "", "package directory holding the pristine _test.go files")
		dst := fs.String("dst", "", "the same package directory in the throwaway build tree")
		fn := fs.String("func", "", "the native fuzz target, FuzzX")
		as := fs.String("as", "", "the name the target gets in the generated file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *src == "" || *dst == "" || *fn == "" || *as == "" {
			return errors.New("harness needs -src, -dst, -func and -as")
		}
		return prepareHarness(*src, *dst, *fn, *as)
	case "seeds":
		fs := flag.NewFlagSet("seeds", flag.ContinueOnError)
		in := fs.String("in", "", "a `go test` corpus directory (testdata/fuzz/FuzzX)")
		out := fs.String("out", "", "where the libFuzzer corpus files go")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *in == "" || *out == "" {
			return errors.New("seeds needs -in and -out")
		}
		n, err := convertCorpus(*in, *out, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "%d seeds written to %s\n", n, *out)
		return nil
	case "crasher":
		fs := flag.NewFlagSet("crasher", flag.ContinueOnError)
		src := fs.String("src", "", "the package directory of the target")
		fn := fs.String("func", "", "the native fuzz target, FuzzX")
		in := fs.String("in", "", "the libFuzzer input")
		out := fs.String("out", "", "the `go test` corpus file to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *src == "" || *fn == "" || *in == "" || *out == "" {
			return errors.New("crasher needs -src, -func, -in and -out")
		}
		return convertCrasher(*src, *fn, *in, *out)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
}
