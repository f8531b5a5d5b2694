package builder

import "github.com/udpbuild/udpbuild/header"

// The family seam. The stages both address families share (the socket
// and its cork queue, __ip_append_data's skb geometry, udp_send_skb's
// checksum choice and GSO checks, __udp_gso_segment, the device and its
// views) ask the network layer only what this file answers. Everything
// else per family lives in files of its own, named after the kernel source
// they re-tell: for IPv4 ip_output.go (cork, __ip_make_skb,
// ip_finish_output, ip_do_fragment), ip.go (DF and ID rules), route.go
// (ip_idents, the route), ip_sockglue.go (IP-level options). IPv6 adds
// ip6_output.go, output_core.go and friends beside them, and a case to
// each hook here; docs/architecture.md draws the picture.

// pseudoSum is the folded sum of the datagram's pseudo-header for ulen
// bytes of UDP (csum_tcpudp_nofold folded; IPv6 will use
// csum_ipv6_magic's sum): what udp_send_skb, udp4_hwcsum and
// __udp_gso_segment add to the UDP bytes' sum. The addresses are the IP
// header's, which for a source route are the first hop's, as in the
// kernel's fl4.
func (d *Datagram) pseudoSum(ulen uint16) uint16 {
	ip := header.IPv4(d.IP)
	return header.PseudoHeaderSum(ip.Src4(), ip.Dst4(), d.Proto, ulen)
}

// segHeader is the network layer's part of GSO segmentation, as
// inet_gso_segment does it around __udp_gso_segment: each segment's IPv4
// header gets its own tot_len, an ID counting up from the super-packet's
// and a checksum to match. (ipv6_gso_segment rewrites payload_len only.)
type segHeader struct {
	ip   header.IPv4
	sum  uint64 // SumExcept of ip: the fields that never change
	id   uint16
	frag uint16
}

// newSegHeader readies nh, the network header in a frame head, for
// per-segment updates.
func newSegHeader(nh []byte) segHeader {
	ip := header.IPv4(nh)
	return segHeader{ip: ip, sum: ip.SumExcept(), id: ip.ID(), frag: ip.FragWord()}
}

// set writes segment i's fields for a UDP length of ulen.
func (h *segHeader) set(i int, ulen uint16) {
	h.ip.SetFields(h.sum, uint16(len(h.ip))+ulen, h.id+uint16(i), h.frag)
}
