package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

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
