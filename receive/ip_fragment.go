package receive

import (
	"sort"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv4/ip_fragment.c and the shared
// net/ipv4/inet_fragment.c: ip_defrag's queue per (saddr, daddr, id,
// protocol), ip_frag_queue, and ip_frag_reasm with inet_frag_reasm_finish's
// truesize arithmetic, which decides what the datagram costs its socket.

// ipq is one reassembly queue (struct ipq).
type ipq struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
	frags    []*rskb // by offset once complete
	// length is q.len: the end of the last fragment, once it arrived.
	length   int
	last     bool
	maxSize  int // q.max_size: the largest fragment (skb->len + ihl)
	maxDF    int // qp->max_df_size: the largest fragment that had DF
	received int
}

// ipDefrag mirrors ip_defrag (IP_DEFRAG_LOCAL_DELIVER): it queues r and,
// when the datagram is complete, returns it reassembled; nil otherwise.
// Overlapping fragments, which the sender model never makes, drop the
// queue as the kernel does since 4.19 (RFC 5722).
func (h *Host) ipDefrag(r *rskb) *rskb {
	ip := header.IPv4(r.ip)
	h.Counters.ReasmReqds++
	var q *ipq
	for _, c := range h.frags {
		if c.src == ip.Src4() && c.dst == ip.Dst4() && c.id == ip.ID() && c.proto == ip.Protocol() {
			q = c
			break
		}
	}
	if q == nil {
		q = &ipq{src: ip.Src4(), dst: ip.Dst4(), id: ip.ID(), proto: ip.Protocol()}
		h.frags = append(h.frags, q)
	}
	if !h.ipFragQueue(q, r) {
		h.Counters.ReasmFails++
		h.dropQueue(q)
		return nil
	}
	if !q.last || q.received < q.length {
		return nil
	}
	h.Counters.ReasmOKs++
	h.dropQueue(q)
	return h.ipFragReasm(q)
}

func (h *Host) dropQueue(q *ipq) {
	for i, c := range h.frags {
		if c == q {
			h.frags = append(h.frags[:i], h.frags[i+1:]...)
			return
		}
	}
}

// ipFragQueue mirrors ip_frag_queue: the fragment's place, the end of the
// datagram (from the last fragment), the sizes ip_frag_reasm's DF rule
// reads. It reports false for a fragment the kernel refuses (overlap,
// a second end).
func (h *Host) ipFragQueue(q *ipq, r *rskb) bool {
	ip := header.IPv4(r.ip)
	off := ip.FragOffset()
	n := len(r.ip) - r.ihl
	end := off + n
	fragsize := len(r.ip)
	if ip.FragWord()&header.IPv4MF == 0 {
		if end < q.length || (q.last && end != q.length) {
			return false
		}
		q.last, q.length = true, end
	} else {
		end &^= 7
		if end > q.length {
			if q.last {
				return false
			}
			q.length = end
		}
	}
	for _, f := range q.frags {
		fo := header.IPv4(f.ip).FragOffset()
		fe := fo + len(f.ip) - f.ihl
		if off < fe && fo < end {
			return false // inet_frag_queue_insert: overlap
		}
	}
	r.ip = r.ip[:r.ihl+(end-off)]
	q.frags = append(q.frags, r)
	q.received += end - off
	q.maxSize = max(q.maxSize, fragsize)
	if ip.FragWord()&header.IPv4DF != 0 {
		q.maxDF = max(q.maxDF, fragsize)
	}
	return true
}

// ipFragReasm mirrors ip_frag_reasm and inet_frag_reasm_finish: the head
// fragment's header carries the datagram (tot_len rewritten, frag_off
// cleared, or DF when the largest fragment had it); each later fragment
// is copied into the head's tailroom while the head is still linear and
// the fragment fits (skb_try_coalesce: its skb freed, nothing added to
// truesize), otherwise chained on the frag list with its truesize added.
func (h *Host) ipFragReasm(q *ipq) *rskb {
	sort.Slice(q.frags, func(i, j int) bool {
		return header.IPv4(q.frags[i].ip).FragOffset() < header.IPv4(q.frags[j].ip).FragOffset()
	})
	head := q.frags[0]
	b := append([]byte(nil), head.ip...)
	truesize, tailroom, linear := head.truesize, head.tailroom, true
	csum := head.csum
	for i, f := range q.frags[1:] {
		n := len(f.ip) - f.ihl
		b = append(b, f.ip[f.ihl:]...)
		if f.csum != csum {
			csum = csumNone
		}
		if linear && n <= tailroom {
			tailroom -= n
			if h.tracing() {
				h.tracef("inet_frag_reasm_finish", "fragment "+itoa(i+1), "coalesced", "skb_try_coalesce: %d bytes copied into the head's tailroom (%d left); truesize unchanged", n, tailroom)
			}
			continue
		}
		linear = false
		truesize += f.truesize
		if h.tracing() {
			h.tracef("inet_frag_reasm_finish", "fragment "+itoa(i+1), "frag_list", "%d bytes do not fit the head's tailroom %d: chained, truesize += %d", n, tailroom, f.truesize)
		}
	}
	ip := header.IPv4(b)
	ip.SetTotalLength(uint16(len(b)))
	var fw uint16
	if q.maxDF != 0 && q.maxDF == q.maxSize {
		fw = header.IPv4DF
	}
	ip.SetFragWord(fw)
	ip.SetChecksum()
	if h.tracing() {
		h.tracef("ip_frag_reasm", "datagram", len(b), "%d fragments reassembled; truesize %d", len(q.frags), truesize)
	}
	return &rskb{ip: b, ihl: head.ihl, truesize: truesize, tailroom: tailroom, csum: csum}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
