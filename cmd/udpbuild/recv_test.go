package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/report"
)

// TestKernelRecvCLI: `udpbuild kernel` runs a scenario with a peer and
// recv steps, writes the peer's ICMP error into the capture beside the
// sender's frames, and holds recv steps to their expect (exit 1, naming
// the step, when one does not hold).
func TestKernelRecvCLI(t *testing.T) {
	testenv.NeedKernel(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", `name: recv
peer:
  sockets:
    - bind: "0.0.0.0:9000"
      setsockopt: [{IP_PKTINFO: 1}]
steps:
  - send: {len: 100, expect: 100}
  - recv: {socket: 0, len: 50, expect: 50}
  - send: {len: 10, to: "10.0.0.2:9001", expect: 10}
  - recv: {socket: 0, flags: [MSG_DONTWAIT], expect: EAGAIN}
`)
	out, rep := filepath.Join(dir, "good.pcap"), filepath.Join(dir, "good.json")
	if code, _, stderr := runCLI(t, "kernel", good, "-o", out, "--report", rep); code != 0 {
		t.Fatalf("kernel: exit %d: %s", code, stderr)
	}
	if lens := frameLens(t, out); len(lens) != 3 {
		t.Fatalf("capture has %d frames, want the two datagrams and the port unreachable", len(lens))
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 4 || len(r.Steps[1].Recv) != 1 || r.Steps[1].Recv[0].MsgFlags[0] != "MSG_TRUNC" ||
		r.Steps[1].Recv[0].Cmsgs[0].Name != "IP_PKTINFO" || len(r.PeerSetup) != 2 || r.Frames[2].Dir != report.DirPeer ||
		r.Counters["peer.Udp.NoPorts"] != 1 {
		t.Fatalf("report: %s", b)
	}

	bad := writeFile(t, dir, "bad.yaml", `name: recv expect
steps:
  - send: {len: 100, expect: 100}
  - recv: {socket: 0, expect: 99}
`)
	code, _, stderr := runCLI(t, "kernel", bad, "-o", filepath.Join(dir, "bad.pcap"))
	if code != 1 || !strings.Contains(stderr, "step 1 (line 4): expected 99, got 100") {
		t.Fatalf("exit %d, stderr %q: want 1 and the recv step's expect named", code, stderr)
	}
}

// TestRecvScenarioErrors: a recv step on a socket the peer does not have
// is invalid input (exit 2), naming the key and line.
func TestRecvScenarioErrors(t *testing.T) {
	dir := t.TempDir()
	sc := writeFile(t, dir, "x.yaml", "peer: {sockets: []}\nsteps:\n  - recv: {socket: 0}\n")
	code, _, stderr := runCLI(t, "kernel", sc, "-o", filepath.Join(dir, "x.pcap"))
	if code != 2 || !strings.Contains(stderr, "x.yaml:3") || !strings.Contains(stderr, "steps[0].recv") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
