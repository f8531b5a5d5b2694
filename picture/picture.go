// Package picture draws what `udpbuild explain` tells: for each step of a
// scenario, the payload the call passed, the skbs __ip_append_data built
// it in (linear and paged parts, the fraggap moved from one skb to the
// next), and the frames that left the device with their headers, all to
// scale in bytes and labelled with the kernel's names. SVG renders one
// scenario's pictures; HTML writes a self-contained report around them.
//
// The pictures are built from a model run's trace (builder.Event, whose
// skb events carry their numbers) and its frames (report.Frame with Data):
//
//	var events []builder.Event
//	rep, err := builder.Run(sc, builder.Options{Trace: func(e builder.Event) { events = append(events, e) }})
//	steps := picture.Collect(sc, rep, events)
//	err = picture.SVG(w, sc.Name, steps)
package picture

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// MaxFrames is how many frames a picture set draws; a longer run is
// summarised (Set.Omitted counts what is left out), so that a report of
// any length stays usable in a browser.
const MaxFrames = 10000

// Set is the pictures of one run.
type Set struct {
	// Steps has one entry per step drawn, in order.
	Steps []Step
	// Frames counts the run's frames; Omitted those not drawn (beyond
	// MaxFrames).
	Frames, Omitted int
}

// Step is one step's picture.
type Step struct {
	// Index is the step's place in the scenario; Call the call as
	// explain writes it and Result what it returned.
	Index        int
	Call, Result string
	// Payload is the bytes a send passed (0 for other calls).
	Payload int
	// Limits are the sizes __ip_append_data (__ip6_append_data) worked
	// with, by their kernel names (mtu, fragheaderlen, maxfraglen,
	// maxnonfragsize), in the order explain told them.
	Limits []Limit
	// Built lists the datagrams the step joined from the queue
	// (__ip_make_skb, __ip6_make_skb), each with the skbs it was built
	// in; Corked the skbs still queued when the step ended (UDP_CORK,
	// MSG_MORE).
	Built  []Joined
	Corked []Skb
	// Frames are the step's frames, in the order they left the device.
	Frames []Frame
	// Reads are a recv step's recvmsg() calls (at most MaxReads).
	Reads []Read
}

// MaxReads is how many calls of one recv step (count: all) a picture
// draws.
const MaxReads = 64

// Read is one recvmsg() call: the buffer the program passed, what was
// copied into it and, when the kernel said, how long the datagram was.
type Read struct {
	// Buffer is the data buffer's size; Copied the bytes copied into it.
	Buffer, Copied int
	// Datagram is the datagram's length when the call told it (MSG_TRUNC
	// passed in: the return value), else Copied, or -1 when msg_flags
	// says MSG_TRUNC without the length.
	Datagram int
	// Text is the call's outcome as strace would print it, with the
	// source and control messages.
	Text string
}

// Joined is one datagram the queue became.
type Joined struct {
	// By is the kernel function that joined it.
	By   string
	Skbs []Skb
}

// Limit is one named size.
type Limit struct {
	Name  string
	Value int
}

// Skb is one skb of the queue a datagram is built in.
type Skb struct {
	// Index is its place in the queue.
	Index int
	// Header is the network header room every skb reserves
	// (fragheaderlen); Linear the data in the head after it, Paged the
	// data in page fragments.
	Header, Linear, Paged int
	// Fraggap is how many of its first data bytes alloc_new_skb moved
	// from the previous skb (the part beyond maxfraglen).
	Fraggap int
	// Alloclen is the head allocated (alloc_extra included).
	Alloclen int
}

// Len is skb->len: the header room and both kinds of data.
func (s Skb) Len() int { return s.Header + s.Linear + s.Paged }

// Collect builds the pictures of a run of sc's steps played once (a
// scenario's repeat: is for long runs; draw the first repetition by
// running a copy with Repeat 1): rep is its report (Frames with Data),
// events its trace. Nothing in rep or events is kept.
func Collect(sc *scenario.Scenario, rep *report.Report, events []builder.Event) Set {
	set := Set{Frames: len(rep.Frames)}
	byStep := make([][]builder.Event, len(sc.Steps))
	for _, e := range events {
		if e.Step >= 0 && e.Step < len(sc.Steps) {
			byStep[e.Step] = append(byStep[e.Step], e)
		}
	}
	var queue []Skb // carried across steps while corked
	for i, st := range sc.Steps {
		p := Step{Index: i, Call: Call(st)}
		if i < len(rep.Steps) {
			p.Result = rep.Steps[i].String()
		}
		if st.Send != nil {
			p.Payload = len(st.Send.Payload)
		}
		if st.Recv != nil && i < len(rep.Steps) {
			p.Reads = reads(st.Recv, rep.Steps[i].Recv)
		}
		for _, e := range byStep[i] {
			if e.Skb == nil {
				if isLimit(e) {
					if v, err := strconv.Atoi(e.Value); err == nil {
						p.Limits = append(p.Limits, Limit{e.Var, v})
					}
				}
				continue
			}
			queue = apply(queue, &p, e.Func, *e.Skb)
		}
		p.Corked = append([]Skb(nil), queue...)
		set.Steps = append(set.Steps, p)
	}
	drawn := 0
	for _, f := range rep.Frames {
		if f.Step < 0 || f.Step >= len(set.Steps) || drawn >= MaxFrames {
			set.Omitted++
			continue
		}
		p := &set.Steps[f.Step]
		p.Frames = append(p.Frames, decode(drawn, f))
		drawn++
	}
	return set
}

// reads turns a recv step's calls into what the picture draws.
func reads(r *scenario.Recv, calls []report.Recv) []Read {
	var out []Read
	for _, c := range calls[:min(len(calls), MaxReads)] {
		rd := Read{Buffer: r.Len, Copied: c.Len, Datagram: c.Len, Text: c.String()}
		switch {
		case c.Err != 0:
			rd.Datagram = 0
		case r.Flags&unix.MSG_TRUNC != 0 && !r.ErrQueue:
			rd.Datagram = c.Ret
		case slices.Contains(c.MsgFlags, "MSG_TRUNC"):
			rd.Datagram = -1
		}
		out = append(out, rd)
	}
	return out
}

// isLimit reports whether e is one of the sizes __ip_append_data or
// __ip6_append_data names.
func isLimit(e builder.Event) bool {
	if !strings.HasPrefix(e.Func, "__ip") || !strings.HasSuffix(e.Func, "_append_data") {
		return false
	}
	switch e.Var {
	case "mtu", "fragheaderlen", "maxfraglen", "maxnonfragsize":
		return true
	}
	return false
}

// apply plays one skb event on the queue: an allocation appends an skb
// (taking its fraggap from the one before), a copy grows the tail skb, a
// join moves the queue into p.Built.
func apply(q []Skb, p *Step, fn string, e builder.SkbEvent) []Skb {
	switch e.Op {
	case builder.SkbAlloc:
		if e.Fraggap > 0 && len(q) > 0 {
			prev := &q[len(q)-1]
			take := min(e.Fraggap, prev.Paged)
			prev.Paged -= take
			prev.Linear -= e.Fraggap - take
		}
		linear := e.Fraglen - e.Fragheaderlen - e.Pagedlen
		q = append(q, Skb{Index: e.Index, Header: e.Fragheaderlen, Linear: linear, Paged: e.Pagedlen, Fraggap: e.Fraggap, Alloclen: e.Alloclen})
	case builder.SkbCopy:
		if e.Index >= 0 && e.Index < len(q) {
			if e.Paged {
				q[e.Index].Paged += e.Bytes
			} else {
				q[e.Index].Linear += e.Bytes
			}
		}
	case builder.SkbJoin:
		p.Built = append(p.Built, Joined{By: fn, Skbs: q})
		q = nil
	}
	return q
}

// Call renders a step's call as explain does ("sendmsg(len=1000,
// MSG_MORE)", "setsockopt(UDP_CORK=0)", "recvmsg(socket 0, len=2048)").
func Call(st scenario.Step) string {
	switch {
	case st.Send != nil:
		s := fmt.Sprintf("sendmsg(len=%d", len(st.Send.Payload))
		if f := scenario.FlagNames(st.Send.Flags); len(f) > 0 {
			s += ", " + strings.Join(f, "|")
		}
		if st.Send.To.IsValid() {
			s += ", to " + st.Send.To.String()
		}
		for _, c := range st.Send.Cmsg {
			if c.Bytes != nil {
				s += fmt.Sprintf(", cmsg %s=%x", c.Type, c.Bytes)
			} else {
				s += fmt.Sprintf(", cmsg %s=%d", c.Type, c.Int)
			}
		}
		return s + ")"
	case st.Recv != nil:
		r := st.Recv
		where := fmt.Sprintf("socket %d", r.Socket)
		if r.ErrQueue {
			where = "sender, MSG_ERRQUEUE"
		}
		s := fmt.Sprintf("recvmsg(%s, len=%d", where, r.Len)
		if f := scenario.RecvFlagNames(r.Flags); len(f) > 0 {
			s += ", " + strings.Join(f, "|")
		}
		return s + ")"
	}
	var parts []string
	for _, o := range st.Setsockopt {
		if o.Bytes != nil {
			parts = append(parts, fmt.Sprintf("%s=%x", o.Name, o.Bytes))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d", o.Name, o.Int))
		}
	}
	return "setsockopt(" + strings.Join(parts, ", ") + ")"
}
