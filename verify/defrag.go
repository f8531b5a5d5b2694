package verify

import (
	"fmt"
	"sort"
	"strings"
)

const (
	// ipfragMaxDist is the default net.ipv4.ipfrag_max_dist.
	ipfragMaxDist = 64
)

// fragKey identifies a reassembly queue as ip_find does (frag_v4_compare_key
// without the vif and defrag user, which a capture cannot show).
type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

// fragPiece is one fragment's data as queued: already trimmed to its end.
type fragPiece struct {
	offset int
	data   []byte
	hdr    ipv4Header
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
	key    fragKey
	frames []int
	runs   []*fragRun // sorted by start; never overlapping
	// firstIn and lastIn are INET_FRAG_FIRST_IN and INET_FRAG_LAST_IN.
	firstIn, lastIn bool
	// length is q.len: the datagram's data length once the final
	// fragment is in, else the furthest end seen. meat counts the bytes
	// queued.
	length, meat int
	// ecn ORs ip4_frag_ecn of every queued fragment.
	ecn   uint8
	rid   uint32
	notes []string
	live  bool
}

// fragEvent is a queue's fate: reassembled (payload set) or discarded.
type fragEvent struct {
	key     fragKey
	frames  []int
	notes   []string
	head    ipv4Header // header of the offset-0 fragment, if queued
	first   []byte     // data of the offset-0 fragment, if queued
	payload []byte     // the reassembled data, when done
	done    bool
	code    Code
	reason  string
}

// defragger holds the reassembly queues of one capture (ip4_frags' hash
// table) and the per-source counters ip_frag_too_far reads (inet_peer.rid).
//
// Memory stays bounded without a limit of our own: queued fragments never
// overlap, and every non-final one keeps at least 8 bytes at an offset of at
// most 65528, so a queue holds at most 8192 fragments and 128 KiB, as slices
// of the input frames. The kernel bounds by memory (ipfrag_high_thresh)
// instead, which a capture cannot show.
type defragger struct {
	queues map[fragKey]*fragQueue
	order  []*fragQueue
	peers  map[[4]byte]uint32
}

func newDefragger() *defragger {
	return &defragger{queues: map[fragKey]*fragQueue{}, peers: map[[4]byte]uint32{}}
}

// insertResult is inet_frag_queue_insert's return value.
type insertResult int

const (
	insertOK insertResult = iota
	insertDup
	insertOverlap
)

// insert places [offset,end) into the queue as inet_frag_queue_insert does:
// after the tail when it extends past it (an overlap with the tail is fatal),
// otherwise by tree search, where a fragment wholly inside one run is a
// duplicate and any other intersection is an overlap.
func (q *fragQueue) insert(p fragPiece) insertResult {
	end := p.offset + len(p.data)
	if len(q.runs) == 0 {
		q.runs = append(q.runs, &fragRun{start: p.offset, end: end, pieces: []fragPiece{p}})
		return insertOK
	}
	last := q.runs[len(q.runs)-1]
	tail := last.pieces[len(last.pieces)-1]
	tailEnd := tail.offset + len(tail.data)
	if tailEnd < end {
		switch {
		case p.offset < tailEnd:
			return insertOverlap
		case p.offset == tailEnd:
			last.pieces = append(last.pieces, p)
			last.end = end
		default:
			q.runs = append(q.runs, &fragRun{start: p.offset, end: end, pieces: []fragPiece{p}})
		}
		return insertOK
	}
	// The tree search meets at most one run that intersects, since runs
	// never overlap: the first run ending after our offset. A binary
	// search over the sorted runs finds the same one.
	at := sort.Search(len(q.runs), func(i int) bool { return q.runs[i].end > p.offset })
	if at < len(q.runs) && q.runs[at].start < end {
		r := q.runs[at]
		if p.offset >= r.start && end <= r.end {
			return insertDup
		}
		return insertOverlap
	}
	q.runs = append(q.runs, nil)
	copy(q.runs[at+1:], q.runs[at:])
	q.runs[at] = &fragRun{start: p.offset, end: end, pieces: []fragPiece{p}}
	return insertOK
}

// add feeds one fragment (h is its header; data its bytes after the header,
// already trimmed to tot_len) to its queue, as ip_defrag and ip_frag_queue
// do, and returns what became of the queue, if anything.
func (d *defragger) add(h ipv4Header, data []byte, frame int) []fragEvent {
	key := fragKey{src: h.src(), dst: h.dst(), id: h.id(), proto: h.proto()}
	q := d.queues[key]
	if q == nil {
		q = &fragQueue{key: key, live: true}
		d.queues[key] = q
		d.order = append(d.order, q)
	}
	var events []fragEvent

	// ip_frag_too_far: every fragment from this source bumps the peer's
	// counter; a queue that has waited for more than ipfrag_max_dist of
	// them is emptied by ip_frag_reinit and starts over with this one.
	d.peers[key.src]++
	now, start := d.peers[key.src], q.rid
	q.rid = now
	if len(q.runs) > 0 && now-start > ipfragMaxDist {
		ev := q.event()
		ev.code = CodeFragReset
		ev.reason = fmt.Sprintf("%d fragments from this source (the last one included) since the queue last grew, more than ipfrag_max_dist %d (ip_frag_too_far)", now-start, ipfragMaxDist)
		events = append(events, ev)
		*q = fragQueue{key: key, live: true, rid: now}
	}
	q.frames = append(q.frames, frame)

	offset := h.offset()
	end := offset + len(data)
	if !h.more() {
		// The final fragment fixes the length; it may not cut off data
		// already queued nor disagree with an earlier final fragment.
		if end < q.length || (q.lastIn && end != q.length) {
			return append(events, d.discard(q, CodeFragLength,
				fmt.Sprintf("final fragment (frame %d) ends at %d but the datagram is known to reach %d (ip_frag_queue)", frame, end, q.length)))
		}
		q.lastIn = true
		q.length = end
	} else {
		if end&7 != 0 {
			q.notes = append(q.notes, fmt.Sprintf("frame %d: non-final fragment data %d bytes is not a multiple of 8; trimmed to %d (ip_frag_queue)", frame, end-offset, end&^7-offset))
			end &^= 7
		}
		if end > q.length {
			if q.lastIn {
				return append(events, d.discard(q, CodeFragLength,
					fmt.Sprintf("fragment (frame %d) reaches %d, beyond the final fragment's end %d (ip_frag_queue)", frame, end, q.length)))
			}
			q.length = end
		}
	}
	if end <= offset {
		return append(events, d.discard(q, CodeFragEmpty,
			fmt.Sprintf("fragment (frame %d) at offset %d carries no data (ip_frag_queue)", frame, offset)))
	}
	switch q.insert(fragPiece{offset: offset, data: data[:end-offset], hdr: h}) {
	case insertDup:
		q.notes = append(q.notes, fmt.Sprintf("frame %d: duplicate of queued data [%d,%d), ignored (inet_frag_queue_insert)", frame, offset, end))
		return events
	case insertOverlap:
		return append(events, d.discard(q, CodeFragOverlap,
			fmt.Sprintf("fragment (frame %d) [%d,%d) overlaps queued data; whole datagram discarded (inet_frag_queue_insert)", frame, offset, end)))
	}
	q.meat += end - offset
	q.ecn |= 1 << (h.tos() & 3)
	if offset == 0 {
		q.firstIn = true
	}
	if q.firstIn && q.lastIn && q.meat == q.length {
		events = append(events, d.reasm(q))
	}
	return events
}

// event snapshots a queue for a fragEvent.
func (q *fragQueue) event() fragEvent {
	ev := fragEvent{key: q.key, frames: q.frames, notes: q.notes}
	if len(q.runs) > 0 && q.runs[0].start == 0 {
		p := q.runs[0].pieces[0]
		ev.head, ev.first = p.hdr, p.data
	}
	return ev
}

// discard mirrors inet_frag_kill on the discard_qp path: the queue and all
// its fragments go; a later fragment with the same key starts a new queue.
func (d *defragger) discard(q *fragQueue, code Code, reason string) fragEvent {
	ev := q.event()
	ev.code, ev.reason = code, reason
	q.live = false
	delete(d.queues, q.key)
	return ev
}

// reasm mirrors ip_frag_reasm: the queue is killed first, then an invalid
// ECN mix or a datagram over 65535 bytes fails, else the data is joined
// behind the offset-0 fragment's header.
func (d *defragger) reasm(q *fragQueue) fragEvent {
	q.live = false
	delete(d.queues, q.key)
	ev := q.event()
	// ip_frag_ecn_table: Not-ECT mixed with any ECT/CE value is 0xff.
	if q.ecn&1 != 0 && q.ecn&^1 != 0 {
		ev.code = CodeFragECN
		ev.reason = "fragments mix Not-ECT with ECT/CE (ip_frag_reasm)"
		return ev
	}
	if total := ev.head.ihl() + q.length; total > ipMaxTotLen {
		ev.code = CodeFragOversize
		ev.reason = fmt.Sprintf("reassembled datagram of %d bytes exceeds 65535 (ip_frag_reasm)", total)
		return ev
	}
	buf := make([]byte, 0, q.length)
	for _, r := range q.runs {
		for _, p := range r.pieces {
			buf = append(buf, p.data...)
		}
	}
	ev.payload, ev.done = buf, true
	return ev
}

// finish reports every queue still waiting when the capture ends: the
// kernel would expire it after ipfrag_time (ip_expire).
func (d *defragger) finish() []fragEvent {
	var events []fragEvent
	for _, q := range d.order {
		if !q.live {
			continue
		}
		ev := q.event()
		ev.code = CodeFragIncomplete
		ev.reason = "never reassembled: " + q.missing() + " (expires after ipfrag_time, ip_expire)"
		events = append(events, ev)
	}
	d.order, d.queues = nil, map[fragKey]*fragQueue{}
	return events
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
		parts = append(parts, "hole at "+strings.Join(gaps, " "))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d of %d bytes", q.meat, q.length))
	}
	return strings.Join(parts, "; ")
}
