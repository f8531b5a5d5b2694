package pcapread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// block lays out a little-endian pcapng block.
func block(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

func shb() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x1a2b3c4d)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return block(blockSHB, binary.LittleEndian.AppendUint64(b, ^uint64(0)))
}

// idb is an interface of link type lt with the given options (code, value).
func idb(lt uint16, opts ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, lt)
	b = append(b, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, o := range opts {
		b = append(b, o...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return block(blockIDB, b)
}

func opt(code uint16, v []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func epb(iface uint32, ts uint64, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)+4))
	return block(blockEPB, append(b, data...))
}

// TestPcapng checks frame numbering (every block Wireshark shows as a
// frame counts), per-interface link types, timestamp resolutions and
// offsets, and an interface table reset by a new section.
func TestPcapng(t *testing.T) {
	var f []byte
	f = append(f, shb()...)
	f = append(f, idb(1)...)                                          // µs
	f = append(f, idb(101, opt(9, []byte{9}), opt(14, le64(100)))...) // ns, +100 s
	f = append(f, idb(113, opt(9, []byte{0x80 | 10}))...)             // 2^-10 s
	f = append(f, epb(0, 1_500_000, []byte{1})...)                    // frame 1
	f = append(f, block(blockJournal, []byte("MESSAGE=x\n"))...)      // frame 2
	f = append(f, block(0x123, []byte("unknown"))...)                 // not a frame
	f = append(f, block(blockCustom, []byte{0, 0, 0x7e, 0xd9})...)    // frame 3
	f = append(f, block(0x204, make([]byte, 24))...)                  // frame 4
	f = append(f, epb(1, 2_500_000_000, []byte{2, 2})...)             // frame 5
	f = append(f, epb(2, 3*1024+512, []byte{3, 3, 3})...)             // frame 6
	f = append(f, block(5, make([]byte, 12))...)                      // statistics: not a frame
	f = append(f, shb()...)                                           // new section
	f = append(f, idb(228)...)                                        //
	f = append(f, epb(0, 7_000_000, []byte{4})...)                    // frame 7
	r, err := NewReader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		frame  int
		packet bool
		lt     int
		ns     int64
		n      int
	}
	wants := []want{
		{1, true, 1, 1_500_000_000, 1},
		{2, false, 0, 0, 0},
		{3, false, 0, 0, 0},
		{4, false, 0, 0, 0},
		{5, true, 101, 102_500_000_000, 2},
		{6, true, 113, 3_500_000_000, 3},
		{7, true, 228, 7_000_000_000, 1},
	}
	for _, w := range wants {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", w.frame, err)
		}
		got := want{rec.Frame, rec.Packet, int(rec.LinkType), rec.Time, len(rec.Data)}
		if got != w {
			t.Errorf("got %+v, want %+v", got, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestPcapngDamage checks that damage ends the reading with an Error
// saying what it is.
func TestPcapngDamage(t *testing.T) {
	good := append(append(shb(), idb(1)...), epb(0, 0, []byte{1, 2, 3, 4})...)
	badTrailer := append([]byte(nil), good...)
	badTrailer[len(badTrailer)-1] ^= 1
	oddLen := append(append(shb(), idb(1)...), 6, 0, 0, 0, 33, 0, 0, 0)
	noIface := append(shb(), epb(0, 0, []byte{1})...)
	for _, c := range []struct {
		name, want string
		file       []byte
		truncated  bool
	}{
		{"trailer", "at its end", badTrailer, false},
		{"odd length", "not a multiple of 4", oddLen, false},
		{"no interface", "interface 0, but the section has 0", noIface, false},
		{"cut", "file ends inside frame 1", good[:len(good)-10], true},
	} {
		r, err := NewReader(bytes.NewReader(c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for err == nil {
			_, err = r.Next()
		}
		var e *Error
		if !errors.As(err, &e) || !bytes.Contains([]byte(e.Msg), []byte(c.want)) || e.Truncated != c.truncated {
			t.Errorf("%s: %v, want an Error with %q (truncated %v)", c.name, err, c.want, c.truncated)
		}
	}
}
