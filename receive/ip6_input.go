package receive

import (
	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv6/ip6_input.c and the extension-header
// handlers of net/ipv6/exthdrs.c as far as a datagram for the peer goes:
// ipv6_rcv's checks, the hop-by-hop and destination options (ip6_parse_tlv),
// the routing header, the fragment header (ipv6_frag_rcv, reassembly.go),
// then the transport protocol.

// ipv6Rcv mirrors ipv6_rcv and ip6_rcv_core: version 6, payload_len
// within the packet (trimmed to it), a local destination; then the
// header chain (ip6_protocol_deliver_rcu).
func (h *Host) ipv6Rcv(p Skb) {
	b := p.Data
	if len(b) < header.IPv6MinLen {
		return
	}
	ip := header.IPv6(b)
	if ip.Version() != 6 {
		return
	}
	tot := header.IPv6MinLen + int(ip.PayloadLength())
	if tot > len(b) || !h.isLocal(ip.Dst()) {
		return
	}
	r := &rskb{ip: append([]byte(nil), b[:tot]...), truesize: p.Truesize, tailroom: p.Tailroom, paged: p.Paged, cloned: p.Cloned, gsoSize: p.GSOSize}
	if p.Partial {
		r.csum = csumPartial
	}
	h.ip6ProtocolDeliver(r)
}

// ip6ProtocolDeliver walks the header chain as ip6_protocol_deliver_rcu
// does, each extension header's handler in turn: options are parsed
// (ip6_parse_tlv), a routing header with segments left is not for this
// host to deliver (forwarding and segment routing are not modelled: the
// packet is dropped), a fragment header hands the packet to reassembly.
func (h *Host) ip6ProtocolDeliver(r *rskb) {
	ip := header.IPv6(r.ip)
	// prev is where the current next-header value sits: the fixed
	// header's field, then each extension header's first byte.
	next, off, prev := ip.NextHeader(), header.IPv6MinLen, header.IPv6NextHeaderOffset
	for {
		switch next {
		case header.NextHdrHop, header.NextHdrDest:
			n, ok := header.IPv6ExtLen(next, r.ip[off:])
			if !ok || off+n > len(r.ip) || !h.ip6ParseTLV(next, r.ip[off+2:off+n]) {
				return
			}
			next, prev, off = r.ip[off], off, off+n
		case header.NextHdrRouting:
			n, ok := header.IPv6ExtLen(next, r.ip[off:])
			if !ok || off+n > len(r.ip) {
				return
			}
			if r.ip[off+3] != 0 {
				h.tracef("ipv6_rthdr_rcv", "segments_left", r.ip[off+3], "a routing header with segments left: this host would forward it; not modelled, dropped")
				return
			}
			next, prev, off = r.ip[off], off, off+n
		case header.NextHdrFragment:
			if off+8 > len(r.ip) {
				return
			}
			// ipv6_frag_rcv: the reassembled packet has no fragment
			// header; its chain goes on where that header was.
			if r, next = h.ipv6FragRcv(r, prev, off); r == nil {
				return
			}
			continue
		case protoUDP, protoUDPLite:
			r.ihl = off
			h.udpv6Rcv(r, next == protoUDPLite)
			return
		default:
			return
		}
	}
}

// ip6ParseTLV mirrors ip6_parse_tlv over an options header's options: Pad1
// and PadN are skipped, an unknown option by the action its top two bits
// name (skip, or discard: the ICMP parameter problem that actions 2 and 3
// send is not modelled). Router alert in a hop-by-hop header is known
// and harmless here.
func (h *Host) ip6ParseTLV(typ uint8, opts []byte) bool {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+2 > len(opts) {
			return false
		}
		n := 2 + int(opts[i+1])
		if i+n > len(opts) {
			return false
		}
		switch {
		case t == 1: // PadN
		case typ == header.NextHdrHop && t == 5: // router alert
		default:
			if t>>6 != 0 {
				h.tracef("ip6_parse_tlv", "option", t, "unknown option with action %d: the packet is discarded", t>>6)
				return false
			}
		}
		i += n
	}
	return true
}
