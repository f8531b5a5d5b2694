package compare

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// frame builds an Ethernet/IPv4/UDP frame with the given ID and options.
func frame(id uint16, opts []byte) []byte {
	ihl := 20 + len(opts)
	b := make([]byte, 14+ihl+8+4)
	b[12], b[13] = 0x08, 0x00
	ip := header.IPv4(b[14:])
	ip.Init(ihl, 0, uint16(ihl+12), id, 0, 64, 17, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	copy(ip[20:], opts)
	ip.SetChecksum()
	binary.BigEndian.PutUint16(ip[ihl+4:], 12)
	return b
}

// rep has one frame for each ID, from step steps[i] and datagram
// dgrams[i] (all 0 when dgrams is nil).
func rep(ids []uint16, src report.IDSource, steps, dgrams []int) *report.Report {
	r := &report.Report{}
	for i, id := range ids {
		f := report.Frame{Step: steps[i], Data: frame(id, nil), IDSource: src, Kind: report.Datagram}
		if dgrams != nil {
			f.Datagram = dgrams[i]
		}
		r.Frames = append(r.Frames, f)
	}
	return r
}

func TestIDRules(t *testing.T) {
	cases := []struct {
		name       string
		kernel     []uint16
		model      []uint16
		src        report.IDSource
		steps      []int
		dgrams     []int
		wantDiffer bool
	}{
		{"inet_id offsets agree", []uint16{500, 501, 503}, []uint16{7, 8, 10}, report.IDInetID, []int{0, 1, 2}, []int{0, 1, 2}, false},
		{"inet_id offsets differ", []uint16{500, 501, 502}, []uint16{7, 8, 10}, report.IDInetID, []int{0, 1, 2}, []int{0, 1, 2}, true},
		{"inet_id offsets differ in a repeated step", []uint16{500, 501, 502}, []uint16{7, 8, 10}, report.IDInetID, []int{0, 0, 0}, []int{0, 1, 2}, true},
		{"inet_id wraps", []uint16{65535, 0}, []uint16{9, 10}, report.IDInetID, []int{0, 1}, []int{0, 1}, false},
		{"idents: a new step may jump", []uint16{100, 900}, []uint16{5, 6}, report.IDIdents, []int{0, 1}, []int{0, 1}, false},
		// A repeated step is jiffies later (ip_idents_reserve jumps).
		{"idents: a step run again may jump", []uint16{100, 900}, []uint16{5, 6}, report.IDIdents, []int{0, 0}, []int{0, 1}, false},
		{"idents: within a datagram they count together", []uint16{100, 102}, []uint16{5, 6}, report.IDIdents, []int{0, 0}, []int{0, 0}, true},
		{"zero: both 0", []uint16{0, 0}, []uint16{0, 0}, report.IDZero, []int{0, 1}, []int{0, 1}, false},
		{"zero: kernel not 0", []uint16{3}, []uint16{0}, report.IDZero, []int{0}, nil, true},
	}
	for _, c := range cases {
		k := rep(c.kernel, "", c.steps, c.dgrams)
		m := rep(c.model, c.src, c.steps, c.dgrams)
		d := Reports(k, m)
		if (len(d) > 0) != c.wantDiffer {
			t.Errorf("%s: differences %v, want any: %v", c.name, d, c.wantDiffer)
		}
	}
}

func TestDFSegmentIDsCountFromZero(t *testing.T) {
	k := &report.Report{}
	m := &report.Report{}
	for i := 0; i < 3; i++ {
		f := report.Frame{Step: 0, Kind: report.Segment, Index: i, IDSource: report.IDZero, Data: frame(uint16(i), nil)}
		k.Frames = append(k.Frames, report.Frame{Step: 0, Data: f.Data})
		m.Frames = append(m.Frames, f)
	}
	if d := Reports(k, m); len(d) != 0 {
		t.Fatalf("segment IDs 0,1,2 flagged: %v", d)
	}
	m.Frames[1].Data = frame(0, nil)
	if d := Reports(k, m); len(d) == 0 {
		t.Fatal("a segment with ID 0 instead of 1 passed")
	}
}

func TestTimestampsMasked(t *testing.T) {
	// A TS option (flag 0) with one filled slot: pointer 9.
	ts := func(v byte) []byte { return []byte{0x44, 12, 9, 0, 0, 0, 0, v, 0, 0, 0, 0} }
	k := &report.Report{Frames: []report.Frame{{Data: frame(1, ts(7))}}}
	m := &report.Report{Frames: []report.Frame{{Data: frame(1, ts(9)), IDSource: report.IDInetID}}}
	if d := Reports(k, m); len(d) != 0 {
		t.Fatalf("timestamp values compared: %v", d)
	}
	// The pointer itself is compared.
	other := ts(9)
	other[2] = 13
	m.Frames[0].Data = frame(1, other)
	if d := Reports(k, m); len(d) == 0 || !strings.Contains(d[0].String(), "IPv4 options") {
		t.Fatalf("pointer change not reported: %v", d)
	}
}

func TestStepsAndFieldsNamed(t *testing.T) {
	k := &report.Report{Steps: []report.Step{{Op: "send", Ret: 10}}}
	m := &report.Report{Steps: []report.Step{{Op: "send", Err: 90}}}
	d := Reports(k, m)
	if len(d) != 1 || d[0].String() != "step 0: send result: kernel 10, model -1 EMSGSIZE" {
		t.Fatalf("got %v", d)
	}
	kf := frame(1, nil)
	mf := frame(1, nil)
	binary.BigEndian.PutUint16(mf[14+6:], 0x4000)
	header.IPv4(mf[14:]).SetChecksum()
	d = Reports(&report.Report{Frames: []report.Frame{{Data: kf}}}, &report.Report{Frames: []report.Frame{{Data: mf, IDSource: report.IDIdents}}})
	if len(d) == 0 || d[0].String() != "frame 0: IPv4 flags.DF: kernel 0, model 1" {
		t.Fatalf("got %v", d)
	}
}
