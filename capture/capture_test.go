package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

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
