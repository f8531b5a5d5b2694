package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
	"github.com/udpbuild/udpbuild/verify"
)

// modelProblems runs sc through the model in both views and returns every
// broken invariant: results that are neither a byte count nor an errno,
// runs that differ when repeated, views that disagree on results, frames
// over the MTU, frames verify.Frames finds fault with, and wire datagrams
// whose payload is not what the steps sent, cut where cork and GSO cut it.
func modelProblems(sc *scenario.Scenario) []string {
	var c modelChecker
	return c.problems(sc)
}

// modelChecker is modelProblems with buffers kept from call to call: the
// model's Runner, and for each view an arena that holds one run's frames,
// steps and datagram payloads. A fuzz process keeps one and runs its inputs
// through it one at a time, so that once the arenas have grown to the
// largest input seen, the checks themselves allocate almost nothing:
// cloning every frame, and the garbage collections that brought, were most
// of an input's cost. Its zero value is ready; it is not safe for
// concurrent use, and must not be copied once used (its callbacks are
// bound to it).
type modelChecker struct {
	rn    builder.Runner
	views [2]viewRun // tap, wire
	join  joiner
	rerun rerun

	// cur is the arena the sink (the modelChecker itself) and onStep
	// fill. onStep is made on first use, as a method value bound to this
	// modelChecker, so that a run does not allocate a fresh closure.
	cur    *viewRun
	onStep builder.StepFunc
}

// viewRun is one view's run, copied out of the model as it streams: the
// Runner with sinks (Options.Frames and Options.Steps) neither clones
// frames nor formats their Why, and the copies go into buffers reused by
// the next input.
type viewRun struct {
	frames []report.Frame
	steps  []report.Step
	// sent is each datagram's UDP payload as the model built it (indexed
	// by report.Frame.Datagram), for verify.Frames.
	sent [][]byte
	// data holds the bytes of frames and sent, appended in turn. A slice
	// handed out stays valid when an append moves data: the old array
	// keeps its bytes, and nothing writes to it until the next reset.
	data []byte
}

func (r *viewRun) reset() {
	r.frames, r.steps, r.sent, r.data = r.frames[:0], r.steps[:0], r.sent[:0], r.data[:0]
}

// keep copies head and data, one after the other, into the arena and
// returns the copy, capped so that no append through it can reach the
// bytes after it.
func (r *viewRun) keep(head, data []byte) []byte {
	start := len(r.data)
	r.data = append(append(r.data, head...), data...)
	return r.data[start:len(r.data):len(r.data)]
}

// Frame keeps a copy of the frame (only valid during the call).
func (c *modelChecker) Frame(fi *builder.FrameInfo, head, data []byte) error {
	f := fi.Record(len(head) + len(data))
	f.Data = c.cur.keep(head, data)
	c.cur.frames = append(c.cur.frames, f)
	return nil
}

func (c *modelChecker) step(_ int, r report.Step) error {
	c.cur.steps = append(c.cur.steps, r)
	return nil
}

// Datagram keeps a copy of the datagram's payload (only valid during the
// call).
func (c *modelChecker) Datagram(d *builder.Datagram) error {
	c.cur.sent = append(c.cur.sent, c.cur.keep(nil, d.Payload))
	return nil
}

// problems is modelProblems on c's buffers. What it returns owns its
// memory; nothing else of an input's survives the next call.
func (c *modelChecker) problems(sc *scenario.Scenario) []string {
	if c.onStep == nil {
		c.onStep = c.step
	}
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	var reps [2]*report.Report
	for k, v := range [2]report.View{report.Tap, report.Wire} {
		c.cur = &c.views[k]
		c.cur.reset()
		a, err := c.rn.Run(sc, builder.Options{View: v, Seed: 1, Frames: c, Steps: c.onStep})
		if err != nil {
			add("%v view: run failed: %v", v, err)
			return probs
		}
		// With sinks the report keeps neither frames nor steps: point it
		// at the arena's, so that the checks below read the report as
		// collected.
		a.Frames, a.Steps = c.cur.frames, c.cur.steps
		if d := c.rerun.differs(&c.rn, sc, v, a); d != "" {
			add("%v view: two runs differ: %s", v, d)
		}
		reps[k] = a
		probs = append(probs, stepProblems(sc, a, v)...)
		probs = append(probs, frameProblems(sc, a, v)...)
		// Non-nil, so that verify.Frames compares payloads even when
		// nothing was sent.
		sent := c.cur.sent
		if sent == nil {
			sent = [][]byte{}
		}
		probs = append(probs, verifyProblems(sc, a, v, sent)...)
	}
	tap, wire := reps[0], reps[1]
	for i := range min(len(tap.Steps), len(wire.Steps)) {
		if !tap.Steps[i].Equal(wire.Steps[i]) {
			add("step %d: tap view %s, wire view %s", i, tap.Steps[i], wire.Steps[i])
		}
	}
	if !report.EqualSteps(tap.Setup, wire.Setup) {
		add("set-up results differ between views: %v, %v", tap.Setup, wire.Setup)
	}
	probs = append(probs, c.join.payloadProblems(sc, wire)...)
	return probs
}

// rerun runs a scenario again and compares it, frame by frame as the frames
// are produced (nothing is copied), with the first run's report. It is the
// run's frame sink; its step callback, like modelChecker's, is made once.
type rerun struct {
	first    *report.Report
	diff     string
	n, steps int

	onStep builder.StepFunc
}

// Datagram does nothing: the frames carry the payloads.
func (r *rerun) Datagram(*builder.Datagram) error { return nil }

// Frame compares the frame with the first run's, piece by piece.
func (r *rerun) Frame(fi *builder.FrameInfo, head, data []byte) error {
	switch {
	case r.n >= len(r.first.Frames):
		r.diff = fmt.Sprintf("more than %d frames", len(r.first.Frames))
	case !samePieces(r.first.Frames[r.n].Data, head, data) || r.first.Frames[r.n].Kind != fi.Kind ||
		r.first.Frames[r.n].Step != fi.Step || r.first.Frames[r.n].Datagram != fi.Datagram:
		r.diff = fmt.Sprintf("frame %d", r.n)
	}
	r.n++
	if r.diff != "" {
		return errors.New(r.diff)
	}
	return nil
}

func (r *rerun) step(i int, s report.Step) error {
	r.steps++
	if i >= len(r.first.Steps) || !r.first.Steps[i].Equal(s) {
		r.diff = fmt.Sprintf("step %d result", i)
		return errors.New(r.diff)
	}
	return nil
}

// differs runs sc again in view v on rn and says how it differs from
// first ("" if it does not).
func (r *rerun) differs(rn *builder.Runner, sc *scenario.Scenario, v report.View, first *report.Report) string {
	if r.onStep == nil {
		r.onStep = r.step
	}
	r.first, r.diff, r.n, r.steps = first, "", 0, 0
	defer func() { r.first = nil }() // keep no report alive past the call
	_, err := rn.Run(sc, builder.Options{View: v, Seed: 1, Frames: r, Steps: r.onStep})
	if r.diff != "" {
		return r.diff
	}
	if err != nil {
		return "second run failed: " + err.Error()
	}
	if r.n != len(first.Frames) || r.steps != len(first.Steps) {
		return fmt.Sprintf("%d frames and %d steps, then %d and %d", len(first.Frames), len(first.Steps), r.n, r.steps)
	}
	return ""
}

// samePieces reports whether head followed by data are the bytes of b.
func samePieces(b, head, data []byte) bool {
	return len(b) == len(head)+len(data) && bytes.Equal(b[:len(head)], head) && bytes.Equal(b[len(head):], data)
}

// stepProblems: one result per step, each a byte count (a send's whole
// payload, a setsockopt's 0) or a nonzero errno with no count.
func stepProblems(sc *scenario.Scenario, rep *report.Report, v report.View) []string {
	var probs []string
	if len(rep.Steps) != len(sc.Steps) {
		return []string{fmt.Sprintf("%v view: %d results for %d steps", v, len(rep.Steps), len(sc.Steps))}
	}
	// One result per option, then a failed connect's (IPv6 sockets
	// only), which must be a failure.
	setup := rep.Setup
	if n := len(setup); n > 0 && setup[n-1].Op == "connect" {
		if !sc.Socket.Connect || !sc.Socket.IPv6() || setup[n-1].Err == 0 {
			probs = append(probs, fmt.Sprintf("%v view: a connect result %v, but connect %t on an IPv6 socket %t", v, setup[n-1], sc.Socket.Connect, sc.Socket.IPv6()))
		}
		setup = setup[:n-1]
	}
	if len(setup) != len(sc.Socket.Setsockopt) {
		probs = append(probs, fmt.Sprintf("%v view: %d set-up results for %d options", v, len(setup), len(sc.Socket.Setsockopt)))
	}
	for i, st := range sc.Steps {
		r := rep.Steps[i]
		want := 0
		if st.Send != nil {
			want = len(st.Send.Payload)
		}
		switch {
		case r.Op != st.Op():
			probs = append(probs, fmt.Sprintf("%v view: step %d is a %s, result says %s", v, i, st.Op(), r.Op))
		case r.Err != 0 && r.Ret != 0:
			probs = append(probs, fmt.Sprintf("%v view: step %d: errno %s with count %d", v, i, r.Err, r.Ret))
		case r.Err == 0 && r.Ret != want:
			probs = append(probs, fmt.Sprintf("%v view: step %d: returned %d, want %d", v, i, r.Ret, want))
		}
	}
	return probs
}

// frameProblems: frames in step order, each an IPv4 or IPv6 packet that
// fits the MTU that applies (a tap-view GSO super-packet aside), with a
// plausible length. The MTU is the link's for every packet (a whole IPv6
// datagram is fragmented only above the route's MTU, not IPV6_MTU's);
// an IPv6 fragment must also fit IPV6_MTU when the socket set one
// (ip6_fragment cuts at the lower of the two). IPv6 packets come only
// from IPv6 sockets, and never from a link below IPV6_MIN_MTU (addrconf
// takes IPv6 off such a device).
func frameProblems(sc *scenario.Scenario, rep *report.Report, v report.View) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	var fragSize []int // made on the first IPv6 fragment
	lastStep, lastDgram := -1, -1
	for i, f := range rep.Frames {
		if f.Step < lastStep || f.Step >= len(sc.Steps) {
			add("%v view: frame %d: step %d after step %d", v, i, f.Step, lastStep)
		}
		if f.Datagram < lastDgram {
			add("%v view: frame %d: datagram %d after %d", v, i, f.Datagram, lastDgram)
		}
		lastStep, lastDgram = f.Step, f.Datagram
		if f.Len != len(f.Data) {
			add("%v view: frame %d: Len %d, %d bytes", v, i, f.Len, len(f.Data))
		}
		p, err := parseIP(f.Data)
		if err != nil {
			add("%v view: frame %d: %v", v, i, err)
			continue
		}
		if p.v6 && !sc.Socket.IPv6() {
			add("%v view: frame %d: IPv6 from an AF_INET socket", v, i)
		}
		if p.v6 && sc.Link.MTU < header.IPv6MinMTU {
			add("%v view: frame %d: IPv6 on a link of MTU %d, below IPV6_MIN_MTU", v, i, sc.Link.MTU)
		}
		mtu, which := sc.Link.MTU, "MTU"
		if p.v6 && p.frag && f.Step >= 0 && f.Step < len(sc.Steps) {
			if fragSize == nil {
				fragSize = fragSizes(sc, rep)
			}
			if fs := fragSize[f.Step]; fs > 0 && fs < mtu {
				mtu, which = fs, "IPV6_MTU"
			}
		}
		if len(p.ip) > mtu && !(v == report.Tap && f.Kind == report.Super) {
			add("%v view: frame %d (%s): IP packet of %d bytes over %s %d", v, i, f.Kind, len(p.ip), which, mtu)
		}
		if v == report.Wire && f.Kind == report.Super {
			add("wire view: frame %d is a GSO super-packet", i)
		}
	}
	return probs
}

// verifyProblems: every frame passes verify.Frames, the receive-side
// judge's own cross-check (headers, checksums, fragment and segment layout,
// payloads against what the model says each datagram carried).
func verifyProblems(sc *scenario.Scenario, rep *report.Report, v report.View, sent [][]byte) []string {
	var probs []string
	for _, p := range verify.Frames(rep.Frames, v, sc.Link.MTU, sent) {
		probs = append(probs, fmt.Sprintf("%v view: verify: frame %d (datagram %d): %s: %s", v, p.Frame, p.Datagram, p.Field, p.Msg))
	}
	return probs
}

// wantDatagram is a datagram the steps should have produced.
type wantDatagram struct {
	step    int
	payload []byte
	// gso is the segment size the datagram was sent with (0: none).
	gso int
	// optional is set for a push by setsockopt(UDP_CORK, 0), whose
	// failure setsockopt does not report.
	optional bool
	// v6 says the datagram leaves as IPv6: an IPv6 socket's send to an
	// IPv6 address; a v4-mapped or AF_INET destination goes through
	// udp_sendmsg as IPv4.
	v6 bool
}

// joiner holds the wire check's buffers (payloadProblems and what it
// calls) from call to call, as modelChecker does the runs'.
type joiner struct {
	// data holds the payloads put together (corked sends, fragments,
	// segments). As viewRun.data, it is only appended to until the next
	// call, so the slices handed out stay valid when an append moves it.
	data []byte
	segs []int // backs gotDatagram.segments
	got  []gotDatagram
	want []wantDatagram
}

// expectedDatagrams plays the steps' results through udp_sendmsg's and
// udpv6_sendmsg's corking rules and returns the datagrams that must (or,
// for optional ones, may) leave, in order, each with its family. Corked
// data keeps the family of the send that started it: udpv6_sendmsg hands
// every send to udp_sendmsg while IPv4 data is pending (up->pending ==
// AF_INET), and appends any IPv6 send to pending IPv6 data (do_append_data)
// but refuses one to IPv4 (udp_sendmsg: EINVAL). After a failed setsockopt step that names UDP_CORK the
// cork state is not known (which option failed, and did the later ones
// apply?), so the returned horizon is that step: datagrams of that step
// and later ones are not predicted.
func expectedDatagrams(sc *scenario.Scenario, rep *report.Report) (want []wantDatagram, horizon int) {
	var j joiner
	return j.expectedDatagrams(sc, rep)
}

// expectedDatagrams is the function of that name on j's buffers: a corked
// datagram's payload is built at the end of j.data (nothing else is
// appended while one is pending), and want reuses j.want.
func (j *joiner) expectedDatagrams(sc *scenario.Scenario, rep *report.Report) (want []wantDatagram, horizon int) {
	want = j.want[:0]
	defer func() { j.want = want[:0] }()
	corkFlag, pending, pendingV6 := false, false, false
	start := 0 // the pending datagram's payload is j.data[start:]
	buf := func() []byte { return j.data[start:len(j.data):len(j.data)] }
	gso, pendingGSO := 0, 0
	for _, o := range sc.Socket.Setsockopt {
		switch o.Name {
		case scenario.OptUDPCork:
			corkFlag = o.Int != 0
		case scenario.OptUDPSegment:
			gso = o.Int
		}
	}
	for i, st := range sc.Steps {
		r := rep.Steps[i]
		if st.Send == nil {
			if r.Err != 0 && slices.ContainsFunc(st.Setsockopt, func(o scenario.Opt) bool {
				return o.Name == scenario.OptUDPCork || o.Name == scenario.OptUDPSegment
			}) {
				return want, i
			}
			for _, o := range st.Setsockopt {
				switch o.Name {
				case scenario.OptUDPSegment:
					gso = o.Int
				case scenario.OptUDPCork:
					corkFlag = o.Int != 0
					if !corkFlag && pending {
						want = append(want, wantDatagram{step: i, payload: buf(), gso: pendingGSO, optional: true, v6: pendingV6})
						pending = false
					}
				}
			}
			continue
		}
		s := st.Send
		corkreq := corkFlag || s.Flags&unix.MSG_MORE != 0
		probe := s.Flags&scenario.MsgProbe != 0
		named, v6 := sendDest(sc, s)
		if r.Err != 0 {
			switch {
			case pending && pendingV6:
				// Only a send to IPv4, refused by udp_sendmsg, leaves
				// corked IPv6 data alone: udpv6_sendmsg checks nothing
				// else before do_append_data, whose failures flush it.
				if !named || v6 {
					pending = false
				}
			case len(s.Payload) <= 0xFFFF && s.Flags&unix.MSG_OOB == 0:
				// Only udp_sendmsg's checks before the pending test
				// (length, MSG_OOB) leave corked IPv4 data alone;
				// every later failure flushes it or loses it in the
				// push.
				pending = false
			}
			continue
		}
		if pending {
			if !probe {
				j.data = append(j.data, s.Payload...)
			}
			if !corkreq {
				want = append(want, wantDatagram{step: i, payload: buf(), gso: pendingGSO, v6: pendingV6})
				pending = false
			}
			continue
		}
		if probe {
			continue // ip_make_skb / ip_append_data do nothing for MSG_PROBE
		}
		dgso := gso
		for _, c := range s.Cmsg {
			if c.Type == scenario.CmsgUDPSegment {
				dgso = c.Int
			}
		}
		if corkreq {
			pending, start, pendingGSO, pendingV6 = true, len(j.data), dgso, v6
			j.data = append(j.data, s.Payload...)
			continue
		}
		want = append(want, wantDatagram{step: i, payload: s.Payload, gso: dgso, v6: v6})
	}
	return want, len(sc.Steps)
}

// sendDest says whether send s names a destination (msg_name: its own, or
// an unconnected socket's Dst, as builder.Run passes them) and whether,
// with nothing pending, it leaves as IPv6: from an IPv6 socket to an IPv6
// address that is not v4-mapped (the connected peer's included: a
// connect() to IPv4 stores it v4-mapped).
func sendDest(sc *scenario.Scenario, s *scenario.Send) (named, v6 bool) {
	to := s.To
	named = to.IsValid()
	if !named {
		to = sc.Socket.Dst
		named = !sc.Socket.Connect && to.IsValid()
	}
	return named, sc.Socket.IPv6() && to.Addr().Is6() && !to.Addr().Is4In6()
}

// gotDatagram is a datagram put back together from wire frames.
type gotDatagram struct {
	step    int
	payload []byte
	// segments are the GSO segment payload sizes (nil: not segmented).
	segments []int
	// v6 says the frames were IPv6.
	v6 bool
}

// reassemble groups wire frames by datagram and returns each datagram's
// UDP payload: a whole datagram's, the fragments' joined at their offsets,
// or the GSO segments' concatenated. The datagrams, and the payloads joined
// from several frames, live in j's buffers until its next call. proto is
// the socket's protocol number, which every datagram must carry.
func (j *joiner) reassemble(frames []report.Frame, proto uint8) ([]gotDatagram, []string) {
	out := j.got[:0]
	var probs []string
	for start := 0; start < len(frames); {
		end := start + 1
		for end < len(frames) && frames[end].Datagram == frames[start].Datagram {
			end++
		}
		g, err := j.joinDatagram(frames[start:end], proto)
		if err != nil {
			probs = append(probs, fmt.Sprintf("datagram of frames %d..%d: %v", start, end-1, err))
		} else {
			out = append(out, g)
		}
		start = end
	}
	j.got = out[:0]
	return out, probs
}

// joinDatagram puts one datagram's frames together. A whole datagram's
// payload is the frame's own bytes; segments' and fragments' are joined at
// the end of j.data. Every frame is of the first one's family; fragments
// share the identification and what precedes their pieces (IPv4's
// protocol; IPv6's unfragmentable part, payload_len aside, and the
// fragment header's next header), as ip_do_fragment and ip6_fragment copy
// them, and an IPv6 identification is never 0 (ipv6_select_ident); the
// reassembled IPv6 part may start with IPV6_DSTOPTS (after a routing
// header) before the transport header.
func (j *joiner) joinDatagram(fs []report.Frame, proto uint8) (gotDatagram, error) {
	g := gotDatagram{step: fs[0].Step}
	start, segStart := len(j.data), len(j.segs)
	joined := func() []byte { return j.data[start:len(j.data):len(j.data)] }
	var first ipPkt
	for i, f := range fs {
		if f.Step != g.step || f.Kind != fs[0].Kind {
			return g, fmt.Errorf("frame %d: step %d kind %s, first frame step %d kind %s", i, f.Step, f.Kind, g.step, fs[0].Kind)
		}
		p, err := parseIP(f.Data)
		if err != nil {
			return g, err
		}
		if i == 0 {
			first, g.v6 = p, p.v6
		} else if p.v6 != first.v6 {
			return g, fmt.Errorf("frame %d: IPv6 %t, frame 0 IPv6 %t", i, p.v6, first.v6)
		}
		switch f.Kind {
		case report.Datagram, report.Segment:
			if len(fs) > 1 && f.Kind == report.Datagram {
				return g, fmt.Errorf("%d frames for one whole datagram", len(fs))
			}
			if p.frag {
				return g, fmt.Errorf("frame %d: a %s that is a fragment (more %t, offset %d)", i, f.Kind, p.more, p.off)
			}
			if p.proto != proto {
				return g, fmt.Errorf("frame %d: protocol %d, the socket's is %d", i, p.proto, proto)
			}
			pl, err := udpPayload(p.body, proto == header.ProtoUDPLite)
			if err != nil {
				return g, fmt.Errorf("frame %d: %w", i, err)
			}
			if f.Kind == report.Datagram {
				g.payload = pl[:len(pl):len(pl)] // the only frame: no copy
				break
			}
			j.data = append(j.data, pl...)
			j.segs = append(j.segs, len(pl))
			g.payload = joined()
			g.segments = j.segs[segStart:len(j.segs):len(j.segs)]
		case report.Fragment:
			switch {
			case !p.frag:
				return g, fmt.Errorf("fragment %d is not a fragment", i)
			case p.id != first.id:
				return g, fmt.Errorf("fragment %d: identification %#x, fragment 0 %#x", i, p.id, first.id)
			case p.v6 && p.id == 0:
				return g, fmt.Errorf("fragment %d: identification 0", i)
			case p.proto != first.proto:
				return g, fmt.Errorf("fragment %d: next protocol %d, fragment 0 %d", i, p.proto, first.proto)
			case p.v6 && !sameUnfragmentable(p, first):
				return g, fmt.Errorf("fragment %d: unfragmentable part differs from fragment 0's", i)
			}
			if p.off != len(j.data)-start {
				return g, fmt.Errorf("fragment %d at offset %d, %d bytes before it", i, p.off, len(j.data)-start)
			}
			if last := i == len(fs)-1; p.more == last {
				return g, fmt.Errorf("fragment %d of %d: MF %t", i, len(fs), p.more)
			}
			j.data = append(j.data, p.body...)
		default:
			return g, fmt.Errorf("frame %d: kind %q on the wire", i, f.Kind)
		}
	}
	if fs[0].Kind == report.Fragment {
		l4, up := joined(), first.proto
		if first.v6 {
			var err error
			if up, l4, err = upperV6(first.proto, l4); err != nil {
				return g, fmt.Errorf("reassembled: %w", err)
			}
		}
		if up != proto {
			return g, fmt.Errorf("reassembled: protocol %d, the socket's is %d", up, proto)
		}
		pl, err := udpPayload(l4, proto == header.ProtoUDPLite)
		if err != nil {
			return g, err
		}
		g.payload = pl
	}
	return g, nil
}

// udpPayload checks a UDP header's length against the bytes (UDP-Lite
// puts its checksum coverage there instead) and returns the payload.
func udpPayload(b []byte, udplite bool) ([]byte, error) {
	if len(b) < header.UDPLen {
		return nil, fmt.Errorf("%d bytes: no room for a UDP header", len(b))
	}
	if l := int(header.UDP(b).Length()); !udplite && l != len(b) {
		return nil, fmt.Errorf("UDP length %d for %d bytes", l, len(b))
	}
	return b[header.UDPLen:], nil
}

// payloadProblems matches the wire datagrams against expectedDatagrams.
func payloadProblems(sc *scenario.Scenario, wire *report.Report) []string {
	var j joiner
	return j.payloadProblems(sc, wire)
}

// payloadProblems is the function of that name on j's buffers.
func (j *joiner) payloadProblems(sc *scenario.Scenario, wire *report.Report) []string {
	j.data, j.segs = j.data[:0], j.segs[:0]
	got, probs := j.reassemble(wire.Frames, sc.Socket.Proto.Number())
	want, horizon := j.expectedDatagrams(sc, wire)
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	w := 0
	for gi, g := range got {
		if g.step >= horizon {
			break
		}
		for w < len(want) && want[w].optional && !(want[w].step == g.step && bytes.Equal(want[w].payload, g.payload)) {
			w++
		}
		if w >= len(want) {
			add("wire datagram %d (step %d, %d bytes) was never sent", gi, g.step, len(g.payload))
			continue
		}
		wd := want[w]
		w++
		if wd.step != g.step || !bytes.Equal(wd.payload, g.payload) {
			add("wire datagram %d: step %d with %d bytes, want step %d with %d bytes%s", gi, g.step, len(g.payload), wd.step, len(wd.payload), firstDiff(g.payload, wd.payload))
			continue
		}
		if wd.v6 != g.v6 {
			add("wire datagram %d (step %d): %s, want %s", gi, g.step, family(g.v6), family(wd.v6))
			continue
		}
		probs = append(probs, segmentProblems(gi, g, wd)...)
	}
	for ; w < len(want); w++ {
		if !want[w].optional && want[w].step < horizon {
			add("step %d sent %d bytes that never left", want[w].step, len(want[w].payload))
		}
	}
	return probs
}

// segmentProblems: a datagram longer than its GSO size leaves as segments
// of exactly that size (the last one shorter or equal); any other leaves
// whole or fragmented.
func segmentProblems(gi int, g gotDatagram, wd wantDatagram) []string {
	split := wd.gso > 0 && len(wd.payload) > wd.gso
	switch {
	case !split && g.segments != nil:
		return []string{fmt.Sprintf("wire datagram %d: %d bytes with GSO size %d, but segmented %v", gi, len(wd.payload), wd.gso, g.segments)}
	case split && g.segments == nil:
		return []string{fmt.Sprintf("wire datagram %d: %d bytes with GSO size %d, not segmented", gi, len(wd.payload), wd.gso)}
	case split:
		total := 0
		for _, n := range g.segments {
			total += n
		}
		if total != len(wd.payload) {
			return []string{fmt.Sprintf("wire datagram %d: segments %v carry %d bytes, want %d", gi, g.segments, total, len(wd.payload))}
		}
		for k, n := range g.segments {
			if n != wd.gso && (k != len(g.segments)-1 || n > wd.gso) {
				return []string{fmt.Sprintf("wire datagram %d: segment sizes %v for GSO size %d", gi, g.segments, wd.gso)}
			}
		}
	}
	return nil
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf(" (first difference at byte %d)", i)
		}
	}
	return ""
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}
