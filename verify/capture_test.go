package verify

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// testFrames is a small capture: a whole datagram and three fragments.
func testFrames(t *testing.T) [][]byte {
	w := testWire
	return append([][]byte{w.frame(t, ipOpt{id: 1}, w.udp(t, sport, 9999, pattern(100, 1)))},
		w.frags(t, ipOpt{id: 2}, w.udp(t, sport, 9999, pattern(1000, 2)), 400, 800)...)
}

func ci(n, orig int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: n, Length: orig}
}

func writePcap(t *testing.T, lt layers.LinkType, frames [][]byte, orig ...int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65536, lt); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		o := len(f)
		if i < len(orig) && orig[i] > 0 {
			o = orig[i]
		}
		if err := w.WritePacket(ci(len(f), o), f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func writePcapng(t *testing.T, lt layers.LinkType, frames [][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, lt)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WritePacket(ci(len(f), len(f)), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestReadCaptureRoundTrip(t *testing.T) {
	frames := testFrames(t)
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"pcap", writePcap(t, layers.LinkTypeEthernet, frames)},
		{"pcapng", writePcapng(t, layers.LinkTypeEthernet, frames)},
		{"pcap.gz", gz(t, writePcap(t, layers.LinkTypeEthernet, frames))},
		{"pcapng.gz", gz(t, writePcapng(t, layers.LinkTypeEthernet, frames))},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, lt, diags, err := ReadCapture(bytes.NewReader(c.file))
			if err != nil || lt != layers.LinkTypeEthernet || len(diags) != 0 {
				t.Fatalf("err %v lt %v diags %v", err, lt, diags)
			}
			if !slices.EqualFunc(got, frames, bytes.Equal) {
				t.Fatalf("frames differ: %d read, %d written", len(got), len(frames))
			}
			s := Judge(got, lt)
			if len(s.Verdicts) != 2 || !s.Verdicts[0].Delivered || !s.Verdicts[1].Delivered || s.Verdicts[1].Len != 1000 {
				t.Fatalf("%+v", s)
			}
		})
	}
}

func TestReadCaptureDamaged(t *testing.T) {
	frames := testFrames(t)
	pcap := writePcap(t, layers.LinkTypeEthernet, frames)
	pcapng := writePcapng(t, layers.LinkTypeEthernet, frames)
	cut := writePcap(t, layers.LinkTypeEthernet, frames, 0, 0, 0, len(frames[3])+100)
	for _, c := range []struct {
		name    string
		file    []byte
		lim     Limits
		frames  int
		diag    string // substring of the single diagnostic; "" for none
		diagAt  int
		wantErr string
	}{
		{name: "pcap cut in a record", file: pcap[:len(pcap)-5], frames: 3, diag: "file truncated after 3 frames", diagAt: -1},
		{name: "pcap cut in a record header", file: pcap[:24+16+len(frames[0])+7], frames: 1, diag: "file truncated after 1 frames", diagAt: -1},
		{name: "pcapng cut", file: pcapng[:len(pcapng)-9], frames: 3, diag: "truncated after 3 frames", diagAt: -1},
		{name: "snaplen-cut frame", file: cut, frames: 4, diag: "snaplen-cut: 242 of 342 bytes captured", diagAt: 3},
		{name: "size cap", file: pcap, lim: Limits{MaxBytes: 24 + 16 + int64(len(frames[0])) + 20, MaxFrame: 1000, MaxFrames: 10},
			frames: 1, diag: "capture larger than", diagAt: -1},
		{name: "frame cap", file: writePcap(t, layers.LinkTypeEthernet, frames[1:2]), lim: Limits{MaxBytes: 1 << 20, MaxFrame: 100, MaxFrames: 10},
			frames: 1, diag: "frame of 434 bytes cut to 100", diagAt: 0},
		{name: "frame count cap", file: pcap, lim: Limits{MaxBytes: 1 << 20, MaxFrame: 1000, MaxFrames: 2},
			frames: 2, diag: "more than 2 frames", diagAt: -1},
		{name: "header only", file: pcap[:24], frames: 0},
		{name: "exactly at the size cap", file: pcap, lim: Limits{MaxBytes: int64(len(pcap)), MaxFrame: 1000, MaxFrames: 10}, frames: 4},
		{name: "one byte over the size cap", file: pcap, lim: Limits{MaxBytes: int64(len(pcap)) - 1, MaxFrame: 1000, MaxFrames: 10},
			frames: 3, diag: "capture larger than", diagAt: -1},
		{name: "garbage", file: []byte("this is not a capture file at all"), wantErr: "not a pcap or pcapng file"},
		{name: "empty", file: nil, wantErr: "empty input"},
		{name: "short pcap header", file: pcap[:10], wantErr: "pcap header"},
		{name: "bad gzip", file: []byte{0x1f, 0x8b, 0, 0}, wantErr: "gzip"},
		{name: "gzip in gzip", file: gz(t, gz(t, pcap)), wantErr: "gzip inside gzip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := c.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			got, _, diags, err := ReadCaptureLimits(bytes.NewReader(c.file), lim)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.frames {
				t.Errorf("%d frames, want %d", len(got), c.frames)
			}
			if c.diag == "" {
				if len(diags) != 0 {
					t.Errorf("diagnostics %v", diags)
				}
				return
			}
			if len(diags) != 1 || !strings.Contains(diags[0].Msg, c.diag) || diags[0].Frame != c.diagAt || diags[0].Field != "Capture" {
				t.Errorf("diagnostics %v, want one at frame %d containing %q", diags, c.diagAt, c.diag)
			}
		})
	}
}

// TestReadCaptureGarbageLinkType checks that a capture of an unknown link
// type reads and is judged as one diagnostic.
func TestReadCaptureGarbageLinkType(t *testing.T) {
	file := writePcap(t, layers.LinkType(4000), testFrames(t))
	frames, lt, diags, err := ReadCapture(bytes.NewReader(file))
	if err != nil || len(diags) != 0 || len(frames) != 4 {
		t.Fatalf("%v %v %d", err, diags, len(frames))
	}
	s := Judge(frames, lt)
	if len(s.Verdicts) != 0 || len(s.Diagnostics) != 1 || !strings.Contains(s.Diagnostics[0].Msg, "unsupported link type 4000") {
		t.Fatalf("%+v", s)
	}
}

// TestReadCaptureMixedLinkTypes checks that a pcapng frame from an interface
// of another link type keeps its place, empty, with a diagnostic.
func TestReadCaptureMixedLinkTypes(t *testing.T) {
	frames := testFrames(t)
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65536})
	if err != nil {
		t.Fatal(err)
	}
	c0, c1 := ci(len(frames[0]), len(frames[0])), ci(len(frames[0])-14, len(frames[0])-14)
	c1.InterfaceIndex = raw
	if err := w.WritePacket(c0, frames[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(c1, frames[0][14:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, lt, diags, err := ReadCapture(&b)
	if err != nil || lt != layers.LinkTypeEthernet || len(got) != 2 || got[1] != nil || !bytes.Equal(got[0], frames[0]) {
		t.Fatalf("%v %v %d", err, lt, len(got))
	}
	if len(diags) != 1 || diags[0].Frame != 1 || !strings.Contains(diags[0].Msg, "differs") {
		t.Fatalf("%v", diags)
	}
}
