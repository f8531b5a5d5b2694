package scenario

import (
	"bytes"
	"testing"
)

func TestPatternView(t *testing.T) {
	for _, k := range []int{0, 1, 2, 7, 8, 100, 255, 256, 1000} {
		for _, n := range []int{0, 1, 7, 255, 256, 257, 65507, MaxPayload} {
			want := patternDirect(k, n)
			if got := PatternView(k, n); !bytes.Equal(got, want) {
				t.Fatalf("PatternView(%d, %d) differs from the definition", k, n)
			}
			if got := Pattern(k, n); !bytes.Equal(got, want) {
				t.Fatalf("Pattern(%d, %d) differs from the definition", k, n)
			}
		}
	}
	// The spec's own words: byte i of the k-th send is (k*31 + i*7) mod 256.
	if p := PatternView(3, 4); !bytes.Equal(p, []byte{93, 100, 107, 114}) {
		t.Fatalf("PatternView(3, 4) = %v", p)
	}
	// A view cannot be appended to in place (full slice expression).
	v := PatternView(1, 10)
	if cap(v) != len(v) {
		t.Fatalf("view has spare capacity %d", cap(v)-len(v))
	}
}
