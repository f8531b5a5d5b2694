package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4MinLen is the size of an IPv4 header without options.
const IPv4MinLen = 20

// IPv4MaxLen is the size of the longest IPv4 header: IHL 15, 40 bytes of
// options.
const IPv4MaxLen = 60

// IPv4 flag bits in the flags/fragment-offset word.
const (
	IPv4RF         = 0x8000 // IP_CE: the reserved ("evil") bit
	IPv4DF         = 0x4000 // IP_DF
	IPv4MF         = 0x2000 // IP_MF
	IPv4OffsetMask = 0x1fff // IP_OFFSET
)

// IPv4 is a view of an IPv4 header (and what follows it).
type IPv4 []byte

// IHL is the header length in bytes.
func (h IPv4) IHL() int { return int(h[0]&0x0f) * 4 }

// TOS is the type-of-service byte.
func (h IPv4) TOS() uint8 { return h[1] }

// TotalLength is the tot_len field.
func (h IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// SetTotalLength sets tot_len.
func (h IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(h[2:], n) }

// ID is the identification field.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// SetID sets the identification field.
func (h IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(h[4:], id) }

// FragWord is the flags/fragment-offset word (frag_off in the kernel).
func (h IPv4) FragWord() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// SetFragWord sets frag_off.
func (h IPv4) SetFragWord(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// FragOffset is the fragment offset in bytes.
func (h IPv4) FragOffset() int { return int(h.FragWord()&IPv4OffsetMask) * 8 }

// TTL is the time-to-live field.
func (h IPv4) TTL() uint8 { return h[8] }

// Protocol is the protocol field.
func (h IPv4) Protocol() uint8 { return h[9] }

// Checksum is the header checksum field.
func (h IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// Src is the source address.
func (h IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[12:16])) }

// Dst is the destination address.
func (h IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[16:20])) }

// Src4 is the source address as the four bytes PseudoHeaderSum takes.
func (h IPv4) Src4() [4]byte { return [4]byte(h[12:16]) }

// Dst4 is the destination address as four bytes.
func (h IPv4) Dst4() [4]byte { return [4]byte(h[16:20]) }

// Options are the option bytes between the fixed header and the payload.
func (h IPv4) Options() []byte { return h[IPv4MinLen:h.IHL()] }

// SetChecksum recomputes the header checksum (ip_send_check).
func (h IPv4) SetChecksum() {
	h.SetFields(h.SumExcept(), h.TotalLength(), h.ID(), h.FragWord())
}

// SumExcept is the unfolded sum (ip_fast_csum before its fold) of the
// header's 32-bit words with tot_len, id, frag_off and check taken as 0:
// the fields that change from packet to packet when a datagram is cut
// (ip_do_fragment rewrites tot_len and frag_off, GSO segmentation tot_len
// and id; both the checksum). Summed once per datagram, it lets SetFields
// finish each packet's checksum without reading the header again. h must
// be a whole header: IHL at least 5 and no longer than h.
func (h IPv4) SumExcept() uint64 {
	_ = h[IPv4MinLen-1]
	s := uint64(binary.BigEndian.Uint32(h[0:])&0xffff0000) +
		uint64(binary.BigEndian.Uint32(h[8:])&0xffff0000) +
		uint64(binary.BigEndian.Uint32(h[12:])) + uint64(binary.BigEndian.Uint32(h[16:]))
	for o := h[IPv4MinLen:h.IHL()]; len(o) >= 4; o = o[4:] {
		s += uint64(binary.BigEndian.Uint32(o))
	}
	return s
}

// SetFields writes tot_len, id and frag_off and the header checksum
// (ip_send_check), base being SumExcept of the same header: the checksum
// comes from arithmetic on the values, not from reading back the bytes
// just stored (a wide load over narrow stores stalls store forwarding).
func (h IPv4) SetFields(base uint64, totLen, id, frag uint16) {
	binary.BigEndian.PutUint16(h[2:], totLen)
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], frag)
	binary.BigEndian.PutUint16(h[10:], ^fold64(base+uint64(totLen)+uint64(id)+uint64(frag)))
}

// Init writes a header without options fields filled: version 4, IHL from
// ihl (bytes), and the given fields. The checksum is left zero.
func (h IPv4) Init(ihl int, tos uint8, totLen, id, frag uint16, ttl, proto uint8, src, dst [4]byte) {
	h[0] = 0x40 | byte(ihl/4)
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], totLen)
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = ttl
	h[9] = proto
	h[10], h[11] = 0, 0
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
}

// UDPLen is the size of a UDP header.
const UDPLen = 8

// UDP is a view of a UDP (or UDP-Lite) header.
type UDP []byte

// SrcPort is the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }

// DstPort is the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }

// Length is the UDP length field (UDP-Lite: the checksum coverage).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:]) }

// SetLength sets the length field.
func (u UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(u[4:], n) }

// Checksum is the checksum field.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:]) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[6:], c) }

// SetPorts sets both ports.
func (u UDP) SetPorts(src, dst uint16) {
	binary.BigEndian.PutUint16(u[0:], src)
	binary.BigEndian.PutUint16(u[2:], dst)
}

// EthernetLen is the size of an Ethernet II header.
const EthernetLen = 14

// EtherTypes of the frames udpbuild writes (ETH_P_IP, ETH_P_IPV6).
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86DD
)

// PutEthernet writes an Ethernet II header carrying IPv4.
func PutEthernet(b []byte, dst, src [6]byte) { PutEthernetType(b, dst, src, EtherTypeIPv4) }

// PutEthernetType writes an Ethernet II header carrying etherType.
func PutEthernetType(b []byte, dst, src [6]byte, etherType uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = byte(etherType>>8), byte(etherType)
}
