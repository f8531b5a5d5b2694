package vm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/report"
)

// cpioEntry is one member as readCPIO parses it back.
type cpioEntry struct {
	name         string
	mode         uint32
	major, minor uint32
	data         string
}

// readCPIO parses a newc archive as init/initramfs.c does: 110-byte
// headers of hex fields, name and data padded to four bytes.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	field := func(h []byte, i int) uint32 {
		v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("field %d: %v", i, err)
		}
		return uint32(v)
	}
	pad := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if off+110 > len(b) {
			t.Fatalf("archive ends inside a header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		namesz, size := int(field(h, 11)), int(field(h, 6))
		name := string(b[off+110 : off+110+namesz-1])
		if b[off+110+namesz-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		off = pad(off + 110 + namesz)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name: name, mode: field(h, 1), major: field(h, 9), minor: field(h, 10), data: string(b[off : off+size])})
		off = pad(off + size)
	}
}

func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	c.File("/usr/bin/ip", 0o755, []byte("12345"))
	c.File("usr/lib/x", 0o644, []byte("ab"))
	c.Symlink("var/run", "../run")
	c.CharDev("dev/console", 0o600, 5, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{name: "usr", mode: modeDir | 0o755},
		{name: "usr/bin", mode: modeDir | 0o755},
		{name: "usr/bin/ip", mode: modeFile | 0o755, data: "12345"},
		{name: "usr/lib", mode: modeDir | 0o755},
		{name: "usr/lib/x", mode: modeFile | 0o644, data: "ab"},
		{name: "var", mode: modeDir | 0o755},
		{name: "var/run", mode: modeLink | 0o777, data: "../run"},
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeChr | 0o600, major: 5, minor: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d members %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBzPayload(t *testing.T) {
	bz := make([]byte, 4096)
	copy(bz[bzMagic:], "HdrS")
	bz[bzSetupSects] = 3
	binary.LittleEndian.PutUint32(bz[bzPayloadOffset:], 100)
	binary.LittleEndian.PutUint32(bz[bzPayloadLength:], 8)
	start := 4*512 + 100
	copy(bz[start:], "PAYLOAD!")
	p, err := bzPayload(bz)
	if err != nil || string(p) != "PAYLOAD!" {
		t.Fatalf("bzPayload = %q, %v", p, err)
	}
	binary.LittleEndian.PutUint32(bz[bzPayloadLength:], 4096)
	if _, err := bzPayload(bz); err == nil {
		t.Error("a payload past the end of the image was accepted")
	}
	if _, err := bzPayload([]byte("not a kernel")); err == nil {
		t.Error("a non-bzImage was accepted")
	}
}

func TestHasNote(t *testing.T) {
	note := func(owner string, typ uint32, desc []byte) []byte {
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, uint32(len(owner)+1))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.LittleEndian.AppendUint32(b, typ)
		name := append([]byte(owner), 0)
		for len(name)%4 != 0 {
			name = append(name, 0)
		}
		b = append(b, name...)
		return append(b, desc...)
	}
	seg := append(note("GNU", 3, make([]byte, 20)), note("Xen", xenElfnotePhys32Entry, make([]byte, 4))...)
	if !hasNote(seg, "Xen", xenElfnotePhys32Entry) {
		t.Error("the PVH note after a GNU note was not found")
	}
	if hasNote(seg[:len(seg)-8], "Xen", xenElfnotePhys32Entry) {
		t.Error("a truncated note was found")
	}
	if hasNote(note("Xen", 17, make([]byte, 4)), "Xen", xenElfnotePhys32Entry) {
		t.Error("another Xen note was taken for the PVH entry")
	}
}

// TestResults round-trips the guest's results stream: a report with its
// frames, an error, and a stream cut short.
func TestResults(t *testing.T) {
	rep := &report.Report{Scenario: "s", Source: "kernel", View: report.Tap, Kernel: "6.1.0-57-cloud-amd64",
		Steps: []report.Step{{Op: "send", Ret: 3}},
		Frames: []report.Frame{
			{Step: 0, Kind: report.Datagram, Count: 1, Len: 3, Data: []byte{1, 2, 3}},
			{Step: 0, Kind: report.Datagram, Count: 1, Len: 0, Data: []byte{}},
		}}
	var buf bytes.Buffer
	w := newResultWriter(&buf)
	if err := w.result(0, rep, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.result(1, nil, errors.New("kernel: boom")); err != nil {
		t.Fatal(err)
	}
	full := buf.Len()
	if err := w.stats(Stats{Release: "r", Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	res, st, err := readResults(bytes.NewReader(buf.Bytes()), 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs != 2 || st.Release != "r" {
		t.Errorf("stats %+v", st)
	}
	if res[0].Err != nil || !bytes.Equal(res[0].Report.Frames[0].Data, []byte{1, 2, 3}) || len(res[0].Report.Frames) != 2 {
		t.Errorf("job 0: %+v", res[0])
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "boom") {
		t.Errorf("job 1: %v, want the guest's error", res[1].Err)
	}
	if !errors.Is(res[2].Err, errTruncated) {
		t.Errorf("job 2 (never run): %v, want errTruncated", res[2].Err)
	}

	// A guest that died after job 0: its result stands, the boot fails.
	res, _, err = readResults(bytes.NewReader(buf.Bytes()[:full-700]), 2)
	if err == nil {
		t.Fatal("a cut stream was read without error")
	}
	if res[0].Report == nil {
		t.Errorf("job 0 before the break: %v", res[0].Err)
	}
	if res[1].Err == nil {
		t.Error("job 1 after the break has no error")
	}
}
