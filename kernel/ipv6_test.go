package kernel

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

func v6Scenario(name string) *scenario.Scenario {
	sc := baseScenario(name)
	sc.Socket.Src, sc.Socket.Dst = scenario.DefaultSrc6, scenario.DefaultDst6
	return sc
}

// ip6 returns the IPv6 header of an Ethernet frame.
func ip6(t *testing.T, f report.Frame) header.IPv6 {
	t.Helper()
	if len(f.Data) < header.EthernetLen+header.IPv6MinLen || binary.BigEndian.Uint16(f.Data[12:14]) != 0x86dd {
		t.Fatalf("frame is not IPv6 over Ethernet: % x", f.Data)
	}
	return header.IPv6(f.Data[header.EthernetLen:])
}

// TestIPv6Sends runs the IPv6 basics on the live kernel: a plain datagram
// with an automatic flow label, a fragmented one whose fragments share a
// random identification, an explicit label through IPV6_FLOWINFO_SEND, the
// control messages with the sender's ifindex, and nothing but the
// scenario's frames in the capture (no MLD, no neighbour discovery).
func TestIPv6Sends(t *testing.T) {
	needKernel(t)
	sc := v6Scenario("ipv6-sends")
	sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPv6FlowinfoSend, Int: 1}}
	sc.Steps = []scenario.Step{
		send(0, 100, 0),
		send(1, 3000, 0),
		{Send: &scenario.Send{Payload: pattern(2, 10), Index: 2, To: scenario.DefaultDst6, Flowinfo: 0xb812345}},
		send(3, 10, 0,
			scenario.Cmsg{Type: scenario.CmsgIPv6PktInfo, Addr: scenario.DefaultSrc6.Addr()},
			scenario.Cmsg{Type: scenario.CmsgIPv6TClass, Int: -1, Size: 4},
			scenario.Cmsg{Type: scenario.CmsgIPv6HopLimit, Int: 0, Size: 4}),
	}
	rep := run(t, sc)
	wantSteps(t, rep, report.Step{Op: "send", Ret: 100}, report.Step{Op: "send", Ret: 3000},
		report.Step{Op: "send", Ret: 10}, report.Step{Op: "send", Ret: 10})
	if len(rep.Frames) != 6 {
		t.Fatalf("%d frames, want 1 + 3 fragments + 2", len(rep.Frames))
	}
	plain := ip6(t, rep.Frames[0])
	if plain.NextHeader() != header.ProtoUDP || plain.HopLimit() != 64 || plain.FlowLabel() == 0 || plain.PayloadLength() != 108 {
		t.Errorf("plain datagram: next %d, hop limit %d, label %#x, payload length %d", plain.NextHeader(), plain.HopLimit(), plain.FlowLabel(), plain.PayloadLength())
	}
	var id uint32
	for i, f := range rep.Frames[1:4] {
		h := ip6(t, f)
		if f.Kind != report.Fragment || f.Count != 3 || f.Index != i || h.NextHeader() != header.NextHdrFragment {
			t.Fatalf("fragment %d: %+v, next header %d", i, f, h.NextHeader())
		}
		fh := header.IPv6Fragment(h[header.IPv6MinLen:])
		if i == 0 {
			id = fh.ID()
		}
		if fh.ID() != id || id == 0 || h.FlowLabel() != plain.FlowLabel() {
			t.Errorf("fragment %d: ID %#x (first %#x), label %#x", i, fh.ID(), id, h.FlowLabel())
		}
	}
	if h := ip6(t, rep.Frames[4]); h.FlowLabel() != 0x12345 || h.TrafficClass() != 0 {
		t.Errorf("sin6_flowinfo 0xb812345 with IPV6_FLOWINFO_SEND: label %#x, class %#x; want 0x12345, 0", h.FlowLabel(), h.TrafficClass())
	}
	if h := ip6(t, rep.Frames[5]); h.TrafficClass() != 0xff || h.HopLimit() != 0 {
		t.Errorf("IPV6_TCLASS -1, IPV6_HOPLIMIT 0 cmsgs: class %#x, hop limit %d; want 0xff, 0", h.TrafficClass(), h.HopLimit())
	}
}

// TestIPv6DualStack: a wildcard-bound IPv6 socket reaches a v4-mapped peer
// through the IPv4 path, IPV6_V6ONLY (set before bind) refuses it, and a
// link below 1280 leaves the socket without IPv6 while IPv4 still works.
func TestIPv6DualStack(t *testing.T) {
	needKernel(t)
	mapped := netip.MustParseAddrPort("[::ffff:10.0.0.2]:9000")
	sc := v6Scenario("dual-stack")
	sc.Socket.Src = netip.MustParseAddrPort("[::]:40000")
	sc.Steps = []scenario.Step{
		{Send: &scenario.Send{Payload: pattern(0, 10), To: mapped}},
		send(1, 10, 0),
	}
	rep := run(t, sc)
	wantSteps(t, rep, report.Step{Op: "send", Ret: 10}, report.Step{Op: "send", Ret: 10})
	if len(rep.Frames) != 2 {
		t.Fatalf("%d frames, want 2", len(rep.Frames))
	}
	if hdr, _ := ip(t, rep.Frames[0]); netip.AddrFrom4([4]byte(hdr[12:16])) != scenario.DefaultSrc.Addr() {
		t.Errorf("v4-mapped send left from %v, want 10.0.0.1", hdr[12:16])
	}
	if h := ip6(t, rep.Frames[1]); h.Src() != scenario.DefaultSrc6.Addr() {
		t.Errorf("wildcard IPv6 send left from %v, want fd00::1", h.Src())
	}

	sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPv6V6Only, Int: 1}}
	rep = run(t, sc)
	if len(rep.Setup) != 1 || rep.Setup[0].Err != 0 {
		t.Errorf("IPV6_V6ONLY before bind: %v", rep.Setup)
	}
	wantSteps(t, rep, report.Step{Op: "send", Err: errno.ENETUNREACH}, report.Step{Op: "send", Ret: 10})

	sc.Socket.Setsockopt = nil
	sc.Link.MTU = 1200
	rep = run(t, sc)
	wantSteps(t, rep, report.Step{Op: "send", Ret: 10}, report.Step{Op: "send", Err: errno.ENETUNREACH})
	if len(rep.Frames) != 1 || rep.Frames[0].Len != 14+20+8+10 {
		t.Errorf("MTU 1200: frames %+v, want the one IPv4 datagram", rep.Frames)
	}
}
