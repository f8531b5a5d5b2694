package builder

import "github.com/udpbuild/udpbuild/header"

// The family seam. The stages both address families share (the socket
// and its cork queue, __ip_append_data's skb geometry, udp_send_skb's
// checksum choice and GSO checks, __udp_gso_segment, the device and its
// views) ask the network layer only what this file answers: the
// pseudo-header, whether the device can checksum, the per-segment network
// header of GSO and the link header's type. Everything else per family
// lives in files of its own, named after the kernel source they re-tell:
// for IPv4 ip_output.go (cork, __ip_make_skb, ip_finish_output,
// ip_do_fragment), ip.go (DF and ID rules), route.go (ip_idents, the
// route), ip_sockglue.go (IP-level options); for IPv6 udpv6.go,
// ip6_output.go, output_core.go, exthdrs.go, ipv6_sockglue.go and
// ipv6_datagram.go. docs/architecture.md draws the picture.

// pseudoSum is the folded sum of the datagram's pseudo-header for ulen
// bytes of UDP (csum_tcpudp_nofold folded, or csum_ipv6_magic's sum):
// what udp_send_skb, udp4_hwcsum, udp6_hwcsum_outgoing and
// __udp_gso_segment add to the UDP bytes' sum. For IPv4 the addresses are
// the IP header's, which for a source route are the first hop's, as in the
// kernel's fl4; for IPv6 the destination is fl6->daddr, the final one,
// which a routing header keeps out of the IPv6 header.
func (d *Datagram) pseudoSum(ulen uint16) uint16 {
	if d.IPv6 {
		return header.PseudoHeaderSum6([16]byte(d.IP[header.IPv6SrcAddrOffset:header.IPv6DstAddrOffset]), d.final, d.Proto, uint32(ulen))
	}
	ip := header.IPv4(d.IP)
	return header.PseudoHeaderSum(ip.Src4(), ip.Dst4(), d.Proto, ulen)
}

// canChecksum reports whether a device with features f can finish the
// datagram's UDP checksum (can_checksum_protocol): NETIF_F_HW_CSUM or, for
// IPv4, NETIF_F_IP_CSUM (its IPv6 twin, NETIF_F_IPV6_CSUM, is not among
// the features a scenario names).
func (d *Datagram) canChecksum(f Features) bool {
	if d.IPv6 {
		return f.Has(FeatHWCsum)
	}
	return f.CanChecksum()
}

// segHeader is the network layer's part of GSO segmentation, as
// inet_gso_segment does it around __udp_gso_segment: each segment's IPv4
// header gets its own tot_len, an ID counting up from the super-packet's
// and a checksum to match. ipv6_gso_segment rewrites payload_len only:
// every segment repeats the IPv6 header and its extension headers, flow
// label and all, and has no fragment header and no ID.
type segHeader struct {
	ip   header.IPv4
	sum  uint64 // SumExcept of ip: the fields that never change
	id   uint16
	frag uint16
	ip6  header.IPv6 // set instead of ip for an IPv6 datagram
}

// newSegHeader readies nh, the network header in a frame head, for
// per-segment updates.
func newSegHeader(nh []byte) segHeader {
	if nh[0]>>4 == 6 {
		return segHeader{ip6: header.IPv6(nh)}
	}
	ip := header.IPv4(nh)
	return segHeader{ip: ip, sum: ip.SumExcept(), id: ip.ID(), frag: ip.FragWord()}
}

// set writes segment i's fields for a UDP length of ulen.
func (h *segHeader) set(i int, ulen uint16) {
	if h.ip6 != nil {
		h.ip6.SetPayloadLength(uint16(len(h.ip6)-header.IPv6MinLen) + ulen)
		return
	}
	h.ip.SetFields(h.sum, uint16(len(h.ip))+ulen, h.id+uint16(i), h.frag)
}

// etherType is the link header's type for a network header nh: the family
// shows in its version nibble (ETH_P_IP or ETH_P_IPV6).
func etherType(nh []byte) uint16 {
	if len(nh) > 0 && nh[0]>>4 == 6 {
		return header.EtherTypeIPv6
	}
	return header.EtherTypeIPv4
}
