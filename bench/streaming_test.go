package bench

import (
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// streamSends runs a scenario of n 64-byte sends (the repeat extension)
// through the streaming path into a pcap writer on w, calling sample every
// 10000 steps.
func streamSends(tb testing.TB, n int, w io.Writer, sample func()) int {
	sc, err := scenario.Parse(fmt.Appendf(nil, "repeat: %d\nsteps:\n  - send: {len: 64, expect: 64}\n", n), "")
	if err != nil {
		tb.Fatal(err)
	}
	cw, err := capture.NewWriter(w, capture.PCAP)
	if err != nil {
		tb.Fatal(err)
	}
	frames := 0
	_, err = builder.Run(sc, builder.Options{
		Frames: builder.FrameFunc(func(_ *builder.FrameInfo, head, data []byte) error {
			frames++
			return cw.WriteFrameV(head, data, "")
		}),
		Steps: func(i int, r report.Step) error {
			if msg := sc.CheckStep(i, r); msg != "" {
				return fmt.Errorf("%s", msg)
			}
			if i%10000 == 0 && sample != nil {
				sample()
			}
			return nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return frames
}

// TestStreamingMemoryIsConstant is target 4's guard: a long run keeps no
// per-step state, so the heap after a million sends is what it was after
// a hundred thousand, and far below the 64 MiB budget.
func TestStreamingMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("a million sends; skipped with -short")
	}
	const n = 1_000_000
	var ms runtime.MemStats
	var early, peak uint64
	samples := 0
	frames := streamSends(t, n, io.Discard, func() {
		samples++
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		if samples == 10 {
			early = ms.HeapInuse
		}
	})
	if frames != n {
		t.Fatalf("%d frames, want %d", frames, n)
	}
	if peak > 64<<20 {
		t.Fatalf("peak heap %d MiB, budget 64 MiB", peak>>20)
	}
	if peak > early+4<<20 {
		t.Fatalf("heap grew from %d KiB (after 100k sends) to %d KiB: per-step state is kept", early>>10, peak>>10)
	}
}

// BenchmarkStreaming reports the cost per frame of runs of different
// lengths: equal ns/frame across sizes is linear growth.
func BenchmarkStreaming(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			frames := 0
			for b.Loop() {
				frames += streamSends(b, n, io.Discard, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		})
	}
}
