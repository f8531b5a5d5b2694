package vm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/vm"
)

// needVM skips (or, in CI, fails) unless QEMU and profile's kernel are
// here: the kernel in the cache (or apt-get to fetch it) and the tools
// the guest carries from the host.
func needVM(t *testing.T, profile string) {
	t.Helper()
	testenv.NeedTool(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	p, err := vm.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := vm.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.FindKernel(p, dir); err != nil {
		if _, lerr := exec.LookPath("apt-get"); lerr != nil {
			testenv.Miss(t, err.Error())
		}
	}
}

var (
	guestOnce sync.Once
	guestBin  string
	guestErr  error
)

// guestBinary builds ./cmd/udpbuild once for all the tests: the guest's
// /init. (The test binary itself cannot be the guest.)
func guestBinary(t *testing.T) string {
	t.Helper()
	guestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "udpbuild-vm-test-")
		if err != nil {
			guestErr = err
			return
		}
		guestBin = filepath.Join(dir, "udpbuild")
		cmd := exec.Command("go", "build", "-o", guestBin, "github.com/udpbuild/udpbuild/cmd/udpbuild")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			guestErr = err
			guestBin = string(out)
		}
	})
	if guestErr != nil {
		t.Fatalf("building the guest binary: %v: %s", guestErr, guestBin)
	}
	return guestBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guestBin != "" && guestErr == nil {
		os.RemoveAll(filepath.Dir(guestBin))
	}
	os.Exit(code)
}

func background(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
