package verify

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// wire6 describes the link and IPv6 addresses test frames are built for.
type wire6 struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       net.IP
}

var testWire6 = wire6{
	srcMAC: testWire.srcMAC,
	dstMAC: testWire.dstMAC,
	src:    net.ParseIP("fd00:9::1"),
	dst:    net.ParseIP("fd00:9::2"),
}

// ext6 is one extension header: its type and its bytes, byte 0 (the next
// header) filled in when a chain is joined.
type ext6 struct {
	typ uint8
	b   []byte
}

// opts6 builds a hop-by-hop (typ 0) or destination options (60) header
// holding the given option bytes, padded with PadN (or Pad1) to a
// multiple of 8.
func opts6(typ uint8, opts ...byte) ext6 {
	b := append([]byte{0, 0}, opts...)
	switch pad := (8 - len(b)%8) % 8; pad {
	case 0:
	case 1:
		b = append(b, ip6OptPad1)
	default:
		b = append(b, ip6OptPadN, byte(pad-2))
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return ext6{typ, b}
}

// rthdr6 builds a routing header of type typ with n addresses (type 0 and
// SRH alike: 8 bytes, then n × 16).
func rthdr6(typ, left uint8, n int) ext6 {
	b := make([]byte, 8+16*n)
	b[1], b[2], b[3] = byte(2*n), typ, left
	if typ == rthdrSRH {
		b[4] = byte(n - 1) // last entry
	}
	for i := range n {
		b[8+16*i], b[8+16*i+15] = 0xfd, byte(i+1)
	}
	return ext6{typ: nexthdrRouting, b: b}
}

// fragHdr6 builds a fragment header.
func fragHdr6(off int, more bool, id uint32) ext6 {
	b := make([]byte, 8)
	w := uint16(off) & ip6FragOffset
	if more {
		w |= ip6FragMF
	}
	binary.BigEndian.PutUint16(b[2:], w)
	binary.BigEndian.PutUint32(b[4:], id)
	return ext6{nexthdrFragment, b}
}

// join chains headers in front of upper-layer bytes of type upper: it
// returns the first header's type and the bytes.
func join(hs []ext6, upper uint8, rest []byte) (uint8, []byte) {
	var out []byte
	for i, h := range hs {
		next := upper
		if i+1 < len(hs) {
			next = hs[i+1].typ
		}
		b := append([]byte(nil), h.b...)
		b[0] = next
		out = append(out, b...)
	}
	out = append(out, rest...)
	if len(hs) == 0 {
		return upper, out
	}
	return hs[0].typ, out
}

// packet builds an Ethernet frame with an IPv6 header (traffic class
// tclass, payload length the bytes given) and b after it.
func (w wire6) packet(next, tclass uint8, b []byte) []byte {
	f := make([]byte, 14+40, 14+40+len(b))
	copy(f[0:], w.dstMAC)
	copy(f[6:], w.srcMAC)
	binary.BigEndian.PutUint16(f[12:], uint16(layers.EthernetTypeIPv6))
	h := f[14:]
	binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(tclass)<<20)
	binary.BigEndian.PutUint16(h[4:], uint16(len(b)))
	h[6], h[7] = next, 64
	copy(h[8:], w.src.To16())
	copy(h[24:], w.dst.To16())
	return append(f, b...)
}

// frame builds a whole datagram: headers hs, then the transport bytes of
// protocol upper.
func (w wire6) frame(hs []ext6, upper uint8, transport []byte) []byte {
	next, b := join(hs, upper, transport)
	return w.packet(next, 0, b)
}

// udp returns a UDP header and payload with the checksum gopacket computes
// over the IPv6 pseudo-header.
func (w wire6) udp(t testing.TB, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: w.src, DstIP: w.dst, NextHeader: layers.IPProtocolUDP}); err != nil {
		t.Fatal(err)
	}
	return serialize(t, u, gopacket.Payload(payload))
}

// udplite returns a UDP-Lite header (coverage cov) and payload with its
// checksum over the IPv6 pseudo-header and the covered bytes.
func (w wire6) udplite(sport, dport, cov uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], cov)
	copy(b[8:], payload)
	n := int(cov)
	if n == 0 || n > len(b) {
		n = len(b)
	}
	var pseudo []byte
	pseudo = append(pseudo, w.src.To16()...)
	pseudo = append(pseudo, w.dst.To16()...)
	pseudo = append(pseudo, 0, 0, byte(len(b)>>8), byte(len(b)), 0, 0, 0, protoUDPLite)
	c := gopacket.FoldChecksum(gopacket.ComputeChecksum(b[:n], gopacket.ComputeChecksum(pseudo, 0)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

// frags cuts fragmentable bytes (of which the first header is of type
// next) at the byte offsets given into fragments, each carrying the
// unfragmentable headers hs and a fragment header with identification id.
func (w wire6) frags(hs []ext6, id uint32, next uint8, fragmentable []byte, cuts ...int) [][]byte {
	var out [][]byte
	at := 0
	for k := 0; k <= len(cuts); k++ {
		end := len(fragmentable)
		if k < len(cuts) {
			end = cuts[k]
		}
		out = append(out, w.frag(hs, id, next, at, k < len(cuts), fragmentable[at:end]))
		at = end
	}
	return out
}

// frag builds one fragment carrying data at offset off.
func (w wire6) frag(hs []ext6, id uint32, next uint8, off int, more bool, data []byte) []byte {
	first, b := join(append(append([]ext6(nil), hs...), fragHdr6(off, more, id)), next, data)
	return w.packet(first, 0, b)
}

// judgeCase6 is an IPv6 capture built by hand and what Judge must say
// about it; the same table drives the comparison with the running kernel
// (kernel_linux_test.go).
type judgeCase6 struct {
	name string
	// build returns the frames; id is the fragment identification to
	// use (id+1.. for more datagrams), dport the destination port.
	build func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte
	want  []want
	// opt are the receiver's options: AllowZeroChecksum6 is a socket with
	// UDP_NO_CHECK6_RX in the kernel test.
	opt Options
}

const udp6Proto = protoUDP

var judgeCases6 = []judgeCase6{
	{
		name: "clean datagram",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame(nil, udp6Proto, w.udp(t, sport, dport, pattern(100, 1)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100, frames: []int{1}}},
	},
	{
		name: "link padding after the payload length is trimmed",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{append(w.frame(nil, udp6Proto, w.udp(t, sport, dport, pattern(4, 1))), 0, 0, 0, 0, 0, 0)}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 4}},
	},
	{
		name: "payload length beyond the frame",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			f := w.frame(nil, udp6Proto, w.udp(t, sport, dport, pattern(100, 1)))
			binary.BigEndian.PutUint16(f[14+4:], 200)
			return [][]byte{f}
		},
		want: []want{{code: CodeIPTruncated, len: 100}},
	},
	{
		name: "three fragments",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return w.frags(nil, id, udp6Proto, w.udp(t, sport, dport, pattern(1000, 2)), 400, 800)
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "fragments in reverse order",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			f := w.frags(nil, id, udp6Proto, w.udp(t, sport, dport, pattern(1000, 3)), 400, 800)
			return [][]byte{f[2], f[1], f[0]}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "duplicate fragment ignored",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			f := w.frags(nil, id, udp6Proto, w.udp(t, sport, dport, pattern(1000, 4)), 400, 800)
			return [][]byte{f[0], f[1], f[1], f[2]}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3, 4}}},
	},
	{
		name: "overlapping fragment drops the datagram",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 5))
			f := w.frags(nil, id, udp6Proto, tr, 400, 800)
			// [200,600) overlaps the tail [0,400) and reaches past it.
			return [][]byte{f[0], w.frag(nil, id, udp6Proto, 200, true, tr[200:600]), f[1], f[2]}
		},
		want: []want{
			{code: CodeFragOverlap, len: 1000, frames: []int{1, 2}},
			{code: CodeFragIncomplete, frames: []int{3, 4}},
		},
	},
	{
		name: "missing last fragment",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			f := w.frags(nil, id, udp6Proto, w.udp(t, sport, dport, pattern(1000, 6)), 400, 800)
			return f[:2]
		},
		want: []want{{code: CodeFragIncomplete, len: 1000, frames: []int{1, 2}}},
	},
	{
		name: "bad checksum",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 7))
			tr[20]++
			return [][]byte{w.frame(nil, udp6Proto, tr)}
		},
		want: []want{{code: CodeUDPChecksum, checksum: csumBad, len: 100}},
	},
	{
		name: "bad checksum in fragments",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 8))
			tr[900]++
			return w.frags(nil, id, udp6Proto, tr, 400, 800)
		},
		want: []want{{code: CodeUDPChecksum, checksum: csumBad, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "zero checksum",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 9))
			tr[6], tr[7] = 0, 0
			return [][]byte{w.frame(nil, udp6Proto, tr)}
		},
		want: []want{{code: CodeUDP6ZeroChecksum, checksum: csumNone, len: 100}},
	},
	{
		name: "zero checksum to a socket with UDP_NO_CHECK6_RX",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 10))
			tr[6], tr[7] = 0, 0
			return [][]byte{w.frame(nil, udp6Proto, tr)}
		},
		want: []want{{delivered: true, checksum: csumNone, len: 100}},
		opt:  Options{AllowZeroChecksum6: true},
	},
	{
		name: "UDP length 0 stands for the whole datagram",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 11))
			// The length field counts in the checksum: 0 for 108.
			c := binary.BigEndian.Uint16(tr[6:])
			binary.BigEndian.PutUint16(tr[4:], 0)
			binary.BigEndian.PutUint16(tr[6:], onesAdd(c, 108))
			return [][]byte{w.frame(nil, udp6Proto, tr)}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}},
	},
	{
		name: "UDP length below the datagram trims it",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(50, 12))
			return [][]byte{w.frame(nil, udp6Proto, append(tr, 1, 2, 3, 4))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 50}},
	},
	{
		name: "UDP length beyond the datagram",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(50, 13))
			return [][]byte{w.frame(nil, udp6Proto, tr[:40])}
		},
		want: []want{{code: CodeUDPShort, len: 50}},
	},
	{
		name: "atomic fragment",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{fragHdr6(0, false, id)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 14)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}},
	},
	{
		name: "atomic fragment and a second fragment header",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{fragHdr6(0, false, id), fragHdr6(0, false, id+1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 15)))}
		},
		want: []want{{code: CodeIP6ExtHeader, len: 100}},
	},
	{
		name: "hop-by-hop, destination options and routing header with no segments left",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			hs := []ext6{opts6(nexthdrHop, ip6OptRouterAlert, 2, 0, 0), opts6(nexthdrDest, 0x1e, 2, 0xaa, 0xbb), rthdr6(0, 0, 1), opts6(nexthdrDest)}
			return [][]byte{w.frame(hs, udp6Proto, w.udp(t, sport, dport, pattern(100, 16)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}},
	},
	{
		name: "routing header type 0 with a segment left",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{rthdr6(0, 1, 1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 17)))}
		},
		want: []want{{code: CodeIP6Routing, len: 100}},
	},
	{
		name: "segment routing header while seg6 is off",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{rthdr6(rthdrSRH, 0, 1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 18)))}
		},
		want: []want{{code: CodeIP6Routing, len: 100}},
	},
	{
		name: "hop-by-hop header not first",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{opts6(nexthdrDest), opts6(nexthdrHop)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 19)))}
		},
		want: []want{{code: CodeIP6HopByHop, len: 100}},
	},
	{
		name: "unknown destination option that says drop",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{opts6(nexthdrDest, 0x5e, 2, 0, 0)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 20)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "unknown hop-by-hop option that says send a parameter problem",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{opts6(nexthdrHop, 0x9e, 2, 0, 0)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 21)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "PadN of 8 bytes",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			// 2 + 14 = 16 bytes: PadN of length 12 (14 bytes).
			return [][]byte{w.frame([]ext6{{nexthdrDest, []byte{0, 1, ip6OptPadN, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}, udp6Proto, w.udp(t, sport, dport, pattern(100, 22)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "PadN with a nonzero byte",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{{nexthdrDest, []byte{0, 0, ip6OptPadN, 4, 0, 0, 1, 0}}}, udp6Proto, w.udp(t, sport, dport, pattern(100, 23)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "destination options header beyond the packet",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame(nil, nexthdrDest, []byte{udp6Proto, 3, 1, 0, 0, 0, 0, 0})}
		},
		want: []want{{code: CodeIP6ExtHeader}},
	},
	{
		name: "fragments with extension headers on both sides of the fragment header",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			hs := []ext6{opts6(nexthdrHop, 0x1e, 0), rthdr6(0, 0, 1)}
			dst1 := opts6(nexthdrDest, 0x1e, 4, 1, 2, 3, 4)
			_, fragmentable := join([]ext6{dst1}, udp6Proto, w.udp(t, sport, dport, pattern(1500, 24)))
			return w.frags(hs, id, nexthdrDest, fragmentable, 504, 1008)
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1500, frames: []int{1, 2, 3}}},
	},
	{
		name: "first fragment without the UDP header",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			dst1 := opts6(nexthdrDest, 0x1e, 4, 1, 2, 3, 4)
			_, fragmentable := join([]ext6{dst1}, udp6Proto, w.udp(t, sport, dport, pattern(600, 25)))
			return w.frags(nil, id, nexthdrDest, fragmentable, 8)
		},
		// Without its first fragment, the queue's protocol is unknown:
		// the verdict names the next header its fragments give.
		want: []want{
			{code: CodeFragChain, frames: []int{1}},
			{code: CodeFragIncomplete, frames: []int{2}, proto: nexthdrDest},
		},
	},
	{
		name: "non-final fragment not a multiple of 8",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return w.frags(nil, id, udp6Proto, w.udp(t, sport, dport, pattern(1000, 26)), 404)
		},
		want: []want{
			{code: CodeFragMisaligned, len: 1000, frames: []int{1}},
			{code: CodeFragIncomplete, frames: []int{2}},
		},
	},
	{
		name: "fragment beyond 65535",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 27))
			f := w.frags(nil, id, udp6Proto, tr, 400)
			return [][]byte{f[0], w.frag(nil, id, udp6Proto, 65000, false, pattern(600, 27)), f[1]}
		},
		want: []want{
			{code: CodeFragBeyond, frames: []int{2}},
			{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 3}},
		},
	},
	{
		name: "a datagram's fragments under another identification do not join it",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 28))
			a := w.frags(nil, id, udp6Proto, tr, 400, 800)
			b := w.frags(nil, id+1, udp6Proto, tr, 400, 800)
			return [][]byte{a[0], b[1], a[2], b[0], a[1], b[2]}
		},
		want: []want{
			{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 3, 5}},
			{delivered: true, checksum: csumOK, len: 1000, frames: []int{2, 4, 6}},
		},
	},
	{
		name: "UDP-Lite full and partial coverage",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{
				w.frame(nil, protoUDPLite, w.udplite(sport, dport, 0, pattern(100, 29))),
				w.frame(nil, protoUDPLite, w.udplite(sport, dport, 20, pattern(100, 30))),
			}
		},
		want: []want{
			{delivered: true, checksum: csumOK, len: 100},
			{delivered: true, checksum: "coverage 20", len: 100},
		},
	},
	{
		name: "UDP-Lite zero checksum and short coverage",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			zero := w.udplite(sport, dport, 0, pattern(100, 31))
			zero[6], zero[7] = 0, 0
			return [][]byte{
				w.frame(nil, protoUDPLite, zero),
				w.frame(nil, protoUDPLite, w.udplite(sport, dport, 4, pattern(100, 32))),
			}
		},
		want: []want{
			{code: CodeUDPLiteZero, checksum: csumBad, len: 100},
			{code: CodeUDPLiteCoverage, len: 100},
		},
	},
	{
		name: "UDP-Lite fragments",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return w.frags(nil, id, protoUDPLite, w.udplite(sport, dport, 0, pattern(1000, 33)), 504)
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2}}},
	},
	{
		name: "router alert of length 4",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{opts6(nexthdrHop, ip6OptRouterAlert, 4, 0, 0, 0, 0)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 35)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "CALIPSO option without a DOI",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{w.frame([]ext6{opts6(nexthdrHop, ip6OptCALIPSO, 8, 0, 0, 0, 1, 0, 0, 0, 0)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 36)))}
		},
		want: []want{{code: CodeIP6Options, len: 100}},
	},
	{
		name: "IOAM option aligned and ignored, misaligned and dropped",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			// At byte 2 of the header (42 from the network header):
			// misaligned; after a Pad1 and a PadN of 2 bytes... at 44.
			return [][]byte{
				w.frame([]ext6{{nexthdrHop, []byte{0, 0, ip6OptPadN, 0, ip6OptIOAM, 2, 0, 0}}}, udp6Proto, w.udp(t, sport, dport, pattern(100, 37))),
				w.frame([]ext6{{nexthdrHop, []byte{0, 0, ip6OptIOAM, 2, 0, 0, ip6OptPadN, 0}}}, udp6Proto, w.udp(t, sport, dport, pattern(100, 38))),
			}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}, {code: CodeIP6Options, len: 100}},
	},
	{
		name: "nine options",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			var o []byte
			for range 9 {
				o = append(o, 0x1e, 0)
			}
			return [][]byte{
				w.frame([]ext6{opts6(nexthdrDest, o[:16]...)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 39))),
				w.frame([]ext6{opts6(nexthdrDest, o...)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 40))),
			}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}, {code: CodeIP6Options, len: 100}},
	},
	{
		name: "routing header type 2, and RPL",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return [][]byte{
				w.frame([]ext6{rthdr6(2, 0, 1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 41))),
				w.frame([]ext6{rthdr6(2, 1, 1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 42))),
				w.frame([]ext6{rthdr6(rthdrRPL, 0, 1)}, udp6Proto, w.udp(t, sport, dport, pattern(100, 43))),
			}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100}, {code: CodeIP6Routing, len: 100}, {code: CodeIP6Routing, len: 100}},
	},
	{
		name: "UDP-Lite partial coverage in fragments",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			return w.frags(nil, id, protoUDPLite, w.udplite(sport, dport, 16, pattern(1000, 44)), 504)
		},
		want: []want{{delivered: true, checksum: "coverage 16", len: 1000, frames: []int{1, 2}}},
	},
	{
		name: "loopback source from another node",
		build: func(t testing.TB, w wire6, id uint32, dport uint16) [][]byte {
			w.src = net.IPv6loopback
			return [][]byte{w.frame(nil, udp6Proto, w.udp(t, sport, dport, pattern(100, 34)))}
		},
		want: []want{{code: CodeIP6Address, len: 100}},
	},
}

// onesAdd subtracts n from a one's-complement checksum field: the field
// after a summed 16-bit word drops by n.
func onesAdd(check uint16, n uint16) uint16 {
	// The checksum is ^sum; the sum loses n, so the field gains n.
	s := uint32(check) + uint32(n)
	s = s&0xffff + s>>16
	return uint16(s)
}
