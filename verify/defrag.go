package verify

import (
	"fmt"
	"math/bits"
	"net/netip"
	"sort"
	"strings"
)

// Reassembly defaults: the kernel's sysctl defaults.
const (
	// DefaultFragHighThresh is net.ipv4.ipfrag_high_thresh: 4 MiB.
	DefaultFragHighThresh = 4 << 20
	// DefaultFragTimeSeconds is net.ipv4.ipfrag_time: 30 seconds.
	DefaultFragTimeSeconds = 30
	// DefaultFragMaxDist is net.ipv4.ipfrag_max_dist.
	DefaultFragMaxDist = 64
	// DefaultFrag6HighThresh is net.ipv6.ip6frag_high_thresh: 4 MiB,
	// counted apart from IPv4's (each family has its own fqdir).
	DefaultFrag6HighThresh = 4 << 20
	// DefaultFrag6TimeSeconds is net.ipv6.ip6frag_time: 60 seconds.
	DefaultFrag6TimeSeconds = 60
)

// Memory accounting constants (see fragTruesize), as Linux 6.18 on x86-64
// has them; TestKernelAgrees/ipfrag_high_thresh checks them against the
// running kernel's own count (/proc/net/sockstat).
const (
	// ipqSize is sizeof(struct ipq), which inet_frag_alloc charges to
	// the fragment memory for every queue; frag6QueueSize is IPv6's
	// sizeof(struct frag_queue) (struct inet_frag_queue, then iif,
	// nhoffset and ecn: 176 + 8).
	ipqSize        = 200
	frag6QueueSize = 184
	// skbOverhead is SKB_DATA_ALIGN(sizeof(struct sk_buff)), part of
	// every skb's truesize; skbSharedInfo is
	// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), allocated behind
	// an skb's data.
	skbOverhead   = 256
	skbSharedInfo = 320
	// skbSmallHead is SKB_SMALL_HEAD_CACHE_SIZE: heads of up to
	// skbSmallHead-skbSharedInfo bytes come from skb_small_head_cache.
	skbSmallHead = 576
	// skbReserve is the headroom AF_PACKET's packet_snd allocates in
	// front of a frame on a veth: LL_RESERVED_SPACE, 16 bytes.
	skbReserve = 16
)

// maxListed bounds the frames a verdict lists beyond its queued fragments
// (duplicates, fragments dropped for memory), and maxNotes its notes: a
// stream of duplicates must not grow a queue.
const (
	maxListed = 16
	maxNotes  = 8
)

// fragTruesize is the skb->truesize ip_frag_queue charges for a fragment
// that arrived in a frame of n bytes. The capture cannot show it: it
// depends on how the driver allocated the skb. Used here is a linear skb as
// AF_PACKET sends it through a veth (the path TestKernelAgrees takes):
// __alloc_skb for the frame and its headroom, from skb_small_head_cache
// when that fits, else from a kmalloc bucket (a power of two) holding the
// cache-aligned data and skb_shared_info; SKB_TRUESIZE adds the sk_buff. A
// NIC that receives into pages charges 2 or 4 KiB even for small frames,
// so the number of queues at which ipfrag_high_thresh bites is an
// estimate for captures from other hosts.
func fragTruesize(n int) int {
	data := (n + skbReserve + 63) &^ 63
	if data+skbSharedInfo <= skbSmallHead {
		return skbSmallHead + skbOverhead
	}
	return 1<<bits.Len(uint(data+skbSharedInfo-1)) + skbOverhead
}

// fragKey identifies a reassembly queue: as ip_find does for IPv4
// (frag_v4_compare_key without the vif and defrag user, which a capture
// cannot show), as fq_find does for IPv6 (frag_v6_compare_key: the 32-bit
// identification and the addresses, no protocol; the ifindex it adds for
// link-local and multicast destinations is the one device a capture is
// taken to be from).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only
}

// fragPiece is one queued fragment: [offset,end) of the datagram's data,
// already trimmed, of which the capture kept data (len(data) <= end-offset).
type fragPiece struct {
	offset, end int
	data        []byte
}

// fragRun is a run of adjacent fragments, the unit inet_frag_queue_insert
// keeps in its rbtree. A run only grows at the tail of the queue
// (fragrun_append_to_last); a fragment placed by the tree search always
// starts a run of its own, even when it touches a neighbour.
type fragRun struct {
	start, end int
	pieces     []fragPiece
}

// fragQueue mirrors struct ipq and its inet_frag_queue.
type fragQueue struct {
	key fragKey
	// frames lists the frames of the queue's fragments; listed counts
	// those beyond the queued ones (duplicates, memory drops), more the
	// ones past maxListed, which are only counted.
	frames       []int
	listed, more int
	runs         []fragRun // sorted by start; never overlapping
	// firstIn and lastIn are INET_FRAG_FIRST_IN and INET_FRAG_LAST_IN.
	firstIn, lastIn bool
	// length is q.len: the datagram's data length once the final
	// fragment is in, else the furthest end seen. meat counts the bytes
	// queued.
	length, meat int
	// ecn ORs ip4_frag_ecn of every queued fragment.
	ecn uint8
	// headIHL is the header length of the offset-0 fragment (IPv6: its
	// unfragmentable part, the fixed header included), nexthdr (IPv6)
	// the next header its fragment header names: where the receive path
	// resumes once the datagram is whole (nhoffset).
	headIHL int
	nexthdr uint8
	rid     uint32
	notes   []string
	// dropped counts notes not kept.
	dropped int
	// where says where the first fragment was found.
	where string
	// mem is what the queue charges to the fragment memory.
	mem      int64
	deadline int64
	// prev and next link the live queues in deadline order.
	prev, next *fragQueue
	// cut names the first queued fragment the capture did not keep
	// whole ("" if none).
	cut string
}

// fragEvent is a queue's fate: reassembled (done) or discarded.
type fragEvent struct {
	key         fragKey
	frames      []int
	more        int
	notes       string
	where       string
	first       []byte // captured data of the offset-0 fragment, if queued
	nexthdr     uint8  // IPv6: what first (and payload) start with
	payload     []byte // the reassembled data the capture kept, when done
	full        int    // the reassembled data's length, when done
	done        bool
	notCaptured bool // done, but the capture cut a fragment
	code        Code
	reason      string
}

// fragConfig holds the sysctls reassembly obeys, and the family.
type fragConfig struct {
	highThresh int64
	timeout    int64 // nanoseconds of capture time
	maxDist    uint32
	// v6 selects ip6_frag_queue's rules over ip_frag_queue's.
	v6 bool
}

// qsize is what a queue itself charges (inet_frags.qsize).
func (c fragConfig) qsize() int64 {
	if c.v6 {
		return frag6QueueSize
	}
	return ipqSize
}

// fragPeer is what ip_frag_too_far reads of struct inet_peer: the count of
// fragments from one source. It is kept while the source has a live queue,
// the only time the count matters.
type fragPeer struct {
	rid  uint32
	refs int
}

// defragger holds the reassembly queues of one capture (ip4_frags' hash
// table) and the per-source counters ip_frag_too_far reads (inet_peer.rid).
//
// Memory is bounded as the kernel bounds it: every queue and every queued
// fragment is charged to mem (fragTruesize), and while mem exceeds
// ipfrag_high_thresh inet_frag_find refuses every fragment; queues leave
// when they complete, fail, or expire after ipfrag_time of capture time.
// What is kept per queue beyond the queued bytes is bounded by maxListed
// and maxNotes.
type defragger struct {
	cfg    fragConfig
	queues map[fragKey]*fragQueue
	// head and tail are the live queues by deadline, oldest first
	// (creation order, a queue ip_frag_reinit restarted moving to the
	// tail).
	head, tail *fragQueue
	peers      map[netip.Addr]*fragPeer
	mem        int64
	out        func(*fragEvent)
	// spare queues and bufs hold what dead queues leave, for the next
	// ones: a capture of fragments then runs without allocating.
	spare []*fragQueue
	bufs  bufPool
}

func newDefragger(cfg fragConfig, out func(*fragEvent)) *defragger {
	return &defragger{cfg: cfg, queues: map[fragKey]*fragQueue{}, peers: map[netip.Addr]*fragPeer{}, out: out}
}

// maxSpare bounds the dead queues kept for reuse.
const maxSpare = 64

// link appends q to the deadline list; unlink takes it out.
func (d *defragger) link(q *fragQueue) {
	q.prev, q.next = d.tail, nil
	if d.tail != nil {
		d.tail.next = q
	} else {
		d.head = q
	}
	d.tail = q
}

func (d *defragger) unlink(q *fragQueue) {
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		d.head = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		d.tail = q.prev
	}
	q.prev, q.next = nil, nil
}

// newQueue returns an empty queue, a spare one if there is one.
func (d *defragger) newQueue(key fragKey, where string, now int64) *fragQueue {
	var q *fragQueue
	if n := len(d.spare); n > 0 {
		q, d.spare = d.spare[n-1], d.spare[:n-1]
		*q = fragQueue{frames: q.frames[:0], runs: q.runs[:0], notes: q.notes[:0]}
	} else {
		q = &fragQueue{}
	}
	q.key, q.where, q.mem, q.deadline = key, where, d.cfg.qsize(), now+d.cfg.timeout
	return q
}

// recycle takes back the buffers of a dead queue's fragments, and the
// queue itself, once its event has been handled.
func (d *defragger) recycle(q *fragQueue) {
	d.release(q.runs)
	if len(d.spare) < maxSpare {
		clear(q.runs)
		d.spare = append(d.spare, q)
	}
}

// release returns the fragment buffers of runs to the pool.
func (d *defragger) release(runs []fragRun) {
	for _, r := range runs {
		for _, p := range r.pieces {
			d.bufs.put(p.data)
		}
	}
}

// bufPool recycles byte buffers by power-of-two size class (64 bytes to
// 64 KiB). What it holds is bounded by maxPooled; what is in use is
// charged to the fragment memory like the kernel's skbs.
type bufPool struct {
	free [11][][]byte
	held int
}

const maxPooled = 1 << 20

// class is the size class of a buffer of capacity n (n a power of two
// from 64 on) or for a request of n bytes.
func bufClass(n int) int { return max(bits.Len(uint(max(n, 64)-1)), 6) - 6 }

// get returns a buffer of length n.
func (b *bufPool) get(n int) []byte {
	c := bufClass(n)
	if c >= len(b.free) {
		return make([]byte, n)
	}
	if k := len(b.free[c]); k > 0 {
		buf := b.free[c][k-1]
		b.free[c] = b.free[c][:k-1]
		b.held -= cap(buf)
		return buf[:n]
	}
	return make([]byte, n, 64<<c)
}

// put takes back a buffer get returned.
func (b *bufPool) put(buf []byte) {
	c := bufClass(cap(buf))
	if c >= len(b.free) || cap(buf) != 64<<c || b.held+cap(buf) > maxPooled {
		return
	}
	b.held += cap(buf)
	b.free[c] = append(b.free[c], buf[:0])
}

// insertResult is inet_frag_queue_insert's return value.
type insertResult int

const (
	insertOK insertResult = iota
	insertDup
	insertOverlap
)

// insert places p into the queue as inet_frag_queue_insert does: after the
// tail when it extends past it (an overlap with the tail is fatal),
// otherwise by tree search, where a fragment wholly inside one run is a
// duplicate and any other intersection is an overlap.
func (q *fragQueue) insert(p fragPiece) insertResult {
	if len(q.runs) == 0 {
		q.runs = append(q.runs, fragRun{start: p.offset, end: p.end, pieces: []fragPiece{p}})
		return insertOK
	}
	last := &q.runs[len(q.runs)-1]
	tailEnd := last.pieces[len(last.pieces)-1].end
	if tailEnd < p.end {
		switch {
		case p.offset < tailEnd:
			return insertOverlap
		case p.offset == tailEnd:
			last.pieces = append(last.pieces, p)
			last.end = p.end
		default:
			q.runs = append(q.runs, fragRun{start: p.offset, end: p.end, pieces: []fragPiece{p}})
		}
		return insertOK
	}
	// The tree search meets at most one run that intersects, since runs
	// never overlap: the first run ending after our offset. A binary
	// search over the sorted runs finds the same one.
	at := sort.Search(len(q.runs), func(i int) bool { return q.runs[i].end > p.offset })
	if at < len(q.runs) && q.runs[at].start < p.end {
		r := q.runs[at]
		if p.offset >= r.start && p.end <= r.end {
			return insertDup
		}
		return insertOverlap
	}
	q.runs = append(q.runs, fragRun{})
	copy(q.runs[at+1:], q.runs[at:])
	q.runs[at] = fragRun{start: p.offset, end: p.end, pieces: []fragPiece{p}}
	return insertOK
}

// note adds a remark to the queue's verdict, keeping at most maxNotes.
func (q *fragQueue) note(s string) {
	if len(q.notes) < maxNotes {
		q.notes = append(q.notes, s)
	} else {
		q.dropped++
	}
}

// listFrames adds frames that bring no queued data.
func (q *fragQueue) listFrames(frames []int) {
	for _, f := range frames {
		if q.listed < maxListed {
			q.frames = append(q.frames, f)
			q.listed++
		} else {
			q.more++
		}
	}
}

// fragIn is one fragment as ip_defrag (ipv6_frag_rcv) sees it.
type fragIn struct {
	key fragKey
	// offset is the fragment offset in bytes, more the MF flag, ecn the
	// header's ECN bits.
	offset int
	more   bool
	ecn    uint8
	// headLen is what precedes the data: the IPv4 header, or the IPv6
	// header and the extension headers before the fragment header;
	// nexthdr (IPv6) is the fragment header's next header.
	headLen int
	nexthdr uint8
	// data is the captured part of the fragment's data; full its length
	// per tot_len.
	data []byte
	full int
	// frames are the frames it came in (one, or those of an outer
	// datagram it was tunnelled in); frameLen the wire length charged.
	frames   []int
	frameLen int
	where    func() string
	now      int64
	// scratch is where a reassembled datagram is joined: one buffer
	// for each tunnel depth, since a datagram reassembled inside a
	// tunnel is judged while the tunnel's datagram still is.
	scratch *[]byte
}

// add feeds one fragment to its queue, as ip_defrag, ip_find and
// ip_frag_queue do (IPv6: ipv6_frag_rcv, fq_find and ip6_frag_queue); what
// becomes of queues is passed to d.out.
func (d *defragger) add(in fragIn) {
	key := in.key
	q := d.queues[key]
	frame := in.frames[0]

	// inet_frag_find: over the high threshold, no queue is found or made.
	if d.mem > d.cfg.highThresh {
		name := "ipfrag_high_thresh"
		if d.cfg.v6 {
			name = "ip6frag_high_thresh"
		}
		msg := fmt.Sprintf("fragment queues held %d bytes, more than %s %d (inet_frag_find)", d.mem, name, d.cfg.highThresh)
		if q != nil {
			q.listFrames(in.frames)
			q.note(fmt.Sprintf("frame %d dropped: %s", frame, msg))
			return
		}
		ev := fragEvent{key: key, frames: in.frames, where: in.where(), code: CodeFragMemory,
			reason: fmt.Sprintf("fragment dropped: %s", msg)}
		if in.offset == 0 {
			ev.first = in.data
		}
		ev.nexthdr = in.nexthdr
		d.out(&ev)
		return
	}
	if q == nil {
		q = d.newQueue(key, in.where(), in.now)
		d.queues[key] = q
		d.link(q)
		d.mem += d.cfg.qsize()
		if d.cfg.maxDist > 0 {
			p := d.peers[key.src]
			if p == nil {
				p = &fragPeer{}
				d.peers[key.src] = p
			}
			p.refs++
		}
	}

	// ip_frag_too_far: every fragment from this source bumps the peer's
	// counter; a queue that has waited for more than ipfrag_max_dist of
	// them is emptied by ip_frag_reinit and starts over with this one.
	// IPv6 has no such rule.
	if d.cfg.maxDist > 0 {
		peer := d.peers[key.src]
		peer.rid++
		now, start := peer.rid, q.rid
		q.rid = now
		if len(q.runs) > 0 && now-start > d.cfg.maxDist {
			ev := q.event()
			ev.code = CodeFragReset
			ev.reason = fmt.Sprintf("%d fragments from this source (the last one included) since the queue last grew, more than ipfrag_max_dist %d (ip_frag_too_far)", now-start, d.cfg.maxDist)
			d.mem -= q.mem - ipqSize
			old := q.runs
			d.unlink(q)
			*q = fragQueue{key: key, where: in.where(), mem: ipqSize, rid: now, deadline: in.now + d.cfg.timeout}
			d.link(q)
			d.out(&ev)
			d.release(old)
		}
	}

	offset := in.offset
	end := offset + in.full
	if d.cfg.v6 {
		// ip6_frag_queue refuses these before touching the queue, with
		// an ICMPv6 parameter problem: the fragment is dropped, the
		// queue fq_find made or found stays.
		reject := func(code Code, reason string) {
			ev := fragEvent{key: key, frames: in.frames, where: in.where(), code: code, reason: reason}
			if offset == 0 {
				ev.first = in.data
			}
			ev.nexthdr = in.nexthdr
			d.out(&ev)
		}
		if end > ipv6MaxPayload {
			reject(CodeFragBeyond, fmt.Sprintf("fragment at offset %d with %d bytes reaches %d, beyond 65535 (ip6_frag_queue; ICMPv6 parameter problem)", offset, in.full, end))
			return
		}
		if in.more && end&7 != 0 {
			reject(CodeFragMisaligned, fmt.Sprintf("non-final fragment of %d bytes at offset %d ends at %d, not a multiple of 8 (ip6_frag_queue; ICMPv6 parameter problem)", in.full, offset, end))
			return
		}
	}
	q.frames = append(q.frames, in.frames...)

	if !in.more {
		// The final fragment fixes the length; it may not cut off data
		// already queued nor disagree with an earlier final fragment.
		if end < q.length || (q.lastIn && end != q.length) {
			d.discard(q, CodeFragLength,
				fmt.Sprintf("final fragment (frame %d) ends at %d but the datagram is known to reach %d (%s)", frame, end, q.length, d.fn("ip_frag_queue")))
			return
		}
		q.lastIn = true
		q.length = end
	} else {
		if end&7 != 0 {
			q.note(fmt.Sprintf("frame %d: non-final fragment data %d bytes is not a multiple of 8; trimmed to %d (ip_frag_queue)", frame, end-offset, end&^7-offset))
			end &^= 7
		}
		if end > q.length {
			if q.lastIn {
				d.discard(q, CodeFragLength,
					fmt.Sprintf("fragment (frame %d) reaches %d, beyond the final fragment's end %d (%s)", frame, end, q.length, d.fn("ip_frag_queue")))
				return
			}
			q.length = end
		}
	}
	if end <= offset {
		d.discard(q, CodeFragEmpty,
			fmt.Sprintf("fragment (frame %d) at offset %d carries no data (%s)", frame, offset, d.fn("ip_frag_queue")))
		return
	}
	piece := fragPiece{offset: offset, end: end}
	switch q.insert(piece) {
	case insertDup:
		q.frames = q.frames[:len(q.frames)-len(in.frames)]
		q.listFrames(in.frames)
		q.note(fmt.Sprintf("frame %d: duplicate of queued data [%d,%d), ignored (inet_frag_queue_insert)", frame, offset, end))
		return
	case insertOverlap:
		d.discard(q, CodeFragOverlap,
			fmt.Sprintf("fragment (frame %d) [%d,%d) overlaps queued data; whole datagram discarded (inet_frag_queue_insert)", frame, offset, end))
		return
	}
	// Queued: keep the captured bytes (the frame's buffer is reused).
	kept := in.data[:min(len(in.data), end-offset)]
	buf := d.bufs.get(len(kept))
	copy(buf, kept)
	q.setData(offset, buf)
	if len(kept) < end-offset && q.cut == "" {
		q.cut = fmt.Sprintf("frame %d (%d of its %d data bytes captured)", frame, len(kept), end-offset)
	}
	ts := int64(fragTruesize(in.frameLen))
	q.mem += ts
	d.mem += ts
	q.meat += end - offset
	q.ecn |= 1 << (in.ecn & 3)
	if offset == 0 {
		q.firstIn = true
		q.headIHL = in.headLen
	}
	if offset == 0 || !q.firstIn {
		// The first fragment's next header, or, until it comes, the
		// latest fragment's: what a verdict names when it never does.
		q.nexthdr = in.nexthdr
	}
	if q.firstIn && q.lastIn && q.meat == q.length {
		d.reasm(q, in.scratch)
	}
}

// fn names the family's version of an IPv4 reassembly function.
func (d *defragger) fn(name string) string {
	if !d.cfg.v6 {
		return name
	}
	switch name {
	case "ip_frag_queue":
		return "ip6_frag_queue"
	case "ip_frag_reasm":
		return "ip6_frag_reasm"
	case "ip_expire":
		return "ip6_frag_expire"
	}
	return name
}

// setData stores the captured bytes of the piece just inserted at offset.
func (q *fragQueue) setData(offset int, data []byte) {
	at := sort.Search(len(q.runs), func(i int) bool { return q.runs[i].end > offset })
	r := &q.runs[at]
	for k := len(r.pieces) - 1; k >= 0; k-- {
		if r.pieces[k].offset == offset {
			r.pieces[k].data = data
			return
		}
	}
}

// event snapshots a queue for a fragEvent.
func (q *fragQueue) event() fragEvent {
	ev := fragEvent{key: q.key, frames: q.frames, more: q.more, where: q.where, nexthdr: q.nexthdr}
	sort.Ints(ev.frames)
	if len(q.runs) > 0 && q.runs[0].start == 0 {
		ev.first = q.runs[0].pieces[0].data
	}
	notes := q.notes
	if q.dropped > 0 {
		notes = append(notes[:len(notes):len(notes)], fmt.Sprintf("%d more notes like these", q.dropped))
	}
	ev.notes = strings.Join(notes, "; ")
	return ev
}

// kill mirrors inet_frag_kill: the queue leaves the table, its memory is
// released; a later fragment with the same key starts a new queue.
func (d *defragger) kill(q *fragQueue) {
	delete(d.queues, q.key)
	d.unlink(q)
	d.mem -= q.mem
	if p := d.peers[q.key.src]; p != nil {
		if p.refs--; p.refs <= 0 {
			delete(d.peers, q.key.src)
		}
	}
}

// discard is inet_frag_kill on the discard_qp path.
func (d *defragger) discard(q *fragQueue, code Code, reason string) {
	ev := q.event()
	ev.code, ev.reason = code, reason
	d.kill(q)
	d.out(&ev)
	d.recycle(q)
}

// reasm mirrors ip_frag_reasm: the queue is killed first, then an invalid
// ECN mix or a datagram over 65535 bytes fails, else the data is joined
// (into *scratch, grown as needed) behind the offset-0 fragment's header.
func (d *defragger) reasm(q *fragQueue, scratch *[]byte) {
	d.kill(q)
	defer d.recycle(q)
	ev := q.event()
	// ip_frag_ecn_table: Not-ECT mixed with any ECT/CE value is 0xff.
	if q.ecn&1 != 0 && q.ecn&^1 != 0 {
		ev.code = CodeFragECN
		ev.reason = "fragments mix Not-ECT with ECT/CE (" + d.fn("ip_frag_reasm") + ")"
		d.out(&ev)
		return
	}
	if d.cfg.v6 {
		// The payload length: the unfragmentable extension headers of
		// the first fragment and the data.
		if total := q.headIHL - ipv6HeaderLen + q.length; total > ipv6MaxPayload {
			ev.code = CodeFragOversize
			ev.reason = fmt.Sprintf("reassembled payload of %d bytes exceeds 65535 (ip6_frag_reasm)", total)
			d.out(&ev)
			return
		}
	} else if total := q.headIHL + q.length; total > ipMaxTotLen {
		ev.code = CodeFragOversize
		ev.reason = fmt.Sprintf("reassembled datagram of %d bytes exceeds 65535 (ip_frag_reasm)", total)
		d.out(&ev)
		return
	}
	// The bytes the capture kept, up to the first gap a cut left.
	if cap(*scratch) < q.length {
		*scratch = make([]byte, 0, max(q.length, 2*cap(*scratch)))
	}
	buf := (*scratch)[:0]
	for _, r := range q.runs {
		for _, p := range r.pieces {
			buf = append(buf, p.data...)
			if len(p.data) < p.end-p.offset {
				goto joined
			}
		}
	}
joined:
	ev.payload, ev.full, ev.done = buf, q.length, true
	ev.notCaptured = q.cut != ""
	if ev.notCaptured {
		ev.reason = "reassembled, but the capture cut " + q.cut
	}
	d.out(&ev)
}

// expire mirrors ip_expire for every queue whose ipfrag_time ran out by
// capture time now.
func (d *defragger) expire(now int64) {
	for q := d.head; q != nil && q.deadline <= now; q = d.head {
		ev := q.event()
		ev.code = CodeFragTimeout
		ev.reason = fmt.Sprintf("not reassembled within %s %s of capture time: %s (%s)", d.timeName(), fmtSeconds(d.cfg.timeout), q.missing(), d.fn("ip_expire"))
		d.kill(q)
		if !q.empty() {
			d.out(&ev)
		}
		d.recycle(q)
	}
}

// finish reports every queue still waiting when the capture ends: the
// kernel would expire it after ipfrag_time (ip_expire).
func (d *defragger) finish() {
	for q := d.head; q != nil; q = d.head {
		ev := q.event()
		ev.code = CodeFragIncomplete
		ev.reason = "never reassembled: " + q.missing() + " when the capture ended (expires after " + d.timeName() + ", " + d.fn("ip_expire") + ")"
		d.kill(q)
		if !q.empty() {
			d.out(&ev)
		}
		d.recycle(q)
	}
}

// empty reports a queue that never held a fragment: one fq_find made for
// an IPv6 fragment ip6_frag_queue then refused, whose verdict was given
// then. It costs memory until it expires but has no verdict of its own.
func (q *fragQueue) empty() bool { return len(q.runs) == 0 && len(q.frames) == 0 }

// timeName names the sysctl of the queues' lifetime.
func (d *defragger) timeName() string {
	if d.cfg.v6 {
		return "ip6frag_time"
	}
	return "ipfrag_time"
}

// fmtSeconds writes nanoseconds as seconds, "30 s" or "1.5 s".
func fmtSeconds(ns int64) string {
	if ns%1e9 == 0 {
		return fmt.Sprintf("%d s", ns/1e9)
	}
	return fmt.Sprintf("%g s", float64(ns)/1e9)
}

// missing describes what a queue lacks.
func (q *fragQueue) missing() string {
	var gaps []string
	at := 0
	for _, r := range q.runs {
		if r.start > at {
			gaps = append(gaps, fmt.Sprintf("[%d,%d)", at, r.start))
		}
		at = r.end
	}
	if q.lastIn && at < q.length {
		gaps = append(gaps, fmt.Sprintf("[%d,%d)", at, q.length))
	}
	var parts []string
	if !q.firstIn {
		parts = append(parts, "first fragment missing")
	}
	if !q.lastIn {
		parts = append(parts, "final fragment (MF=0) missing")
	}
	if len(gaps) > 0 {
		if len(gaps) > 8 {
			gaps = append(gaps[:8], fmt.Sprintf("and %d more", len(gaps)-8))
		}
		parts = append(parts, "hole at "+strings.Join(gaps, " "))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d of %d bytes", q.meat, q.length))
	}
	return strings.Join(parts, "; ")
}
