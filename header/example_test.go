package header_test

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// A packet laid out as Linux lays out each fragment when the socket has a
// destination-options header that must travel in every fragment
// (IPV6_RTHDRDSTOPTS): fixed header, those options, the fragment header, then
// the data (here an atomic fragment holding a whole UDP datagram). The walker
// finds the chain, and the UDP checksum uses the IPv6 pseudo-header.
func ExampleWalkIPv6Ext() {
	src := netip.MustParseAddr("fd00::1").As16()
	dst := netip.MustParseAddr("fd00::2").As16()
	payload := []byte("hello")
	ulen := header.UDPLen + len(payload)

	pkt := make([]byte, header.IPv6MinLen+8+header.IPv6FragmentLen+ulen)
	ip := header.IPv6(pkt)
	ip.Encode(&header.IPv6Fields{
		FlowLabel:     0x12345,
		PayloadLength: uint16(len(pkt) - header.IPv6MinLen),
		NextHeader:    header.NextHdrDest,
		HopLimit:      64,
		Src:           src,
		Dst:           dst,
	})
	opts := pkt[header.IPv6MinLen:]
	copy(opts, []byte{header.NextHdrFragment, 0, 1, 4, 0, 0, 0, 0}) // PadN
	header.IPv6Fragment(opts[8:]).Encode(header.ProtoUDP, 0, false, 0xcafe)
	u := header.UDP(opts[16:])
	u.SetPorts(40000, 9000)
	u.SetLength(uint16(ulen))
	copy(u[header.UDPLen:], payload)
	u.SetChecksum(^header.Checksum(u, header.PseudoHeaderSum6(src, dst, header.ProtoUDP, uint32(ulen))))

	w := header.WalkIPv6Ext(ip.NextHeader(), ip.Payload())
	for w.Next() {
		h := w.Header()
		fmt.Printf("%s header at %d, %d bytes\n", header.NextHdrName(h.Type), h.Offset, len(h.Bytes))
		if f, ok := h.Fragment(); ok {
			fmt.Printf("  offset %d, more %v, id %#x\n", f.Offset(), f.More(), f.ID())
		}
	}
	if err := w.Err(); err != nil {
		fmt.Println(err)
		return
	}
	proto, off := w.Upper()
	fmt.Printf("%s at %d, flow label %#x\n", header.NextHdrName(proto), off, ip.FlowLabel())
	fmt.Printf("checksum verifies: %v\n",
		header.Checksum(ip.Payload()[off:], header.PseudoHeaderSum6(src, dst, proto, uint32(ulen))) == 0xffff)
	// Output:
	// destination options header at 0, 8 bytes
	// fragment header at 8, 8 bytes
	//   offset 0, more false, id 0xcafe
	// UDP at 16, flow label 0x12345
	// checksum verifies: true
}
