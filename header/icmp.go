package header

import (
	"encoding/binary"
	"net/netip"
)

// ICMPError describes an ICMP (IPv4) or ICMPv6 error message as udpbuild's
// path events send it to the sender: a router's answer to a datagram.
type ICMPError struct {
	// SrcMAC, DstMAC are the frame's Ethernet addresses (the peer's, the
	// sender's).
	SrcMAC, DstMAC [6]byte
	// Src is the router; Dst the sender (the quoted datagram's source).
	Src, Dst netip.Addr
	// Type and Code are the message's.
	Type, Code uint8
	// Info is the second word of the ICMP header: frag-needed's
	// next-hop MTU (low 16 bits), packet-too-big's MTU, a parameter
	// problem's pointer (in the top byte for IPv4, the whole word for
	// IPv6); 0 for the others.
	Info uint32
	// Quote is the start of the datagram the message answers, from its
	// IP header on.
	Quote []byte
}

// ICMPErrorIPID is the IPv4 header's ID of an injected error: fixed and
// non-zero (a raw IP_HDRINCL sender would have the kernel pick an ID for
// 0), so that the model and the real kernel's capture agree.
const ICMPErrorIPID = 0x5054

// ICMPErrorTOS is the TOS an IPv4 router's ICMP error carries
// (icmp_send's (tos & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL for a
// datagram of TOS 0).
const ICMPErrorTOS = 0xc0

// Build appends the frame (Ethernet header on) to b: for an IPv4 message
// an IP header (TOS 0xc0, ID ICMPErrorIPID, no DF, TTL 64, protocol 1)
// and the ICMP header with its checksum; for IPv6 an IPv6 header (traffic
// class 0, flow label 0, hop limit 255 as a neighbour's router sends,
// next header 58) and the ICMPv6 header with its pseudo-header checksum.
func (e *ICMPError) Build(b []byte) []byte {
	b = append(b, e.DstMAC[:]...)
	b = append(b, e.SrcMAC[:]...)
	if e.Src.Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ip := len(b)
		n := IPv4MinLen + 8 + len(e.Quote)
		var h [IPv4MinLen]byte
		b = append(b, h[:]...)
		IPv4(b[ip:]).Init(IPv4MinLen, ICMPErrorTOS, uint16(n), ICMPErrorIPID, 0, 64, 1, e.Src.As4(), e.Dst.As4())
		IPv4(b[ip:]).SetChecksum()
		ic := len(b)
		b = append(b, e.Type, e.Code, 0, 0)
		b = binary.BigEndian.AppendUint32(b, e.Info)
		b = append(b, e.Quote...)
		binary.BigEndian.PutUint16(b[ic+2:], ^Checksum(b[ic:], 0))
		return b
	}
	b = binary.BigEndian.AppendUint16(b, 0x86dd)
	plen := 8 + len(e.Quote)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(plen))
	b = append(b, 58, 255)
	src, dst := e.Src.As16(), e.Dst.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	ic := len(b)
	b = append(b, e.Type, e.Code, 0, 0)
	b = binary.BigEndian.AppendUint32(b, e.Info)
	b = append(b, e.Quote...)
	sum := Checksum(b[ic:], PseudoHeaderSum6(src, dst, 58, uint32(plen)))
	binary.BigEndian.PutUint16(b[ic+2:], ^sum)
	return b
}
