package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"runtime"
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

// verifyBytes runs Verify over a file in memory.
func verifyBytes(t *testing.T, file []byte, opt Options) (Summary, error) {
	t.Helper()
	var s Summary
	st, err := Verify(context.Background(), bytes.NewReader(file), opt, &s)
	s.Stats = st
	return s, err
}

func TestVerifyRoundTrip(t *testing.T) {
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
			s, err := verifyBytes(t, c.file, Options{})
			if err != nil || len(s.Diagnostics) != 0 || !s.Stats.Complete || s.Stats.Frames != 4 {
				t.Fatalf("err %v diags %v stats %+v", err, s.Diagnostics, s.Stats)
			}
			if len(s.Verdicts) != 2 || !s.Verdicts[0].Delivered || !s.Verdicts[1].Delivered || s.Verdicts[1].Len != 1000 ||
				!slices.Equal(s.Verdicts[0].Frames, []int{1}) || !slices.Equal(s.Verdicts[1].Frames, []int{2, 3, 4}) {
				t.Fatalf("%+v", s)
			}
			if !s.Stats.Clean() {
				t.Fatalf("stats %+v not clean", s.Stats)
			}
		})
	}
}

func TestVerifyDamaged(t *testing.T) {
	frames := testFrames(t)
	pcap := writePcap(t, layers.LinkTypeEthernet, frames)
	pcapng := writePcapng(t, layers.LinkTypeEthernet, frames)
	for _, c := range []struct {
		name     string
		file     []byte
		verdicts int
		diag     string // substring of the single diagnostic; "" for none
		wantErr  string
	}{
		{name: "pcap cut in a record", file: pcap[:len(pcap)-5], verdicts: 2, diag: "truncated pcap file, reading stopped after frame 3: file ends inside frame 4"},
		{name: "pcap cut in a record header", file: pcap[:24+16+len(frames[0])+7], verdicts: 1, diag: "truncated pcap file, reading stopped after frame 1: file ends inside frame 2's record header"},
		{name: "pcapng cut", file: pcapng[:len(pcapng)-9], verdicts: 2, diag: "truncated pcapng file, reading stopped after frame 3"},
		{name: "header only", file: pcap[:24]},
		{name: "garbage", file: []byte("this is not a capture file at all"), wantErr: "not a pcap or pcapng file"},
		{name: "empty", file: nil, wantErr: "empty input"},
		{name: "short pcap header", file: pcap[:10], wantErr: "pcap header"},
		{name: "bad gzip", file: []byte{0x1f, 0x8b, 0, 0}, wantErr: "gzip"},
		{name: "gzip in gzip", file: gz(t, gz(t, pcap)), wantErr: "gzip inside gzip"},
		{name: "zstd", file: []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, wantErr: "zstd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := verifyBytes(t, c.file, Options{})
			if c.wantErr != "" {
				var nc *NotCaptureError
				if !errors.As(err, &nc) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want a NotCaptureError with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Verdicts) != c.verdicts {
				t.Errorf("%d verdicts, want %d: %+v", len(s.Verdicts), c.verdicts, s.Verdicts)
			}
			if c.diag == "" {
				if len(s.Diagnostics) != 0 || !s.Stats.Complete {
					t.Errorf("diagnostics %v, stats %+v", s.Diagnostics, s.Stats)
				}
				return
			}
			if len(s.Diagnostics) != 1 || !strings.Contains(s.Diagnostics[0].Msg, c.diag) || s.Diagnostics[0].Frame != 0 || s.Diagnostics[0].Field != "Capture" || s.Stats.Complete {
				t.Errorf("diagnostics %v (complete %v), want one about the capture containing %q", s.Diagnostics, s.Stats.Complete, c.diag)
			}
		})
	}
}

// TestVerifyDirectory checks point 8 of issue 14: a directory is not
// "empty input".
func TestVerifyDirectory(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Verify(context.Background(), f, Options{}, &Summary{})
	var nc *NotCaptureError
	if !errors.As(err, &nc) || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err %v", err)
	}
}

// TestVerifySnaplen checks point 3 of issue 14: frames the capture cut are
// "not captured", with the ports and lengths the captured header shows,
// never a receiver's drop; a datagram without a checksum needs no more
// than its header, and a drop the header alone proves stays a drop.
func TestVerifySnaplen(t *testing.T) {
	w := testWire
	whole := w.frame(t, ipOpt{id: 1}, w.udp(t, sport, 9999, pattern(1000, 1)))
	noCsum := w.frame(t, ipOpt{id: 2}, w.udp(t, sport, 9999, pattern(1000, 2)))
	noCsum[udpOff+6], noCsum[udpOff+7] = 0, 0
	short := w.frame(t, ipOpt{id: 3}, w.udp(t, sport, 9999, pattern(1000, 3)))
	binary.BigEndian.PutUint16(short[udpOff+4:], 2000) // UDP length beyond the datagram
	frags := w.frags(t, ipOpt{id: 4}, w.udp(t, sport, 9999, pattern(1000, 4)), 400, 800)
	ipcut := w.frame(t, ipOpt{id: 5}, w.udp(t, sport, 9999, pattern(10, 5)))
	in := [][]byte{whole, noCsum, short, frags[0], frags[1], frags[2], ipcut}
	const snap = 96
	var b bytes.Buffer
	pw := pcapgo.NewWriter(&b)
	if err := pw.WriteFileHeader(snap, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range in {
		n := min(len(f), snap)
		if i == 6 {
			n = 14 + 10 // inside the IPv4 header
		}
		if err := pw.WritePacket(ci(n, len(f)), f[:n]); err != nil {
			t.Fatal(err)
		}
	}
	s, err := verifyBytes(t, b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		result string
		code   Code
		frames string
		len    int
		port   uint16
	}
	var gots []got
	for _, v := range s.Verdicts {
		gots = append(gots, got{v.Result, v.Code, frameList(v.Frames, 0), v.Len, v.Dst.Port()})
		if v.Result == ResultNotCaptured && !strings.Contains(v.Reason, "capture") {
			t.Errorf("verdict %d: reason %q does not say what the capture cut", v.Datagram, v.Reason)
		}
	}
	want := []got{
		{ResultNotCaptured, "", "1", 1000, 9999},
		{ResultDelivered, "", "2", 1000, 9999},
		{ResultDropped, CodeUDPShort, "3", 1992, 9999},
		{ResultNotCaptured, "", "4-6", 1000, 9999},
	}
	if !slices.Equal(gots, want) {
		t.Errorf("verdicts\n%+v\nwant\n%+v", gots, want)
	}
	if len(s.Diagnostics) != 1 || s.Diagnostics[0].Frame != 7 || !strings.Contains(s.Diagnostics[0].Msg, "not captured") {
		t.Errorf("diagnostics %v", s.Diagnostics)
	}
	for _, v := range s.Verdicts {
		if strings.Contains(v.Reason, "ip_rcv_core") {
			t.Errorf("a cut frame judged as the kernel would: %+v", v)
		}
	}
}

// TestVerifyHostileLengths checks point 1 and 5 of issue 14: a record or
// block that claims gigabytes allocates nothing of that size, a pcapng
// packet block over 262144 bytes is skipped with a diagnostic saying so,
// and the frames after it keep Wireshark's numbers.
func TestVerifyHostileLengths(t *testing.T) {
	frames := testFrames(t)
	pcap := writePcap(t, layers.LinkTypeEthernet, frames[:1])
	hugePcap := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(append([]byte(nil), pcap...), 0), 0)
	hugePcap = binary.LittleEndian.AppendUint32(hugePcap, 1<<31)
	hugePcap = binary.LittleEndian.AppendUint32(hugePcap, 1<<31)
	hugePcap = append(hugePcap, make([]byte, 100)...)

	ng := writePcapng(t, layers.LinkTypeEthernet, frames[:1])
	// An enhanced packet block of 2 GB claiming 1 GB captured, the file
	// then ending.
	hugeBlock := binary.LittleEndian.AppendUint32(append([]byte(nil), ng...), 6)
	hugeBlock = binary.LittleEndian.AppendUint32(hugeBlock, 1<<31)
	hugeBlock = append(hugeBlock, make([]byte, 12)...)
	hugeBlock = binary.LittleEndian.AppendUint32(hugeBlock, 1<<30)
	hugeBlock = binary.LittleEndian.AppendUint32(hugeBlock, 1<<30)
	hugeBlock = append(hugeBlock, make([]byte, 64)...)

	// A whole, well-framed block of 300000 captured bytes, then a normal
	// frame.
	big := make([]byte, 300000)
	bigBlock := append([]byte(nil), ng...)
	bigBlock = appendEPB(bigBlock, big)
	bigBlock = appendEPB(bigBlock, frames[0])

	type diag struct {
		frame int
		msg   string
	}
	for _, c := range []struct {
		name   string
		file   []byte
		diags  []diag
		frames []int // verdict frames
	}{
		{"pcap record of 2 GB", hugePcap, []diag{{0, "record claims 2147483648 captured bytes, more than 262144"}}, []int{1}},
		{"pcapng block of 2 GB", hugeBlock, []diag{{2, "claims 1073741824 captured bytes, more than 262144"}, {0, "truncated pcapng file, reading stopped after frame 2"}}, []int{1}},
		{"pcapng block over 256 KiB", bigBlock, []diag{{2, "claims 300000 captured bytes, more than 262144"}}, []int{1, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			s, err := verifyBytes(t, c.file, Options{})
			runtime.ReadMemStats(&ms1)
			if err != nil {
				t.Fatal(err)
			}
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
			if !slices.EqualFunc(s.Diagnostics, c.diags, func(d Diagnostic, w diag) bool { return d.Frame == w.frame && strings.Contains(d.Msg, w.msg) }) {
				t.Fatalf("diagnostics %v, want %v", s.Diagnostics, c.diags)
			}
			var got []int
			for _, v := range s.Verdicts {
				got = append(got, v.Frames...)
			}
			if !slices.Equal(got, c.frames) {
				t.Fatalf("verdict frames %v, want %v", got, c.frames)
			}
		})
	}
}

// appendEPB appends an enhanced packet block for interface 0.
func appendEPB(b, data []byte) []byte {
	pad := (4 - len(data)%4) % 4
	total := uint32(32 + len(data) + pad)
	b = binary.LittleEndian.AppendUint32(b, 6)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = append(b, make([]byte, pad)...)
	return binary.LittleEndian.AppendUint32(b, total)
}

// TestVerifyMixedLinkTypes checks that a pcapng whose interfaces have
// different link types is judged frame by frame, each with its own
// link layer, and that one datagram's fragments may come on different
// interfaces.
func TestVerifyMixedLinkTypes(t *testing.T) {
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
	sll2, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65536})
	if err != nil {
		t.Fatal(err)
	}
	write := func(iface int, data []byte) {
		c := ci(len(data), len(data))
		c.InterfaceIndex = iface
		if err := w.WritePacket(c, data); err != nil {
			t.Fatal(err)
		}
	}
	sll2Hdr := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
	write(0, frames[0])
	write(raw, frames[0][14:])
	write(sll2, append(slices.Clone(sll2Hdr), frames[1][14:]...))
	write(raw, frames[2][14:])
	write(0, frames[3])
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s, err := verifyBytes(t, b.Bytes(), Options{})
	if err != nil || len(s.Diagnostics) != 0 || len(s.Verdicts) != 3 {
		t.Fatalf("%v %v %+v", err, s.Diagnostics, s.Verdicts)
	}
	for i, want := range [][]int{{1}, {2}, {3, 4, 5}} {
		if v := s.Verdicts[i]; !v.Delivered || !slices.Equal(v.Frames, want) {
			t.Errorf("verdict %d: %+v, want delivered, frames %v", i, v, want)
		}
	}
}

// TestVerifyStopsOnCancel checks point 7 of issue 14 for verify: a read
// blocked on a pipe with no data and a stream that never ends both stop
// promptly when the context is cancelled.
func TestVerifyStopsOnCancel(t *testing.T) {
	t.Run("blocked read", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		if _, err := w.Write(writePcap(t, layers.LinkTypeEthernet, nil)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Verify(ctx, r, Options{}, &Summary{})
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Verify still blocked 10 s after the cancel")
		}
	})
	t.Run("blocked read without deadlines", func(t *testing.T) {
		r, w := io.Pipe()
		defer r.Close()
		go func() { _, _ = w.Write(writePcap(t, layers.LinkTypeEthernet, nil)) }()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Verify(ctx, r, Options{}, &Summary{})
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Verify still blocked 10 s after the cancel")
		}
	})
	t.Run("endless stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		frame := testFrames(t)[0]
		rec := writePcap(t, layers.LinkTypeEthernet, [][]byte{frame})[24:]
		r := io.MultiReader(bytes.NewReader(writePcap(t, layers.LinkTypeEthernet, nil)), &repeatReader{rec: rec})
		var s Summary
		done := make(chan error, 1)
		go func() {
			_, err := Verify(ctx, r, Options{}, &countSink{&s, 1000, cancel})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Verify still running 10 s after the cancel")
		}
	})
}

// repeatReader repeats one pcap record forever.
type repeatReader struct {
	rec []byte
	at  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.rec[r.at:])
		n += k
		r.at = (r.at + k) % len(r.rec)
	}
	return n, nil
}

// countSink cancels after n verdicts.
type countSink struct {
	*Summary
	n      int
	cancel func()
}

func (c *countSink) Verdict(v *Verdict) error {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return nil
}
