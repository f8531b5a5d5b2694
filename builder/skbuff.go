package builder

import (
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// This file holds the model's sk_buff: the skbs a datagram is built from
// (include/linux/skbuff.h) and the allocation arithmetic of
// net/core/skbuff.c that decides where their bytes live and what they cost
// the socket. Both address families share it.

// csumMode is skb->ip_summed as the send path uses it.
type csumMode uint8

const (
	csumNone        csumMode = iota // CHECKSUM_NONE: software computes it
	csumUnnecessary                 // CHECKSUM_UNNECESSARY: set on GSO skbs by udp_send_skb
	csumPartial                     // CHECKSUM_PARTIAL: the device finishes it
)

func (c csumMode) String() string {
	return [...]string{"CHECKSUM_NONE", "CHECKSUM_UNNECESSARY", "CHECKSUM_PARTIAL"}[c]
}

// skbQueue is a datagram under construction (a socket's sk_write_queue,
// or ip_make_skb's private queue): the UDP header and payload (one
// contiguous byte slice, or the header alone with the payload held by
// reference in ext), plus the length (skb->len, network header included)
// of every skb __ip_append_data allocated. The skb boundaries are all that
// is visible later, through ip_do_fragment's fast path.
type skbQueue struct {
	// buf holds l4 at offset headroom: the room in front lets the output
	// path build each frame's headers right before its data, as the
	// kernel builds them in an skb's headroom, instead of copying data.
	buf []byte
	l4  []byte // UDP header (+ payload unless ext is set): buf[headroom:...]
	// ext, when set, is the payload of a datagram built by one call
	// (ip_make_skb), held by reference instead of copied into l4, which
	// then holds the UDP header alone. The kernel copies the caller's
	// bytes (getfrag); the model can skip the copy because a datagram
	// built by one call is sent before Sendmsg returns, and nothing
	// writes to the payload on the way.
	ext  []byte
	lens []int // skb->len of each skb, fragheaderlen included
	room []int // skb_tailroom of each skb: linear space left
	// truesize is each skb's skb->truesize: its head allocation
	// (SKB_TRUESIZE of the kmalloc size) plus the page-fragment bytes
	// copied into it. The peer's receive buffer is charged with it.
	truesize []int
	summed   csumMode
	// charged is what the queue's skbs add to sk_wmem_alloc: truesize
	// of every skb plus the bytes copied into page fragments.
	charged int
}

func (q *skbQueue) empty() bool { return len(q.lens) == 0 }

// headroom is the space kept in front of a datagram's bytes: an Ethernet
// header, the largest IPv4 header and a UDP header fit in it.
const headroom = 128

// appendL4 appends p to the datagram's bytes, keeping the headroom.
func (q *skbQueue) appendL4(p []byte) {
	n := len(q.l4)
	if cap(q.buf) < headroom+n+len(p) {
		nb := make([]byte, headroom+max(2*(n+len(p)), 2048))
		copy(nb[headroom:], q.l4)
		q.buf = nb
	}
	q.buf = q.buf[:cap(q.buf)]
	q.l4 = q.buf[headroom : headroom+n+len(p)]
	copy(q.l4[n:], p)
}

func (q *skbQueue) reset() {
	q.l4 = q.l4[:0]
	q.ext = nil
	q.lens = q.lens[:0]
	q.room = q.room[:0]
	q.truesize = q.truesize[:0]
	q.summed = csumNone
	q.charged = 0
}

// copyInto accounts for cp bytes copied into skb i after its allocation:
// linear when the device lacks scatter-gather and the skb has tailroom,
// otherwise into page fragments, which are charged to the socket.
func (q *skbQueue) copyInto(i, cp int, sg bool) {
	if !sg && q.room[i] >= cp {
		q.room[i] -= cp
		return
	}
	q.charged += cp
	q.truesize[i] += cp
}

// Layout constants of skb allocation on x86_64 (4 KiB pages, 64-byte
// cache lines, MAX_SKB_FRAGS 17). They decide where bytes live, linear or
// in page fragments, and how much write memory a datagram costs the socket,
// which is what ENOBUFS depends on; never the bytes themselves.
const (
	hhLen         = 16     // LL_RESERVED_SPACE of an Ethernet device
	skbMaxAlloc   = 16064  // SKB_MAX_ORDER(0, 2)
	skbSharedInfo = 320    // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	skbOverhead   = 256    // SKB_DATA_ALIGN(sizeof(struct sk_buff))
	skbSmallHead  = 576    // SKB_SMALL_HEAD_CACHE_SIZE
	sockSndbuf    = 212992 // sk_sndbuf: net.core.wmem_default
	smpCacheBytes = 64
)

// skbHeadSize is the size of the head buffer __alloc_skb gets for a
// request of size bytes (kmalloc_reserve): heads up to the small-head cache
// size come from that cache, larger ones from kmalloc, rounded up to its
// next size (powers of two from 1 KiB, pages beyond 8 KiB). The skb's
// truesize is this plus skbOverhead (SKB_TRUESIZE).
func skbHeadSize(size int) int {
	obj := (size+smpCacheBytes-1)&^(smpCacheBytes-1) + skbSharedInfo
	if obj <= skbSmallHead {
		return skbSmallHead
	}
	p := 1024
	for p < obj {
		p <<= 1
	}
	return p
}

// Datagram is one skb handed to the IP output path: the IP header
// __ip_make_skb built, the UDP header udp_send_skb filled and the payload,
// with what the output path needs to cut it into frames.
type Datagram struct {
	// Step is the scenario step whose call emitted the datagram.
	Step int
	// IPv6 is set for an IPv6 datagram (udpv6_sendmsg's).
	IPv6 bool
	// IP is the network header: the IPv4 header, options included, or the
	// IPv6 header and its extension headers (hop-by-hop, destination
	// options before the routing header, routing header, IPV6_DSTOPTS),
	// as __ip6_make_skb pushes them.
	IP []byte
	// UDP is the UDP (or UDP-Lite) header, Payload what follows it: the
	// socket's copy of corked data, or the caller's own bytes for a
	// datagram one call built (never written to).
	UDP, Payload []byte
	// SkbTruesize and SkbRoom are each skb's truesize and tailroom (see
	// skbQueue): what a receiver's buffer is charged for the datagram and
	// where ip_defrag may copy a later fragment.
	SkbTruesize, SkbRoom []int
	// SkbData is the data length of each skb of the frag list after the
	// network header, the first including the UDP header. For IPv6 the
	// first counts what follows IP, the others what follows the
	// fragheaderlen bytes (the headers before the fragment header) that
	// __ip6_append_data reserved in each.
	SkbData []int
	// Summed is the skb's ip_summed when it reaches the device.
	Summed csumMode
	// IgnoreDF is skb->ignore_df.
	IgnoreDF bool
	// GSOSize and GSOSegs are set when the skb is a GSO super-packet.
	GSOSize, GSOSegs int
	// IDWhy says where the IP ID came from; IDSource names the rule.
	IDWhy    string
	IDSource report.IDSource
	// FlowLabel is report.LabelAuto when an IPv6 datagram's flow label is
	// ip6_make_flowlabel's hash rather than one the program gave.
	FlowLabel report.LabelSource
	// Proto is the IP protocol number.
	Proto uint8
	// final is the IPv6 final destination (fl6->daddr), which the
	// pseudo-header sums; with a routing header the IPv6 header holds the
	// first hop instead. fhl is the length of the IPv6 header and the
	// extension headers before the fragment header (__ip6_append_data's
	// fragheaderlen, as pushed).
	final [16]byte
	fhl   int
	// buf holds UDP at offset headroom (see skbQueue.buf), and Payload
	// right after it when contig is set.
	buf    []byte
	contig bool
	// mtu is the MTU ip_finish_output (ip6_finish_output) holds it to:
	// ip_skb_dst_mtu, the path MTU of the cork's route or the device's
	// (ip_sk_use_pmtu), as the cork took it when the datagram began.
	mtu int
}

// reset makes d a new datagram of step on the socket's reused storage:
// every field as the zero Datagram has it but the buffers, whose memory is
// kept. Field by field rather than `*d = Datagram{...}`: the composite
// literal zeroes all ~250 bytes and then writes them again, which showed
// as 6% of a 64-byte send (issue 13's benchmark regression).
func (d *Datagram) reset(step int, v6 bool, proto uint8, summed csumMode) {
	d.Step, d.IPv6, d.Proto, d.Summed = step, v6, proto, summed
	d.IP, d.SkbData = d.IP[:0], d.SkbData[:0]
	d.UDP, d.Payload = nil, nil
	d.IgnoreDF = false
	d.GSOSize, d.GSOSegs = 0, 0
	d.IDWhy, d.IDSource, d.FlowLabel = "", "", ""
	d.final, d.fhl = [16]byte{}, 0
	d.contig = false
	d.mtu = 0
}

// L4Len is the length of the UDP header and payload.
func (d *Datagram) L4Len() int { return udpHdrLen + len(d.Payload) }

// Len is skb->len: the network header, the UDP header and the payload.
func (d *Datagram) Len() int { return len(d.IP) + d.L4Len() }

// l4Sum is the folded one's complement sum of the first n bytes of the
// UDP header and payload, added to initial. The header's 8 bytes keep the
// payload's words aligned, so the two sums chain.
func (d *Datagram) l4Sum(n int, initial uint16) uint16 {
	if n <= udpHdrLen {
		return header.Checksum(d.UDP[:n], initial)
	}
	return header.Checksum(d.Payload[:n-udpHdrLen], header.Checksum(d.UDP, initial))
}
