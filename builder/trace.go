package builder

import "fmt"

// Event is one decision of the send path, named as the kernel names it:
// Func is the kernel function ("__ip_append_data"), Var the variable or
// field ("maxfraglen"), Value its value and Why the reason, in the
// kernel's terms.
type Event struct {
	Step  int    `json:"step"`
	Func  string `json:"func"`
	Var   string `json:"var"`
	Value string `json:"value"`
	Why   string `json:"why,omitempty"`
	// Skb, for __ip_append_data's skb events and the join of the queue
	// into one datagram, is the same fact as numbers, for pictures.
	Skb *SkbEvent `json:"skb,omitempty"`
}

// SkbOp says what an SkbEvent did to the socket's queue of skbs.
type SkbOp string

// The queue's changes, in __ip_append_data's and __ip_make_skb's terms.
const (
	// SkbAlloc is alloc_new_skb: a new skb at the tail.
	SkbAlloc SkbOp = "alloc"
	// SkbCopy is bytes copied into the tail skb (its tailroom, or page
	// fragments with scatter-gather).
	SkbCopy SkbOp = "copy"
	// SkbJoin is __ip_make_skb (__ip6_make_skb) joining the queue into
	// one datagram: the queue is empty again.
	SkbJoin SkbOp = "join"
)

// SkbEvent is one change to the queue of skbs a datagram is built in.
type SkbEvent struct {
	Op SkbOp `json:"op"`
	// Index is the skb's place in the queue (alloc, copy); for a join,
	// how many skbs were joined.
	Index int `json:"index"`
	// For an alloc: datalen (fraggap included), fraglen (datalen plus
	// fragheaderlen), fraggap (bytes moved from the previous skb's tail
	// beyond maxfraglen), alloclen (the head allocated, alloc_extra
	// included) and pagedlen (bytes bound for page fragments).
	Datalen  int `json:"datalen,omitempty"`
	Fraglen  int `json:"fraglen,omitempty"`
	Fraggap  int `json:"fraggap,omitempty"`
	Alloclen int `json:"alloclen,omitempty"`
	Pagedlen int `json:"pagedlen,omitempty"`
	// For a copy: how many bytes, and whether into page fragments.
	Bytes int  `json:"bytes,omitempty"`
	Paged bool `json:"paged,omitempty"`
	// Fragheaderlen is the network header every skb reserves (alloc,
	// join), so that a picture can split an skb into header and data.
	Fragheaderlen int `json:"fragheaderlen,omitempty"`
}

func (e Event) String() string {
	s := fmt.Sprintf("%s: %s = %s", e.Func, e.Var, e.Value)
	if e.Why != "" {
		s += "  (" + e.Why + ")"
	}
	return s
}

// tracef records an event when tracing is on. Callers guard it with
// s.tracing() so that formatting never runs on the hot path.
func (s *Socket) tracef(fn, v string, value any, why string, args ...any) {
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	s.trace(Event{Step: s.step, Func: fn, Var: v, Value: fmt.Sprint(value), Why: why})
}

func (s *Socket) tracing() bool { return s.trace != nil }

// traceSkb records an event that carries its numbers (see SkbEvent).
func (s *Socket) traceSkb(fn, v string, value any, why string, sk SkbEvent) {
	s.trace(Event{Step: s.step, Func: fn, Var: v, Value: fmt.Sprint(value), Why: why, Skb: &sk})
}

// SetTrace installs fn to receive every decision of the socket's send
// path; nil turns tracing off. The device traces its frames apart
// (Device.SetTrace).
func (s *Socket) SetTrace(fn func(Event)) { s.trace = fn }

// SetStep tells the socket which scenario step it is serving, for events
// and for the datagrams it makes (Datagram.Step).
func (s *Socket) SetStep(i int) { s.step = i }
