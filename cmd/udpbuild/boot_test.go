package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/vm"
)

// TestKernelBootUsage: the command-line mistakes of --boot and --out-dir
// are exit status 2 with a message saying what to do, and write nothing.
func TestKernelBootUsage(t *testing.T) {
	dir := t.TempDir()
	sc := writeFile(t, dir, "a.yaml", "name: a\nsteps:\n  - send: {len: 10}\n")
	sc2 := writeFile(t, dir, "b.yaml", "name: b\nsteps:\n  - send: {len: 10}\n")
	out := filepath.Join(dir, "out.pcap")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown profile", []string{"kernel", "--boot", "5.4", sc, "-o", out}, "bootable profiles are 6.1, 6.12"},
		{"several without out-dir", []string{"kernel", sc, sc2, "-o", out}, "2 scenarios need --out-dir DIR"},
		{"out-dir with -o", []string{"kernel", "--out-dir", dir, sc, "-o", out}, "--out-dir writes each scenario's capture"},
		{"nothing to write", []string{"kernel", "--boot", "6.1", sc}, "nothing to write"},
		{"same name twice", []string{"kernel", "--out-dir", filepath.Join(dir, "o"), sc, sc}, "would both write a in --out-dir"},
		{"fetch with a scenario", []string{"kernel", "--boot", "6.1", "--fetch", sc}, "--fetch takes --boot PROFILE and no scenario"},
		{"fetch without boot", []string{"kernel", "--fetch"}, "--fetch takes --boot PROFILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != exitInvalid || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
			for _, p := range []string{out, filepath.Join(dir, "o")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// TestKernelBootNoKernel: a profile whose kernel is neither in the cache
// nor fetchable (no apt-get) is exit status 2 naming the package and the
// path, with nothing written.
func TestKernelBootNoKernel(t *testing.T) {
	dir := t.TempDir()
	sc := writeFile(t, dir, "a.yaml", "name: a\nsteps:\n  - send: {len: 10}\n")
	cache := filepath.Join(dir, "cache")
	t.Setenv(vm.CacheEnv, cache)
	t.Setenv("PATH", filepath.Join(dir, "empty"))
	out := filepath.Join(dir, "out.pcap")
	p, _ := vm.LookupProfile("6.12")
	code, _, stderr := runCLI(t, "kernel", "--boot", "6.12", sc, "-o", out)
	if code != exitInvalid {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{p.Package, cache, "apt-get download"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the output was written")
	}
}
