package receive

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/core/gro.c for what reaches a veth with GRO on
// (udpgro.sh's set-up: veth then receives through NAPI): dev_gro_receive
// holds packets of one NAPI poll on its list and merges those the
// protocol's gro_receive accepts (skb_gro_receive), napi_gro_complete
// finishes them. The packets of one poll are those one send put on the
// veth together: the segments of a software-segmented GSO send, the
// fragments of a datagram; successive sends are polled apart [live].

// groPkt is a packet held on the GRO list: the first skb of a flow and
// what was merged into it.
type groPkt struct {
	first    Skb
	payload  []byte // the merged UDP payloads, first one included
	gsoSize  int    // the first packet's UDP payload length
	count    int    // NAPI_GRO_CB(p)->count
	ulen     int    // the first packet's uh->len
	truesize int
	done     bool
}

// udpGROCntMax is UDP_GRO_CNT_MAX: a train is completed at 64 segments.
const udpGROCntMax = 64

// groLegacyMaxSize is GRO_LEGACY_MAX_SIZE: a merged packet stays below it.
const groLegacyMaxSize = 65536

// NapiGROReceive is one NAPI poll of the peer's veth with GRO on: each
// packet goes through dev_gro_receive (inet_gro_receive,
// udp4_gro_receive, udp_gro_receive_segment), then napi_gro_flush
// completes what is held, and everything reaches ip_rcv in order.
func (h *Host) NapiGROReceive(batch []Skb) {
	var held []*groPkt
	// out are the deliveries made during the poll, in order.
	var out []func()
	flush := func(p *groPkt) {
		p.done = true
		out = append(out, func() { h.Receive(h.napiGROComplete(p)) })
	}
	for _, skb := range batch {
		ok, why := h.udp4GROCandidate(skb)
		if !ok {
			if h.tracing() && why != "" {
				h.tracef("dev_gro_receive", "flush", "not merged", "%s", why)
			}
			s := skb
			out = append(out, func() { h.Receive(s) })
			continue
		}
		hl := header.IPv4MinLen
		if skb.Data[0]>>4 == 6 {
			hl = header.IPv6MinLen
		}
		uh := header.UDP(skb.Data[hl:])
		ulen := int(uh.Length())
		var p *groPkt
		for _, c := range held {
			if !c.done && sameFlow(c.first.Data, skb.Data) {
				p = c
				break
			}
		}
		if p != nil {
			flushNet := networkFlush(p, skb.Data)
			if ulen > p.ulen || flushNet {
				h.tracef("udp_gro_receive_segment", "flush", "held packet completed", "uh->len %d > the train's %d, or the IP header differs: the new packet starts a train", ulen, p.ulen)
				flush(p)
				p = nil
			} else if hl+8+len(p.payload)+ulen-8 >= groLegacyMaxSize {
				flush(p)
				p = nil
			} else {
				p.payload = append(p.payload, skb.Data[hl+8:hl+ulen]...)
				p.count++
				p.truesize += skb.Truesize
				if ulen != p.ulen || p.count >= udpGROCntMax {
					flush(p)
				}
				continue
			}
		}
		// A new train: gso_size is this packet's payload (dev_gro_receive).
		np := &groPkt{first: skb, gsoSize: ulen - 8, count: 1, ulen: ulen, truesize: skb.Truesize,
			payload: append([]byte(nil), skb.Data[hl+8:hl+ulen]...)}
		np.first.Data = append([]byte(nil), skb.Data...)
		held = append(held, np)
	}
	// What was not held went up at once, and a train completed early at
	// its completion; napi_gro_flush then completes the rest, oldest
	// first.
	for _, f := range out {
		f()
	}
	for _, p := range held {
		if !p.done {
			p.done = true
			h.Receive(h.napiGROComplete(p))
		}
	}
}

// udpGROCandidate says whether dev_gro_receive hands skb to
// udp_gro_receive_segment (through inet_gro_receive and udp4_gro_receive,
// or ipv6_gro_receive and udp6_gro_receive): a plain (not GSO) UDP packet
// without IPv4 options or IPv6 extension headers, not a fragment, with a
// non-zero checksum and no padding, for a socket with UDP_GRO.
func (h *Host) udp4GROCandidate(skb Skb) (bool, string) {
	b := skb.Data
	if skb.GSOSize > 0 {
		return false, "a GSO skb (dev_gro_receive: only TCP GSO skbs are merged)"
	}
	var src, dst netip.Addr
	var l4 []byte
	switch {
	case len(b) >= header.IPv6MinLen+8 && b[0]>>4 == 6:
		ip := header.IPv6(b)
		if ip.NextHeader() != protoUDP || int(ip.PayloadLength()) != len(b)-header.IPv6MinLen {
			return false, ""
		}
		src, dst, l4 = ip.Src(), ip.Dst(), b[header.IPv6MinLen:]
	case len(b) >= header.IPv4MinLen+8 && b[0] == 0x45:
		ip := header.IPv4(b)
		if ip.Protocol() != protoUDP || ip.FragWord()&(header.IPv4MF|header.IPv4OffsetMask) != 0 || int(ip.TotalLength()) != len(b) {
			return false, ""
		}
		src, dst, l4 = ip.Src(), ip.Dst(), b[header.IPv4MinLen:]
	default:
		return false, "" // inet_gro_receive: IPv4 without options only
	}
	uh := header.UDP(l4)
	if uh.Checksum() == 0 || int(uh.Length()) != len(l4) {
		return false, "udp_gro_receive_segment: zero checksum or padding"
	}
	if !h.isLocal(dst) {
		return false, ""
	}
	var sk *Sock
	if b[0]>>4 == 6 {
		sk = h.udp6LookupQuiet(src, uh.SrcPort(), dst, uh.DstPort())
	} else {
		sk = h.udp4LibLookupQuiet(src, uh.SrcPort(), dst, uh.DstPort())
	}
	if sk == nil || !sk.groEnabled {
		return false, "udp_gro_receive: the socket has no UDP_GRO"
	}
	return true, ""
}

// sameFlow is the flow match of inet_gro_receive or ipv6_gro_receive
// (addresses, protocol; IPv6 also version and flow label) and of
// udp_gro_receive_segment (ports).
func sameFlow(a, b []byte) bool {
	if a[0]>>4 != b[0]>>4 {
		return false
	}
	if a[0]>>4 == 6 {
		return be32(a)&0xf00fffff == be32(b)&0xf00fffff && string(a[8:40]) == string(b[8:40]) &&
			be16(a[40:]) == be16(b[40:]) && be16(a[42:]) == be16(b[42:])
	}
	ia, ib := header.IPv4(a), header.IPv4(b)
	return ia.Src4() == ib.Src4() && ia.Dst4() == ib.Dst4() && ia.Protocol() == ib.Protocol() &&
		be16(a[20:]) == be16(b[20:]) && be16(a[22:]) == be16(b[22:])
}

func be32(b []byte) uint32 { return uint32(be16(b))<<16 | uint32(be16(b[2:])) }

// networkFlush is gro_receive_network_flush: IPv4 TTL, TOS, DF and
// consecutive IDs; IPv6 traffic class and hop limit.
func networkFlush(p *groPkt, b []byte) bool {
	if b[0]>>4 == 6 {
		a := p.first.Data
		return be32(a)&0x0ff00000 != be32(b)&0x0ff00000 || a[7] != b[7]
	}
	pip, ip := header.IPv4(p.first.Data), header.IPv4(b)
	return pip.TTL() != ip.TTL() || pip.TOS() != ip.TOS() || (pip.FragWord()^ip.FragWord())&header.IPv4DF != 0 ||
		(ip.FragWord()&header.IPv4DF == 0 && ip.ID() != pip.ID()+uint16(p.count))
}

// napiGROComplete mirrors napi_gro_complete with inet_gro_complete and
// udp_gro_complete: a train of one is a plain packet again; a longer one
// is a GSO skb (gso_size, gso_segs, CHECKSUM_PARTIAL) with tot_len and
// uh->len rewritten. Its truesize is the sum of the merged skbs'
// (skb_gro_receive chains linear heads on the frag list).
func (h *Host) napiGROComplete(p *groPkt) Skb {
	if p.count == 1 {
		return p.first
	}
	ihl := header.IPv4MinLen
	v6 := p.first.Data[0]>>4 == 6
	if v6 {
		ihl = header.IPv6MinLen
	}
	b := make([]byte, ihl+8+len(p.payload))
	copy(b, p.first.Data[:ihl+8])
	copy(b[ihl+8:], p.payload)
	if v6 {
		header.IPv6(b).SetPayloadLength(uint16(len(b) - ihl)) // ipv6_gro_complete
	} else {
		ip := header.IPv4(b)
		ip.SetTotalLength(uint16(len(b))) // inet_gro_complete
		ip.SetChecksum()
	}
	header.UDP(b[ihl:]).SetLength(uint16(len(b) - ihl))
	if h.tracing() {
		h.tracef("udp_gro_complete", "gso_size", p.gsoSize, "%d datagrams merged into one GSO skb of %d bytes (gso_segs %d), truesize %d", p.count, len(p.payload), p.count, p.truesize)
	}
	return Skb{Data: b, Truesize: p.truesize, Partial: true, GSOSize: p.gsoSize}
}
