// Package bench holds udpbuild's speed goals as Go benchmarks, each beside
// the baseline it is measured against in the same run (gopacket, copy(),
// checksumming alone). BENCHMARKS.md records the figures and the commands
// that reproduce them. In CI they run once each (-benchtime=1x) as a smoke.
package bench

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

var (
	src  = netip.MustParseAddrPort("10.0.0.1:40000")
	dst  = netip.MustParseAddrPort("10.0.0.2:9000")
	src6 = scenario.DefaultSrc6
	dst6 = scenario.DefaultDst6
)

// modelToPcap is the model sending n-byte datagrams, unconnected, MTU
// 1500, into a pcap writer on io.Discard. Frames go over in pieces (the
// device's FrameSink, WriteFrameV): the writer's buffer is then the only place the
// payload is copied to, as a pcap file written with writev would have it.
func modelToPcap(b *testing.B, n int) { modelToPcapFrom(b, n, src, dst) }

// modelToPcapFrom is modelToPcap from and to the given addresses: an IPv6
// source makes an AF_INET6 socket.
func modelToPcapFrom(b *testing.B, n int, src, dst netip.AddrPort) {
	w, err := capture.NewWriter(io.Discard, capture.PCAP)
	if err != nil {
		b.Fatal(err)
	}
	frames := 0
	dev := &builder.Device{MTU: 1500, SrcMAC: scenario.DefaultSrcMAC, DstMAC: scenario.DefaultDstMAC, View: report.Tap,
		Sink: builder.FrameFunc(func(_ *builder.FrameInfo, head, data []byte) error {
			frames++
			return w.WriteFrameV(head, data, "")
		})}
	sock := builder.NewSocket(dev, builder.Config{Proto: scenario.UDP, Src: src, Seed: 1})
	m := &builder.Msg{Payload: scenario.Pattern(0, n), Name: dst}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := sock.Sendmsg(m); e != 0 {
			b.Fatal(e)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
}

// BenchmarkSmallSend is target 1: a 64-byte send to pcap, udpbuild's model.
func BenchmarkSmallSend(b *testing.B) { modelToPcap(b, 64) }

// BenchmarkSmallSend6 is issue 13's goal: a 64-byte IPv6 send to pcap
// (udpv6_sendmsg, an automatic flow label), at most 1.2x
// BenchmarkSmallSend's time in the same run, and 0 allocations.
func BenchmarkSmallSend6(b *testing.B) { modelToPcapFrom(b, 64, src6, dst6) }

// BenchmarkLargeSend6 is a 65527-byte IPv6 send at MTU 1500 (46
// fragments with fragment headers) to pcap, beside BenchmarkLargeSend.
func BenchmarkLargeSend6(b *testing.B) { modelToPcapFrom(b, 65527, src6, dst6) }

// BenchmarkSmallSendGopacket is target 1's baseline: the same frame
// assembled with gopacket.SerializeLayers (lengths and checksums computed)
// and written with pcapgo.
func BenchmarkSmallSendGopacket(b *testing.B) {
	pw := pcapgo.NewWriter(io.Discard)
	if err := pw.WriteFileHeader(capture.Snaplen, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	payload := scenario.Pattern(0, 64)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(scenario.DefaultSrcMAC[:]), DstMAC: net.HardwareAddr(scenario.DefaultDstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	b.SetBytes(64)
	b.ReportAllocs()
	id := uint16(0)
	for b.Loop() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Id: id, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 9000}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			b.Fatal(err)
		}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: capture.Epoch, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			b.Fatal(err)
		}
		id++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}

// BenchmarkLargeSend is target 2: a 65507-byte send at MTU 1500 (45
// fragments) to pcap on io.Discard; compare its MB/s with
// BenchmarkChecksumLarge.
func BenchmarkLargeSend(b *testing.B) { modelToPcap(b, 65507) }

// BenchmarkChecksumLarge is target 2's baseline: checksumming the same
// 65507 bytes alone.
func BenchmarkChecksumLarge(b *testing.B) {
	p := scenario.Pattern(0, 65507)
	b.SetBytes(int64(len(p)))
	var sink uint16
	for b.Loop() {
		sink += header.Checksum(p, 0)
	}
	_ = sink
}

// BenchmarkChecksum64K is target 3: the Internet checksum over 64 KiB;
// compare with BenchmarkCopy64K.
func BenchmarkChecksum64K(b *testing.B) {
	p := scenario.Pattern(1, 64<<10)
	b.SetBytes(int64(len(p)))
	var sink uint16
	for b.Loop() {
		sink += header.Checksum(p, 0)
	}
	_ = sink
}

// BenchmarkCopy64K is target 3's baseline: copy() of the same 64 KiB.
func BenchmarkCopy64K(b *testing.B) {
	p := scenario.Pattern(1, 64<<10)
	dst := make([]byte, len(p))
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		copy(dst, p)
	}
}
