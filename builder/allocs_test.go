package builder

import (
	"net/netip"
	"testing"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// TestSendAllocatesNothing: a send without tracing allocates nothing, on
// either family, whole or fragmented. Twice an explanation string was built
// on every send (the IPv6 work, the path-MTU work); the benchmarks showed
// it as allocs/op, but only a test fails.
func TestSendAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst string
		n        int
	}{
		{"ipv4 64", "10.0.0.1:40000", "10.0.0.2:9000", 64},
		{"ipv4 fragmented", "10.0.0.1:40000", "10.0.0.2:9000", 4000},
		{"ipv6 64", "[fd00::1]:40000", "[fd00::2]:9000", 64},
		{"ipv6 fragmented", "[fd00::1]:40000", "[fd00::2]:9000", 4000},
	} {
		dev := &Device{MTU: 1500, SrcMAC: scenario.DefaultSrcMAC, DstMAC: scenario.DefaultDstMAC, View: report.Tap,
			Sink: FrameFunc(func(*FrameInfo, []byte, []byte) error { return nil })}
		sock := NewSocket(dev, Config{Proto: scenario.UDP, Src: netip.MustParseAddrPort(tc.src), Seed: 1})
		m := &Msg{Payload: scenario.Pattern(0, tc.n), Name: netip.MustParseAddrPort(tc.dst)}
		if _, e := sock.Sendmsg(m); e != 0 { // warm the reused buffers
			t.Fatalf("%s: %v", tc.name, e)
		}
		if n := testing.AllocsPerRun(200, func() { sock.Sendmsg(m) }); n != 0 {
			t.Errorf("%s: %.1f allocations per send, want 0", tc.name, n)
		}
	}
}
