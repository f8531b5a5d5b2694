package builder

import (
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

func runYAML(t *testing.T, y string) *report.Report {
	t.Helper()
	sc, err := scenario.Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(sc, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// A connected sender's datagram to a closed port draws an ICMP port
// unreachable, which fails its next send with ECONNREFUSED and clears
// [live: 5, ECONNREFUSED, 5, ECONNREFUSED].
func TestConnectedSenderRefused(t *testing.T) {
	rep := runYAML(t, `
peer: {sockets: []}
socket: {connect: true}
steps:
  - send: {len: 5}
  - send: {len: 5}
  - send: {len: 5}
  - send: {len: 5}
`)
	want := []errno.Errno{0, errno.ECONNREFUSED, 0, errno.ECONNREFUSED}
	for i, w := range want {
		if rep.Steps[i].Err != w {
			t.Errorf("step %d: %v, want %v", i, rep.Steps[i], w.Name())
		}
	}
	var icmp int
	for _, f := range rep.Frames {
		if f.Dir == report.DirPeer && f.Kind == report.ICMP {
			icmp++
		}
	}
	if icmp != 2 || rep.Counters["peer.Udp.NoPorts"] != 2 || rep.Counters["sender.Icmp.InDestUnreachs"] != 2 {
		t.Errorf("%d ICMP frames, counters %v", icmp, rep.Counters)
	}
}

// With IP_RECVERR an unconnected sender takes the error too, and its error
// queue gives back the quoted payload.
func TestRecvErrQueue(t *testing.T) {
	rep := runYAML(t, `
peer: {sockets: []}
socket:
  setsockopt: [IP_RECVERR: 1]
steps:
  - send: {len: 3}
  - recv: {errqueue: true, len: 512}
  - send: {len: 3}
  - send: {len: 3}
`)
	r := rep.Steps[1].Recv[0]
	if r.Ret != 3 || r.From != "10.0.0.2:9000" || len(r.Cmsgs) != 1 || r.Cmsgs[0].Name != "IP_RECVERR" || len(r.MsgFlags) != 1 || r.MsgFlags[0] != "MSG_ERRQUEUE" {
		t.Errorf("error queue read: %v", r)
	}
	// Reading the queue cleared sk_err: the next send goes, and its own
	// ICMP fails the one after.
	if rep.Steps[2].Err != 0 || rep.Steps[3].Err != errno.ECONNREFUSED {
		t.Errorf("sends after the read: %v, %v", rep.Steps[2], rep.Steps[3])
	}
}

// A scenario without a receiving side runs as before: no peer frames, no
// counters.
func TestNoReceiverNoCounters(t *testing.T) {
	rep := runYAML(t, "steps:\n  - send: {len: 5}\n")
	if rep.Counters != nil || len(rep.PeerSetup) != 0 || len(rep.Frames) != 1 {
		t.Errorf("counters %v, peer setup %v, %d frames", rep.Counters, rep.PeerSetup, len(rep.Frames))
	}
}
