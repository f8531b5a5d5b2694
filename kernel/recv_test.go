package kernel

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// runYAML parses a scenario and runs it on the kernel.
func runYAML(t *testing.T, y string) *report.Report {
	t.Helper()
	sc, err := scenario.Parse([]byte(y), "")
	if err != nil {
		t.Fatal(err)
	}
	return run(t, sc)
}

func recvCalls(t *testing.T, rep *report.Report, step int) []report.Recv {
	t.Helper()
	if step >= len(rep.Steps) || rep.Steps[step].Op != "recv" {
		t.Fatalf("step %d is not a recv: %v", step, rep.Steps)
	}
	return rep.Steps[step].Recv
}

func TestKernelRecvControlMessages(t *testing.T) {
	needKernel(t)
	rep := runYAML(t, `
socket: {setsockopt: [{IP_TOS: 0x10}, {IP_TTL: 9}]}
peer: {sockets: [{bind: "0.0.0.0:9000", setsockopt: [{IP_PKTINFO: 1}, {IP_RECVTOS: 1}, {IP_RECVTTL: 1}]}]}
steps:
  - send: {len: 100}
  - recv: {socket: 0, len: 60}
  - recv: {socket: 0, flags: [MSG_DONTWAIT]}
`)
	got := recvCalls(t, rep, 1)
	want := report.Recv{Ret: 60, Len: 60, MsgFlags: []string{"MSG_TRUNC"}, From: "10.0.0.1:40000",
		Digest: report.Digest(pattern(0, 100)[:60]), Cmsgs: []report.Cmsg{
			{Name: "IP_PKTINFO", Value: "ifindex=2 spec_dst=10.0.0.2 addr=10.0.0.2"},
			{Name: "IP_TTL", Value: "9"}, {Name: "IP_TOS", Value: "0x10"}}}
	if len(got) != 1 || !got[0].Equal(want) {
		t.Fatalf("recv = %v, want %v", got, want)
	}
	if s := rep.Steps[2]; s.Err != errno.EAGAIN || *s.Socket != 0 {
		t.Fatalf("second recv = %+v, want EAGAIN on socket 0", s)
	}
	if rep.Counters["peer.Udp.InDatagrams"] != 1 || rep.Counters["sender.Udp.OutDatagrams"] != 1 {
		t.Errorf("counters = %v", rep.Counters)
	}
}

// TestKernelPortUnreachable: nothing bound, a connected sender. The peer's
// ICMP error is a frame of the run (Dir peer) filed under the step that
// provoked it, and the fence makes the sender's reaction certain: every
// other send fails with ECONNREFUSED, 40 times over.
func TestKernelPortUnreachable(t *testing.T) {
	needKernel(t)
	rep := runYAML(t, `
socket: {connect: true}
peer: {sockets: [], sysctl: {icmp_ratemask: 0}}
repeat: 40
steps:
  - send: {len: 100}
`)
	var peerFrames int
	for i, s := range rep.Steps {
		want := report.Step{Op: "send", Ret: 100}
		if i%2 == 1 {
			want = report.Step{Op: "send", Err: errno.ECONNREFUSED}
		}
		if !s.Equal(want) {
			t.Fatalf("step %d = %v, want %v (steps %v)", i, s, want, rep.Steps)
		}
	}
	for _, f := range rep.Frames {
		if f.Dir != report.DirPeer {
			continue
		}
		peerFrames++
		h, rest := ip(t, f)
		if h[9] != 1 || rest[0] != 3 || rest[1] != 3 {
			t.Fatalf("peer frame is not an ICMP port unreachable: % x", f.Data)
		}
		if f.Kind != report.ICMP || f.Step%2 != 0 {
			t.Errorf("peer frame %+v: want kind icmp from an even step", f)
		}
		// It quotes the whole 128-byte datagram (icmp_send quotes up to
		// 576 bytes of ICMP packet, not the RFC 792 minimum).
		if q := rest[8:]; len(q) != 128 || binary.BigEndian.Uint16(q[22:24]) != 9000 {
			t.Errorf("quoted packet % x", q)
		}
	}
	if peerFrames != 20 || rep.Counters["peer.Icmp.OutDestUnreachs"] != 20 || rep.Counters["sender.Icmp.InDestUnreachs"] != 20 {
		t.Fatalf("%d peer frames, counters %v", peerFrames, rep.Counters)
	}
}

func TestKernelErrorQueue(t *testing.T) {
	needKernel(t)
	rep := runYAML(t, `
socket: {setsockopt: [{IP_RECVERR: 1}]}
peer: {sockets: []}
steps:
  - send: {len: 100}
  - recv: {errqueue: true, len: 512}
  - recv: {errqueue: true}
`)
	got := recvCalls(t, rep, 1)
	if len(got) != 1 || got[0].Ret != 100 || got[0].From != "10.0.0.2:9000" || !strings.Contains(strings.Join(got[0].MsgFlags, ","), "MSG_ERRQUEUE") ||
		len(got[0].Cmsgs) != 1 || got[0].Cmsgs[0] != (report.Cmsg{Name: "IP_RECVERR", Value: "ee_errno=ECONNREFUSED origin=icmp type=3 code=3 info=0 data=0 offender=10.0.0.2"}) {
		t.Fatalf("error queue read = %v", got)
	}
	if rep.Steps[1].Socket != nil || rep.Steps[2].Err != errno.EAGAIN {
		t.Fatalf("steps = %+v", rep.Steps)
	}
}

func TestKernelGRO(t *testing.T) {
	needKernel(t)
	for _, c := range []struct {
		name, opts string
		want       []int
		gro        string
	}{
		{"udp-gro", "[{UDP_GRO: 1}]", []int{2000}, "500"},
		{"plain", "[]", []int{500, 500, 500, 500}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := runYAML(t, `
peer: {features: [gro], sockets: [{bind: "0.0.0.0:9000", setsockopt: `+c.opts+`}]}
steps:
  - send: {len: 2000, cmsg: [{UDP_SEGMENT: 500}]}
  - recv: {socket: 0, count: all}
`)
			calls := recvCalls(t, rep, 1)
			if len(calls) != len(c.want)+1 || calls[len(calls)-1].Err != errno.EAGAIN {
				t.Fatalf("calls %v, want %v then EAGAIN", calls, c.want)
			}
			for i, n := range c.want {
				cm := ""
				if len(calls[i].Cmsgs) == 1 && calls[i].Cmsgs[0].Name == "UDP_GRO" {
					cm = calls[i].Cmsgs[0].Value
				}
				if calls[i].Ret != n || cm != c.gro {
					t.Errorf("call %d = %v, want %d bytes, UDP_GRO %q", i, calls[i], n, c.gro)
				}
			}
		})
	}
}

func TestKernelReceiveBuffer(t *testing.T) {
	needKernel(t)
	rep := runYAML(t, `
peer: {sockets: [{bind: "0.0.0.0:9000", rcvbuf: 1}]}
repeat: 1
steps:
  - send: {len: 100}
  - send: {len: 100}
  - send: {len: 100}
  - recv: {socket: 0, count: all}
`)
	if calls := recvCalls(t, rep, 3); len(calls) != 3 {
		t.Fatalf("read %v: SO_RCVBUF 1 (2304 bytes) holds two 100-byte datagrams", calls)
	}
	if rep.Counters["peer.Udp.RcvbufErrors"] != 1 || rep.PeerSetup[0].Opt != "SO_RCVBUF" || !rep.PeerSetup[0].OK() {
		t.Fatalf("counters %v, peer setup %v", rep.Counters, rep.PeerSetup)
	}
}

func TestKernelPeerSetup(t *testing.T) {
	needKernel(t)
	rep := runYAML(t, `
peer:
  sockets:
    - {bind: "0.0.0.0:9000"}
    - {bind: "0.0.0.0:9000", setsockopt: [{UDPLITE_RECV_CSCOV: 20}]}
    - {bind: "10.0.0.3:9000", connect: "10.0.0.1:40000"}
steps: []
`)
	var got []string
	for _, s := range rep.PeerSetup {
		got = append(got, fmt.Sprintf("%d %s %s %s", *s.Socket, s.Op, s.Opt, s))
	}
	want := []string{"0 bind  0", "1 setsockopt UDPLITE_RECV_CSCOV -1 ENOPROTOOPT", "1 bind  -1 EADDRINUSE",
		"2 bind  -1 EADDRNOTAVAIL", "2 connect  0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("peer setup\n got %q\nwant %q", got, want)
	}
}

// TestKernelSocketType: socket()'s failures are set-up results, and every
// step after one fails with EBADF.
func TestKernelSocketType(t *testing.T) {
	needKernel(t)
	for _, c := range []struct {
		key  string
		want errno.Errno
	}{
		{"type: SOCK_STREAM", errno.Errno(93)},               // EPROTONOSUPPORT
		{"type: SOCK_RDM", errno.Errno(94)},                  // ESOCKTNOSUPPORT
		{`type: "SOCK_DGRAM|0x10"`, errno.EINVAL},            //
		{"type: 11", errno.EINVAL},                           //
		{"family: AF_UNSPEC", errno.EAFNOSUPPORT},            //
		{`type: "SOCK_DGRAM|SOCK_NONBLOCK"`, errno.Errno(0)}, //
	} {
		t.Run(c.key, func(t *testing.T) {
			rep := runYAML(t, "socket: {"+c.key+"}\nsteps: [{send: {len: 10}}, {recv: {errqueue: true}}]")
			if c.want == 0 {
				if len(rep.Setup) != 0 || rep.Steps[0].Ret != 10 || rep.Steps[1].Err != errno.EAGAIN {
					t.Fatalf("setup %v steps %v", rep.Setup, rep.Steps)
				}
				return
			}
			if len(rep.Setup) != 1 || rep.Setup[0].Op != "socket" || rep.Setup[0].Err != c.want {
				t.Fatalf("setup = %v, want socket %v", rep.Setup, c.want)
			}
			for _, s := range rep.Steps {
				if s.Err != errno.EBADF {
					t.Fatalf("steps = %v, want EBADF", rep.Steps)
				}
			}
		})
	}
}
