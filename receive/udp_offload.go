package receive

import (
	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells the receive half of net/ipv4/udp_offload.c:
// udp_rcv_segment (__udp_gso_segment on a GSO skb that reached a socket
// without UDP_GRO) with the truesize skb_segment gives each segment.

// segHeadTruesize is the truesize of a segment's head as skb_segment
// allocates it on the receive side: the headers alone (the data stays in
// the GSO skb's page fragments, shared), a small-head allocation:
// SKB_SMALL_HEAD_CACHE_SIZE 576 + SKB_DATA_ALIGN(sizeof(struct sk_buff))
// 256 [live: 3 segments of 1000 bytes cost 3 * (832 + 1000)].
const segHeadTruesize = 832

// segTailroom is a segment head's tailroom: the small head's 256 bytes
// less the Ethernet, network and UDP headers and the headroom before them
// (the sender's hh_len - ETH_HLEN, and IPv6's fragment-header reserve).
func segTailroom(r *rskb) int {
	macOff := 2
	if r.v6() {
		macOff = 10
	}
	return 256 - (macOff + header.EthernetLen + r.ihl + header.UDPLen)
}

// udpRcvSegment mirrors udp_rcv_segment: the GSO skb becomes gso_size
// datagrams (the last shorter), each with its own IP and UDP header
// (tot_len, ID + i, the checksums recomputed: udp_post_segment_fix_csum
// leaves them verified), each costing segHeadTruesize plus its payload.
func (h *Host) udpRcvSegment(r *rskb) []*rskb {
	l4 := r.l4()
	payload := l4[header.UDPLen:]
	gs := r.gsoSize
	var segs []*rskb
	ip := header.IPv4(r.ip) // read only for an IPv4 skb
	for off, i := 0, 0; off < len(payload); off, i = off+gs, i+1 {
		n := min(gs, len(payload)-off)
		b := make([]byte, r.ihl+header.UDPLen+n)
		copy(b, r.ip[:r.ihl])
		copy(b[r.ihl:], l4[:header.UDPLen])
		copy(b[r.ihl+header.UDPLen:], payload[off:off+n])
		if r.v6() {
			// ipv6_gso_segment: payload_len rewritten, no ID.
			header.IPv6(b).SetPayloadLength(uint16(len(b) - header.IPv6MinLen))
		} else {
			// inet_gso_segment: tot_len and ID + i, the checksum redone.
			sip := header.IPv4(b)
			sip.SetTotalLength(uint16(len(b)))
			sip.SetID(ip.ID() + uint16(i))
			sip.SetChecksum()
		}
		uh := header.UDP(b[r.ihl:])
		uh.SetLength(uint16(header.UDPLen + n))
		segs = append(segs, &rskb{ip: b, ihl: r.ihl, truesize: segHeadTruesize + n, paged: n, tailroom: segTailroom(r),
			csum: csumUnnecessary, csumValid: true, ulen: header.UDPLen + n, cscov: header.UDPLen + n, proto: r.proto})
	}
	return segs
}
