package receive

import (
	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv4/ip_input.c as far as a datagram for the peer
// goes: ip_rcv_core's sanity checks, ip_local_deliver (reassembly first),
// ip_local_deliver_finish's hand-over to the transport protocol.

// rskb is a received sk_buff: the datagram from its IP header on (owned
// by the host), what it costs, and what the receive path learns of it.
type rskb struct {
	ip       []byte
	ihl      int
	truesize int
	tailroom int
	paged    int  // skb->data_len in page fragments (Skb.Paged)
	cloned   bool // skb_cloned (Skb.Cloned)
	// csum is skb->ip_summed as the receive path sees it, csumValid
	// skb->csum_valid.
	csum      csumState
	csumValid bool
	gsoSize   int
	// partialCov and cscov are UDP_SKB_CB(skb)->partial_cov and cscov
	// (UDP-Lite coverage; cscov is the datagram's UDP length otherwise).
	partialCov bool
	cscov      int
	// ulen is the UDP length the datagram was trimmed to, proto the
	// transport protocol (IPPROTO_UDP or IPPROTO_UDPLITE).
	ulen  int
	proto uint8
}

// csumState is skb->ip_summed on the receive side.
type csumState uint8

const (
	// csumNone (CHECKSUM_NONE): software must verify it.
	csumNone csumState = iota
	// csumUnnecessary (CHECKSUM_UNNECESSARY): nothing to verify (a zero
	// UDP checksum, or one already verified).
	csumUnnecessary
	// csumPartial (CHECKSUM_PARTIAL): the sender's device was to finish
	// it; skb_csum_unnecessary treats it as good.
	csumPartial
)

// l4 is the UDP header and what follows; ihl is the offset of the UDP
// header: the IPv4 header, or the IPv6 header and its extension headers.
func (r *rskb) l4() []byte { return r.ip[r.ihl:] }

// v6 reports whether r is an IPv6 datagram.
func (r *rskb) v6() bool { return r.ip[0]>>4 == 6 }

// Receive is one packet reaching the peer's IP layer (ip_rcv): the
// receive path runs to its end, into a socket's queue, a reassembly queue,
// an ICMP reply or a drop. Packets for other hosts or of other protocols
// are dropped without a word, as a host that does not forward drops them.
func (h *Host) Receive(p Skb) {
	if len(p.Data) == 0 {
		return
	}
	if p.Data[0]>>4 == 6 {
		h.ipv6Rcv(p)
		return
	}
	h.ipRcv(p)
}

// ipRcv mirrors ip_rcv and ip_rcv_core: a header that is short, not
// version 4, with a bad checksum or a tot_len beyond the packet is dropped
// (InHdrErrors, not a UDP counter); the packet is trimmed to tot_len.
func (h *Host) ipRcv(p Skb) {
	b := p.Data
	if len(b) < header.IPv4MinLen {
		return
	}
	ip := header.IPv4(b)
	ihl := ip.IHL()
	if b[0]>>4 != 4 || ihl < header.IPv4MinLen || len(b) < ihl {
		return
	}
	if header.Checksum(b[:ihl], 0) != 0xffff {
		return // ip_fast_csum: InHdrErrors
	}
	tot := int(ip.TotalLength())
	if tot > len(b) || tot < ihl {
		return
	}
	if !h.isLocal(ip.Dst()) {
		return // not ours: this host does not forward
	}
	r := &rskb{ip: append([]byte(nil), b[:tot]...), ihl: ihl, truesize: p.Truesize, tailroom: p.Tailroom, paged: p.Paged, cloned: p.Cloned, gsoSize: p.GSOSize}
	// ip_rcv_finish_core: ip_rcv_options for a header with options.
	if ihl > header.IPv4MinLen && !h.ipOptionsCompileRcv(r.ip) {
		return
	}
	if p.Partial {
		r.csum = csumPartial
	}
	h.ipLocalDeliver(r)
}

// ipLocalDeliver mirrors ip_local_deliver: a fragment goes to ip_defrag,
// which hands back the whole datagram once its last piece arrived; then
// ip_local_deliver_finish calls the protocol's handler.
func (h *Host) ipLocalDeliver(r *rskb) {
	ip := header.IPv4(r.ip)
	if ip.FragWord()&(header.IPv4MF|header.IPv4OffsetMask) != 0 {
		if r = h.ipDefrag(r); r == nil {
			return
		}
	}
	switch ip := header.IPv4(r.ip); ip.Protocol() {
	case protoUDP:
		h.udpRcv(r, false)
	case protoUDPLite:
		h.udpRcv(r, true)
	}
}

const (
	protoICMP    = 1
	protoUDP     = 17
	protoUDPLite = 136
)
