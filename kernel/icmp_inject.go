package kernel

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file is the path events on the real kernel (docs/scenario.md, "Path
// events"): an icmp step's router message is built as the model builds it
// (header.ICMPError), quoting the first frame of the last datagram the
// capture saw leave, and sent from the peer's side of the link through
// the peer's fence socket (AF_PACKET: the frame goes out of the peer's
// veth as given, and the peer's own stack never sees it). The sender's
// kernel receives it as a router's answer (icmp_rcv, icmpv6_rcv); the
// capture files it as a frame the peer sent. A getsockopt step reads
// IP_MTU or IPV6_MTU.

// noteQuote keeps the first frame of the last datagram the sender sent
// (from its IP header on, at most scenario.ICMPQuote6 bytes), for the next
// icmp step.
func (r *runner) noteQuote(fs []report.Frame) {
	for _, f := range fs {
		if f.Dir == report.DirPeer || f.Step < 0 || f.Index != 0 || len(f.Data) <= header.EthernetLen {
			continue
		}
		q := f.Data[header.EthernetLen:]
		r.quote = append(r.quote[:0], q[:min(len(q), scenario.ICMPQuote6)]...)
	}
}

// icmp plays an icmp step: nothing (ret 0) when no datagram has left or
// the type has no form in the quoted datagram's family, as the model.
func (r *runner) icmp(ic *scenario.ICMP) (report.Step, error) {
	st := report.Step{Op: "icmp"}
	// As the model: nothing (ret 0) when the step has nothing to send.
	e, _, ok := ic.Message(r.quote, r.plan.mtu)
	if !ok {
		return st, nil
	}
	v6 := r.quote[0]>>4 == 6
	copy(e.SrcMAC[:], r.plan.dstMAC)
	copy(e.DstMAC[:], r.plan.srcMAC)
	frame := e.Build(nil)
	if err := r.pf.inject(frame, v6); err != nil {
		return st, err
	}
	st.Ret = len(frame) - header.EthernetLen
	return st, nil
}

// inject sends a whole frame (Ethernet header on) from the peer's device.
func (pf *peerFence) inject(frame []byte, v6 bool) error {
	proto := uint16(unix.ETH_P_IP)
	if v6 {
		proto = unix.ETH_P_IPV6
	}
	to := *pf.to
	to.Protocol = htons(proto)
	for {
		err := unix.Sendto(pf.fd, frame, 0, &to)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kernel: injecting the icmp step's frame from the peer: %w", err)
		}
		return nil
	}
}

// getsockopt reads IP_MTU (SOL_IP) or IPV6_MTU (SOL_IPV6) of the sender's
// socket: the value, or the errno.
func (s *udpSocket) getsockopt(name scenario.OptName) (report.Step, error) {
	st := report.Step{Op: "getsockopt", Opt: string(name)}
	level, opt := unix.SOL_IP, unix.IP_MTU
	if name == scenario.OptIPv6MTU {
		level, opt = unix.SOL_IPV6, unix.IPV6_MTU
	}
	v, err := unix.GetsockoptInt(s.fd, level, opt)
	if err != nil {
		var en unix.Errno
		if !errors.As(err, &en) {
			return st, fmt.Errorf("kernel: getsockopt %s: %w", name, err)
		}
		e, ok := errno.From(en)
		if !ok {
			return st, fmt.Errorf("kernel: getsockopt %s: %w", name, err)
		}
		st.Err = e
		return st, nil
	}
	st.Ret = v
	return st, nil
}
