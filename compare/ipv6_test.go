package compare

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// v6 describes a hand-built Ethernet/IPv6 frame.
type v6 struct {
	tclass  uint8
	label   uint32
	hop     uint8
	dst     string
	ext     []byte // extension headers; the first Next Header is extNext
	extNext uint8
	frag    *fragSpec // a fragment header after ext
	udp     bool      // a UDP header (with checksum csum) before the payload
	csum    uint16
	payload []byte
}

type fragSpec struct {
	offset int
	more   bool
	id     uint32
}

func (s v6) bytes() []byte {
	body := append([]byte(nil), s.ext...)
	next := uint8(header.ProtoUDP)
	if s.frag != nil {
		fh := make([]byte, 8)
		header.IPv6Fragment(fh).Encode(header.ProtoUDP, s.frag.offset, s.frag.more, s.frag.id)
		body = append(body, fh...)
		next = header.NextHdrFragment
	}
	if len(s.ext) > 0 {
		// The last extension header names what follows it.
		body[0] = next
		next = s.extNext
	}
	if s.udp {
		u := make([]byte, 8)
		binary.BigEndian.PutUint16(u[0:], 40000)
		binary.BigEndian.PutUint16(u[2:], 9000)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(s.payload)))
		binary.BigEndian.PutUint16(u[6:], s.csum)
		body = append(body, u...)
	}
	body = append(body, s.payload...)
	f := make([]byte, header.EthernetLen+header.IPv6MinLen, header.EthernetLen+header.IPv6MinLen+len(body))
	f[12], f[13] = 0x86, 0xdd
	dst := "fd00::2"
	if s.dst != "" {
		dst = s.dst
	}
	hop := s.hop
	if hop == 0 {
		hop = 64
	}
	header.IPv6(f[header.EthernetLen:]).Encode(&header.IPv6Fields{
		TrafficClass: s.tclass, FlowLabel: s.label, PayloadLength: uint16(len(body)), NextHeader: next, HopLimit: hop,
		Src: netip.MustParseAddr("fd00::1").As16(), Dst: netip.MustParseAddr(dst).As16(),
	})
	return append(f, body...)
}

// v6rep is a report of the given frames, each its own datagram unless a
// fragment header says otherwise, marked as the model marks them.
func v6rep(frames []v6, ids report.IDSource, labels report.LabelSource) *report.Report {
	r := &report.Report{}
	for i, s := range frames {
		f := report.Frame{Data: s.bytes(), Datagram: i, Kind: report.Datagram, FlowLabel: labels}
		if s.frag != nil {
			f.Kind, f.IDSource = report.Fragment, ids
		}
		r.Frames = append(r.Frames, f)
	}
	return r
}

var hop8 = []byte{0, 0, 1, 4, 0, 0, 0, 0}

func TestIPv6Fields(t *testing.T) {
	base := v6{label: 0x12345, udp: true, csum: 0xabcd, payload: []byte("hello")}
	tests := []struct {
		name  string
		edit  func(*v6)
		field string // "" for no difference
	}{
		{"same", func(*v6) {}, ""},
		{"traffic class", func(s *v6) { s.tclass = 0xb8 }, "IPv6 traffic class"},
		{"explicit flow label", func(s *v6) { s.label = 0x12346 }, "IPv6 flow label"},
		{"hop limit", func(s *v6) { s.hop = 9 }, "IPv6 hop limit"},
		{"destination", func(s *v6) { s.dst = "fd00::9" }, "IPv6 destination"},
		{"payload length", func(s *v6) { s.payload = []byte("hello!") }, "IPv6 payload length"},
		{"UDP checksum exact", func(s *v6) { s.csum = 0xabce }, "UDP checksum"},
		{"extension header added", func(s *v6) { s.ext, s.extNext = hop8, header.NextHdrHop }, "IPv6 payload length"},
		{"payload byte", func(s *v6) { s.payload = []byte("hellO") }, "payload byte 4"},
	}
	for _, tt := range tests {
		m := base
		tt.edit(&m)
		diffs := Reports(v6rep([]v6{base}, "", ""), v6rep([]v6{m}, "", ""))
		if tt.field == "" {
			if len(diffs) != 0 {
				t.Errorf("%s: differences %v", tt.name, diffs)
			}
			continue
		}
		if len(diffs) == 0 || !strings.HasPrefix(diffs[0].Field, tt.field) {
			t.Errorf("%s: differences %v, want first %q", tt.name, diffs, tt.field)
		}
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	dst8 := []byte{0, 0, 1, 4, 0, 0, 0, 0}
	k := v6{ext: hop8, extNext: header.NextHdrHop, udp: true, payload: []byte{1, 2}}
	m := k
	m.ext = []byte{0, 0, 1, 4, 0, 0, 0, 1}
	diffs := Reports(v6rep([]v6{k}, "", ""), v6rep([]v6{m}, "", ""))
	if len(diffs) != 1 || diffs[0].Field != "IPv6 extension header 0 (hop-by-hop)" {
		t.Errorf("hop-by-hop bytes: %v", diffs)
	}
	m = k
	m.ext, m.extNext = dst8, header.NextHdrDest
	diffs = Reports(v6rep([]v6{k}, "", ""), v6rep([]v6{m}, "", ""))
	if len(diffs) < 2 || diffs[len(diffs)-1].Field != "IPv6 extension header 0" || diffs[len(diffs)-1].Kernel != "hop-by-hop" {
		t.Errorf("hop-by-hop against destination options: %v", diffs)
	}
	// A fragment header the other side lacks.
	m = k
	m.frag = &fragSpec{id: 5, more: true}
	diffs = Reports(v6rep([]v6{k}, report.IDRandom, ""), v6rep([]v6{m}, report.IDRandom, ""))
	found := false
	for _, d := range diffs {
		found = found || (d.Field == "IPv6 extension header 1" && d.Kernel == "none (the upper layer)")
	}
	if !found {
		t.Errorf("missing fragment header: %v", diffs)
	}
	// Fragment fields.
	kf := v6{frag: &fragSpec{offset: 1448, id: 7}, payload: []byte{9}}
	mf := v6{frag: &fragSpec{offset: 1440, more: true, id: 7}, payload: []byte{9}}
	diffs = Reports(v6rep([]v6{kf}, report.IDRandom, ""), v6rep([]v6{mf}, report.IDRandom, ""))
	if len(diffs) != 2 || diffs[0].Field != "IPv6 fragment offset" || diffs[1].Field != "IPv6 fragment flags (res, M)" {
		t.Errorf("fragment offset and M: %v", diffs)
	}
}

// frags builds one fragment per ID, at the offsets the kernel side's IDs
// give (fragments with the same kernel ID form one datagram), so that only
// the IDs can differ.
func frags(kernelIDs, ids []uint32) []v6 {
	var out []v6
	seen := map[uint32]int{}
	for i, id := range ids {
		k := kernelIDs[i]
		out = append(out, v6{frag: &fragSpec{offset: 8 * seen[k], more: true, id: id}, payload: make([]byte, 8)})
		seen[k]++
	}
	return out
}

func TestIPv6FragmentIDPattern(t *testing.T) {
	tests := []struct {
		name          string
		kernel, model []uint32
		src           report.IDSource
		differ        bool
	}{
		{"same pattern, other values", []uint32{0x11, 0x11, 0x22, 0x22}, []uint32{0x7, 0x7, 0x9, 0x9}, report.IDRandom, false},
		{"model reuses an ID across datagrams", []uint32{0x11, 0x11, 0x22, 0x22}, []uint32{0x7, 0x7, 0x7, 0x7}, report.IDRandom, true},
		{"model changes the ID within a datagram", []uint32{0x11, 0x11}, []uint32{0x7, 0x8}, report.IDRandom, true},
		{"an ID of 0", []uint32{0x11}, []uint32{0}, report.IDRandom, true},
		{"kernel 0", []uint32{0}, []uint32{0x11}, report.IDRandom, true},
		{"no rule: values must be equal", []uint32{0x11}, []uint32{0x12}, "", true},
		{"no rule: equal", []uint32{0x11}, []uint32{0x11}, "", false},
	}
	for _, tt := range tests {
		diffs := Reports(v6rep(frags(tt.kernel, tt.kernel), "", ""), v6rep(frags(tt.kernel, tt.model), tt.src, ""))
		if got := len(diffs) != 0; got != tt.differ {
			t.Errorf("%s: differences %v, want differ=%v", tt.name, diffs, tt.differ)
		}
		for _, d := range diffs {
			if d.Field != "IPv6 fragment identification" {
				t.Errorf("%s: unexpected difference %v", tt.name, d)
			}
		}
	}
}

func TestIPv6FlowLabelPattern(t *testing.T) {
	labelled := func(ls ...uint32) []v6 {
		var out []v6
		for _, l := range ls {
			out = append(out, v6{label: l, udp: true})
		}
		return out
	}
	tests := []struct {
		name          string
		kernel, model []uint32
		src           report.LabelSource
		differ        bool
	}{
		{"automatic: same pattern", []uint32{0xc5598, 0xc5598, 0x0a4c1, 0xc5598}, []uint32{0x1, 0x1, 0x2, 0x1}, report.LabelAuto, false},
		{"automatic: the model merges two flows", []uint32{0xc5598, 0x0a4c1}, []uint32{0x1, 0x1}, report.LabelAuto, true},
		{"automatic: the model splits one flow", []uint32{0xc5598, 0xc5598}, []uint32{0x1, 0x2}, report.LabelAuto, true},
		{"automatic: zero where the kernel labels", []uint32{0xc5598}, []uint32{0}, report.LabelAuto, true},
		{"automatic: both zero", []uint32{0, 0}, []uint32{0, 0}, report.LabelAuto, false},
		{"explicit: exact", []uint32{0x12345}, []uint32{0x12345}, "", false},
		{"explicit: another value", []uint32{0x12345}, []uint32{0x54321}, "", true},
	}
	for _, tt := range tests {
		diffs := Reports(v6rep(labelled(tt.kernel...), "", ""), v6rep(labelled(tt.model...), "", tt.src))
		if got := len(diffs) != 0; got != tt.differ {
			t.Errorf("%s: differences %v, want differ=%v", tt.name, diffs, tt.differ)
		}
		for _, d := range diffs {
			if !strings.HasPrefix(d.Field, "IPv6 flow label") {
				t.Errorf("%s: unexpected difference %v", tt.name, d)
			}
		}
	}
}

func TestIPVersionMismatch(t *testing.T) {
	k := &report.Report{Frames: []report.Frame{{Data: frame(1, nil)}}}
	m := v6rep([]v6{{udp: true}}, "", "")
	diffs := Reports(k, m)
	if len(diffs) < 1 || diffs[len(diffs)-1].Field != "IP version" {
		t.Errorf("IPv4 against IPv6: %v", diffs)
	}
}

func TestMarkIPv6Random(t *testing.T) {
	r := v6rep([]v6{{udp: true}, {frag: &fragSpec{id: 9}}}, "", "")
	r.Frames = append(r.Frames, report.Frame{Data: frame(7, nil), IDSource: report.IDIdents})
	got := MarkIPv6Random(r)
	want := []report.Frame{{FlowLabel: report.LabelAuto}, {FlowLabel: report.LabelAuto, IDSource: report.IDRandom}, {IDSource: report.IDIdents}}
	for i, w := range want {
		if got.Frames[i].FlowLabel != w.FlowLabel || got.Frames[i].IDSource != w.IDSource {
			t.Errorf("frame %d: label %q, ID %q; want %q, %q", i, got.Frames[i].FlowLabel, got.Frames[i].IDSource, w.FlowLabel, w.IDSource)
		}
	}
	if r.Frames[0].FlowLabel != "" || r.Frames[1].IDSource != "" {
		t.Error("MarkIPv6Random changed the report it was given")
	}
	// Two kernel runs: other random values, the same pattern.
	live := v6rep([]v6{{label: 0x1, udp: true}, {label: 0x1, frag: &fragSpec{id: 0x77}}}, "", "")
	golden := v6rep([]v6{{label: 0x2, udp: true}, {label: 0x2, frag: &fragSpec{id: 0x99}}}, "", "")
	if diffs := Reports(live, MarkIPv6Random(golden)); len(diffs) != 0 {
		t.Errorf("two runs with the same pattern: %v", diffs)
	}
}
