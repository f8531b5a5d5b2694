package builder

import (
	"fmt"
	"slices"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Options tune a model run.
type Options struct {
	View View
	// Seed draws what the kernel draws at random: ip_idents bucket
	// starts and a connected socket's inet_id when the scenario sets none.
	Seed uint64
	// Clock is the IP timestamp option's clock (ms since midnight UTC);
	// nil means DefaultTimestamp.
	Clock func() uint32
	// Frame, when set, receives every frame as it is produced instead of
	// the report collecting them (report.Frames stays empty): a run of
	// millions of frames then holds constant memory. The frame's Data is
	// only valid during the call, and its Why is empty unless Explain is
	// set (formatting it costs more than building the frame).
	Frame   func(report.Frame) error
	Explain bool
	// Trace, when set, receives every decision of the send path, named
	// as the kernel names it (see Event).
	Trace func(Event)
	// Step, when set, receives every step's result as it completes (i
	// counts executed steps, across repeats). With Frame also set the
	// report keeps neither steps nor frames: memory stays constant
	// however long the run.
	Step func(i int, r report.Step) error
	// Datagram, when set, is told each datagram's UDP payload (what the
	// steps put in it) before its frames are produced. The slice is only
	// valid during the call and must not be written to: for a datagram one
	// step built it is that step's own payload, a window into the pattern
	// table every run shares.
	Datagram func(payload []byte)
}

// Run plays a scenario through the model and reports every step's result
// and every frame of the chosen view.
func Run(sc *scenario.Scenario, o Options) (*report.Report, error) {
	var r Runner
	return r.Run(sc, o)
}

// Runner plays scenarios one after another, reusing the socket's and the
// device's buffers from run to run: a fuzz campaign or a corpus sweep then
// allocates little more than the reports. A Runner is not safe for
// concurrent use; its zero value is ready.
type Runner struct {
	dev  Device
	sock Socket
}

// Run is the package-level Run on the Runner's buffers. The report owns
// its data: nothing in it is reused by later runs.
func (rn *Runner) Run(sc *scenario.Scenario, o Options) (*report.Report, error) {
	nd, dropped, err := NewDevice(sc.Link)
	if err != nil {
		return nil, err
	}
	dev := &rn.dev
	bufs := dev.bufs
	*dev = *nd
	dev.bufs = bufs
	rep := &report.Report{
		Scenario: sc.Name,
		Source:   "model",
		View:     o.View.String(),
		Features: report.Features{Requested: featureStrings(sc.Link.Features), Enabled: dev.Features.Names(), Dropped: dropped},
		Steps:    make([]report.Step, 0, len(sc.Steps)),
	}
	step := -1 // setup
	datagrams := 0
	var emitErr error
	out := func(d *Datagram) error {
		dg := datagrams
		datagrams++
		if o.Trace != nil {
			traceOutput(o.Trace, step, d, dev, o.View)
		}
		if o.Datagram != nil {
			o.Datagram(d.Payload)
		}
		return dev.Transmit(d, o.View, func(fi FrameInfo, b []byte) error {
			if o.Trace != nil {
				o.Trace(Event{Step: step, Func: outputFunc(fi.Kind), Var: fmt.Sprintf("frame (%s %d of %d)", fi.Kind, fi.Index+1, fi.Count), Value: fmt.Sprintf("%d bytes", len(b)), Why: fi.Why()})
			}
			f := report.Frame{Step: step, Datagram: dg, IDSource: d.IDSource, Kind: fi.Kind, Index: fi.Index, Count: fi.Count, Offset: fi.Offset, Len: len(b), Data: b}
			if o.Frame != nil {
				if o.Explain {
					f.Why = fi.Why()
				}
				return o.Frame(f)
			}
			f.Why = fi.Why()
			f.Data = slices.Clone(b) // the device reuses b
			rep.Frames = append(rep.Frames, f)
			return nil
		})
	}
	s := &rn.sock
	s.reinit(dev, Config{Proto: sc.Socket.Proto, Src: sc.Socket.Src, Seed: o.Seed, Clock: o.Clock, Out: out})
	s.SetTrace(o.Trace)
	s.SetStep(-1)

	// The kernel runner sets IP_MTU_DISCOVER first, then the list.
	s.Setsockopt(scenario.Opt{Name: scenario.OptIPMTUDiscover, Int: int(sc.Socket.PMTUDisc)})
	for _, opt := range sc.Socket.Setsockopt {
		e := s.Setsockopt(opt)
		rep.Setup = append(rep.Setup, report.Step{Op: "setsockopt", Err: e})
	}
	if sc.Socket.Connect {
		s.Connect(sc.Socket.Dst, sc.Socket.InetID)
	}
	streaming := o.Frame != nil && o.Step != nil
	repeat := max(sc.Repeat, 1)
	var control [][]byte // built once per step, reused by repeats
	for n := 0; n < repeat*len(sc.Steps); n++ {
		i := n % len(sc.Steps)
		st := sc.Steps[i]
		step = i
		s.SetStep(i)
		var r report.Step
		if st.Send != nil {
			r = report.Step{Op: "send"}
			m := Msg{Payload: st.Send.Payload, Flags: st.Send.Flags, Name: st.Send.To}
			if !m.Name.IsValid() && !sc.Socket.Connect {
				m.Name = sc.Socket.Dst // "destination of sends that name none"
			}
			if len(st.Send.Cmsg) > 0 {
				if control == nil {
					control = make([][]byte, len(sc.Steps))
				}
				if control[i] == nil {
					control[i] = cmsg.Build(st.Send.Cmsg)
				}
				m.Control = control[i]
			}
			r.Ret, r.Err = s.Sendmsg(&m)
		} else {
			// Every option is applied, as a program checking nothing
			// would and as the kernel runner does; the result is the
			// first failure's errno.
			r = report.Step{Op: "setsockopt"}
			for _, opt := range st.Setsockopt {
				if e := s.Setsockopt(opt); e != 0 && r.Err == 0 {
					r.Err = e
				}
			}
		}
		if o.Step != nil {
			if err := o.Step(n, r); err != nil {
				return nil, err
			}
		}
		if !streaming {
			rep.Steps = append(rep.Steps, r)
		}
		if s.outErr != nil {
			emitErr = s.outErr
			break
		}
	}
	if emitErr != nil {
		return nil, fmt.Errorf("writing frames: %w", emitErr)
	}
	return rep, nil
}

func featureStrings(fs []scenario.Feature) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// CheckExpect compares each step's result with its expect, returning one
// message per mismatch ("step 2: expected EMSGSIZE, got 1000").
func CheckExpect(sc *scenario.Scenario, rep *report.Report) []string {
	var bad []string
	for n, got := range rep.Steps {
		if msg := CheckStep(sc, n, got); msg != "" {
			bad = append(bad, msg)
		}
	}
	return bad
}

// CheckStep compares the result of executed step n (counting across
// repeats) with its expect; "" when it holds or there is none.
func CheckStep(sc *scenario.Scenario, n int, got report.Step) string {
	if len(sc.Steps) == 0 {
		return ""
	}
	i := n % len(sc.Steps)
	st := sc.Steps[i]
	if st.Send == nil || st.Send.Expect == nil {
		return ""
	}
	want := st.Send.Expect
	if want.Err == got.Err && (want.Err != 0 || want.Ret == got.Ret) {
		return ""
	}
	where := fmt.Sprintf("step %d (line %d)", i, st.Line)
	if n != i {
		where += fmt.Sprintf(", repeat %d", n/len(sc.Steps))
	}
	return fmt.Sprintf("%s: expected %s, got %s", where, expectString(want), got)
}

func expectString(e *scenario.Expect) string {
	if e.Err != 0 {
		return e.Err.Name()
	}
	return fmt.Sprint(e.Ret)
}

// outputFunc names the kernel function that produced a frame of kind k.
func outputFunc(k report.Kind) string {
	switch k {
	case report.Fragment:
		return "ip_do_fragment"
	case report.Segment:
		return "__udp_gso_segment"
	}
	return "dev_queue_xmit"
}

// traceOutput explains ip_finish_output's and validate_xmit_skb's choice
// for a datagram.
func traceOutput(tr func(Event), step int, d *Datagram, dev *Device, v View) {
	total := len(d.IP) + d.L4Len()
	ev := Event{Step: step, Func: "ip_finish_output", Var: "path"}
	switch {
	case d.GSOSize > 0:
		ev.Value = "GSO"
		if dev.segmentsGSO(d) {
			ev.Why = "skb_is_gso and the device has NETIF_F_GSO_UDP_L4: it goes down whole"
			if v == Wire {
				ev.Why += "; the wire view shows the device's segments"
			}
		} else {
			ev.Why = "skb_is_gso but the device cannot segment it: validate_xmit_skb segments in software (__udp_gso_segment)"
		}
	case total > dev.MTU:
		ev.Value = "fragment"
		ev.Why = fmt.Sprintf("tot_len %d > mtu %d: ip_fragment -> ip_do_fragment", total, dev.MTU)
		if fastPath(d.SkbData, dev.MTU-len(d.IP)) {
			ev.Why += " (fast path: the frag list's skbs are the fragments)"
		} else {
			ev.Why += " (slow path)"
		}
	default:
		ev.Value = "whole"
		ev.Why = fmt.Sprintf("tot_len %d <= mtu %d", total, dev.MTU)
	}
	tr(ev)
}
