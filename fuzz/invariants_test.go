package fuzz

import (
	"bytes"
	"encoding/binary"
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
		if tap.Steps[i] != wire.Steps[i] {
			add("step %d: tap view %s, wire view %s", i, tap.Steps[i], wire.Steps[i])
		}
	}
	if !slices.Equal(tap.Setup, wire.Setup) {
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
	if i >= len(r.first.Steps) || r.first.Steps[i] != s {
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
	if len(rep.Setup) != len(sc.Socket.Setsockopt) {
		probs = append(probs, fmt.Sprintf("%v view: %d set-up results for %d options", v, len(rep.Setup), len(sc.Socket.Setsockopt)))
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

// frameProblems: frames in step order, each an IPv4 packet that fits the
// MTU (a tap-view GSO super-packet aside), with a plausible length.
func frameProblems(sc *scenario.Scenario, rep *report.Report, v report.View) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
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
		ip, err := ipPacket(f.Data)
		if err != nil {
			add("%v view: frame %d: %v", v, i, err)
			continue
		}
		if len(ip) > sc.Link.MTU && !(v == report.Tap && f.Kind == report.Super) {
			add("%v view: frame %d (%s): IP packet of %d bytes over MTU %d", v, i, f.Kind, len(ip), sc.Link.MTU)
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

// ipPacket returns the IPv4 packet of an Ethernet frame, cut to its total
// length.
func ipPacket(frame []byte) (header.IPv4, error) {
	if len(frame) < header.EthernetLen+header.IPv4MinLen {
		return nil, fmt.Errorf("%d-byte frame", len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != 0x0800 {
		return nil, fmt.Errorf("Ethernet type %#04x", et)
	}
	ip := header.IPv4(frame[header.EthernetLen:])
	tl := int(ip.TotalLength())
	if ip[0]>>4 != 4 || ip.IHL() < header.IPv4MinLen || tl < ip.IHL() || tl > len(ip) {
		return nil, fmt.Errorf("bad IPv4 header (version/IHL %#02x, total length %d, %d bytes)", ip[0], tl, len(ip))
	}
	return ip[:tl], nil
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

// expectedDatagrams plays the steps' results through udp_sendmsg's corking
// rules and returns the datagrams that must (or, for optional ones, may)
// leave, in order. After a failed setsockopt step that names UDP_CORK the
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
	corkFlag, pending := false, false
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
						want = append(want, wantDatagram{step: i, payload: buf(), gso: pendingGSO, optional: true})
						pending = false
					}
				}
			}
			continue
		}
		s := st.Send
		corkreq := corkFlag || s.Flags&unix.MSG_MORE != 0
		probe := s.Flags&scenario.MsgProbe != 0
		if r.Err != 0 {
			// Only the checks before the pending test (length, MSG_OOB)
			// leave a corked datagram alone; every later failure flushes
			// it or loses it in the push.
			if len(s.Payload) <= 0xFFFF && s.Flags&unix.MSG_OOB == 0 {
				pending = false
			}
			continue
		}
		if pending {
			if !probe {
				j.data = append(j.data, s.Payload...)
			}
			if !corkreq {
				want = append(want, wantDatagram{step: i, payload: buf(), gso: pendingGSO})
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
			pending, start, pendingGSO = true, len(j.data), dgso
			j.data = append(j.data, s.Payload...)
			continue
		}
		want = append(want, wantDatagram{step: i, payload: s.Payload, gso: dgso})
	}
	return want, len(sc.Steps)
}

// gotDatagram is a datagram put back together from wire frames.
type gotDatagram struct {
	step    int
	payload []byte
	// segments are the GSO segment payload sizes (nil: not segmented).
	segments []int
}

// reassemble groups wire frames by datagram and returns each datagram's
// UDP payload: a whole datagram's, the fragments' joined at their offsets,
// or the GSO segments' concatenated. The datagrams, and the payloads joined
// from several frames, live in j's buffers until its next call.
func (j *joiner) reassemble(frames []report.Frame, udplite bool) ([]gotDatagram, []string) {
	out := j.got[:0]
	var probs []string
	for start := 0; start < len(frames); {
		end := start + 1
		for end < len(frames) && frames[end].Datagram == frames[start].Datagram {
			end++
		}
		g, err := j.joinDatagram(frames[start:end], udplite)
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
// the end of j.data.
func (j *joiner) joinDatagram(fs []report.Frame, udplite bool) (gotDatagram, error) {
	g := gotDatagram{step: fs[0].Step}
	start, segStart := len(j.data), len(j.segs)
	joined := func() []byte { return j.data[start:len(j.data):len(j.data)] }
	for i, f := range fs {
		if f.Step != g.step || f.Kind != fs[0].Kind {
			return g, fmt.Errorf("frame %d: step %d kind %s, first frame step %d kind %s", i, f.Step, f.Kind, g.step, fs[0].Kind)
		}
		ip, err := ipPacket(f.Data)
		if err != nil {
			return g, err
		}
		body := ip[ip.IHL():]
		mf := ip.FragWord()&header.IPv4MF != 0
		switch f.Kind {
		case report.Datagram, report.Segment:
			if len(fs) > 1 && f.Kind == report.Datagram {
				return g, fmt.Errorf("%d frames for one whole datagram", len(fs))
			}
			if mf || ip.FragOffset() != 0 {
				return g, fmt.Errorf("frame %d: a %s with MF %t offset %d", i, f.Kind, mf, ip.FragOffset())
			}
			p, err := udpPayload(body, udplite)
			if err != nil {
				return g, fmt.Errorf("frame %d: %w", i, err)
			}
			if f.Kind == report.Datagram {
				g.payload = p[:len(p):len(p)] // the only frame: no copy
				break
			}
			j.data = append(j.data, p...)
			j.segs = append(j.segs, len(p))
			g.payload = joined()
			g.segments = j.segs[segStart:len(j.segs):len(j.segs)]
		case report.Fragment:
			if ip.FragOffset() != len(j.data)-start {
				return g, fmt.Errorf("fragment %d at offset %d, %d bytes before it", i, ip.FragOffset(), len(j.data)-start)
			}
			if last := i == len(fs)-1; mf == last {
				return g, fmt.Errorf("fragment %d of %d: MF %t", i, len(fs), mf)
			}
			j.data = append(j.data, body...)
		default:
			return g, fmt.Errorf("frame %d: kind %q on the wire", i, f.Kind)
		}
	}
	if fs[0].Kind == report.Fragment {
		p, err := udpPayload(joined(), udplite)
		if err != nil {
			return g, err
		}
		g.payload = p
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
	got, probs := j.reassemble(wire.Frames, sc.Socket.Proto == scenario.UDPLite)
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
