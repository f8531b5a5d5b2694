package builder

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Options tune a model run.
type Options struct {
	// View is which picture of the output the frames show: report.Tap
	// (also the zero value) or report.Wire.
	View report.View
	// Seed draws what the kernel draws at random: ip_idents bucket
	// starts and a connected socket's inet_id when the scenario sets none.
	Seed uint64
	// Clock is the IP timestamp option's clock (ms since midnight UTC);
	// nil means DefaultTimestamp.
	Clock func() uint32
	// Trace, when set, receives every decision of the send path, named
	// as the kernel names it (see Event), and every frame.
	Trace func(Event)
	// Frames, when set, receives every datagram and frame as the device
	// hands them over, in pieces, instead of the report collecting them
	// (report.Frames stays empty). Nothing is copied for it: a run of
	// millions of frames then holds constant memory.
	Frames FrameSink
	// Steps, when set, receives every step's result as it completes
	// instead of the report collecting them (report.Steps stays empty).
	Steps StepFunc
	// Context, when set, ends the run between steps once it is done (a
	// signal, say): Run then returns its cause.
	Context context.Context
}

// StepFunc receives the result of executed step n, counting across
// repeats.
type StepFunc func(n int, r report.Step) error

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
	rec  Recorder
}

// Run is the package-level Run on the Runner's buffers. The report owns
// its data: nothing in it is reused by later runs.
func (rn *Runner) Run(sc *scenario.Scenario, o Options) (*report.Report, error) {
	nd, dropped, err := NewDevice(sc.Link)
	if err != nil {
		return nil, err
	}
	rep := &report.Report{
		Scenario: sc.Name,
		Source:   "model",
		View:     o.View,
		Features: report.Features{Requested: featureStrings(sc.Link.Features), Enabled: nd.Features.Names(), Dropped: dropped},
		Steps:    make([]report.Step, 0, len(sc.Steps)),
	}
	if rep.View == "" {
		rep.View = report.Tap
	}
	dev := &rn.dev
	bufs := dev.bufs
	*dev = *nd
	dev.bufs = bufs
	dev.View = o.View
	dev.Sink = o.Frames
	if dev.Sink == nil {
		// The report keeps the frames; the recorder's slice is the
		// report's, not reused by the next run.
		rn.rec = Recorder{}
		dev.Sink = &rn.rec
		defer func() { rep.Frames, rn.rec = rn.rec.Frames, Recorder{} }()
	}
	dev.SetTrace(o.Trace)
	var peer *peerLink
	if HasReceiver(sc) {
		// The peer's sockets exist before the sender's socket sends
		// anything; the peer sees every frame after the run's sink.
		peer = newPeer(sc, dev, o, &rep.PeerSetup)
		peer.inner = dev.Sink
		dev.Sink = peer
	}
	var router *pathRouter
	if HasPathEvents(sc) {
		// The router quotes what the device sent; its messages go to the
		// run's sink beside the peer's own, counted with them.
		router = &pathRouter{quotes: &quoteSink{inner: dev.Sink}, sink: dev.Sink, frames: new(int)}
		if peer != nil {
			router.sink, router.frames = peer.inner, &peer.frames
		}
		router.macs[0], router.macs[1] = sc.Link.MACs()
		router.mtu = sc.Link.MTU
		dev.Sink = router.quotes
	}
	if e := sockCreate(sc.Socket); e != 0 {
		return rn.runWithoutSocket(sc, o, rep, peer, e)
	}
	s := &rn.sock
	s.reinit(dev, Config{Proto: sc.Socket.Proto, Src: sc.Socket.Src, Seed: o.Seed, Clock: o.Clock, DualStack: sc.DualStack()})
	s.SetTrace(o.Trace)
	s.SetStep(-1)

	// The kernel runner sets IP_MTU_DISCOVER (IPV6_MTU_DISCOVER on an
	// IPv6 socket) first, then the list.
	pmtu := scenario.OptIPMTUDiscover
	if sc.Socket.IPv6() {
		pmtu = scenario.OptIPv6MTUDiscover
	}
	// An IPv6 socket gets its list before bind (IPV6_V6ONLY is refused
	// after it), as the kernel runner orders the calls; an IPv4 socket
	// after.
	s.np.beforeBind = sc.Socket.IPv6()
	s.Setsockopt(scenario.Opt{Name: pmtu, Int: int(sc.Socket.PMTUDisc)})
	for _, opt := range sc.Socket.Setsockopt {
		e := s.Setsockopt(opt)
		rep.Setup = append(rep.Setup, report.Step{Op: "setsockopt", Err: e})
	}
	if s.np.beforeBind {
		s.np.beforeBind = false
		s.inet6Bind()
	}
	if sc.Socket.Connect {
		if sc.Socket.IPv6() {
			// A failed connect leaves the socket unconnected: its
			// sends without a destination then fail as the kernel's.
			// It is a setup result, as the kernel runner records it.
			if e := s.Connect6(sc.Socket.Dst, sc.Socket.Flowinfo, sc.Socket.InetID); e != 0 {
				rep.Setup = append(rep.Setup, report.Step{Op: "connect", Err: e})
			}
		} else {
			s.Connect(sc.Socket.Dst, sc.Socket.InetID)
		}
	}
	repeat := max(sc.Repeat, 1)
	var control [][]byte // built once per step, reused by repeats
	var done <-chan struct{}
	if o.Context != nil {
		done = o.Context.Done()
	}
	for n := 0; n < repeat*len(sc.Steps); n++ {
		select {
		case <-done:
			return nil, context.Cause(o.Context)
		default:
		}
		i := n % len(sc.Steps)
		st := sc.Steps[i]
		s.SetStep(i)
		var r report.Step
		if peer != nil {
			peer.step = i
		}
		if st.Recv != nil {
			r = peer.recv(st.Recv, s)
		} else if st.ICMP != nil {
			var err error
			if r, err = router.icmp(st.ICMP, i, s); err != nil {
				return nil, fmt.Errorf("writing frames: %w", err)
			}
		} else if st.Getsockopt != "" {
			r = report.Step{Op: "getsockopt", Opt: string(st.Getsockopt)}
			r.Ret, r.Err = s.Getsockopt(st.Getsockopt)
		} else if st.Send != nil {
			r = report.Step{Op: "send"}
			m := Msg{Payload: st.Send.Payload, Flags: st.Send.Flags, Name: st.Send.To, Flowinfo: st.Send.Flowinfo}
			if !m.Name.IsValid() && !sc.Socket.Connect {
				m.Name = sc.Socket.Dst // "destination of sends that name none"
				m.Flowinfo = sc.Socket.Flowinfo
			}
			if len(st.Send.Cmsg) > 0 {
				if control == nil {
					control = make([][]byte, len(sc.Steps))
				}
				if control[i] == nil {
					control[i] = cmsg.Build(st.Send.Cmsg, 0)
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
		if peer != nil {
			// The link goes quiet: the peer's answers reach the sender
			// before the next step.
			if err := peer.quiet(i, s); err != nil {
				return nil, fmt.Errorf("writing frames: %w", err)
			}
		}
		if o.Steps != nil {
			if err := o.Steps(n, r); err != nil {
				return nil, err
			}
		} else {
			rep.Steps = append(rep.Steps, r)
		}
		if s.outErr != nil {
			return nil, fmt.Errorf("writing frames: %w", s.outErr)
		}
	}
	if peer != nil {
		rep.Counters = peer.counters(s)
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

// runWithoutSocket plays the steps after a failed socket(): the program
// holds the fd -1, so every call on the sender's socket fails with EBADF;
// the peer's sockets work as ever.
func (rn *Runner) runWithoutSocket(sc *scenario.Scenario, o Options, rep *report.Report, peer *peerLink, e errno.Errno) (*report.Report, error) {
	rep.Setup = []report.Step{{Op: "socket", Err: e}}
	var s Socket // never sends: its counters stay 0
	for n := 0; n < max(sc.Repeat, 1)*len(sc.Steps); n++ {
		i := n % len(sc.Steps)
		st := sc.Steps[i]
		r := report.Step{Op: st.Op(), Err: errno.Errno(unix.EBADF)}
		if st.Recv != nil {
			if peer != nil && !st.Recv.ErrQueue {
				peer.step = i
				r = peer.recv(st.Recv, &s)
			} else {
				r.Recv = []report.Recv{{Err: errno.Errno(unix.EBADF)}}
			}
		}
		if o.Steps != nil {
			if err := o.Steps(n, r); err != nil {
				return nil, err
			}
		} else {
			rep.Steps = append(rep.Steps, r)
		}
	}
	if peer != nil {
		rep.Counters = peer.counters(&s)
	}
	return rep, nil
}
