package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestWriteFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	frames := [][]byte{bytes.Repeat([]byte{1}, 60), bytes.Repeat([]byte{2}, 1514), bytes.Repeat([]byte{3}, 65549)}
	for _, f := range []Format{PCAP, PCAPNG} {
		path := filepath.Join(dir, "out."+f.String())
		if err := WriteFile(path, f, frames, []string{"first", "", "third"}); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		if f == PCAP {
			r, err := pcapgo.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("pcap link type %v", r.LinkType())
			}
			for {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				got = append(got, data)
			}
		} else {
			r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
			if err != nil {
				t.Fatal(err)
			}
			for {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				got = append(got, data)
			}
		}
		fh.Close()
		if len(got) != len(frames) {
			t.Fatalf("%v: %d frames back, want %d", f, len(got), len(frames))
		}
		for i := range frames {
			if !bytes.Equal(got[i], frames[i]) {
				t.Errorf("%v: frame %d differs", f, i)
			}
		}
	}
}

func TestPcapngCarriesComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcapng")
	if err := WriteFile(path, PCAPNG, [][]byte{make([]byte, 60)}, []string{"step 0 sendmsg: datagram 0"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte("step 0 sendmsg: datagram 0")) {
		t.Fatal("comment not in the file")
	}
}

// TestAtomicOutput: an aborted output leaves neither the file nor a
// temporary beside it; an existing file survives a failed run untouched.
func TestAtomicOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pcap")
	if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Writer().Write([]byte("half a capture")); err != nil {
		t.Fatal(err)
	}
	o.Abort()
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Fatalf("file changed by an aborted run: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	o, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	o.Writer().Write([]byte("new"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	o.Abort() // after Commit: a no-op
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("after commit: %q", b)
	}
	if _, err := Create(filepath.Join(dir, "missing", "x.pcap")); err == nil {
		t.Error("Create into a missing directory succeeded")
	}
	if _, err := Create(dir); err == nil {
		t.Error("Create onto a directory succeeded")
	}
}

func TestParseFormat(t *testing.T) {
	for s, want := range map[string]Format{"pcap": PCAP, "pcapng": PCAPNG} {
		if f, err := ParseFormat(s); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("erf"); err == nil {
		t.Error("ParseFormat accepted erf")
	}
}

// TestRecordsMatchPcapgo holds WriteFrameV's own pcap records to what
// pcapgo.Writer writes for the same frames and timestamps, byte for byte,
// across a second boundary and for frames larger than the buffer; and checks that a frame given in pieces is
// written as the joined frame, in pcap and in pcapng.
func TestRecordsMatchPcapgo(t *testing.T) {
	const n = 1_000_003 // crosses a second of Epoch + n µs
	frame := func(i int) []byte {
		b := make([]byte, 20+i%50)
		for j := range b {
			b[j] = byte(i + j)
		}
		return b
	}
	var ours, theirs bytes.Buffer
	w, err := NewWriter(&ours, PCAP)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(&theirs)
	if err := pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f := frame(i)
		cut := i % len(f)
		if err := w.WriteFrameV(f[:cut], f[cut:], "ignored in pcap"); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: Epoch.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(f), Length: len(f)}
		if err := pw.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	// Frames around and beyond the 64 KiB buffer: flushed first, or
	// written straight through.
	for i, size := range []int{65519, 65520, 65536, 70000, 200000, 14} {
		f := make([]byte, size)
		for j := range f {
			f[j] = byte(j * (i + 3))
		}
		cut := min(34, size)
		if err := w.WriteFrameV(f[:cut], f[cut:], ""); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: Epoch.Add(time.Duration(n+i) * time.Microsecond), CaptureLength: size, Length: size}
		if err := pw.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
		a, b := ours.Bytes(), theirs.Bytes()
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("pcap differs from pcapgo's at byte %d (%d and %d bytes)", i, len(a), len(b))
	}

	var ng bytes.Buffer
	nw, err := NewWriter(&ng, PCAPNG)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{frame(1), frame(2), frame(3)}
	for i, f := range want {
		if err := nw.WriteFrameV(f[:i*3], f[i*3:], ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(&ng, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range want {
		got, _, err := r.ReadPacketData()
		if err != nil || !bytes.Equal(got, f) {
			t.Fatalf("pcapng frame %d: %x (%v), want %x", i, got, err, f)
		}
	}
}
