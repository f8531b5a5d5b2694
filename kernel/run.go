// Package kernel runs a scenario through the running Linux kernel and
// captures what leaves the device, as the ground truth for the model.
//
// Each run builds its own world: two fresh network namespaces joined by a
// veth pair. The sender namespace holds the scenario's socket and an
// AF_PACKET capture on its veth end (the "tap" view: what tcpdump on the
// device sees, both directions); the peer namespace owns every destination
// and holds the scenario's receiving sockets (peer.go), which recv steps
// read. Nothing leaves the machine, whatever the
// addresses, and everything is torn down when the run ends, however it
// ends; a process killed outright (SIGKILL) leaves its namespaces to the
// next run, which removes them first (stale.go).
package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// ErrNotRoot is returned (wrapped) when the process may not create network
// namespaces: it is not root, or lacks CAP_NET_ADMIN.
var ErrNotRoot = errors.New("udpbuild kernel needs root (CAP_NET_ADMIN) to create network namespaces")

// ErrUnsupported is returned (wrapped) for a scenario that asks for what a
// real socket cannot be made to do; the message names the key. Nothing is
// run: a key the runner cannot honour is never silently ignored.
var ErrUnsupported = errors.New("the kernel runner cannot honour it")

// setupStep is Frame.Step for a frame captured before the first step
// (during the setsockopt list or connect); none is expected.
const setupStep = -1

// Options tune a kernel run.
type Options struct {
	// AnyInetID lets a scenario that sets socket.inet_id run with the
	// inet_id the kernel draws at connect() instead, which no program can
	// choose. It is for callers that judge IP IDs by their rule rather
	// than their value (compare does); without it such a scenario fails
	// with ErrUnsupported.
	AnyInetID bool
	// Frame, when set, receives every frame as it is captured instead of
	// the report collecting them (report.Frames stays empty). The frame is
	// the callee's to keep.
	Frame func(report.Frame) error
	// Step, when set, receives every step's result as it completes (n
	// counts executed steps, across repeats). With Frame also set the
	// report keeps neither steps nor frames: memory stays constant
	// however long the run.
	Step func(n int, r report.Step) error
	// Stale, when set, is told of every namespace that a udpbuild process
	// which no longer runs left behind, and that the run removed (or
	// failed to remove) before building its own.
	Stale func(Stale)
}

// Available reports whether the kernel runner can work here: root, and
// `ip` and `ethtool` on PATH. When it cannot, why says what is missing.
func Available() (ok bool, why string) {
	if err := checkRoot(os.Geteuid()); err != nil {
		return false, err.Error()
	}
	for _, tool := range []string{"ip", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, fmt.Sprintf("udpbuild kernel needs %q on PATH: %v", tool, err)
		}
	}
	return true, ""
}

// checkRoot fails with ErrNotRoot unless euid is 0. (Root without
// CAP_NET_ADMIN, in a container, fails later, when `ip netns add` does.)
func checkRoot(euid int) error {
	if euid != 0 {
		return fmt.Errorf("kernel: %w (running as uid %d)", ErrNotRoot, euid)
	}
	return nil
}

// Check reports, wrapping ErrUnsupported, the first key of sc that a run
// with opts could not honour. Every other key of the format is honoured:
// the link by ip and ethtool (a feature the veth cannot offer is reported
// in Features.Dropped, as the kernel decides), the socket and the steps by
// the same system calls a program would make, repeat by making them again.
func Check(sc *scenario.Scenario, opts Options) error {
	if sc.Socket.InetID != nil && !opts.AnyInetID {
		return fmt.Errorf("kernel: socket.inet_id: %w: connect() draws a real socket's inet_id at random "+
			"(__ip4_datagram_connect) and no call sets it; remove the key, or compare IDs by their rule with udpbuild diff", ErrUnsupported)
	}
	for _, m := range []struct {
		key string
		mac net.HardwareAddr
	}{{"link.src_mac", sc.Link.SrcMAC}, {"link.dst_mac", sc.Link.DstMAC}} {
		// eth_prepare_mac_addr_change takes only is_valid_ether_addr.
		if len(m.mac) > 0 && (m.mac[0]&1 != 0 || bytes.Equal(m.mac, make([]byte, len(m.mac)))) {
			return fmt.Errorf("kernel: %s %s: %w: a veth takes only a unicast, non-zero address (is_valid_ether_addr)", m.key, m.mac, ErrUnsupported)
		}
	}
	return nil
}

// Run executes sc through the running kernel inside private network
// namespaces and returns the report (Source "kernel", View "tap").
//
// Every step runs sc.Repeat times in order, as in the model: the report
// has one step result per executed step, and Frame.Step is the index in
// sc.Steps of the step whose call emitted the frame, or -1 for a frame
// captured during set-up. A scenario asking for what the kernel cannot do
// fails with ErrUnsupported (see Check) before anything is built.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (rep *report.Report, err error) {
	if sc == nil {
		return nil, errors.New("kernel: nil scenario")
	}
	if err := Check(sc, opts); err != nil {
		return nil, err
	}
	if err := checkRoot(os.Geteuid()); err != nil {
		return nil, err
	}
	if ok, why := Available(); !ok {
		return nil, fmt.Errorf("kernel: %s", why)
	}
	names, err := newNetnsNames()
	if err != nil {
		return nil, err
	}
	r := &runner{sc: sc, opts: opts, world: world{ns: names, stale: opts.Stale}, plan: planFor(sc)}
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("kernel: internal error: %v", p)
		}
		if terr := r.teardown(); terr != nil {
			rep, err = nil, errors.Join(err, terr)
		}
	}()
	rep, err = r.run(ctx)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// runner holds one run's resources, so teardown can release exactly what
// was acquired.
type runner struct {
	sc   *scenario.Scenario
	opts Options
	plan plan

	world
	sock     *udpSocket
	tap      *capture
	datagram int // next Frame.Datagram
	// peerDatagram is the next Frame.Datagram of a frame the peer sent.
	peerDatagram int
	// peer are the peer's sockets (their fds are also in world.listeners,
	// which teardown closes); pf is the peer's fence socket.
	peer []peerSocket
	pf   *peerFence
	// quote is the first frame of the last datagram sent, which an icmp
	// step quotes (icmp_inject.go).
	quote []byte
}

func (r *runner) run(ctx context.Context) (*report.Report, error) {
	rep := &report.Report{
		Scenario: r.sc.Name,
		Source:   "kernel",
		View:     "tap",
		Kernel:   kernelRelease(),
		Steps:    []report.Step{},
		Frames:   []report.Frame{},
	}
	if err := r.addNamespaces(ctx); err != nil {
		return nil, err
	}
	if err := setupLink(ctx, r.ns, r.plan); err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	feats, err := setFeatures(ctx, r.ns, r.sc.Link.Features, r.plan.gro)
	if err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	rep.Features = feats
	if err := setupAddrs(ctx, r.ns, r.plan); err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	before, err := r.counters()
	if err != nil {
		return nil, err
	}
	if r.peer, rep.PeerSetup, err = openPeerSockets(r.ns.peer, r.sc.PeerSockets()); err != nil {
		return nil, err
	}
	for _, ps := range r.peer {
		r.listeners = append(r.listeners, ps.fd)
	}
	if r.tap, err = openCapture(r.ns.sender, senderDev, r.plan.srcMAC, r.plan.dstMAC); err != nil {
		return nil, err
	}
	if r.pf, err = openPeerFence(r.ns.peer, peerDev, r.tap.fence, r.plan.dstMAC, r.plan.srcMAC); err != nil {
		return nil, err
	}
	if err := r.openSocket(rep); err != nil {
		return nil, err
	}
	if err := lowerMTU(ctx, r.ns, r.plan); err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	if err := runPinned(func() error { return r.steps(ctx, rep) }); err != nil {
		return nil, err
	}
	after, err := r.counters()
	if err != nil {
		return nil, err
	}
	rep.Counters = map[string]int64{}
	for _, side := range []string{"sender", "peer"} {
		counterDeltas(side, before[side], after[side], rep.Counters)
	}
	return rep, nil
}

// counters reads both namespaces' SNMP counters, keyed "sender" and
// "peer".
func (r *runner) counters() (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	for side, ns := range map[string]string{"sender": r.ns.sender, "peer": r.ns.peer} {
		c, err := snmpCounters(ns)
		if err != nil {
			return nil, err
		}
		out[side] = c
	}
	return out, nil
}

// steps plays the steps (on the pinned thread: see runPinned), each
// followed by a quiet-link fence (collect).
func (r *runner) steps(ctx context.Context, rep *report.Report) error {
	if err := r.collect(ctx, rep, setupStep); err != nil {
		return err
	}
	// As builder.Runner.Run plays repeat: the same calls, the same
	// payloads, each step's control messages built once.
	steps := r.sc.Steps
	control := make([][]byte, len(steps))
	for n := range max(r.sc.Repeat, 1) * len(steps) {
		i := n % len(steps)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kernel: before %s: %w", where(n, len(steps)), err)
		}
		var st report.Step
		var err error
		switch step := steps[i]; {
		case step.Send != nil:
			if control[i] == nil && len(step.Send.Cmsg) > 0 {
				control[i], err = buildCmsgs(step.Send.Cmsg, r.tap.ifindex)
			}
			if err == nil {
				st, err = r.sock.send(step.Send, control[i], r.msgName(step.Send))
			}
		case step.Recv != nil:
			st, err = r.recv(step.Recv)
		case step.ICMP != nil:
			st, err = r.icmp(step.ICMP)
		case step.Getsockopt != "":
			st, err = r.sock.getsockopt(step.Getsockopt)
		default:
			st, err = r.sock.setsockopts(step.Setsockopt)
		}
		if err != nil {
			return fmt.Errorf("kernel: %s: %w", where(n, len(steps)), err)
		}
		if r.opts.Step != nil {
			if err := r.opts.Step(n, st); err != nil {
				return err
			}
		}
		if r.opts.Step == nil || r.opts.Frame == nil {
			rep.Steps = append(rep.Steps, st)
		}
		if err := r.collect(ctx, rep, i); err != nil {
			return err
		}
	}
	return nil
}

// recv runs a recv step: on the peer socket it names, or with errqueue on
// the sender's socket with MSG_ERRQUEUE.
func (r *runner) recv(rcv *scenario.Recv) (report.Step, error) {
	if rcv.ErrQueue {
		return recvStep(r.sock.fd, rcv, unix.MSG_ERRQUEUE)
	}
	if rcv.Socket >= len(r.peer) {
		return report.Step{}, fmt.Errorf("recv from peer socket %d, but the peer has %d", rcv.Socket, len(r.peer))
	}
	st, err := recvStep(r.peer[rcv.Socket].fd, rcv, 0)
	idx := rcv.Socket
	st.Socket = &idx
	return st, err
}

// runPinned runs f on a thread of its own pinned to the CPU it starts on,
// and discards the thread after (it never unlocks it). Every frame the
// steps send is then queued and handled by the kernel on that one CPU, in
// order, which the quiet-link fence relies on (see peerFence).
func runPinned(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			if p := recover(); p != nil {
				errc <- fmt.Errorf("kernel: internal error: %v", p)
			}
		}()
		var cpu uint32
		if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
			errc <- fmt.Errorf("kernel: getcpu: %w", e)
			return
		}
		var set unix.CPUSet
		set.Set(int(cpu))
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("kernel: pinning the run to CPU %d: %w", cpu, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// where names executed step n of a scenario of len steps: "step 2", or
// "step 2 (repeat 7)" after the first pass.
func where(n, steps int) string {
	if n < steps {
		return fmt.Sprintf("step %d", n)
	}
	return fmt.Sprintf("step %d (repeat %d)", n%steps, n/steps)
}

// openSocket creates the scenario's socket and sets it up as a program
// would, recording each socket option's result in rep.Setup. An IPv4
// socket is bound first, then given its options; an IPv6 socket gets its
// options first and is bound after them, since IPV6_V6ONLY is refused once
// the socket is bound (ipv6_setsockopt: EINVAL) and a program sets it
// before bind() to have it at all. No other option cares. Connect comes
// last, with socket.flowinfo as sin6_flowinfo.
func (r *runner) openSocket(rep *report.Report) error {
	so := r.sc.Socket
	v6 := so.IPv6()
	sock, failed, err := newUDPSocket(r.ns.sender, so.Proto, v6, so.PMTUDisc, so.Type, so.Family)
	r.sock = sock
	if err != nil {
		return err
	}
	if failed != 0 {
		rep.Setup = append(rep.Setup, report.Step{Op: "socket", Err: failed})
		return nil
	}
	if !v6 {
		if err := r.sock.bind(so.Src); err != nil {
			return err
		}
	}
	for _, o := range so.Setsockopt {
		st, err := r.sock.setsockopts([]scenario.Opt{o})
		if err != nil {
			return err
		}
		rep.Setup = append(rep.Setup, st)
	}
	if v6 {
		if err := r.sock.bind(so.Src); err != nil {
			return err
		}
	}
	if so.Connect {
		// An IPv6 socket's connect can fail as a program's would (a
		// v4-mapped peer of an IPv6-only socket: ENETUNREACH): that is
		// a result, recorded as a setup step, not a failed run.
		err := r.sock.connect(so.Dst, so.Flowinfo)
		if e, ok := errno.From(err); ok && v6 {
			rep.Setup = append(rep.Setup, report.Step{Op: "connect", Err: e})
			return nil
		}
		return err
	}
	return nil
}

// msgName picks the sendmsg destination: the step's own (with the step's
// flowinfo), else the scenario's dst (with socket.flowinfo) for an
// unconnected socket, else none (a connected socket uses its own; an
// unconnected one without dst gets EDESTADDRREQ). An IPv4 address is a
// sockaddr_in and an IPv6 one a sockaddr_in6, whatever the socket's
// family: the kernel's answer to a mismatch is a result.
func (r *runner) msgName(s *scenario.Send) msgName {
	var m msgName
	switch {
	case s.To.IsValid():
		m.sa, m.n = rawSockaddr(s.To, s.Flowinfo, false)
	case !r.sc.Socket.Connect && r.sc.Socket.Dst.IsValid():
		m.sa, m.n = rawSockaddr(r.sc.Socket.Dst, r.sc.Socket.Flowinfo, false)
	}
	return m
}

// collect reads the capture up to a fence and files the frames under step,
// or hands them to Options.Frame.
func (r *runner) collect(ctx context.Context, rep *report.Report, step int) error {
	frames, err := r.tap.sync(ctx, r.pf)
	if err != nil {
		return fmt.Errorf("kernel: capturing frames of step %d: %w", step, err)
	}
	fs := classify(frames, step, r.plan.mtu, &r.datagram, &r.peerDatagram)
	r.noteQuote(fs)
	if r.opts.Frame == nil {
		rep.Frames = append(rep.Frames, fs...)
		return nil
	}
	for _, f := range fs {
		if err := r.opts.Frame(f); err != nil {
			return err
		}
	}
	return nil
}

// ctxErr makes a failure caused by cancellation (a killed `ip`, say) say
// so first, so callers can test errors.Is(err, context.Canceled).
func (r *runner) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("kernel: %w: %w", cerr, err)
	}
	return err
}

// teardown closes the sender's sockets (they pin their namespace), then
// releases the world.
func (r *runner) teardown() error {
	r.sock.close()
	r.tap.close()
	r.pf.close()
	return r.release()
}

// kernelRelease is `uname -r`.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
