package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// asCLI, set in a child's environment, makes the test binary run the
// command line in os.Args[1:] instead of the tests: a real udpbuild
// process that a test can kill.
const asCLI = "UDPBUILD_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// frameLens reads a pcap file's frame lengths.
func frameLens(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var lens []int
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return lens
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(lens), err)
		}
		lens = append(lens, len(data))
	}
}

// TestKernelRepeat: `udpbuild kernel` plays repeat (streaming without
// --report, collecting with it), its capture has exactly the model's
// frames, and `udpbuild diff` finds no difference.
func TestKernelRepeat(t *testing.T) {
	testenv.NeedKernel(t)
	dir := t.TempDir()
	sc := writeFile(t, dir, "r.yaml", `name: repeat
repeat: 500
steps:
  - send: {len: 3000, expect: 3000}
  - send: {len: 1472, flags: [MSG_MORE]}
  - setsockopt: {UDP_CORK: 0}
`)
	model := filepath.Join(dir, "model.pcap")
	if code, _, stderr := runCLI(t, "run", sc, "-o", model); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	want := frameLens(t, model)
	if len(want) != 500*4 {
		t.Fatalf("the model made %d frames, want %d", len(want), 500*4)
	}
	for _, args := range [][]string{{"-o", "k.pcap"}, {"-o", "k.pcap", "--report", "k.json"}} {
		for i := range args {
			if strings.HasSuffix(args[i], ".pcap") || strings.HasSuffix(args[i], ".json") {
				args[i] = filepath.Join(dir, args[i])
			}
		}
		code, _, stderr := runCLI(t, append([]string{"kernel", sc}, args...)...)
		if code != 0 {
			t.Fatalf("kernel %v: exit %d: %s", args, code, stderr)
		}
		if got := frameLens(t, args[1]); !slices.Equal(got, want) {
			t.Errorf("kernel %v: %d frames, want the model's %d", args, len(got), len(want))
		}
	}
	code, stdout, stderr := runCLI(t, "diff", sc)
	if code != 0 || !strings.Contains(stdout, "agree: 1500 steps, 2000 frames") {
		t.Errorf("diff: exit %d: %s%s", code, stdout, stderr)
	}
}

// TestKernelRefusesInetID: a key the kernel cannot honour is an error,
// exit status 2, naming it; diff, which judges IDs by their rule, takes it.
func TestKernelRefusesInetID(t *testing.T) {
	dir := t.TempDir()
	sc := writeFile(t, dir, "id.yaml", "socket: {connect: true, inet_id: 4233}\nsteps:\n  - send: {len: 10}\n")
	out := filepath.Join(dir, "out.pcap")
	code, _, stderr := runCLI(t, "kernel", sc, "-o", out)
	if code != 2 || !strings.Contains(stderr, "socket.inet_id") || !strings.Contains(stderr, "cannot honour") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output written after a refusal: %v", err)
	}
	testenv.NeedKernel(t)
	if code, stdout, stderr := runCLI(t, "diff", sc); code != 0 {
		t.Errorf("diff: exit %d: %s%s", code, stdout, stderr)
	}
}

// TestKernelRemovesLeftoversOfKilledRun: a `udpbuild kernel` process
// killed outright leaves its namespaces behind; the next run removes them
// and names each on standard error.
func TestKernelRemovesLeftoversOfKilledRun(t *testing.T) {
	testenv.NeedKernel(t)
	dir := t.TempDir()
	long := writeFile(t, dir, "long.yaml", "repeat: 1000000000\nsteps:\n  - send: {len: 100}\n")
	cmd := exec.Command(os.Args[0], "kernel", long, "-o", filepath.Join(dir, "long.pcap"))
	cmd.Env = append(os.Environ(), asCLI+"=1")
	var childErr bytes.Buffer
	cmd.Stderr = &childErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	prefix := "udpb-" + strconv.Itoa(cmd.Process.Pid) + "-"
	var leaked []string
	for deadline := time.Now().Add(30 * time.Second); len(leaked) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the run made no namespaces in 30s (%s)", childErr.String())
		}
		time.Sleep(50 * time.Millisecond)
		leaked = namespacesWithPrefix(t, prefix)
	}
	time.Sleep(500 * time.Millisecond) // into the sends
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	t.Cleanup(func() {
		for _, ns := range namespacesWithPrefix(t, prefix) {
			exec.Command("ip", "netns", "delete", ns).Run()
		}
	})
	leaked = namespacesWithPrefix(t, prefix)
	if len(leaked) == 0 {
		t.Fatal("the killed run left no namespace behind: nothing to clean")
	}

	sc := writeFile(t, dir, "small.yaml", "steps:\n  - send: {len: 10}\n")
	code, _, stderr := runCLI(t, "kernel", sc, "-o", filepath.Join(dir, "small.pcap"))
	if code != 0 {
		t.Fatalf("next run: exit %d: %s", code, stderr)
	}
	if left := namespacesWithPrefix(t, prefix); len(left) != 0 {
		t.Errorf("the next run left %q of the killed one (stderr %q)", left, stderr)
	}
	for _, ns := range leaked {
		line := "udpbuild: removed network namespace " + ns + " left by pid " + strconv.Itoa(cmd.Process.Pid) + ", which is gone"
		if !strings.Contains(stderr, line) {
			// Another run on this machine may have cleaned first.
			t.Logf("the next run did not say it removed %s: %q", ns, stderr)
		}
	}
}

// namespacesWithPrefix lists the named network namespaces starting with prefix.
func namespacesWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
