package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/verify/internal/synth"
)

// benchCapture is a synthetic capture held in memory, built once.
func benchCapture(b *testing.B, size int64) ([]byte, synth.Counts) {
	b.Helper()
	var buf bytes.Buffer
	c, err := synth.Write(&buf, size, 1)
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), c
}

// benchVerify verifies a 64 MB synthetic capture (the mix of
// internal/synth) from memory into sink per iteration and reports
// throughput. bench/verify.sh compares the command with tshark on a 2 GB
// file; this isolates verify's own cost from the disk and the pipe.
func benchVerify(b *testing.B, sink func() interface {
	Sink
	Close(Stats) error
}) {
	file, c := benchCapture(b, 64<<20)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := sink()
		st, err := Verify(context.Background(), bytes.NewReader(file), Options{}, s)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(st); err != nil {
			b.Fatal(err)
		}
		if st.Datagrams != c.Datagrams {
			b.Fatalf("%d datagrams, want %d", st.Datagrams, c.Datagrams)
		}
	}
	b.ReportMetric(float64(c.Frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkVerifyText writes every verdict as text, as `udpbuild verify`
// does.
func BenchmarkVerifyText(b *testing.B) {
	benchVerify(b, func() interface {
		Sink
		Close(Stats) error
	} {
		return NewTextWriter(io.Discard, false)
	})
}

// BenchmarkVerifyQuiet writes only what is not delivered (-q).
func BenchmarkVerifyQuiet(b *testing.B) {
	benchVerify(b, func() interface {
		Sink
		Close(Stats) error
	} {
		return NewTextWriter(io.Discard, true)
	})
}

// discardSink takes verdicts and keeps nothing.
type discardSink struct{}

func (discardSink) Verdict(*Verdict) error       { return nil }
func (discardSink) Diagnostic(*Diagnostic) error { return nil }

// benchFrames runs one Verifier over frames again and again, each frame
// with its own fragment identification (by setID), and reports the cost
// per frame.
func benchFrames(b *testing.B, frames [][]byte, setID func(f []byte, id uint32)) {
	v := NewVerifier(Options{}, discardSink{})
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = append([]byte(nil), f...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := range b.N {
		for k, f := range bufs {
			setID(f, uint32(i+1))
			_ = v.Frame(Frame{Number: n + k + 1, LinkType: layers.LinkTypeEthernet, Data: f})
		}
		n += len(bufs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/frame")
}

// BenchmarkJudge4 and BenchmarkJudge6 judge the same traffic over IPv4
// and IPv6: a 100-byte datagram and a 1000-byte one in three fragments.
// Decoding and judging allocate nothing in either family; what allocations
// there are belong to the shared reassembly (a fragment run's piece list
// in inet_frag_queue_insert's model, the reassembled datagram's event).
func BenchmarkJudge4(b *testing.B) {
	w := testWire
	t := &testing.T{}
	frames := append([][]byte{w.frame(t, ipOpt{id: 1}, w.udp(t, sport, 9999, pattern(100, 1)))},
		w.frags(t, ipOpt{id: 2}, w.udp(t, sport, 9999, pattern(1000, 2)), 400, 800)...)
	benchFrames(b, frames, func(f []byte, id uint32) {
		if binary.BigEndian.Uint16(f[14+6:])&(ipFlagMF|ipOffsetMask) != 0 {
			binary.BigEndian.PutUint16(f[14+4:], uint16(id))
			refixIP(f)
		}
	})
}

func BenchmarkJudge6(b *testing.B) {
	w := testWire6
	t := &testing.T{}
	frames := append([][]byte{w.frame(nil, protoUDP, w.udp(t, sport, 9999, pattern(100, 1)))},
		w.frags(nil, 2, protoUDP, w.udp(t, sport, 9999, pattern(1000, 2)), 400, 800)...)
	benchFrames(b, frames, func(f []byte, id uint32) {
		if f[14+6] == nexthdrFragment {
			binary.BigEndian.PutUint32(f[14+40+4:], id)
		}
	})
}
