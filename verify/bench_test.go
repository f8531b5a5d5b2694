package verify

import (
	"bytes"
	"context"
	"io"
	"testing"

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
