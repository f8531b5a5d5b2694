package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/udpbuild/udpbuild/report"
)

// checkSummary asserts the invariants every Summary keeps, whatever the
// input: verdicts numbered from 1 in order, naming frames that exist, a
// result consistent with the code and reason, and both renderers able to
// write them.
func checkSummary(t *testing.T, s Summary) {
	t.Helper()
	for i, v := range s.Verdicts {
		if v.Datagram != i+1 || len(v.Frames) == 0 {
			t.Fatalf("verdict %d: %+v", i, v)
		}
		for _, f := range v.Frames {
			if f < 1 || f > s.Stats.Frames {
				t.Fatalf("verdict %d names frame %d of %d", i, f, s.Stats.Frames)
			}
		}
		switch v.Result {
		case ResultDelivered:
			if !v.Delivered || v.Code != "" || v.Reason != "" {
				t.Fatalf("verdict %d: %+v", i, v)
			}
		case ResultDropped:
			if v.Delivered || v.Code == "" || v.Reason == "" {
				t.Fatalf("verdict %d: %+v", i, v)
			}
		case ResultNotCaptured:
			if v.Delivered || v.Code != "" || v.Reason == "" {
				t.Fatalf("verdict %d: %+v", i, v)
			}
		default:
			t.Fatalf("verdict %d: result %q", i, v.Result)
		}
		if v.Len < 0 || v.Len > ipMaxTotLen {
			t.Fatalf("verdict %d: len %d", i, v.Len)
		}
	}
	st := s.Stats
	if st.Datagrams != len(s.Verdicts) || st.Delivered+st.Dropped+st.NotCaptured != st.Datagrams || st.Diagnostics != len(s.Diagnostics) {
		t.Fatalf("stats %+v for %d verdicts, %d diagnostics", st, len(s.Verdicts), len(s.Diagnostics))
	}
	for _, d := range s.Diagnostics {
		if d.Frame < 0 || d.Frame > st.Frames || d.Field == "" || d.Msg == "" {
			t.Fatalf("diagnostic %+v", d)
		}
	}
	tw, jw := NewTextWriter(io.Discard, false), NewJSONWriter(io.Discard)
	for _, sink := range []interface {
		Sink
		Close(Stats) error
	}{tw, jw} {
		for i := range s.Verdicts {
			if err := sink.Verdict(&s.Verdicts[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range s.Diagnostics {
			if err := sink.Diagnostic(&s.Diagnostics[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.Close(s.Stats); err != nil {
			t.Fatal(err)
		}
	}
}

// testFrames6 are IPv6 seed frames: a datagram behind hop-by-hop and
// destination options, three fragments with destination options after the
// fragment header, an atomic fragment, an overlapping fragment and a
// datagram with a zero checksum.
func testFrames6(t *testing.T) [][]byte {
	w := testWire6
	_, fragmentable := join([]ext6{opts6(nexthdrDest, 0x1e, 4, 1, 2, 3, 4)}, protoUDP, w.udp(t, sport, 9999, pattern(1000, 2)))
	fr := w.frags([]ext6{opts6(nexthdrHop, ip6OptRouterAlert, 2, 0, 0)}, 0xabcd, nexthdrDest, fragmentable, 400, 800)
	zero := w.udp(t, sport, 9999, pattern(20, 3))
	zero[6], zero[7] = 0, 0
	return append([][]byte{w.frame([]ext6{opts6(nexthdrHop), opts6(nexthdrDest)}, protoUDP, w.udp(t, sport, 9999, pattern(100, 1)))},
		append(fr,
			w.frame([]ext6{fragHdr6(0, false, 5)}, protoUDP, w.udp(t, sport, 9999, pattern(10, 4))),
			w.frag(nil, 0xabcd, nexthdrDest, 200, true, fragmentable[200:600]),
			w.frame(nil, protoUDP, zero),
			w.frame([]ext6{rthdr6(0, 1, 1)}, protoUDPLite, w.udplite(sport, 9999, 12, pattern(30, 5))))...)
}

// FuzzVerify feeds arbitrary bytes to Verify: it may not panic, must keep
// its bounds (testing allocates no more than the input is worth), and the
// summary keeps its invariants. Small reassembly limits let the fuzzer
// reach the memory and timeout paths.
func FuzzVerify(f *testing.F) {
	frames := testFrames(&testing.T{})
	f.Add(writePcap(&testing.T{}, layers.LinkTypeEthernet, frames))
	f.Add(writePcapng(&testing.T{}, layers.LinkTypeEthernet, frames))
	f.Add(writePcap(&testing.T{}, layers.LinkTypeLinuxSLL, [][]byte{append(make([]byte, 16), frames[0][14:]...)}))
	f.Add(writePcap(&testing.T{}, layers.LinkTypeRaw, [][]byte{frames[1][14:], frames[2][14:]}))
	for _, c := range linkCorpus(&testing.T{}) {
		f.Add(c.File)
	}
	frames6 := testFrames6(&testing.T{})
	f.Add(writePcap(&testing.T{}, layers.LinkTypeEthernet, frames6))
	f.Add(writePcapng(&testing.T{}, layers.LinkTypeEthernet, append(frames6, frames...)))
	var raw6 [][]byte
	for _, fr := range frames6 {
		raw6 = append(raw6, fr[14:])
	}
	f.Add(writePcap(&testing.T{}, layers.LinkTypeRaw, raw6))
	f.Add(writePcap(&testing.T{}, layers.LinkTypeEthernet, [][]byte{testWire.frame(&testing.T{}, ipOpt{id: 3, proto: layers.IPProtocolIPv6}, frames6[0][14:])}))
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := Summary{}
		st, err := Verify(context.Background(), bytes.NewReader(data), Options{FragHighThresh: 20000, FragTime: time.Second,
			Frag6HighThresh: 20000, Frag6Time: time.Second}, &s)
		var nc *NotCaptureError
		if errors.As(err, &nc) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Stats = st
		checkSummary(t, s)
	})
}

// FuzzFrames cuts arbitrary bytes into frames (a byte of link type choice,
// then 2-byte length prefixes) and gives them to Judge and to Frames.
func FuzzFrames(f *testing.F) {
	seed := func(lt byte, frames [][]byte) []byte {
		out := []byte{lt}
		for _, fr := range frames {
			out = binary.BigEndian.AppendUint16(out, uint16(len(fr)))
			out = append(out, fr...)
		}
		return out
	}
	frames := testFrames(&testing.T{})
	f.Add(seed(0, frames))
	f.Add(seed(0, [][]byte{frames[3], frames[1], frames[1], frames[2]}))
	f.Add(seed(1, [][]byte{frames[0][14:]}))
	frames6 := testFrames6(&testing.T{})
	var seedRecs []report.Frame
	for i, fr := range append(slices.Clone(frames), frames6...) {
		seedRecs = append(seedRecs, report.Frame{Datagram: i % 2, Kind: report.Fragment, Index: i, Count: 1, Len: len(fr), Data: fr})
	}
	f.Add(seed(0, frames6))
	f.Add(seed(0, frames6[1:4]))
	f.Add(seed(1, [][]byte{frames6[0][14:], frames6[4][14:]}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull,
			layers.LinkTypePPP, layers.LinkTypeIEEE80211Radio, linkTypeNFLOG, linkTypePKTAP, linkTypeCHDLC}
		lt := lts[int(data[0])%len(lts)]
		var frames [][]byte
		var recs []report.Frame
		kinds := []report.Kind{report.Datagram, report.Fragment, report.Segment, report.Super}
		for rest := data[1:]; len(rest) >= 2; {
			n := int(binary.BigEndian.Uint16(rest))
			rest = rest[2:]
			n = min(n, len(rest))
			fr := rest[:n]
			rest = rest[n:]
			frames = append(frames, fr)
			k := 0
			if len(fr) > 0 {
				k = int(fr[len(fr)-1])
			}
			recs = append(recs, report.Frame{Datagram: k % 3, Kind: kinds[k%len(kinds)], Index: k % 4, Count: 1 + k%3, Len: len(fr), Data: fr})
		}
		checkSummary(t, Judge(frames, lt))
		// A Checker that checked other frames first must agree with a
		// fresh one: its kept memory may not leak into the next call.
		var k Checker
		k.Frames(seedRecs, report.Wire, 1500, nil)
		for _, view := range []report.View{report.Tap, report.Wire} {
			ps := Frames(recs, view, 1500, [][]byte{nil, {1}})
			for _, p := range ps {
				if p.Frame < -1 || p.Frame >= len(recs) || p.Field == "" || p.Msg == "" {
					t.Fatalf("problem %+v", p)
				}
			}
			if again := k.Frames(recs, view, 1500, [][]byte{nil, {1}}); !reflect.DeepEqual(again, ps) {
				t.Fatalf("a reused Checker says %v, a fresh one %v", again, ps)
			}
		}
	})
}
