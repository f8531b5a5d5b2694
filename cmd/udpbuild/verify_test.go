package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// captures is verify's bundled corpus.
const captures = "../../verify/testdata/captures"

// TestVerifyCommand checks the exit statuses and output issue 14 asks for:
// frames that are not UDP are counted in the summary, not diagnosed, unless
// --strict; a drop exits 1; -q leaves delivered datagrams out; a directory
// or a file that is not a capture exits 2 saying what it is.
func TestVerifyCommand(t *testing.T) {
	eth := filepath.Join(captures, "ethernet.pcap")
	// Its IPv6 datagram has a zero UDP checksum, which a Linux
	// receiver drops.
	code, out, errs := runCLI(t, "verify", eth)
	if code != 1 || strings.Contains(out, "!") || !strings.Contains(out, "udp6-zero-checksum") || !strings.Contains(out, "IPv6: 1 packets\n") ||
		!strings.Contains(out, "skipped: 1 IP packets of other protocols, 1 frames without an IP packet") {
		t.Errorf("verify ethernet.pcap: exit %d\n%s%s", code, out, errs)
	}
	raw := filepath.Join(captures, "raw.pcap")
	code, out, errs = runCLI(t, "verify", raw)
	if code != 0 || strings.Contains(out, "!") || !strings.Contains(out, "skipped: 1 IP packets of other protocols") {
		t.Errorf("verify raw.pcap: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "verify", "--strict", eth)
	if code != 1 || strings.Count(out, "\n! frame ") != 2 || !strings.Contains(out, "! frame 2: IPv4.Protocol: protocol 6 (TCP) is not UDP or UDP-Lite; not judged") {
		t.Errorf("verify --strict ethernet.pcap: exit %d\n%s", code, out)
	}
	vlan := filepath.Join(captures, "vlan.pcap")
	code, out, errs = runCLI(t, "verify", "-q", vlan)
	if code != 1 || strings.Contains(out, "delivered  ") || !strings.Contains(out, "dropped (bad)   in VLAN 5; udp-checksum") ||
		!strings.Contains(errs, "1 of 2 datagrams would be dropped") {
		t.Errorf("verify -q vlan.pcap: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "verify", "--json", vlan)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Type    string `json:"type"`
		Dropped int    `json:"dropped"`
	}
	if code != 1 || len(lines) != 3 || json.Unmarshal([]byte(lines[2]), &last) != nil || last.Type != "summary" || last.Dropped != 1 {
		t.Errorf("verify --json vlan.pcap: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	for _, c := range []struct{ arg, want string }{
		{dir, "is a directory, not a capture file"},
		{writeFile(t, dir, "x.pcap", "not a capture"), "not a pcap or pcapng file"},
		{filepath.Join(dir, "missing.pcap"), "no such file"},
	} {
		if code, _, errs := runCLI(t, "verify", c.arg); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("verify %s: exit %d, %q; want 2 and %q", c.arg, code, errs, c.want)
		}
	}
}

// TestVerifyStopsOnCancel checks point 7 of issue 14 for verify: on a
// FIFO that never gets a writer (the open waits) and on one whose writer
// never writes (the read waits), the command returns promptly when its
// context is cancelled (as on SIGINT or SIGTERM), with a failure status.
func TestVerifyStopsOnCancel(t *testing.T) {
	for _, writer := range []bool{false, true} {
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		if writer {
			w, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
		}
		cancelledVerify(t, fifo)
	}
}

func cancelledVerify(t *testing.T, fifo string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb strings.Builder
		done <- run(ctx, []string{"verify", fifo}, &out, &errb)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code == 0 {
			t.Errorf("cancelled verify exited 0")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("verify still waiting on the FIFO 10 s after the cancel")
	}
}
