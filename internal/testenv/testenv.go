// Package testenv decides whether a test that needs the real kernel (root,
// iproute2, ethtool) or an outside tool (tshark) can run. Outside CI such a
// test skips with a clear message; in CI (CI=true) it fails instead, so that
// a CI machine missing a tool cannot pass by skipping the tests that matter.
//
// It imports nothing of udpbuild, so every package's tests can use it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedRoot skips (or, in CI, fails) tb unless it runs as root with every
// named command on PATH.
func NeedRoot(tb testing.TB, commands ...string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		miss(tb, "needs root (network namespaces, veth, AF_PACKET)")
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			miss(tb, "needs the "+c+" command on PATH")
		}
	}
}

// NeedKernel skips (or, in CI, fails) tb unless the kernel runner can work:
// root, iproute2's ip and ethtool.
func NeedKernel(tb testing.TB) {
	tb.Helper()
	NeedRoot(tb, "ip", "ethtool")
}

// NeedTool skips (or, in CI, fails) tb unless name is on PATH.
func NeedTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		miss(tb, "needs "+name+" (Debian package "+pkg+"), not found on PATH")
	}
	return p
}

// Miss skips tb with why, or in CI fails it: for a test whose needs are
// checked by its own package (a kernel image in a cache, say).
func Miss(tb testing.TB, why string) {
	tb.Helper()
	miss(tb, why)
}

func miss(tb testing.TB, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s; CI must run this test (.ci/run installs what it needs)", why)
	}
	tb.Skip(why)
}

// Namespaces lists the network namespaces whose names start with prefix
// (a test passes its own process's prefix, so that the namespaces of other
// processes, which may be running tests of their own, are never counted).
func Namespaces(tb testing.TB, prefix string) []string {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		tb.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			names = append(names, strings.Fields(line)[0])
		}
	}
	return names
}
