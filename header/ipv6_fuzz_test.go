package header

import (
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// refWalk is an independent, deliberately plain re-telling of the walk:
// the offsets of the extension headers, where the upper layer starts and
// its value, whether a non-first fragment ended it, and the offset and
// sentinel of an error.
func refWalk(first uint8, b []byte) (offs []int, upper uint8, upperOff int, nonFirst bool, errOff int, err error) {
	nh, off := first, 0
	for {
		var n int
		switch nh {
		case 0:
			if off != 0 {
				return offs, 0, 0, false, off, ErrHopByHopNotFirst
			}
			fallthrough
		case 43, 60:
			if off+2 > len(b) {
				return offs, 0, 0, false, off, ErrExtTruncated
			}
			n = 8 + 8*int(b[off+1])
		case 51:
			if off+2 > len(b) {
				return offs, 0, 0, false, off, ErrExtTruncated
			}
			n = 8 + 4*int(b[off+1])
		case 44:
			n = 8
			if off+2 > len(b) {
				return offs, 0, 0, false, off, ErrExtTruncated
			}
		default:
			return offs, nh, off, false, 0, nil
		}
		if off+n > len(b) {
			return offs, 0, 0, false, off, ErrExtTruncated
		}
		offs = append(offs, off)
		next := b[off]
		if nh == 44 && (int(b[off+2])<<8|int(b[off+3]))&^7 != 0 {
			return offs, next, off + n, true, 0, nil
		}
		nh, off = next, off+n
	}
}

// FuzzIPv6ExtHeaders runs arbitrary bytes through the extension-header
// walker after an arbitrary first Next Header value: it must never panic,
// must agree with refWalk header by header, must keep every header inside
// the bytes and the headers contiguous, and where the chain is made of
// hop-by-hop, destination options and routing headers it must find the same
// boundaries as gopacket's IPv6ExtensionSkipper.
func FuzzIPv6ExtHeaders(f *testing.F) {
	f.Add(uint8(17), []byte{})
	f.Add(uint8(0), []byte{60, 0, 5, 2, 0, 0, 1, 0, 43, 0, 0x1e, 4, 1, 2, 3, 4, 44, 2, 2, 1, 0, 0, 0, 0,
		0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99, 17, 0, 0, 1, 0x12, 0x34, 0x56, 0x78, 0x9c, 0x40, 0x23, 0x28, 0, 8, 0, 0})
	f.Add(uint8(44), []byte{17, 0, 0x05, 0x01, 0, 0, 0, 1, 0xde, 0xad})
	f.Add(uint8(60), []byte{0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0})
	f.Add(uint8(51), []byte{59, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(43), []byte{17, 255})
	f.Fuzz(func(t *testing.T, first uint8, b []byte) {
		w := WalkIPv6Ext(first, b)
		var got []IPv6ExtHeader
		end := 0
		for w.Next() {
			h := w.Header()
			if h.Offset != end || len(h.Bytes) < 8 || h.Offset+len(h.Bytes) > len(b) || &h.Bytes[0] != &b[h.Offset] {
				t.Fatalf("header %d: offset %d, %d bytes, after %d of %d", len(got), h.Offset, len(h.Bytes), end, len(b))
			}
			if cap(h.Bytes) != len(h.Bytes) {
				t.Fatalf("header %d: its slice reaches past it (cap %d > len %d)", len(got), cap(h.Bytes), len(h.Bytes))
			}
			got = append(got, h)
			end += len(h.Bytes)
			if len(got) > len(b)/8 {
				t.Fatalf("%d headers in %d bytes", len(got), len(b))
			}
		}
		if w.Next() {
			t.Fatal("Next is true again after it returned false")
		}

		offs, upper, upperOff, nonFirst, errOff, wantErr := refWalk(first, b)
		if len(offs) != len(got) {
			t.Fatalf("%d headers, reference %d", len(got), len(offs))
		}
		for i := range offs {
			if offs[i] != got[i].Offset {
				t.Fatalf("header %d at %d, reference %d", i, got[i].Offset, offs[i])
			}
		}
		if err := w.Err(); err != nil || wantErr != nil {
			var e *IPv6ExtError
			if !errors.As(err, &e) || !errors.Is(err, wantErr) || e.Offset != errOff || e.Offset != end {
				t.Fatalf("error %v, reference %v at %d (headers end at %d)", err, wantErr, errOff, end)
			}
		} else {
			up, off := w.Upper()
			if up != upper || off != upperOff || off != end || w.NonFirstFragment() != nonFirst {
				t.Fatalf("upper %d at %d non-first %v, reference %d at %d %v", up, off, w.NonFirstFragment(), upper, upperOff, nonFirst)
			}
		}

		// gopacket's skipper over the leading run of hop-by-hop (first
		// only), destination options and routing headers.
		nh, data, off := first, b, 0
		for i := 0; ; i++ {
			if !(nh == NextHdrDest || nh == NextHdrRouting || (nh == NextHdrHop && off == 0)) {
				break
			}
			var sk layers.IPv6ExtensionSkipper
			gerr := sk.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
			if gerr != nil {
				if i != len(got) || !errors.Is(w.Err(), ErrExtTruncated) {
					t.Fatalf("gopacket refuses header %d (%v); the walker found %d headers, error %v", i, gerr, len(got), w.Err())
				}
				break
			}
			if i >= len(got) || got[i].Offset != off || len(got[i].Bytes) != len(sk.Contents) {
				t.Fatalf("gopacket's header %d is %d bytes at %d; the walker found %d headers", i, len(sk.Contents), off, len(got))
			}
			nh, data, off = uint8(sk.NextHeader), sk.Payload, off+len(sk.Contents)
		}
	})
}
