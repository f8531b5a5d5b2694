package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/scenario"
)

// TestExplainBounded: explain keeps every decision until it prints, so a
// scenario with a large repeat: is stopped at maxExplainEvents with exit 2
// and a message saying what to do, in bounded time, instead of growing
// without bound.
func TestExplainBounded(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "long.yaml", "repeat: 1073741824\nsteps:\n  - send: {len: 65000}\n")
	start := time.Now()
	code, stdout, stderr := runCLI(t, "explain", p)
	if code != exitInvalid || !strings.Contains(stderr, "more than 262144 decisions") || !strings.Contains(stderr, "lower repeat") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("printed %d bytes of a refused explanation", len(stdout))
	}
	t.Logf("refused after %v", time.Since(start))
	// Below the bound, repeats are explained as before.
	ok := writeFile(t, dir, "ok.yaml", "repeat: 3\nsteps:\n  - send: {len: 3000}\n")
	code, stdout, stderr = runCLI(t, "explain", ok)
	if code != exitOK || strings.Count(stdout, "\n  ip_do_fragment") != 9 {
		t.Fatalf("repeat 3: exit %d: %s", code, stderr)
	}
}

// TestScenarioBounds: each of the loader's caps (docs/threat-model.md)
// refuses the first value beyond it with exit 2 and a message naming it,
// and accepts the value at it.
func TestScenarioBounds(t *testing.T) {
	dir := t.TempDir()
	steps := func(n int) string {
		var b strings.Builder
		b.WriteString("steps:\n")
		for range n {
			b.WriteString("  - send: {len: 1}\n")
		}
		return b.String()
	}
	hexPayload := func(n int) string {
		return "steps:\n  - send: {payload: \"hex:" + strings.Repeat("ab", n) + "\"}\n"
	}
	cases := []struct {
		name, body, want string // want "" for accepted
	}{
		// (Parsing 100001 steps takes the YAML parser seconds: the
		// count is checked on the parsed list.)
		{"steps over MaxSteps", steps(100001), "100001 steps; at most 100000"},
		{"repeat at MaxRepeat", "repeat: 1073741824\n", ""},
		{"repeat over MaxRepeat", "repeat: 1073741825\n", "out of range 1..1073741824"},
		{"len at MaxPayload", "steps:\n  - send: {len: 1048576}\n", ""},
		{"hex payload at MaxPayload", hexPayload(1 << 20), ""},
		{"hex payload over MaxPayload", hexPayload(1<<20 + 1), "payload of 1048577 bytes; at most 1048576"},
		{"IP_OPTIONS at 64 bytes", "socket:\n  setsockopt:\n    - IP_OPTIONS: \"" + strings.Repeat("01", 64) + "\"\n", ""},
		{"IP_OPTIONS over 64 bytes", "socket:\n  setsockopt:\n    - IP_OPTIONS: \"" + strings.Repeat("01", 65) + "\"\n", "65 bytes of options; at most 64"},
		{"cmsg IP_OPTIONS over 64 bytes", "steps:\n  - send: {len: 1, cmsg: [{IP_OPTIONS: \"" + strings.Repeat("01", 65) + "\"}]}\n", "65 bytes of options; at most 64"},
		{"alias", "name: &x plain\nsteps:\n  - send: {len: 1}\nlink: {mtu: *x}\n", "YAML aliases are not supported"},
		{"merge key", "link:\n  <<: {mtu: 1500}\n", "merge keys (<<) are not supported"},
	}
	for _, c := range cases {
		if c.want == "" {
			if _, err := scenario.Parse([]byte(c.body), c.name); err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".yaml", c.body)
		code, _, stderr := runCLI(t, "explain", p)
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", c.name, code, stderr, c.want)
		}
	}
	// send --count is repeat:.
	code, _, stderr := runCLI(t, "send", "--len", "1", "--count", "1073741825", "-o", "-")
	if code != exitInvalid || !strings.Contains(stderr, "out of range 1..1073741824") {
		t.Errorf("send --count 2^30+1: exit %d: %s", code, stderr)
	}
}

// gzipBomb writes a gzip-compressed pcap that decompresses to n MiB of
// 65535-byte all-zero frames: about a thousandth of that on disk.
func gzipBomb(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	z.Write(hdr)
	rec := make([]byte, 16+65535)
	binary.LittleEndian.PutUint32(rec[8:], 65535)
	binary.LittleEndian.PutUint32(rec[12:], 65535)
	for range n << 20 / len(rec) {
		if _, err := z.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

// peakRSS runs cmd to its end and returns its exit status and the high
// water mark of its resident set (VmHWM), sampled from /proc while it
// runs. (The rusage of wait4 will not do: the child starts on a vfork of
// the test process, whose own, larger resident set it then reports.)
func peakRSS(t *testing.T, cmd *exec.Cmd) (code int, hwm int64) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	for {
		if b, err := os.ReadFile(status); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				var kb int64
				if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &kb); n == 1 {
					hwm = max(hwm, kb<<10)
				}
			}
		}
		select {
		case <-done:
			return cmd.ProcessState.ExitCode(), hwm
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestVerifyMemoryBounded: verify reads any capture, gzip bombs included,
// in bounded memory: a file that decompresses to 256 MiB keeps the
// process well under that.
func TestVerifyMemoryBounded(t *testing.T) {
	bin := buildBinary(t)
	bomb := filepath.Join(t.TempDir(), "bomb.pcap.gz")
	gzipBomb(t, bomb, 256)
	if fi, err := os.Stat(bomb); err != nil || fi.Size() > 8<<20 {
		t.Fatalf("bomb: %v", err)
	}
	cmd := exec.Command(bin, "verify", bomb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code, hwm := peakRSS(t, cmd)
	if code != exitMismatch {
		t.Errorf("exit %d, want 1 (diagnostics): %s", code, stderr.String())
	}
	t.Logf("peak RSS %d MiB for 256 MiB of capture", hwm>>20)
	if hwm == 0 {
		t.Fatal("VmHWM never read")
	}
	if hwm > 192<<20 {
		t.Errorf("peak RSS %d MiB: verify's memory is not bounded", hwm>>20)
	}
}

// hostState is what a kernel run must not change in the namespace udpbuild
// runs in: its links, its addresses and the sysctls the runner sets inside
// its own namespaces.
func hostState(t *testing.T) (links, addrs string, sysctls map[string]string) {
	t.Helper()
	l, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	a, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		t.Fatalf("ip addr: %v", err)
	}
	sysctls = map[string]string{}
	for _, k := range []string{"ipv4/icmp_ratelimit", "ipv4/icmp_echo_ignore_all", "ipv4/icmp_msgs_per_sec", "ipv6/conf/all/disable_ipv6", "ipv6/conf/default/disable_ipv6"} {
		b, _ := os.ReadFile("/proc/sys/net/" + k)
		sysctls[k] = strings.TrimSpace(string(b))
	}
	return string(l), string(a), sysctls
}

// TestKernelLeavesHostAlone: while `udpbuild kernel` runs, the namespace it
// was started in gains no link (the veth pair lives in the run's two
// private namespaces), none of the scenario's addresses, and no changed
// sysctl; afterwards the run's namespaces are gone.
func TestKernelLeavesHostAlone(t *testing.T) {
	testenv.NeedKernel(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("socket: {src: 192.0.2.77:4000, dst: 198.51.100.77:9}\nsteps:\n")
	for range 150 { // 20 ms of settling each: 3 s
		b.WriteString("  - send: {len: 2000}\n")
	}
	p := writeFile(t, dir, "host.yaml", b.String())
	links, addrs, sysctls := hostState(t)
	done := make(chan int, 1)
	var stderr string
	go func() {
		code, _, e := runCLI(t, "kernel", p, "-o", filepath.Join(dir, "k.pcap"))
		stderr = e
		done <- code
	}()
	checked := false
	for !checked {
		select {
		case code := <-done:
			t.Fatalf("the run ended (exit %d) before the host was checked: %s", code, stderr)
		case <-time.After(100 * time.Millisecond):
		}
		// Check once the veth exists in the run's sender namespace.
		ready := false
		for _, ns := range ourNamespaces(t) {
			if strings.HasSuffix(ns, "-tx") && exec.Command("ip", "-n", ns, "link", "show", "udpb0").Run() == nil {
				ready = true
			}
		}
		if !ready {
			continue
		}
		l, a, s := hostState(t)
		for _, dev := range []string{"udpb0", "udpb1"} {
			if strings.Contains(l, ": "+dev) && !strings.Contains(links, ": "+dev) {
				t.Errorf("link %s appeared in the host namespace:\n%s", dev, l)
			}
		}
		for _, ip := range []string{"192.0.2.77", "198.51.100.77"} {
			if strings.Contains(a, ip) && !strings.Contains(addrs, ip) {
				t.Errorf("address %s appeared in the host namespace", ip)
			}
		}
		for k, v := range s {
			if sysctls[k] != v {
				t.Errorf("host sysctl %s changed from %q to %q", k, sysctls[k], v)
			}
		}
		checked = true
	}
	if code := <-done; code != exitOK {
		t.Fatalf("kernel: exit %d: %s", code, stderr)
	}
	if ns := ourNamespaces(t); len(ns) > 0 {
		t.Errorf("namespaces left behind: %v", ns)
	}
}

// TestOutputTargetsCLI: the output rules hold through the command line:
// -o naming a device writes into it and leaves it a device; --report
// through a symlink replaces the file it leads to and keeps the link; a
// failed run leaves both as they were. The device is a private node with
// /dev/null's numbers, never the real /dev/null.
func TestOutputTargetsCLI(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	real := writeFile(t, dir, "real.json", "previous")
	link := filepath.Join(dir, "report.json")
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	isDevice := func() {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(dev, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 1<<8|3 {
			t.Fatalf("%s is no longer the device: mode %#o rdev %#x (%v)", dev, st.Mode, st.Rdev, err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symlink", link)
		}
		if left := temporaries(dir); len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
	bad := writeFile(t, dir, "bad.yaml", "steps:\n  - send: {len: 100, expect: 99}\n")
	good := writeFile(t, dir, "good.yaml", "steps:\n  - send: {len: 100, expect: 100}\n")
	// An unmet expect is exit 1 with complete outputs; a scenario that
	// cannot run at all writes nothing.
	invalidRun := writeFile(t, dir, "invalid.yaml", "steps:\n  - send: {payload: \"@../x\"}\n")
	if code, _, stderr := runCLI(t, "run", invalidRun, "-o", dev, "--report", link); code != exitInvalid {
		t.Fatalf("invalid: exit %d: %s", code, stderr)
	}
	isDevice()
	if b, _ := os.ReadFile(real); string(b) != "previous" {
		t.Fatalf("a refused run changed %s: %q", real, b)
	}
	for _, sc := range []string{bad, good} {
		for _, args := range [][]string{
			{"run", sc, "-o", dev, "--report", link},
			{"run", sc, "-o", dev},
			{"send", "--len", "100", "-o", dev, "--report", link},
		} {
			if code, _, stderr := runCLI(t, args...); code != exitOK && code != exitMismatch {
				t.Fatalf("%q: exit %d: %s", args, code, stderr)
			}
			isDevice()
		}
	}
	if b, _ := os.ReadFile(real); !bytes.Contains(b, []byte(`"steps"`)) {
		t.Errorf("the report did not reach the symlink's target: %q", b)
	}
}

// TestFuzzFlagBounds: fuzz --kernel's own bounds (a positive --n, at most
// fuzz.MaxParallel kernel runs at once) are usage errors, exit 2, checked
// before anything runs.
func TestFuzzFlagBounds(t *testing.T) {
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fuzz", "--n", "1", "--out", out}, "fuzz needs --kernel"},
		{[]string{"fuzz", "--kernel", "--n", "0", "--out", out}, "--n 0"},
		{[]string{"fuzz", "--kernel", "--n", "1"}, "--out"},
		{[]string{"fuzz", "--kernel", "--n", "1", "--out", out, "--parallel", "5"}, "--parallel 5: 1..4"},
		{[]string{"fuzz", "--kernel", "--n", "1", "--out", out, "--parallel", "0"}, "--parallel 0: 1..4"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("fuzz wrote %d files for a refused command line", len(entries))
	}
}
