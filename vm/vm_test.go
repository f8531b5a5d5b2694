package vm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/vm"
)

// TestFindKernelMissing: a kernel missing from the cache is ErrNoKernel,
// with a message naming the package and where it must go.
func TestFindKernelMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range vm.Profiles() {
		p, err := vm.LookupProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = vm.FindKernel(p, dir)
		if !errors.Is(err, vm.ErrNoKernel) {
			t.Fatalf("%s: %v, want ErrNoKernel", name, err)
		}
		for _, want := range []string{p.Package, dir, "apt-get download", "dpkg-deb -x"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", name, err, want)
			}
		}
	}
}

func TestLookupProfile(t *testing.T) {
	for _, name := range []string{"6.1", "6.12"} {
		if _, err := vm.LookupProfile(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := vm.LookupProfile("5.4")
	if err == nil || !strings.Contains(err.Error(), "6.1, 6.12") {
		t.Errorf("unknown profile: %v, want an error listing 6.1, 6.12", err)
	}
}

// TestCacheDirEnv: $UDPBUILD_KERNEL_CACHE decides the cache.
func TestCacheDirEnv(t *testing.T) {
	t.Setenv(vm.CacheEnv, "/some/where")
	if d, err := vm.CacheDir(); err != nil || d != "/some/where" {
		t.Errorf("CacheDir = %q, %v", d, err)
	}
}
