package kernel

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// srh is a segment routing header (type 4) with the given segments and
// segments_left.
func srh(left int, segs ...string) []byte {
	b := []byte{0, byte(2 * len(segs)), 4, byte(left), byte(len(segs) - 1), 0, 0, 0}
	for _, s := range segs {
		a := netip.MustParseAddr(s).As16()
		b = append(b, a[:]...)
	}
	return b
}

func TestRoutingHeaderFirstHop(t *testing.T) {
	tests := []struct {
		name string
		rt   []byte
		want string // "" for none
	}{
		{"srh left 1", srh(1, "fd00::2", "fd00::9"), "fd00::9"},
		{"srh left 0", srh(0, "fd00::2", "fd00::9"), "fd00::2"},
		{"type 0", append([]byte{0, 2, 0, 1, 0, 0, 0, 0}, netip.MustParseAddr("fd00::7").AsSlice()...), "fd00::7"},
		{"type 2", append([]byte{0, 2, 2, 1, 0, 0, 0, 0}, netip.MustParseAddr("fd00::8").AsSlice()...), "fd00::8"},
		{"unknown type", append([]byte{0, 2, 3, 1, 0, 0, 0, 0}, make([]byte, 16)...), ""},
		{"length disagrees", srh(1, "fd00::2", "fd00::9")[:24], ""},
		{"left past the segments", srh(2, "fd00::2", "fd00::9"), ""},
		{"short", []byte{0, 0, 4}, ""},
	}
	for _, tt := range tests {
		hop, ok := scenario.RoutingHeaderFirstHop(tt.rt)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: first hop %v, want none", tt.name, hop)
			}
			continue
		}
		if !ok || hop != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: first hop %v, %v; want %s", tt.name, hop, ok, tt.want)
		}
	}
}

func TestPlanForIPv6(t *testing.T) {
	sc := &scenario.Scenario{
		Link: scenario.Link{MTU: 1200},
		Socket: scenario.Socket{
			Src:        netip.MustParseAddrPort("[fd00::5]:40000"),
			Dst:        scenario.DefaultDst6,
			Setsockopt: []scenario.Opt{{Name: scenario.OptIPv6Rthdr, Bytes: srh(1, "fd00::2", "fd00::9")}},
		},
		Steps: []scenario.Step{
			{Send: &scenario.Send{To: netip.MustParseAddrPort("[::ffff:10.0.0.7]:53")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("[2001:db8::1]:9001")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("[fe80::1]:9001")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("[ff02::1]:9001")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("[fd00::1]:9001")}},
		},
	}
	p := planFor(sc)
	if !p.v6 || p.src6 != netip.MustParseAddr("fd00::5") || p.src.IsValid() {
		t.Errorf("plan = %+v", p)
	}
	var dests []string
	for _, d := range p.dests {
		dests = append(dests, d.String())
	}
	want := []string{"fd00::2", "fd00::9", "10.0.0.7", "2001:db8::1", "10.0.0.2"}
	if !slices.Equal(dests, want) {
		t.Errorf("dests = %q, want %q", dests, want)
	}
	if p.linkMTU() != 1280 || !p.lowersMTU() {
		t.Errorf("MTU 1200 on an IPv6 link: built at %d (lowers %v), want 1280 then lowered", p.linkMTU(), p.lowersMTU())
	}

	v4 := &scenario.Scenario{Link: scenario.Link{MTU: 576}, Socket: scenario.Socket{Src: scenario.DefaultSrc, Dst: scenario.DefaultDst}}
	if p := planFor(v4); p.v6 || p.linkMTU() != 576 || p.lowersMTU() {
		t.Errorf("IPv4 scenario: plan %+v, linkMTU %d", p, p.linkMTU())
	}
	v4.Steps = []scenario.Step{{Send: &scenario.Send{To: scenario.DefaultDst6}}}
	if !planFor(v4).v6 {
		t.Error("an IPv6 to on an IPv4 socket must give the link IPv6")
	}
	wild := &scenario.Scenario{Socket: scenario.Socket{Src: netip.MustParseAddrPort("[::]:40000"), Dst: netip.MustParseAddrPort("[::ffff:10.0.0.2]:9000")}}
	if p := planFor(wild); p.src.IsValid() || p.src6.IsValid() || !slices.Equal(p.dests, []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")}) {
		t.Errorf("wildcard plan = %+v", p)
	}
}

// frame6 builds an Ethernet/IPv6 frame: next is the first Next Header,
// ext the bytes after the fixed header (extension headers and upper
// layer), whose length is the payload length.
func frame6(next uint8, ext []byte) []byte {
	f := make([]byte, header.EthernetLen+header.IPv6MinLen, header.EthernetLen+header.IPv6MinLen+len(ext))
	f[12], f[13] = 0x86, 0xdd
	ip := header.IPv6(f[header.EthernetLen:])
	ip.Encode(&header.IPv6Fields{NextHeader: next, HopLimit: 64, PayloadLength: uint16(len(ext)),
		Src: netip.MustParseAddr("fd00::1").As16(), Dst: netip.MustParseAddr("fd00::2").As16()})
	return append(f, ext...)
}

func fragHdr(next uint8, offset int, more bool, id uint32) []byte {
	b := make([]byte, 8)
	header.IPv6Fragment(b).Encode(next, offset, more, id)
	return b
}

func TestFromScenario(t *testing.T) {
	udp := make([]byte, 8+10)
	mld := append([]byte{header.NextHdrICMP, 0, 5, 2, 0, 0, 1, 0}, make([]byte, 28)...) // router alert, then an MLDv2 report
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"udp", frame6(header.ProtoUDP, udp), true},
		{"udp-lite behind hop-by-hop", frame6(header.NextHdrHop, append([]byte{header.ProtoUDPLite, 0, 1, 4, 0, 0, 0, 0}, udp...)), true},
		{"non-first fragment", frame6(header.NextHdrFragment, append(fragHdr(header.ProtoUDP, 1448, false, 7), udp...)), true},
		{"mld report", frame6(header.NextHdrHop, mld), false},
		{"neighbour solicitation", frame6(header.NextHdrICMP, append([]byte{135, 0, 0, 0}, make([]byte, 20)...)), false},
		{"arp", append(make([]byte, 12), 0x08, 0x06, 0, 1), false},
		{"ipv4", append(make([]byte, 12), 0x08, 0x00, 0x45), true},
	}
	for _, tt := range tests {
		if got := fromScenario(tt.frame); got != tt.want {
			t.Errorf("%s: fromScenario = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestClassifyIPv6(t *testing.T) {
	udp := make([]byte, 8+100)
	hop := []byte{header.NextHdrFragment, 0, 1, 4, 0, 0, 0, 0}
	frames := []captured{
		{data: frame6(header.NextHdrHop, append(append(slices.Clone(hop), fragHdr(header.ProtoUDP, 0, true, 0xdeadbeef)...), make([]byte, 1440)...))},
		{data: frame6(header.NextHdrHop, append(append(slices.Clone(hop), fragHdr(header.ProtoUDP, 1440, false, 0xdeadbeef)...), make([]byte, 100)...))},
		{data: frame6(header.ProtoUDP, udp)},
		{data: frame6(header.NextHdrFragment, append(fragHdr(header.ProtoUDP, 0, true, 0xdeadbeee), make([]byte, 1448)...))},
		{data: frame6(header.NextHdrFragment, append(fragHdr(header.ProtoUDP, 1448, false, 0xdeadbeee), make([]byte, 16)...))},
		{data: frame6(header.ProtoUDP, make([]byte, 8+3000)), gsoSize: 1000},
	}
	d := 3
	got := classify(frames, 2, 1500, &d, new(int))
	want := []struct {
		kind                      report.Kind
		datagram, index, count, o int
	}{
		{report.Fragment, 3, 0, 2, 0},
		{report.Fragment, 3, 1, 2, 1440},
		{report.Datagram, 4, 0, 1, 0},
		{report.Fragment, 5, 0, 2, 0},
		{report.Fragment, 5, 1, 2, 1448},
		{report.Super, 6, 0, 1, 0},
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Datagram != w.datagram || g.Index != w.index || g.Count != w.count || g.Offset != w.o {
			t.Errorf("frame %d: %+v, want %+v", i, g, w)
		}
	}
	if got[5].Why != "captured: GSO super-packet, gso_size 1000 (the device makes 3 segments)" {
		t.Errorf("super-packet: %q", got[5].Why)
	}
	if d != 7 {
		t.Errorf("datagram counter %d, want 7", d)
	}
}
