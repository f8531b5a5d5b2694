package verify

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Bits of FuzzFragmentReassemble's flags byte.
const (
	rtOptKind  = 0x03 // options: NOOPs, record route or timestamp (3 is NOOPs)
	rtUDPLite  = 0x04 // IPPROTO_UDPLITE instead of IPPROTO_UDP
	rtHWCsum   = 0x08 // NETIF_F_HW_CSUM on the device
	rtSG       = 0x10 // NETIF_F_SG on the device (paged skbs)
	rtPMTUDont = 0x20 // IP_PMTUDISC_DONT instead of IP_PMTUDISC_WANT
)

// roundTripOptions returns IP options that setsockopt(IP_OPTIONS) accepts
// and that fill exactly n bytes once n is rounded up to a multiple of 4
// (at most 40, MAX_IPOPTLEN): a NOOP and a record-route option, a
// timestamp option (timestamps only), or NOOPs alone. Record route and
// timestamp are not copied into later fragments, so ip_options_fragment
// turns them into NOOPs there; the header length stays the same.
func roundTripOptions(n int, kind uint8) []byte {
	n = min((n+3)&^3, 40)
	opts := bytes.Repeat([]byte{0x01}, n) // IPOPT_NOOP
	if n < 8 {
		return opts
	}
	switch kind {
	case 1: // NOOP, then IPOPT_RR with (n-4)/4 empty slots, pointer 4
		opts[1], opts[2], opts[3] = 7, byte(n-1), 4
		clear(opts[4:])
	case 2: // IPOPT_TIMESTAMP, flag IPOPT_TS_TSONLY, (n-4)/4 slots, pointer 5
		opts[0], opts[1], opts[2], opts[3] = 68, byte(n), 5, 0
		clear(opts[4:])
	}
	return opts
}

// roundTripPayload stretches the fuzzer's bytes to n bytes, changing each
// repetition so that a misplaced fragment cannot go unnoticed.
func roundTripPayload(seed []byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		if len(seed) == 0 {
			p[i] = byte(i * 7)
			continue
		}
		p[i] = seed[i%len(seed)] ^ byte(i/len(seed))
	}
	return p
}

// reassembled runs Ethernet frames through the defragger the Verifier uses
// (with its default limits) and returns the L4 bytes of every datagram that
// came out whole, in completion order.
func reassembled(frames [][]byte) [][]byte {
	var out [][]byte
	var scratch []byte
	d := newDefragger(fragConfig{highThresh: DefaultFragHighThresh, timeout: DefaultFragTimeSeconds * 1e9, maxDist: DefaultFragMaxDist},
		func(ev *fragEvent) {
			if ev.done && !ev.notCaptured {
				out = append(out, slices.Clone(ev.payload))
			}
		})
	for i, f := range frames {
		var eth layers.Ethernet
		if eth.DecodeFromBytes(f, gopacket.NilDecodeFeedback) != nil || eth.EthernetType != layers.EthernetTypeIPv4 {
			continue
		}
		ip := eth.Payload
		if len(ip) < ipHeaderMin {
			continue
		}
		h := ipv4Header(ip)
		if h.ihl() < ipHeaderMin || len(ip) < h.totalLen() || h.totalLen() < h.ihl() {
			continue
		}
		data := ip[h.ihl():h.totalLen()]
		h = h[:h.ihl()]
		if !h.isFragment() {
			out = append(out, data)
			continue
		}
		d.add(fragIn{key: fragKey{src: netip.AddrFrom4(h.src()), dst: netip.AddrFrom4(h.dst()), id: uint32(h.id()), proto: h.proto()},
			offset: h.offset(), more: h.more(), ecn: h.tos() & 3, headLen: h.ihl(),
			data: data, full: len(data), frames: []int{i + 1}, frameLen: len(f), where: func() string { return "" }, scratch: &scratch})
	}
	return out
}

// FuzzFragmentReassemble sends one datagram of any size through the model
// (builder.Socket.Sendmsg, its device's frames in the wire view) at any
// MTU (68..65535) with 0..40 bytes of valid IP options, and receives it
// back: unless the kernel refuses the datagram with ENOBUFS (too many
// small skbs for the default send buffer), every frame must fit the MTU, Judge must deliver exactly one
// datagram of the sent length with a good checksum, the reassembled bytes
// must be the sent payload, and Frames must find nothing wrong.
func FuzzFragmentReassemble(f *testing.F) {
	f.Add(uint16(1500-68), uint8(0), uint8(0), uint16(4000), []byte("udpbuild"))
	f.Add(uint16(1500-68), uint8(0), uint8(0), uint16(1472), []byte{0xaa})
	f.Add(uint16(1500-68), uint8(0), uint8(0), uint16(1473), []byte{0x55})
	f.Add(uint16(0), uint8(40), uint8(1), uint16(1000), []byte{1, 2, 3})
	f.Add(uint16(576-68), uint8(20), uint8(2|rtUDPLite), uint16(3000), []byte{9})
	f.Add(uint16(9000-68), uint8(12), uint8(1|rtHWCsum|rtSG), uint16(30000), []byte("sg"))
	f.Add(uint16(65535-68), uint8(0), uint8(rtPMTUDont|rtHWCsum), uint16(65507), []byte{0xff, 0})
	f.Add(uint16(1280-68), uint8(40), uint8(2|rtSG), uint16(65467), []byte{})
	f.Fuzz(func(t *testing.T, mtuSeed uint16, optLen, flags uint8, size uint16, seed []byte) {
		mtu := 68 + int(mtuSeed)%(65535-68+1)
		opts := roundTripOptions(int(optLen)%41, flags&rtOptKind)
		// ip_append_data: the datagram may not exceed 0xFFFF bytes.
		maxPayload := 0xFFFF - ipHeaderMin - len(opts) - 8
		payload := roundTripPayload(seed, int(size)%(maxPayload+1))

		link := scenario.Link{MTU: mtu}
		if flags&rtHWCsum != 0 {
			link.Features = append(link.Features, scenario.HWCsum)
		}
		if flags&rtSG != 0 {
			link.Features = append(link.Features, scenario.SG)
		}
		dev, _, err := builder.NewDevice(link)
		if err != nil {
			t.Fatalf("NewDevice(%+v): %v", link, err)
		}
		proto := scenario.UDP
		if flags&rtUDPLite != 0 {
			proto = scenario.UDPLite
		}
		var frames [][]byte
		var recs []report.Frame
		dev.View = report.Wire
		dev.Sink = builder.FrameFunc(func(fi *builder.FrameInfo, head, data []byte) error {
			b := append(slices.Clone(head), data...) // the device reuses both
			frames = append(frames, b)
			recs = append(recs, report.Frame{Kind: fi.Kind, Index: fi.Index, Count: fi.Count, Offset: fi.Offset, Len: len(b), Data: b})
			return nil
		})
		s := builder.NewSocket(dev, builder.Config{Proto: proto, Src: netip.MustParseAddrPort("10.0.0.1:40000"), Seed: 1})
		pmtu := scenario.PMTUWant
		if flags&rtPMTUDont != 0 {
			pmtu = scenario.PMTUDont
		}
		if e := s.Setsockopt(scenario.Opt{Name: scenario.OptIPMTUDiscover, Int: int(pmtu)}); e != 0 {
			t.Fatalf("IP_MTU_DISCOVER %v: %v", pmtu, e)
		}
		if e := s.Setsockopt(scenario.Opt{Name: scenario.OptIPOptions, Bytes: opts}); e != 0 {
			t.Fatalf("IP_OPTIONS % x: %v", opts, e)
		}
		dst := netip.MustParseAddrPort("10.0.0.2:9000")
		n, e := s.Sendmsg(&builder.Msg{Payload: payload, Name: dst})
		if e == errno.ENOBUFS && len(frames) == 0 {
			// __ip_append_data: a datagram cut into many small skbs
			// outgrows 2 * sk_sndbuf; the kernel refuses it whole.
			return
		}
		if e != 0 || n != len(payload) {
			t.Fatalf("mtu %d, %d option bytes: sendmsg of %d bytes returned %d, %v", mtu, len(opts), len(payload), n, e)
		}

		ipLen := ipHeaderMin + len(opts) + 8 + len(payload)
		if len(frames) == 0 || (ipLen <= mtu) != (len(frames) == 1) {
			t.Fatalf("mtu %d: a %d-byte datagram became %d frames", mtu, ipLen, len(frames))
		}
		for i, fr := range frames {
			// Ethernet pads a short frame to 60 bytes; the IP packet
			// itself is what the MTU bounds.
			if len(fr) < 14+ipHeaderMin {
				t.Fatalf("frame %d: only %d bytes", i, len(fr))
			}
			if tot := ipv4Header(fr[14:]).totalLen(); tot > mtu || len(fr)-14 > max(mtu, 46) {
				t.Fatalf("frame %d: IP packet of %d bytes (frame %d) over the MTU %d", i, tot, len(fr), mtu)
			}
		}

		sum := Judge(frames, layers.LinkTypeEthernet)
		if len(sum.Verdicts) != 1 || len(sum.Diagnostics) != 0 {
			t.Fatalf("mtu %d, options % x, %d bytes: %d verdicts %+v, diagnostics %v", mtu, opts, len(payload), len(sum.Verdicts), sum.Verdicts, sum.Diagnostics)
		}
		v := sum.Verdicts[0]
		if !v.Delivered || v.Len != len(payload) || v.Checksum != "ok" || v.Proto != proto.Number() || v.Dst != dst || len(v.Frames) != len(frames) {
			t.Fatalf("mtu %d, options % x, %d bytes in %d frames: verdict %+v", mtu, opts, len(payload), len(frames), v)
		}

		got := reassembled(frames)
		if len(got) != 1 || len(got[0]) < 8 || !bytes.Equal(got[0][8:], payload) {
			t.Fatalf("mtu %d, options % x: the %d-byte payload did not come back whole from %d frames", mtu, opts, len(payload), len(frames))
		}

		for _, p := range Frames(recs, report.Wire, mtu, [][]byte{payload}) {
			t.Errorf("mtu %d, options % x, %d bytes: %v", mtu, opts, len(payload), p)
		}
	})
}
