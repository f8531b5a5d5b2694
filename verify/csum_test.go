package verify

import (
	"math/rand/v2"
	"testing"
)

// TestSum16MatchesRFC1071 holds sum16 (32 bytes a pass) to RFC 1071 done
// sixteen bits at a time, for every length up to 300 at every starting
// accumulator class, and for 64 KiB of 0xff (the largest carry load).
func TestSum16MatchesRFC1071(t *testing.T) {
	naive := func(acc uint64, b []byte) uint16 {
		for i := 0; i+1 < len(b); i += 2 {
			acc += uint64(b[i])<<8 | uint64(b[i+1])
		}
		if len(b)%2 == 1 {
			acc += uint64(b[len(b)-1]) << 8
		}
		return fold16(acc)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 301 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		acc := r.Uint64N(1 << 40)
		if got, want := fold16(sum16(acc, b)), naive(acc, b); got != want {
			t.Fatalf("len %d: sum16 folds to %#04x, RFC 1071 gives %#04x", n, got, want)
		}
	}
	ones := make([]byte, 65536)
	for i := range ones {
		ones[i] = 0xff
	}
	if got, want := fold16(sum16(0, ones)), naive(0, ones); got != want {
		t.Fatalf("64 KiB of 0xff: %#04x, want %#04x", got, want)
	}
}
