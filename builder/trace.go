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

// SetTrace installs fn to receive every decision of the socket's send
// path; nil turns tracing off. The device traces its frames apart
// (Device.SetTrace).
func (s *Socket) SetTrace(fn func(Event)) { s.trace = fn }

// SetStep tells the socket which scenario step it is serving, for events
// and for the datagrams it makes (Datagram.Step).
func (s *Socket) SetStep(i int) { s.step = i }
