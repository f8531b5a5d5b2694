package receive

import (
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
		ip := header.IPv4(skb.Data)
		uh := header.UDP(skb.Data[ip.IHL():])
		ulen := int(uh.Length())
		var p *groPkt
		for _, c := range held {
			if !c.done && sameFlow(c.first.Data, skb.Data) {
				p = c
				break
			}
		}
		if p != nil {
			pip := header.IPv4(p.first.Data)
			// gro_receive_network_flush: TTL, TOS, DF and consecutive IDs.
			flushNet := pip.TTL() != ip.TTL() || pip.TOS() != ip.TOS() || (pip.FragWord()^ip.FragWord())&header.IPv4DF != 0 ||
				(ip.FragWord()&header.IPv4DF == 0 && ip.ID() != pip.ID()+uint16(p.count))
			if ulen > p.ulen || flushNet {
				h.tracef("udp_gro_receive_segment", "flush", "held packet completed", "uh->len %d > the train's %d, or the IP header differs: the new packet starts a train", ulen, p.ulen)
				flush(p)
				p = nil
			} else if header.IPv4MinLen+8+len(p.payload)+ulen-8 >= groLegacyMaxSize {
				flush(p)
				p = nil
			} else {
				p.payload = append(p.payload, skb.Data[ip.IHL()+8:ip.IHL()+ulen]...)
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
			payload: append([]byte(nil), skb.Data[ip.IHL()+8:ip.IHL()+ulen]...)}
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

// udp4GROCandidate says whether dev_gro_receive hands skb to
// udp_gro_receive_segment: a plain (not GSO) IPv4 UDP packet without
// options, not a fragment, with a non-zero checksum and no padding,
// for a socket with UDP_GRO.
func (h *Host) udp4GROCandidate(skb Skb) (bool, string) {
	b := skb.Data
	if skb.GSOSize > 0 {
		return false, "a GSO skb (dev_gro_receive: only TCP GSO skbs are merged)"
	}
	if len(b) < header.IPv4MinLen+8 || b[0] != 0x45 {
		return false, "" // inet_gro_receive: IPv4 without options only
	}
	ip := header.IPv4(b)
	if ip.Protocol() != protoUDP || ip.FragWord()&(header.IPv4MF|header.IPv4OffsetMask) != 0 {
		return false, ""
	}
	uh := header.UDP(b[header.IPv4MinLen:])
	if uh.Checksum() == 0 || int(uh.Length()) != len(b)-header.IPv4MinLen || int(ip.TotalLength()) != len(b) {
		return false, "udp_gro_receive_segment: zero checksum or padding"
	}
	if !h.isLocal(ip.Dst()) {
		return false, ""
	}
	sk := h.udp4LibLookupQuiet(ip.Src(), uh.SrcPort(), ip.Dst(), uh.DstPort())
	if sk == nil || !sk.groEnabled {
		return false, "udp_gro_receive: the socket has no UDP_GRO"
	}
	return true, ""
}

func sameFlow(a, b []byte) bool {
	ia, ib := header.IPv4(a), header.IPv4(b)
	return ia.Src4() == ib.Src4() && ia.Dst4() == ib.Dst4() && ia.Protocol() == ib.Protocol() &&
		be16(a[20:]) == be16(b[20:]) && be16(a[22:]) == be16(b[22:])
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
	b := make([]byte, ihl+8+len(p.payload))
	copy(b, p.first.Data[:ihl+8])
	copy(b[ihl+8:], p.payload)
	ip := header.IPv4(b)
	ip.SetTotalLength(uint16(len(b)))
	ip.SetChecksum()
	header.UDP(b[ihl:]).SetLength(uint16(len(b) - ihl))
	if h.tracing() {
		h.tracef("udp_gro_complete", "gso_size", p.gsoSize, "%d datagrams merged into one GSO skb of %d bytes (gso_segs %d), truesize %d", p.count, len(p.payload), p.count, p.truesize)
	}
	return Skb{Data: b, Truesize: p.truesize, Partial: true, GSOSize: p.gsoSize}
}
