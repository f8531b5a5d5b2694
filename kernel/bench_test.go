package kernel

// Issue 7, target 5: how many frames per second the running kernel emits
// for a stream of UDP datagrams through a veth with every offload off,
// beside the model producing the same datagrams into a pcap writer, in one
// run:
//
//	go test -run '^$' -bench 'KernelSendmmsg|ModelSameDatagrams' ./kernel/
//
// One op is a batch of benchBatch datagrams in both benchmarks, so ns/op,
// MB/s and frames/s line up row by row.

import (
	"context"
	"io"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/builder"
	pcapw "github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// benchBatch is the number of datagrams one sendmmsg call carries.
const benchBatch = 64

// benchMTU is the veth's MTU and the model device's.
const benchMTU = 1500

var (
	benchSrc = netip.MustParseAddrPort("10.0.0.1:40000")
	benchDst = netip.MustParseAddrPort("10.0.0.2:9000")
)

// benchSizes are the payloads measured and the IP frames each datagram
// becomes at MTU 1500: one for those that fit, and for 65507 bytes
// (65515 with the UDP header) ceil(65515/1480) = 45 fragments.
var benchSizes = []struct {
	payload, frames int
}{
	{64, 1},
	{1472, 1},
	{65507, 45},
}

// needKernelBench is testenv.NeedKernel for this package, which testenv
// imports and so cannot be imported back: skip outside CI, fail in CI.
func needKernelBench(tb testing.TB) {
	tb.Helper()
	testenv.NeedKernel(tb)
}

// BenchmarkKernelSendmmsg is the running kernel sending batches of
// datagrams from an unconnected UDP socket through a veth (MTU 1500,
// checksum, scatter-gather, GSO, TSO and UDP segmentation off). frames/s
// counts the IP frames handed to the device, fragments included; the
// device's own counters must agree, else the benchmark fails. tx-drop-%
// is the share of those frames the veth dropped because the peer's
// backlog was full: the peer's receive work runs in softirq on the same
// two CPUs, so it is part of what is measured.
func BenchmarkKernelSendmmsg(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(strconv.Itoa(sz.payload), func(b *testing.B) {
			needKernelBench(b)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env, err := newBenchEnv(ctx, benchSrc, benchDst, benchMTU)
			if err != nil {
				b.Fatalf("setting up: %v", err)
			}
			b.Cleanup(func() {
				if err := env.close(); err != nil {
					b.Errorf("tearing down: %v", err)
				}
			})
			batch, err := newMmsgBatch(scenario.Pattern(0, sz.payload), benchDst, benchBatch)
			if err != nil {
				b.Fatal(err)
			}
			before, err := env.senderTx(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(benchBatch * sz.payload))
			ops := 0
			for b.Loop() {
				if err := env.sock.sendmmsg(batch); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			elapsed := b.Elapsed()
			after, err := env.senderTx(ctx)
			if err != nil {
				b.Fatal(err)
			}
			frames := uint64(ops * benchBatch * sz.frames)
			tx, dropped := after.Packets-before.Packets, after.Dropped-before.Dropped
			if tx+dropped != frames {
				b.Fatalf("%s counted %d frames sent + %d dropped = %d, want %d (%d ops x %d datagrams x %d frames)",
					senderDev, tx, dropped, tx+dropped, frames, ops, benchBatch, sz.frames)
			}
			b.ReportMetric(float64(frames)/elapsed.Seconds(), "frames/s")
			b.ReportMetric(100*float64(dropped)/float64(frames), "tx-drop-%")
		})
	}
}

// BenchmarkModelSameDatagrams is the model sending the same datagrams
// (unconnected, MTU 1500, no features, wire view) into a pcap writer on
// io.Discard, with the same batches and the same frames/s metric as
// BenchmarkKernelSendmmsg.
func BenchmarkModelSameDatagrams(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(strconv.Itoa(sz.payload), func(b *testing.B) {
			w, err := pcapw.NewWriter(io.Discard, pcapw.PCAP)
			if err != nil {
				b.Fatal(err)
			}
			frames := 0
			dev := &builder.Device{MTU: benchMTU, SrcMAC: scenario.DefaultSrcMAC, DstMAC: scenario.DefaultDstMAC, View: report.Wire,
				Sink: builder.FrameFunc(func(_ *builder.FrameInfo, head, data []byte) error {
					frames++
					return w.WriteFrameV(head, data, "")
				})}
			sock := builder.NewSocket(dev, builder.Config{Proto: scenario.UDP, Src: benchSrc, Seed: 1})
			m := &builder.Msg{Payload: scenario.Pattern(0, sz.payload), Name: benchDst}
			b.SetBytes(int64(benchBatch * sz.payload))
			b.ReportAllocs()
			ops := 0
			for b.Loop() {
				for range benchBatch {
					if n, e := sock.Sendmsg(m); e != 0 || n != sz.payload {
						b.Fatalf("Sendmsg = %d, %v; want %d", n, e, sz.payload)
					}
				}
				ops++
			}
			elapsed := b.Elapsed()
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if want := ops * benchBatch * sz.frames; frames != want {
				b.Fatalf("model wrote %d frames, want %d (%d ops x %d datagrams x %d frames)",
					frames, want, ops, benchBatch, sz.frames)
			}
			b.ReportMetric(float64(frames)/elapsed.Seconds(), "frames/s")
		})
	}
}
