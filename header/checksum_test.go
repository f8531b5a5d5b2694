package header

import (
	"math/rand/v2"
	"testing"
)

// naive is RFC 1071 done the obvious way, 16 bits at a time.
func naive(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestChecksumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if got, want := Checksum(b, 0), naive(b); got != want {
			t.Fatalf("len %d: Checksum = %#04x, naive = %#04x", n, got, want)
		}
	}
	all := make([]byte, 65536)
	for i := range all {
		all[i] = 0xff
	}
	if got, want := Checksum(all, 0), naive(all); got != want {
		t.Fatalf("all-ones: %#04x want %#04x", got, want)
	}
}

func TestIPv4HeaderChecksumRFC1071Example(t *testing.T) {
	// A header whose checksum is well known (Wikipedia's IPv4 example).
	h := IPv4{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	h.SetChecksum()
	if h.Checksum() != 0xb861 {
		t.Fatalf("checksum %#04x, want 0xb861", h.Checksum())
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	got := PseudoHeaderSum([4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 17, 1008)
	want := naive([]byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 1008 >> 8, 1008 & 0xff})
	if got != want {
		t.Fatalf("pseudo %#04x want %#04x", got, want)
	}
}

// TestIPv4SetChecksumWithOptions checks the word-at-a-time header sum
// against RFC 1071 done naively, for every IHL and random (including
// all-ones) header bytes.
func TestIPv4SetChecksumWithOptions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for ihl := 5; ihl <= 15; ihl++ {
		for n := range 200 {
			h := make(IPv4, ihl*4)
			for i := range h {
				h[i] = byte(r.UintN(256))
				if n == 0 {
					h[i] = 0xff
				}
			}
			h[0] = 0x40 | byte(ihl)
			h.SetChecksum()
			if got := naive(h); got != 0xffff {
				t.Fatalf("IHL %d: header sums to %#04x with its checksum, want 0xffff", ihl, got)
			}
		}
	}
}
