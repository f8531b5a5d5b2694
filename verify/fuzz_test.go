package verify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/udpbuild/udpbuild/report"
)

// checkSummary asserts the invariants every Summary keeps, whatever the
// input.
func checkSummary(t *testing.T, s Summary, nframes int) {
	t.Helper()
	for i, v := range s.Verdicts {
		if v.Datagram != i || len(v.Frames) == 0 {
			t.Fatalf("verdict %d: %+v", i, v)
		}
		for _, f := range v.Frames {
			if f < 0 || f >= nframes {
				t.Fatalf("verdict %d names frame %d of %d", i, f, nframes)
			}
		}
		if v.Delivered != (v.Code == "") || (v.Code == "") != (v.Reason == "") {
			t.Fatalf("verdict %d: delivered %v code %q reason %q", i, v.Delivered, v.Code, v.Reason)
		}
		if v.Len < 0 || v.Len > ipMaxTotLen {
			t.Fatalf("verdict %d: len %d", i, v.Len)
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	if err := Render(io.Discard, s); err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify feeds arbitrary bytes to ReadCapture and whatever it returns to
// Judge: neither may panic, and the summary keeps its invariants.
func FuzzVerify(f *testing.F) {
	frames := testFrames(&testing.T{})
	f.Add(writePcap(&testing.T{}, layers.LinkTypeEthernet, frames))
	f.Add(writePcapng(&testing.T{}, layers.LinkTypeEthernet, frames))
	f.Add(writePcap(&testing.T{}, layers.LinkTypeLinuxSLL, [][]byte{append(make([]byte, 16), frames[0][14:]...)}))
	f.Add(writePcap(&testing.T{}, layers.LinkTypeRaw, [][]byte{frames[1][14:], frames[2][14:]}))
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 1 << 20, MaxFrame: 65536, MaxFrames: 4096}
		frames, lt, _, err := ReadCaptureLimits(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		checkSummary(t, Judge(frames, lt), len(frames))
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
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull}
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
		checkSummary(t, Judge(frames, lt), len(frames))
		for _, view := range []report.View{report.Tap, report.Wire} {
			for _, p := range Frames(recs, view, 1500, [][]byte{nil, {1}}) {
				if p.Frame < -1 || p.Frame >= len(recs) || p.Field == "" || p.Msg == "" {
					t.Fatalf("problem %+v", p)
				}
			}
		}
	})
}
