package kernel

// Tests of the pure parts of the runner; they need neither root nor tools.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

func TestCheckRoot(t *testing.T) {
	if err := checkRoot(0); err != nil {
		t.Errorf("checkRoot(0) = %v", err)
	}
	err := checkRoot(1000)
	if !errors.Is(err, ErrNotRoot) ||
		!strings.Contains(err.Error(), "udpbuild kernel needs root (CAP_NET_ADMIN) to create network namespaces") {
		t.Errorf("checkRoot(1000) = %v", err)
	}
}

func TestSourceRouteFirstHop(t *testing.T) {
	tests := []struct {
		name string
		opts []byte
		want string // "" for none
	}{
		{"lsrr", []byte{131, 7, 4, 10, 0, 0, 3, 0}, "10.0.0.3"},
		{"ssrr two hops", []byte{137, 11, 4, 10, 0, 0, 4, 10, 0, 0, 5, 0}, "10.0.0.4"},
		{"after nop and record route", []byte{1, 7, 7, 4, 0, 0, 0, 0, 131, 7, 4, 10, 0, 0, 6}, "10.0.0.6"},
		{"end of list first", []byte{0, 131, 7, 4, 10, 0, 0, 3}, ""},
		{"truncated route", []byte{131, 7, 4, 10, 0}, ""},
		{"too short to hold a hop", []byte{131, 3, 4, 0}, ""},
		{"length below two", []byte{131, 1, 4, 10, 0, 0, 3}, ""},
		{"lone type byte", []byte{131}, ""},
		{"no options", nil, ""},
	}
	for _, tt := range tests {
		got, ok := scenario.SourceRouteFirstHop(tt.opts)
		if (tt.want == "" && ok) || (tt.want != "" && (!ok || got.String() != tt.want)) {
			t.Errorf("%s: got %v %v, want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestPlanFor(t *testing.T) {
	lsrr := func(a, b, c, d byte) []byte { return []byte{131, 7, 4, a, b, c, d, 0} }
	sc := &scenario.Scenario{
		Socket: scenario.Socket{
			Src:        netip.MustParseAddrPort("10.0.0.1:40000"),
			Dst:        netip.MustParseAddrPort("10.0.0.2:9000"),
			Setsockopt: []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: lsrr(10, 0, 0, 9)}},
		},
		Steps: []scenario.Step{
			{Send: &scenario.Send{To: netip.MustParseAddrPort("10.0.0.5:53")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("10.0.0.2:9001")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("224.0.0.7:5000")}},
			{Send: &scenario.Send{To: netip.MustParseAddrPort("10.0.0.1:9000")}},
			{Send: &scenario.Send{Cmsg: []scenario.Cmsg{{Type: scenario.CmsgIPOptions, Bytes: lsrr(10, 0, 0, 10)}}}},
			{Setsockopt: []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: lsrr(10, 0, 0, 11)}}},
		},
	}
	p := planFor(sc)
	var dests []string
	for _, d := range p.dests {
		dests = append(dests, d.String())
	}
	wantDests := []string{"10.0.0.2", "10.0.0.9", "10.0.0.5", "10.0.0.10", "10.0.0.11"}
	if !slices.Equal(dests, wantDests) {
		t.Errorf("dests = %q, want %q", dests, wantDests)
	}
	if want := []uint16{9000, 53, 9001, 5000}; !slices.Equal(p.ports, want) {
		t.Errorf("ports = %v, want %v", p.ports, want)
	}
	if p.mtu != 1500 || p.src.String() != "10.0.0.1" ||
		p.srcMAC.String() != "02:00:00:00:00:01" || p.dstMAC.String() != "02:00:00:00:00:02" {
		t.Errorf("plan = %+v", p)
	}
	sc.Link = scenario.Link{MTU: 9000, SrcMAC: net.HardwareAddr{2, 1, 1, 1, 1, 1}}
	if p := planFor(sc); p.mtu != 9000 || p.srcMAC.String() != "02:01:01:01:01:01" {
		t.Errorf("plan with link = %+v", p)
	}
}

func TestBuildCmsgs(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected bytes are written for 64-bit little-endian")
	}
	got, err := buildCmsgs([]scenario.Cmsg{
		{Type: scenario.CmsgUDPSegment, Int: 500, Size: 2},
		{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1},
		{Type: scenario.CmsgIPTTL, Int: 3, Size: 4},
		{Type: scenario.CmsgIPTOS, Int: 0x10, Size: 4},
		{Type: scenario.CmsgIPOptions, Bytes: []byte{1, 1, 1, 0}},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		// cmsg_len 18, SOL_UDP, UDP_SEGMENT, u16 500, padding to 24
		18, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 103, 0, 0, 0, 0xf4, 0x01, 0, 0, 0, 0, 0, 0,
		// cmsg_len 17, SOL_IP, IP_TOS, u8
		17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xb8, 0, 0, 0, 0, 0, 0, 0,
		// cmsg_len 20, SOL_IP, IP_TTL, int 3
		20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
		// cmsg_len 20, SOL_IP, IP_TOS, int 0x10
		20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0,
		// cmsg_len 20, SOL_IP, IP_RETOPTS, the bytes
		20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0,
	}
	if !bytes.Equal(got, want) {
		t.Errorf("control buffer:\n got % x\nwant % x", got, want)
	}
	if b, err := buildCmsgs(nil, 0); b != nil || err != nil {
		t.Errorf("no cmsgs: %v %v", b, err)
	}
	if _, err := buildCmsgs([]scenario.Cmsg{{Type: "IP_PKTINFO"}}, 0); err == nil {
		t.Error("unknown control message accepted")
	}
}

func TestParseEthtoolK(t *testing.T) {
	out := "Features for udpb0:\nrx-checksumming: on\ntx-checksumming: off\n" +
		"\ttx-checksum-ipv4: off [fixed]\n\ttx-checksum-ip-generic: off\n" +
		"scatter-gather: on\n\ttx-scatter-gather: on\ntx-udp-segmentation: off [requested on]\n"
	got := parseEthtoolK(out)
	want := map[string]ethtoolState{
		"rx-checksumming":        {on: true},
		"tx-checksumming":        {},
		"tx-checksum-ipv4":       {fixed: true},
		"tx-checksum-ip-generic": {},
		"scatter-gather":         {on: true},
		"tx-scatter-gather":      {on: true},
		"tx-udp-segmentation":    {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseEthtoolK = %v, want %v", got, want)
	}
}

func TestDropReason(t *testing.T) {
	after := map[string]ethtoolState{"tx-checksum-ipv4": {fixed: true}}
	onlySG := func(f scenario.Feature) bool { return f == scenario.SG }
	csumOnly := func(f scenario.Feature) bool { return f == scenario.HWCsum }
	none := func(scenario.Feature) bool { return false }
	tests := []struct {
		f    scenario.Feature
		on   func(scenario.Feature) bool
		want string
	}{
		{scenario.IPCsum, none, "ip-csum: the veth device cannot offer it (tx-checksum-ipv4 is fixed off)"},
		{scenario.SG, none, "sg: the kernel dropped it: needs a checksum feature"},
		{scenario.GSOUDPL4, onlySG, "gso-udp-l4: the kernel dropped it: needs a checksum feature (netdev_fix_features)"},
		{scenario.GSOUDPL4, csumOnly, "gso-udp-l4: the kernel dropped it: needs sg"},
		{scenario.HWCsum, none, "hw-csum: the kernel dropped it"},
	}
	for _, tt := range tests {
		if got := dropReason(tt.f, tt.on, after); got != tt.want {
			t.Errorf("dropReason(%s) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

// frame builds an Ethernet+IPv4 frame with a UDP-sized payload of n bytes
// after the IP header; fo is the IPv4 flags/fragment-offset field.
func frame(id, fo uint16, n int) []byte {
	b := make([]byte, 14+20+n)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+n))
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[6:], fo)
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	return b
}

func TestClassify(t *testing.T) {
	strip := func(fs []report.Frame) []report.Frame {
		for i := range fs {
			fs[i].Data, fs[i].Len = nil, 0
		}
		return fs
	}
	tests := []struct {
		name   string
		frames []captured
		step   int
		want   []report.Frame
	}{
		{"datagram", []captured{{data: frame(1, 0x4000, 508)}}, 0, []report.Frame{
			{Step: 0, Datagram: 7, Kind: report.Datagram, Count: 1, Why: "captured: datagram"}}},
		{"fragments", []captured{{data: frame(9, 0x2000, 1480)}, {data: frame(9, 185, 28)}}, 2, []report.Frame{
			{Step: 2, Datagram: 7, Kind: report.Fragment, Index: 0, Count: 2, Offset: 0, Why: "captured: fragment 1 of 2"},
			{Step: 2, Datagram: 7, Kind: report.Fragment, Index: 1, Count: 2, Offset: 1480, Why: "captured: fragment 2 of 2"}}},
		{"gso super-packet within the MTU", []captured{{data: frame(3, 0, 1408), gsoSize: 500, csumNotReady: true}}, 1, []report.Frame{
			{Step: 1, Datagram: 7, Kind: report.Super, Count: 1,
				Why: "captured: GSO super-packet, gso_size 500 (the device makes 3 segments) (checksum partial: TP_STATUS_CSUMNOTREADY)"}}},
		{"longer than the MTU", []captured{{data: frame(3, 0, 1600)}}, 1, []report.Frame{
			{Step: 1, Datagram: 7, Kind: report.Super, Count: 1, Why: "captured: GSO super-packet (longer than the MTU)"}}},
		{"software segments", []captured{{data: frame(5, 0, 508)}, {data: frame(6, 0, 508)}, {data: frame(7, 0, 408)}}, 0, []report.Frame{
			{Step: 0, Datagram: 7, Kind: report.Segment, Index: 0, Count: 3, Offset: 0, Why: "captured: segment 1 of 3 (GSO done in software before the tap)"},
			{Step: 0, Datagram: 7, Kind: report.Segment, Index: 1, Count: 3, Offset: 500, Why: "captured: segment 2 of 3 (GSO done in software before the tap)"},
			{Step: 0, Datagram: 7, Kind: report.Segment, Index: 2, Count: 3, Offset: 1000, Why: "captured: segment 3 of 3 (GSO done in software before the tap)"}}},
		{"set-up and garbage", []captured{{data: []byte{1, 2, 3}}}, -1, []report.Frame{
			{Step: -1, Datagram: 7, Kind: report.Datagram, Count: 1, Why: "before the first step, captured: not a well-formed IP packet"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := 7
			got := strip(classify(tt.frames, tt.step, 1500, &d, new(int)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("classify:\n got %+v\nwant %+v", got, tt.want)
			}
			if d != 8 {
				t.Errorf("datagram counter = %d, want 8", d)
			}
		})
	}
}
