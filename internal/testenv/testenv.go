// Package testenv decides whether a test that needs the real kernel (root,
// iproute2, ethtool) or an outside tool (tshark) can run. Outside CI such a
// test skips with a clear message; in CI (CI=true) it fails instead, so that
// a CI machine missing a tool cannot pass by skipping the tests that matter.
package testenv

import (
	"os"
	"os/exec"
	"testing"

	"github.com/udpbuild/udpbuild/kernel"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedKernel skips (or, in CI, fails) t unless the kernel runner works.
func NeedKernel(t testing.TB) {
	t.Helper()
	if ok, why := kernel.Available(); !ok {
		miss(t, "needs the real kernel: "+why)
	}
}

// NeedTool skips (or, in CI, fails) t unless name is on PATH.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		miss(t, "needs "+name+" (Debian package "+pkg+"), not found on PATH")
	}
	return p
}

func miss(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s; CI must run this test (.ci/run installs what it needs)", why)
	}
	t.Skip(why)
}
