package receive

import (
	"encoding/binary"
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells the receive half of net/ipv4/udp.c (with
// include/net/udplite.h and the checksum helpers of
// include/linux/skbuff.h): __udp4_lib_rcv, udp4_csum_init, the socket
// lookup (__udp4_lib_lookup, compute_score), udp_unicast_rcv_skb,
// udp_queue_rcv_skb and udp_queue_rcv_one_skb, __udp_enqueue_schedule_skb
// and udp_rmem_release; udp_recvmsg is in recvmsg.go.

// checksumBreak is CHECKSUM_BREAK: a datagram this short has its checksum
// completed on arrival; a longer one when it is copied to the reader.
const checksumBreak = 76

// udpRcv mirrors __udp4_lib_rcv (udp_rcv, udplite_rcv): length checks,
// the checksum's start, the lookup, then the socket's queue or, with no
// socket, NoPorts and an ICMP port unreachable.
func (h *Host) udpRcv(r *rskb, lite bool) {
	const fn = "__udp4_lib_rcv"
	mib := h.Counters.mib(false, lite)
	l4 := r.l4()
	if len(l4) < header.UDPLen {
		h.tracef(fn, "drop", "short", "pskb_may_pull(8) fails: InErrors")
		mib.InErrors++
		return
	}
	uh := header.UDP(l4)
	ulen := int(uh.Length())
	if ulen > len(l4) || (!lite && ulen < header.UDPLen) {
		h.tracef(fn, "drop", "short packet", "uh->len %d against %d bytes: InErrors", ulen, len(l4))
		mib.InErrors++
		return
	}
	if !lite {
		// pskb_trim_rcsum(skb, ulen): UDP validates ulen.
		r.ip = r.ip[:r.ihl+ulen]
		l4 = r.l4()
	}
	r.ulen = len(l4)
	if lite {
		// UDP-Lite's uh->len is its checksum coverage; the datagram is
		// the IP payload.
		r.ulen = len(l4)
	}
	if h.udp4CsumInit(r, lite) {
		h.tracef(fn, "drop", "bad checksum", "udp4_csum_init: InCsumErrors, InErrors")
		mib.InCsumErrors++
		mib.InErrors++
		return
	}
	ip := header.IPv4(r.ip)
	sk := h.udp4LibLookup(ip.Src(), uh.SrcPort(), ip.Dst(), uh.DstPort(), lite)
	if sk != nil {
		h.udpUnicastRcvSkb(sk, r)
		return
	}
	// No socket: drop silently if the checksum is wrong.
	if h.udpLibChecksumComplete(r) {
		h.tracef(fn, "drop", "bad checksum", "no socket and udp_lib_checksum_complete fails: InCsumErrors, InErrors, no ICMP")
		mib.InCsumErrors++
		mib.InErrors++
		return
	}
	mib.NoPorts++
	h.tracef(fn, "sk", "none", "no socket on %s:%d: NoPorts, icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)", ip.Dst(), uh.DstPort())
	h.icmpSend(r, icmpDestUnreach, icmpPortUnreach)
}

// udp4CsumInit mirrors udp4_csum_init (and udplite_checksum_init): it
// reports true for a datagram to drop as a checksum error. A checksum is
// completed here only when the datagram is at most CHECKSUM_BREAK bytes;
// a longer one waits for udp_recvmsg's copy.
func (h *Host) udp4CsumInit(r *rskb, lite bool) bool {
	const fn = "udp4_csum_init"
	uh := header.UDP(r.l4())
	r.partialCov, r.cscov = false, r.ulen
	if lite {
		if uh.Checksum() == 0 {
			h.tracef("udplite_checksum_init", "check", 0, "UDP-Lite mandates checksums: a zero one is an error")
			return true
		}
		cscov := int(uh.Length())
		switch {
		case cscov == 0: // full coverage
		case cscov < header.UDPLen || cscov > r.ulen:
			h.tracef("udplite_checksum_init", "cscov", cscov, "coverage outside 8..%d: discarded", r.ulen)
			return true
		case cscov < r.ulen:
			r.partialCov, r.cscov = true, cscov
			if r.csum == csumPartial {
				// A partial coverage is never offloaded; keep the model
				// honest should one arrive.
				r.csum = csumNone
			}
			r.csumValid = false
			h.tracef("udplite_checksum_init", "partial_cov", cscov, "coverage %d of %d bytes: verified at copy time", cscov, r.ulen)
			return false
		}
	}
	// skb_checksum_init_zero_check
	r.csumValid = false
	switch {
	case r.csum == csumPartial:
		r.csumValid = true
		h.tracef(fn, "ip_summed", "CHECKSUM_PARTIAL", "the sender's device was to finish the checksum; veth passed it on: skb_csum_unnecessary")
		return false
	case r.csum == csumUnnecessary:
		r.csumValid = true
		return false
	case uh.Checksum() == 0:
		r.csum, r.csumValid = csumUnnecessary, true
		h.tracef(fn, "check", 0, "zero checksum: the sender computed none (CHECKSUM_UNNECESSARY)")
		return false
	}
	if r.ulen <= checksumBreak {
		bad := !h.csumOK(r, r.ulen)
		r.csumValid = !bad
		h.tracef(fn, "csum", map[bool]string{false: "verified", true: "bad"}[bad], "skb->len %d <= CHECKSUM_BREAK %d: __skb_checksum_complete now", r.ulen, checksumBreak)
		return bad
	}
	h.tracef(fn, "csum", "deferred", "skb->len %d > CHECKSUM_BREAK %d: verified when udp_recvmsg copies it", r.ulen, checksumBreak)
	return false
}

// csumOK sums the pseudo-header and the first n bytes of the UDP header
// and payload: true when they fold to 0xffff (__skb_checksum_complete).
func (h *Host) csumOK(r *rskb, n int) bool {
	if r.ip[0]>>4 == 6 {
		return csumOK6(r, n)
	}
	ip := header.IPv4(r.ip)
	ps := header.PseudoHeaderSum(ip.Src4(), ip.Dst4(), ip.Protocol(), uint16(r.ulen))
	return header.Checksum(r.l4()[:n], ps) == 0xffff
}

// skbCsumUnnecessary is skb_csum_unnecessary: nothing left to verify.
func (r *rskb) skbCsumUnnecessary() bool {
	return r.csum == csumUnnecessary || r.csum == csumPartial || r.csumValid
}

// udpLibChecksumComplete mirrors udp_lib_checksum_complete: true when the
// checksum still to verify is bad (over the coverage for UDP-Lite).
func (h *Host) udpLibChecksumComplete(r *rskb) bool {
	if r.skbCsumUnnecessary() {
		return false
	}
	ok := h.csumOK(r, r.cscov)
	r.csumValid = ok
	return !ok
}

// udp4LibLookup mirrors __udp4_lib_lookup: the (daddr, port) slot first,
// where a connected socket ends the search and a bound one beats every
// wildcard, then the (0.0.0.0, port) slot. Within a slot, compute_score
// ranks the sockets; a reuseport group answers through
// inet_lookup_reuseport.
func (h *Host) udp4LibLookup(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16, lite bool) *Sock {
	const fn = "__udp4_lib_lookup"
	if sk := h.udp4LibLookup2(saddr, sport, daddr, dport, daddr, lite); sk != nil {
		if h.tracing() {
			h.tracef(fn, "sk", sk.index, "socket %d bound to %s:%d (%s) wins before any wildcard", sk.index, daddr, dport, sk.why(saddr, sport))
		}
		return sk
	}
	sk := h.udp4LibLookup2(saddr, sport, daddr, dport, netip.IPv4Unspecified(), lite)
	if sk != nil && h.tracing() {
		h.tracef(fn, "sk", sk.index, "socket %d, on the wildcard address (%s)", sk.index, sk.why(saddr, sport))
	}
	return sk
}

func (s *Sock) why(saddr netip.Addr, sport uint16) string {
	if s.connected {
		return "connected to " + netip.AddrPortFrom(saddr, sport).String() + ": compute_score +4 +4"
	}
	return "not connected"
}

// udp4LibLookupQuiet is the lookup GRO makes (udp4_gro_lookup_skb):
// the same answer, without the trace of the delivery's own lookup.
func (h *Host) udp4LibLookupQuiet(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16) *Sock {
	tr := h.cfg.Trace
	h.cfg.Trace = nil
	defer func() { h.cfg.Trace = tr }()
	return h.udp4LibLookup(saddr, sport, daddr, dport, false)
}

// udp4LibLookup2 mirrors udp4_lib_lookup2 over one hash slot: the sockets
// whose sk_rcv_saddr is slot, in chain order, the first of the highest
// score winning.
func (h *Host) udp4LibLookup2(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16, slot netip.Addr, lite bool) *Sock {
	var result *Sock
	badness := 0
	for _, sk := range h.chain {
		if sk.lite != lite || sk.v6only || sk.rcvSaddr4() != slot {
			continue
		}
		score := sk.computeScore(saddr, sport, daddr, dport)
		if score <= badness {
			continue
		}
		badness = score
		if sk.connected || !sk.reuseport {
			result = sk
			continue
		}
		// inet_lookup_reuseport: the group's pick, unless a connected
		// member makes the group fall back to scoring.
		grp := h.reuseportGroup(sk)
		pick := grp[h.reuseportHash(saddr, sport, daddr, dport)%uint64(len(grp))]
		if h.tracing() {
			h.tracef("inet_lookup_reuseport", "sk", pick.index, "reuseport group of %d sockets: reciprocal_scale(udp_ehashfn(4-tuple), %d), a hash keyed per boot (drawn from the seed)", len(grp), len(grp))
		}
		if !reuseportHasConns(grp) {
			return pick
		}
		result = sk
	}
	return result
}

// rcvSaddr4 is the socket's bound address as an IPv4 lookup sees it: an
// IPv6 wildcard socket that is not IPv6-only sits in the 0.0.0.0 slot.
func (s *Sock) rcvSaddr4() netip.Addr {
	if s.inet6 && s.rcvSaddr.IsUnspecified() {
		return netip.IPv4Unspecified()
	}
	return s.rcvSaddr
}

// computeScore mirrors compute_score: -1 for a socket that cannot take
// the datagram; 2 for AF_INET (1 for a dual-stack AF_INET6 socket), +4 for
// a connected peer address, +4 for a connected peer port. The bound device
// (+4) and the incoming CPU (+1) are not modelled: the peer's sockets bind
// no device, and no scenario binds two sockets alike without reuseport.
func (s *Sock) computeScore(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16) int {
	if s.num != dport {
		return -1
	}
	score := 2
	if s.inet6 {
		score = 1
	}
	if s.connected {
		if s.daddr != saddr {
			return -1
		}
		score += 4
		if s.dport != 0 {
			if s.dport != sport {
				return -1
			}
			score += 4
		}
	}
	return score
}

// reuseportGroup is the sock_reuseport group sk belongs to: the reuseport
// sockets bound to the same address and port, in the order they joined.
func (h *Host) reuseportGroup(sk *Sock) []*Sock {
	var g []*Sock
	for _, s := range h.socks {
		if s.reuseport && s.num == sk.num && s.rcvSaddr == sk.rcvSaddr && s.lite == sk.lite && s.inet6 == sk.inet6 {
			g = append(g, s)
		}
	}
	return g
}

func reuseportHasConns(g []*Sock) bool {
	for _, s := range g {
		if s.connected {
			return true
		}
	}
	return false
}

// reuseportHash stands for udp_ehashfn with the boot's secret: the same for
// every datagram of a flow, drawn from the seed.
func (h *Host) reuseportHash(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16) uint64 {
	x := h.cfg.Seed ^ 0x9e3779b97f4a7c15
	for _, b := range saddr.AsSlice() {
		x = mix(x ^ uint64(b))
	}
	for _, b := range daddr.AsSlice() {
		x = mix(x ^ uint64(b))
	}
	return mix(x ^ uint64(sport)<<16 ^ uint64(dport))
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// udpUnicastRcvSkb mirrors udp_unicast_rcv_skb: the datagram goes to the
// socket's queue (udp_queue_rcv_skb).
func (h *Host) udpUnicastRcvSkb(sk *Sock, r *rskb) {
	h.udpQueueRcvSkb(sk, r)
}

// udpQueueRcvSkb mirrors udp_queue_rcv_skb: a GSO skb that reaches a
// socket without UDP_GRO (udp_unexpected_gso) is segmented first
// (udp_rcv_segment), each segment queued on its own.
func (h *Host) udpQueueRcvSkb(sk *Sock, r *rskb) {
	if r.gsoSize == 0 || sk.groEnabled {
		if r.gsoSize > 0 && h.tracing() {
			h.tracef("udp_queue_rcv_skb", "gso_size", r.gsoSize, "a GSO skb for a socket with UDP_GRO: queued whole, read with the UDP_GRO control message")
		}
		h.udpQueueRcvOneSkb(sk, r)
		return
	}
	segs := h.udpRcvSegment(r)
	if h.tracing() {
		h.tracef("udp_unexpected_gso", "segments", len(segs), "a GSO skb (gso_size %d) for a socket without UDP_GRO: udp_rcv_segment cuts it", r.gsoSize)
	}
	for _, s := range segs {
		h.udpQueueRcvOneSkb(sk, s)
	}
}

// udpQueueRcvOneSkb mirrors udp_queue_rcv_one_skb: UDP-Lite's coverage
// demands, then __udp_queue_rcv_skb.
func (h *Host) udpQueueRcvOneSkb(sk *Sock, r *rskb) {
	const fn = "udp_queue_rcv_one_skb"
	mib := h.Counters.mib(r.v6(), sk.lite)
	if sk.pcflagRecv && r.partialCov {
		if sk.pcrlen == 0 {
			h.tracef(fn, "drop", "partial coverage", "coverage %d while the socket asked for full coverage (UDPLITE_RECV_CSCOV 0): InErrors", r.cscov)
			mib.InErrors++
			sk.drops++
			return
		}
		if r.cscov < sk.pcrlen {
			h.tracef(fn, "drop", "coverage too small", "coverage %d < UDPLITE_RECV_CSCOV %d: InErrors", r.cscov, sk.pcrlen)
			mib.InErrors++
			sk.drops++
			return
		}
	}
	h.udpQueueRcvSkbCore(sk, r)
}

// udpQueueRcvSkbCore mirrors __udp_queue_rcv_skb: the enqueue, and the
// counters of its failure (RcvbufErrors and InErrors for -ENOMEM).
func (h *Host) udpQueueRcvSkbCore(sk *Sock, r *rskb) {
	if !h.udpEnqueueScheduleSkb(sk, r) {
		mib := h.Counters.mib(r.v6(), sk.lite)
		mib.RcvbufErrors++
		mib.InErrors++
	}
}

// udpEnqueueScheduleSkb mirrors __udp_enqueue_schedule_skb on 6.18: the
// skb is refused when its truesize would take sk_rmem_alloc past
// sk_rcvbuf, unless the socket holds nothing yet ("Accept the packet if
// queue is empty", 6.15; measured, docs/receive-study.md section 5).
// Above half the buffer, skb_condense pulls page fragments that fit the
// tailroom into the head, and the skb is charged its head alone
// (SKB_TRUESIZE(skb_end_offset)); a linear kmalloc head or a frag list it
// does not pull keeps its truesize.
func (h *Host) udpEnqueueScheduleSkb(sk *Sock, r *rskb) bool {
	const fn = "__udp_enqueue_schedule_skb"
	rmem, rcvbuf, size := sk.rmemAlloc, sk.rcvbuf, r.truesize
	if rmem+size > rcvbuf && (rcvbuf > int(^uint32(0)>>2) || rmem != 0) {
		sk.drops++
		if h.tracing() {
			h.tracef(fn, "drop", "-ENOMEM", "socket %d: sk_rmem_alloc %d + truesize %d > sk_rcvbuf %d and the queue is not empty: RcvbufErrors, InErrors", sk.index, rmem, size, rcvbuf)
		}
		return false
	}
	if rmem > rcvbuf>>1 && r.paged > 0 && r.paged <= r.tailroom && !r.cloned {
		r.truesize -= r.paged
		r.tailroom -= r.paged
		r.paged = 0
		if h.tracing() {
			h.tracef("skb_condense", "truesize", r.truesize, "sk_rmem_alloc %d > sk_rcvbuf/2: the page fragments fit the tailroom and are pulled into the head", rmem)
		}
		size = r.truesize
	}
	sk.rmemAlloc += size
	sk.receiveQ = append(sk.receiveQ, r)
	if h.tracing() {
		why := "sk_rmem_alloc %d + truesize %d <= sk_rcvbuf %d"
		if rmem+size > rcvbuf {
			why = "sk_rmem_alloc %d + truesize %d > sk_rcvbuf %d, but the queue was empty: always accepted"
		}
		h.tracef(fn, "socket "+itoa(sk.index), "queued", why, rmem, size, rcvbuf)
	}
	return true
}

// udpRmemRelease mirrors udp_rmem_release for a dequeued skb (partial):
// its truesize joins forward_deficit, and sk_rmem_alloc drops only once
// the deficit reaches forward_threshold (sk_rcvbuf >> 2) or the reader
// queue is empty.
func (h *Host) udpRmemRelease(sk *Sock, size int) {
	sk.fwdDeficit += size
	if sk.fwdDeficit < sk.fwdThreshold && len(sk.readerQ) > 0 {
		if h.tracing() {
			h.tracef("udp_rmem_release", "forward_deficit", sk.fwdDeficit, "below forward_threshold %d with the reader queue not empty: sk_rmem_alloc stays %d", sk.fwdThreshold, sk.rmemAlloc)
		}
		return
	}
	sk.rmemAlloc -= sk.fwdDeficit
	if h.tracing() {
		h.tracef("udp_rmem_release", "sk_rmem_alloc", sk.rmemAlloc, "%d bytes released", sk.fwdDeficit)
	}
	sk.fwdDeficit = 0
	// "this can save us from acquiring the rx queue lock on next
	// receive": the receive queue joins the reader queue.
	sk.readerQ = append(sk.readerQ, sk.receiveQ...)
	sk.receiveQ = sk.receiveQ[:0]
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
