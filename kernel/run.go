// Package kernel runs a scenario through the running Linux kernel and
// captures what leaves the device, as the ground truth for the model.
//
// Each run builds its own world: two fresh network namespaces joined by a
// veth pair. The sender namespace holds the scenario's socket and an
// AF_PACKET capture on its veth end (the "tap" view: what tcpdump on the
// device sees); the peer namespace owns every destination and silently
// swallows what arrives. Nothing leaves the machine, whatever the
// addresses, and everything is torn down when the run ends, however it
// ends.
package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// ErrNotRoot is returned (wrapped) when the process may not create network
// namespaces: it is not root, or lacks CAP_NET_ADMIN.
var ErrNotRoot = errors.New("udpbuild kernel needs root (CAP_NET_ADMIN) to create network namespaces")

// DefaultSettle is Options.Settle when left zero.
const DefaultSettle = 20 * time.Millisecond

// setupStep is Frame.Step for a frame captured before the first step
// (during the setsockopt list or connect); none is expected.
const setupStep = -1

// Options tune a kernel run.
type Options struct {
	// Settle is how long to wait after each step for frames to reach the
	// capture (default 20ms).
	Settle time.Duration
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

// Run executes sc through the running kernel inside private network
// namespaces and returns the report (Source "kernel", View "tap").
//
// Frame.Step is the index of the step whose call emitted the frame, or -1
// for a frame captured during set-up. Scenario.Socket.InetID cannot be
// applied to a real socket and is ignored.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (rep *report.Report, err error) {
	if sc == nil {
		return nil, errors.New("kernel: nil scenario")
	}
	if err := checkRoot(os.Geteuid()); err != nil {
		return nil, err
	}
	if ok, why := Available(); !ok {
		return nil, fmt.Errorf("kernel: %s", why)
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	names, err := newNetnsNames()
	if err != nil {
		return nil, err
	}
	r := &runner{sc: sc, opts: opts, world: world{ns: names}, plan: planFor(sc)}
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
	feats, err := setFeatures(ctx, r.ns, r.sc.Link.Features)
	if err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	rep.Features = feats
	if err := setupAddrs(ctx, r.ns, r.plan); err != nil {
		return nil, r.ctxErr(ctx, err)
	}
	if r.listeners, err = openListeners(r.ns.peer, r.plan.ports); err != nil {
		return nil, err
	}
	if r.tap, err = openCapture(r.ns.sender, senderDev); err != nil {
		return nil, err
	}
	so := r.sc.Socket
	if r.sock, err = newUDPSocket(r.ns.sender, so.Proto, so.Src, so.PMTUDisc); err != nil {
		return nil, err
	}
	for _, o := range so.Setsockopt {
		st, err := r.sock.setsockopts([]scenario.Opt{o})
		if err != nil {
			return nil, err
		}
		rep.Setup = append(rep.Setup, st)
	}
	if so.Connect {
		if err := r.sock.connect(so.Dst); err != nil {
			return nil, err
		}
	}
	if err := r.collect(ctx, rep, setupStep); err != nil {
		return nil, err
	}
	for i, step := range r.sc.Steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kernel: before step %d: %w", i, err)
		}
		var st report.Step
		var err error
		if step.Send != nil {
			var to *unix.SockaddrInet4
			to, err = r.msgName(step.Send)
			if err == nil {
				st, err = r.sock.send(step.Send, to)
			}
		} else {
			st, err = r.sock.setsockopts(step.Setsockopt)
		}
		if err != nil {
			return nil, fmt.Errorf("kernel: step %d: %w", i, err)
		}
		rep.Steps = append(rep.Steps, st)
		if err := r.collect(ctx, rep, i); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// msgName picks the sendmsg destination: the step's own, else the
// scenario's dst for an unconnected socket, else none (a connected socket
// uses its own; an unconnected one without dst gets EDESTADDRREQ).
func (r *runner) msgName(s *scenario.Send) (*unix.SockaddrInet4, error) {
	switch {
	case s.To.IsValid():
		return sockaddr(s.To)
	case !r.sc.Socket.Connect && r.sc.Socket.Dst.IsValid():
		return sockaddr(r.sc.Socket.Dst)
	}
	return nil, nil
}

// collect drains the capture and files the frames under step.
func (r *runner) collect(ctx context.Context, rep *report.Report, step int) error {
	frames, err := r.tap.drain(ctx, r.opts.Settle)
	if err != nil {
		return fmt.Errorf("kernel: capturing frames of step %d: %w", step, err)
	}
	rep.Frames = append(rep.Frames, classify(frames, step, r.plan.mtu, &r.datagram)...)
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
