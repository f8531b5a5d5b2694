package scenario

import "sync"

// This file is the spec's pattern payload: the bytes of a send that gives
// len: N, shared read-only by every run.

// Pattern returns the spec's pattern payload of the k-th send step: byte i is
// (k*31 + i*7) mod 256. The result is a fresh slice the caller may modify.
func Pattern(k, n int) []byte {
	return append([]byte(nil), PatternView(k, n)...)
}

// PatternView is Pattern without the copy: a window into one shared,
// read-only table. Byte i of the pattern is base + 7i (mod 256) with base =
// 31k; since 7 is invertible modulo 256 (7 * 183 = 1 + 5 * 256) every
// pattern is the sequence 7j (mod 256) started at j = 183 * base, so one
// table of MaxPayload + 256 bytes holds them all. Scenario payloads are
// such views: they must not be modified.
func PatternView(k, n int) []byte {
	if n < 0 || n > MaxPayload {
		return patternDirect(k, n)
	}
	base := byte(k * 31)
	j := int(base) * 183 % 256
	return patternTable()[j : j+n : j+n]
}

// patternDirect computes a pattern byte by byte (for lengths outside the
// table; also the definition the tests hold PatternView to).
func patternDirect(k, n int) []byte {
	if n < 0 {
		return nil
	}
	b := make([]byte, n)
	base := byte(k * 31)
	for i := range b {
		b[i] = base + byte(i*7)
	}
	return b
}

var patternTable = sync.OnceValue(func() []byte {
	t := make([]byte, MaxPayload+256)
	for i := range t {
		t[i] = byte(i * 7)
	}
	return t
})
