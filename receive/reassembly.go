package receive

import (
	"encoding/binary"
	"sort"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv6/reassembly.c: ipv6_frag_rcv's queue per
// (saddr, daddr, identification), ip6_frag_queue and ip6_frag_reasm, with
// the same inet_frag_reasm_finish truesize arithmetic as IPv4
// (ip_fragment.go).

// frag6 is one queued IPv6 fragment: its offset and payload (after the
// fragment header), and the skb's cost.
type frag6 struct {
	off      int
	payload  []byte
	truesize int
	tailroom int
	csum     csumState
}

// ip6q is one reassembly queue (struct frag_queue).
type ip6q struct {
	src, dst [16]byte
	id       uint32
	// unfrag is the first fragment's unfragmentable part (the IPv6 header
	// and the extension headers before the fragment header), nextOff
	// where its last next-header field sits, nexthdr the fragment
	// header's next header.
	unfrag   []byte
	nextOff  int
	nexthdr  uint8
	frags    []frag6
	length   int
	last     bool
	received int
}

// ipv6FragRcv mirrors ipv6_frag_rcv: it queues the fragment whose header
// is at off (prev is where the next-header value naming it sits) and,
// once the packet is complete, returns it reassembled with the next header
// that follows; nil otherwise.
func (h *Host) ipv6FragRcv(r *rskb, prev, off int) (*rskb, uint8) {
	h.Counters.Reasm6.Reqds++
	ip := header.IPv6(r.ip)
	fh := header.IPv6Fragment(r.ip[off : off+8])
	payload := r.ip[off+8:]
	if fh.Offset() == 0 && !fh.More() {
		// An atomic fragment (RFC 6946): processed as a whole packet.
		b := append(append([]byte(nil), r.ip[:off]...), payload...)
		b[prev] = fh.NextHeader()
		header.IPv6(b).SetPayloadLength(uint16(len(b) - header.IPv6MinLen))
		r.ip = b
		return r, fh.NextHeader()
	}
	src, dst := ip.Src().As16(), ip.Dst().As16()
	var q *ip6q
	for _, c := range h.frags6 {
		if c.src == src && c.dst == dst && c.id == fh.ID() {
			q = c
			break
		}
	}
	if q == nil {
		q = &ip6q{src: src, dst: dst, id: fh.ID()}
		h.frags6 = append(h.frags6, q)
	}
	start := fh.Offset()
	end := start + len(payload)
	ok := true
	if !fh.More() {
		if end < q.length || (q.last && end != q.length) {
			ok = false
		}
		q.last, q.length = true, end
	} else {
		if len(payload)&7 != 0 {
			ok = false // ip6_frag_queue: a non-last fragment not a multiple of 8: ICMP param prob
		}
		if end > q.length {
			q.length = end
		}
	}
	for _, f := range q.frags {
		if start < f.off+len(f.payload) && f.off < end {
			ok = false
		}
	}
	if !ok {
		h.Counters.Reasm6.Fails++
		h.dropQueue6(q)
		return nil, 0
	}
	q.frags = append(q.frags, frag6{off: start, payload: append([]byte(nil), payload...), truesize: r.truesize, tailroom: r.tailroom, csum: r.csum})
	q.received += len(payload)
	if start == 0 {
		q.unfrag, q.nextOff, q.nexthdr = append([]byte(nil), r.ip[:off]...), prev, fh.NextHeader()
	}
	if !q.last || q.received < q.length || q.unfrag == nil {
		return nil, 0
	}
	h.Counters.Reasm6.OKs++
	h.dropQueue6(q)
	return h.ip6FragReasm(q), q.nexthdr
}

func (h *Host) dropQueue6(q *ip6q) {
	for i, c := range h.frags6 {
		if c == q {
			h.frags6 = append(h.frags6[:i], h.frags6[i+1:]...)
			return
		}
	}
}

// ip6FragReasm mirrors ip6_frag_reasm: the fragment header is taken out,
// the header before it names what followed it, payload_len is rewritten;
// inet_frag_reasm_finish copies fragments into the head's tailroom while
// they fit, and chains (and charges) the rest.
func (h *Host) ip6FragReasm(q *ip6q) *rskb {
	sort.Slice(q.frags, func(i, j int) bool { return q.frags[i].off < q.frags[j].off })
	b := append([]byte(nil), q.unfrag...)
	b[q.nextOff] = q.nexthdr
	head := q.frags[0]
	truesize, tailroom, linear, csum := head.truesize, head.tailroom, true, head.csum
	for i, f := range q.frags {
		b = append(b, f.payload...)
		if i == 0 {
			continue
		}
		if f.csum != csum {
			csum = csumNone
		}
		if linear && len(f.payload) <= tailroom {
			tailroom -= len(f.payload)
			continue
		}
		linear = false
		truesize += f.truesize
	}
	binary.BigEndian.PutUint16(b[header.IPv6PayloadLenOffset:], uint16(len(b)-header.IPv6MinLen))
	if h.tracing() {
		h.tracef("ip6_frag_reasm", "packet", len(b), "%d fragments reassembled; truesize %d", len(q.frags), truesize)
	}
	return &rskb{ip: b, ihl: len(q.unfrag), truesize: truesize, tailroom: tailroom, csum: csum}
}
