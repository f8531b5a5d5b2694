package header

import (
	"encoding/binary"
	"net/netip"
)

// Offsets of the fields of the fixed IPv6 header (RFC 8200 section 3; struct
// ipv6hdr in the kernel). The first 32-bit word holds the version (4 bits),
// the traffic class (8 bits) and the flow label (20 bits).
const (
	IPv6VersionTCFLOffset = 0
	IPv6PayloadLenOffset  = 4
	IPv6NextHeaderOffset  = 6
	IPv6HopLimitOffset    = 7
	IPv6SrcAddrOffset     = 8
	IPv6DstAddrOffset     = IPv6SrcAddrOffset + IPv6AddressSize
)

// IPv6 sizes and limits.
const (
	// IPv6MinLen is the size of the fixed IPv6 header (sizeof(struct ipv6hdr)).
	IPv6MinLen = 40
	// IPv6AddressSize is the size of an IPv6 address.
	IPv6AddressSize = 16
	// IPv6MinMTU is the smallest link MTU IPv6 runs on (IPV6_MIN_MTU): the
	// kernel takes IPv6 off a device whose MTU is set below it.
	IPv6MinMTU = 1280
	// IPv6MaxPayloadLen is the largest payload length field (IPV6_MAXPLEN).
	IPv6MaxPayloadLen = 65535
	// IPv6FlowLabelMask keeps the 20 flow label bits of the first word
	// (IPV6_FLOWLABEL_MASK, in host order).
	IPv6FlowLabelMask = 0x000fffff
)

// Next Header values of the extension headers the kernel knows
// (include/net/ipv6.h NEXTHDR_*), and the transport protocols udpbuild sends.
const (
	NextHdrHop      = 0   // NEXTHDR_HOP: hop-by-hop options
	NextHdrRouting  = 43  // NEXTHDR_ROUTING
	NextHdrFragment = 44  // NEXTHDR_FRAGMENT
	NextHdrESP      = 50  // NEXTHDR_ESP
	NextHdrAuth     = 51  // NEXTHDR_AUTH: AH
	NextHdrICMP     = 58  // NEXTHDR_ICMP: ICMPv6
	NextHdrNone     = 59  // NEXTHDR_NONE: nothing follows
	NextHdrDest     = 60  // NEXTHDR_DEST: destination options
	ProtoUDP        = 17  // IPPROTO_UDP
	ProtoUDPLite    = 136 // IPPROTO_UDPLITE
)

// IPv6 is a view of an IPv6 header (and what follows it). Accessors read the
// fixed 40 bytes; a shorter view panics, as IPv4's does, so callers check
// len(h) >= IPv6MinLen first (the walker below never needs that of them).
type IPv6 []byte

// Version is the IP version field (6 for a valid header).
func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass is the traffic class byte (DSCP and ECN).
func (h IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(h[IPv6VersionTCFLOffset:]) >> 4)
}

// FlowLabel is the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(h[IPv6VersionTCFLOffset:]) & IPv6FlowLabelMask
}

// FlowWord is the whole first word (version, traffic class, flow label), the
// kernel's ip6_flowinfo with the version bits.
func (h IPv6) FlowWord() uint32 { return binary.BigEndian.Uint32(h[IPv6VersionTCFLOffset:]) }

// PayloadLength is the payload_len field: every byte after the fixed header,
// extension headers included.
func (h IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(h[IPv6PayloadLenOffset:]) }

// SetPayloadLength sets payload_len.
func (h IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(h[IPv6PayloadLenOffset:], n) }

// NextHeader is the nexthdr field: the first extension header or the
// transport protocol.
func (h IPv6) NextHeader() uint8 { return h[IPv6NextHeaderOffset] }

// SetNextHeader sets nexthdr.
func (h IPv6) SetNextHeader(n uint8) { h[IPv6NextHeaderOffset] = n }

// HopLimit is the hop_limit field.
func (h IPv6) HopLimit() uint8 { return h[IPv6HopLimitOffset] }

// Src is the source address.
func (h IPv6) Src() netip.Addr {
	return netip.AddrFrom16([16]byte(h[IPv6SrcAddrOffset:IPv6DstAddrOffset]))
}

// Dst is the destination address (with a routing header, the next hop, not
// the final destination).
func (h IPv6) Dst() netip.Addr {
	return netip.AddrFrom16([16]byte(h[IPv6DstAddrOffset:IPv6MinLen]))
}

// Payload is what follows the fixed header, bounded by payload_len when the
// view holds that much (a capture may carry a link-layer trailer after it).
// A jumbogram's payload_len of 0 gives an empty payload: udpbuild never
// sends one (the kernel's UDP path stays within IPV6_MAXPLEN).
func (h IPv6) Payload() []byte {
	end := IPv6MinLen + int(h.PayloadLength())
	if end > len(h) {
		end = len(h)
	}
	return h[IPv6MinLen:end]
}

// IPv6Fields holds the values of a fixed IPv6 header, for Encode.
type IPv6Fields struct {
	// TrafficClass is the traffic class byte (IPV6_TCLASS).
	TrafficClass uint8
	// FlowLabel is the flow label; bits above the low 20 are ignored.
	FlowLabel uint32
	// PayloadLength is the payload_len field.
	PayloadLength uint16
	// NextHeader is the first extension header or the transport protocol.
	NextHeader uint8
	// HopLimit is the hop limit.
	HopLimit uint8
	// Src and Dst are the addresses.
	Src, Dst [16]byte
}

// Encode writes a whole fixed header from f. The first word is laid out as
// the kernel's ip6_flow_hdr does: 0x6 << 28 | tclass << 20 | flowlabel.
func (h IPv6) Encode(f *IPv6Fields) {
	_ = h[IPv6MinLen-1]
	binary.BigEndian.PutUint32(h[IPv6VersionTCFLOffset:],
		6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&IPv6FlowLabelMask)
	binary.BigEndian.PutUint16(h[IPv6PayloadLenOffset:], f.PayloadLength)
	h[IPv6NextHeaderOffset] = f.NextHeader
	h[IPv6HopLimitOffset] = f.HopLimit
	copy(h[IPv6SrcAddrOffset:], f.Src[:])
	copy(h[IPv6DstAddrOffset:], f.Dst[:])
}

// IPv6FragmentLen is the size of the fragment header (sizeof(struct frag_hdr)).
const IPv6FragmentLen = 8

// Bits of the fragment header's offset word (frag_off in struct frag_hdr).
const (
	IPv6FragOffsetMask = 0xfff8 // IP6_OFFSET: the offset in bytes, a multiple of 8
	IPv6MF             = 0x0001 // IP6_MF
)

// IPv6Fragment is a view of an IPv6 fragment header (RFC 8200 4.5): next
// header, a reserved byte, the offset word (13 bits of offset in 8-byte
// units, 2 reserved bits, the M flag) and the 32-bit identification.
type IPv6Fragment []byte

// NextHeader is the header that follows in the reassembled packet.
func (f IPv6Fragment) NextHeader() uint8 { return f[0] }

// Reserved is the reserved byte (0 as the kernel sends it).
func (f IPv6Fragment) Reserved() uint8 { return f[1] }

// FragWord is the offset word as sent (frag_off).
func (f IPv6Fragment) FragWord() uint16 { return binary.BigEndian.Uint16(f[2:]) }

// Offset is the fragment offset in bytes.
func (f IPv6Fragment) Offset() int { return int(f.FragWord() & IPv6FragOffsetMask) }

// More reports the M (more fragments) flag.
func (f IPv6Fragment) More() bool { return f.FragWord()&IPv6MF != 0 }

// ID is the identification field.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[4:]) }

// SetFragWord sets the offset word: offset in bytes (its low three bits are
// dropped) and the M flag, the reserved bits zero, as ip6_fragment writes it.
func (f IPv6Fragment) SetFragWord(offset int, more bool) {
	w := uint16(offset) & IPv6FragOffsetMask
	if more {
		w |= IPv6MF
	}
	binary.BigEndian.PutUint16(f[2:], w)
}

// Encode writes a whole fragment header, the reserved byte zero.
func (f IPv6Fragment) Encode(next uint8, offset int, more bool, id uint32) {
	_ = f[IPv6FragmentLen-1]
	f[0] = next
	f[1] = 0
	f.SetFragWord(offset, more)
	binary.BigEndian.PutUint32(f[4:], id)
}

// IPv6ExtLen is the length in bytes of the extension header of type typ that
// starts b, from its length byte: (hdrlen+1)*8 for hop-by-hop, routing and
// destination options (ipv6_optlen), (hdrlen+2)*4 for AH (ipv6_authlen), 8
// for the fragment header. ok is false when typ is not an extension header
// the walker steps over or b is shorter than two bytes.
func IPv6ExtLen(typ uint8, b []byte) (n int, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch typ {
	case NextHdrHop, NextHdrRouting, NextHdrDest:
		return (int(b[1]) + 1) * 8, true
	case NextHdrAuth:
		return (int(b[1]) + 2) * 4, true
	case NextHdrFragment:
		return IPv6FragmentLen, true
	}
	return 0, false
}

// ipv4MappedPrefix is the first 12 bytes of a v4-mapped IPv6 address
// (::ffff:a.b.c.d).
var ipv4MappedPrefix = [12]byte{10: 0xff, 11: 0xff}

// IPv6IsV4Mapped reports whether a is a v4-mapped address, ::ffff:a.b.c.d
// (ipv6_addr_v4mapped): udpv6_sendmsg sends to such a destination through
// the IPv4 path.
func IPv6IsV4Mapped(a [16]byte) bool { return [12]byte(a[:12]) == ipv4MappedPrefix }

// IPv6V4Mapped is the v4-mapped form of an IPv4 address (ipv6_addr_set_v4mapped).
func IPv6V4Mapped(v4 [4]byte) [16]byte {
	var a [16]byte
	copy(a[:], ipv4MappedPrefix[:])
	copy(a[12:], v4[:])
	return a
}

// PseudoHeaderSum6 is the folded sum of the IPv6 pseudo-header of RFC 8200
// section 8.1 (source, destination, upper-layer packet length as 32 bits,
// three zero bytes, next header): csum_ipv6_magic before its complement, in
// the convention of PseudoHeaderSum. dst is the final destination: with a
// routing header, the last address of the route, not the header's Dst (the
// kernel sums fl6->daddr while the header carries the first hop). The
// checksum of a UDP datagram u is ^Checksum(u, PseudoHeaderSum6(...)) with
// u's check field zero, sent as CsumMangled0 when it comes out 0.
func PseudoHeaderSum6(src, dst [16]byte, proto uint8, length uint32) uint16 {
	var s uint64
	for i := 0; i < 16; i += 4 {
		s += uint64(binary.BigEndian.Uint32(src[i:])) + uint64(binary.BigEndian.Uint32(dst[i:]))
	}
	s += uint64(length) + uint64(proto)
	return fold64(s)
}
