package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEncodeSeed(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []byte
	}{
		{"bytes", "go test fuzz v1\n[]byte(\"ab\")\n", []byte{0, 0, 0, 2, 'a', 'b'}},
		{"escapes", "go test fuzz v1\n[]byte(\"\\x00\\xff\")\n", []byte{0, 0, 0, 2, 0, 0xff}},
		{"mixed", "go test fuzz v1\nuint16(1500)\nbyte('\\x01')\nbyte('(')\nuint16(4000)\n[]byte(\"z\")\n",
			[]byte{0x05, 0xdc, 1, 1, '(', 0x0f, 0xa0, 1, 0, 0, 0, 1, 'z'}},
		{"ints", "go test fuzz v1\nint(-2)\nuint32(7)\nint8(-1)\nrune('A')\n",
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1, 0, 0, 0, 7, 0xff, 0, 0, 0, 'A'}},
		{"bools and strings", "go test fuzz v1\nbool(true)\nstring(\"\")\nbool(false)\nstring(\"hi\")\n",
			[]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 'h', 'i'}},
		{"float", "go test fuzz v1\nfloat64(1)\n", []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 1}},
	}
	for _, c := range cases {
		got, err := encodeSeed([]byte(c.in))
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got % x, %v; want % x", c.name, got, err, c.want)
		}
	}
}

func TestEncodeSeedRefuses(t *testing.T) {
	for _, in := range []string{
		"go test fuzz v2\n[]byte(\"a\")\n",
		"go test fuzz v1\n[]byte(\"\")\n",       // GetBytes reads length 0 as 30
		"go test fuzz v1\nstring(\"\")\n",       // GetString cannot start at the end
		"go test fuzz v1\n[]int(nil)\n",         // no such argument type
		"go test fuzz v1\nuint8(-1)\n",          // negative unsigned
		"go test fuzz v1\nuint16(1, 2)\n",       // not T(value)
		"go test fuzz v1\ncomplex128(1)\n",      // unsupported by the shim
		"go test fuzz v1\n[]byte(\"a\"\n",       // does not parse
		"go test fuzz v1\nbool(1)\n",            // not a bool literal
		"go test fuzz v1\nuint16(\"x\")\n",      // not an integer literal
		"go test fuzz v1\nbyte('\\x00\\x00')\n", // not one character
	} {
		if b, err := encodeSeed([]byte(in)); err == nil {
			t.Errorf("encodeSeed(%q) = % x, want an error", in, b)
		}
	}
	if _, err := encodeSeed([]byte("go test fuzz v1\n[]byte(\"\")\n")); !errors.Is(err, errNotExpressible) {
		t.Errorf("empty final []byte: %v, want errNotExpressible", err)
	}
}

// TestSeedRoundTrip decodes encoded seeds as the shim does and gets the
// corpus file back.
func TestSeedRoundTrip(t *testing.T) {
	cases := []struct {
		types []string
		file  string
	}{
		{[]string{"[]byte"}, "go test fuzz v1\n[]byte(\"\\x00\\x01udp\")\n"},
		{[]string{"uint16", "byte", "byte", "uint16", "[]byte"}, "go test fuzz v1\nuint16(1432)\nbyte('(')\nbyte('\\x01')\nuint16(65467)\n[]byte(\"sg\")\n"},
		{[]string{"int", "bool", "string", "rune", "int8", "int16", "uint32", "uint64", "float64"},
			"go test fuzz v1\nint(-5)\nbool(false)\nstring(\"\")\nrune('é')\nint8(-3)\nint16(-300)\nuint32(9)\nuint64(18446744073709551615)\nfloat64(2.5)\n"},
	}
	for _, c := range cases {
		enc, err := encodeSeed([]byte(c.file))
		if err != nil {
			t.Fatalf("encodeSeed(%q): %v", c.file, err)
		}
		dec, err := decodeInput(enc, c.types)
		if err != nil || string(dec) != c.file {
			t.Errorf("round trip of %q: got %q, %v", c.file, dec, err)
		}
	}
	if _, err := decodeInput([]byte{0, 0}, []string{"[]byte"}); err == nil {
		t.Error("decodeInput of a 2-byte input for a []byte: no error")
	}
}

func TestConvertCorpus(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "seeds")
	write(t, in, "good", "go test fuzz v1\n[]byte(\"x\")\n")
	write(t, in, "empty", "go test fuzz v1\n[]byte(\"\")\n")
	var log bytes.Buffer
	n, err := convertCorpus(in, out, &log)
	if err != nil || n != 1 {
		t.Fatalf("convertCorpus: %d, %v", n, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "good")); err != nil || !bytes.Equal(b, []byte{0, 0, 0, 1, 'x'}) {
		t.Errorf("good seed: % x, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "empty")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty seed was written (%v)", err)
	}
	if !strings.Contains(log.String(), "skipping seed empty") {
		t.Errorf("log %q does not name the skipped seed", log.String())
	}
	if n, err := convertCorpus(filepath.Join(in, "missing"), out, io.Discard); n != 0 || err != nil {
		t.Errorf("missing corpus: %d, %v", n, err)
	}
}

// widget is a package whose fuzz target needs helpers from another
// _test.go file, a testing.TB, a type with a method, an iota block and a
// renamed import, and shares its file with a benchmark. Its lines are
// indented so that no line of this file starts with "func Fuzz": the
// scripts that look for fuzz targets grep for that.
var widget = map[string]string{
	"go.mod":    "module example.com/widget\n\ngo 1.22\n",
	"widget.go": "package widget\n\n// Parse is the code under test.\nfunc Parse(b []byte) int { return len(b) }\n",
	"fuzz_test.go": `package widget

	import "testing"

	func FuzzWidget(f *testing.F) {
		f.Add(seed())
		f.Fuzz(func(t *testing.T, b []byte, n uint16) {
			check(t, b)
		})
	}

	func BenchmarkWidget(b *testing.B) {
		for b.Loop() {
			Parse(nil)
		}
	}

	func FuzzBad(f *testing.F) {
		f.Fuzz(func(t *testing.T, b []byte) { viaBench() })
	}
	`,
	"helpers_test.go": `package widget

	import (
		"bytes"
		rnd "math/rand/v2"
		"testing"
	)

	const (
		first = iota
		second
	)

	type checker struct{ min int }

	func (c checker) ok(b []byte) bool { return Parse(b) >= c.min }

	func check(t testing.TB, b []byte) {
		t.Helper()
		if !(checker{}).ok(b) {
			t.Fatal(bytes.ToUpper(b))
		}
	}

	func seed() []byte { return []byte{byte(rnd.IntN(1)), byte(second)} }

	func unused() {}

	func viaBench() { testing.Benchmark(nil) }
	`,
	"ext_test.go": "package widget_test\n\nimport \"testing\"\n\nfunc TestExternal(t *testing.T) {}\n",
}

// shim is a stand-in for go-118-fuzz-build's testing package, enough for
// the generated widget harness to compile.
const shim = `package testing

type F struct{}

func (f *F) Add(args ...any) {}
func (f *F) Fuzz(ff any)     {}

type T struct{}

func (t *T) Cleanup(func())                    {}
func (t *T) Error(args ...any)                 {}
func (t *T) Errorf(format string, args ...any) {}
func (t *T) Fail()                             {}
func (t *T) FailNow()                          {}
func (t *T) Failed() bool                      { return false }
func (t *T) Fatal(args ...any)                 {}
func (t *T) Fatalf(format string, args ...any) {}
func (t *T) Helper()                           {}
func (t *T) Log(args ...any)                   {}
func (t *T) Logf(format string, args ...any)   {}
func (t *T) Name() string                      { return "" }
func (t *T) Setenv(key, value string)          {}
func (t *T) Skip(args ...any)                  {}
func (t *T) SkipNow()                          {}
func (t *T) Skipf(format string, args ...any)  {}
func (t *T) Skipped() bool                     { return false }
func (t *T) TempDir() string                   { return "" }
`

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeWidget(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range widget {
		write(t, dir, name, text)
	}
	return dir
}

func TestHarness(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	src, dst := writeWidget(t), writeWidget(t)
	if err := run([]string{"harness", "-src", src, "-dst", dst, "-func", "FuzzWidget", "-as", "LibfuzzerWidget"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, harnessFile))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"func LibfuzzerWidget(f *testing.F)",
		"func check(t libfuzzerTB, b []byte)",
		"type libfuzzerTB interface",
		"type checker struct",
		"func (c checker) ok(",
		"first = iota",
		`rnd "math/rand/v2"`,
		`"github.com/AdamKorcz/go-118-fuzz-build/testing"`,
		`"bytes"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("harness lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"BenchmarkWidget", "unused", "FuzzWidget(", "FuzzBad", "viaBench", "TestExternal", `"testing"`} {
		if strings.Contains(got, unwanted) {
			t.Errorf("harness has %q:\n%s", unwanted, got)
		}
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"go.mod", harnessFile, "widget.go"}; !slices.Equal(names, want) {
		t.Errorf("build directory holds %v, want %v", names, want)
	}

	// The harness compiles against the shim.
	shimDir := filepath.Join(t.TempDir(), "shim")
	if err := os.MkdirAll(shimDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, shimDir, "go.mod", "module github.com/AdamKorcz/go-118-fuzz-build\n\ngo 1.22\n")
	if err := os.MkdirAll(filepath.Join(shimDir, "testing"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(shimDir, "testing"), "shim.go", shim)
	write(t, dst, "go.mod", "module example.com/widget\n\ngo 1.22\n\nrequire github.com/AdamKorcz/go-118-fuzz-build v0.0.0\n\nreplace github.com/AdamKorcz/go-118-fuzz-build => "+shimDir+"\n")
	cmd := exec.Command("go", "build", "./...")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the generated harness does not build: %v\n%s\n%s", err, out, got)
	}
}

func TestHarnessRefuses(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	src := writeWidget(t)
	cases := []struct {
		fn, as, want string
	}{
		{"FuzzBad", "LibfuzzerBad", "testing.Benchmark, which the libFuzzer shim lacks (FuzzBad -> viaBench)"},
		{"FuzzNone", "LibfuzzerNone", "declares FuzzNone"},
		{"FuzzWidget", "libfuzzerWidget", "not an exported identifier"},
		{"FuzzWidget", "BenchmarkWidget", "already declared"},
	}
	for _, c := range cases {
		err := prepareHarness(src, t.TempDir(), c.fn, c.as)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s as %s: %v, want %q", c.fn, c.as, err, c.want)
		}
	}
}

func TestFuzzArgTypes(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	ix, err := readTests(writeWidget(t), "FuzzWidget")
	if err != nil {
		t.Fatal(err)
	}
	types, err := fuzzArgTypes(ix, "FuzzWidget")
	if err != nil || !slices.Equal(types, []string{"[]byte", "uint16"}) {
		t.Errorf("types %v, %v", types, err)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"harness", "-src", "x"},
		{"seeds", "-in", "x"},
		{"crasher", "-func", "FuzzX"},
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}
