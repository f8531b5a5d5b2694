package scenario

import (
	"fmt"
	"net/netip"
	"strconv"
)

// This file is Marshal's half of the receiving side: peer, recv steps,
// socket.type and socket.family, written as the loader (peer_schema.go)
// reads them.

func (w *yamlWriter) sockTypeFamily(so Socket) error {
	if so.Type != 0 {
		if err := checkSockType(so.Type); err != nil {
			return err
		}
		w.line(1, "type: %q", FormatSockType(so.Type))
	}
	if so.Family != nil {
		f := *so.Family
		switch {
		case f == AFUnspec:
			w.line(1, "family: AF_UNSPEC")
		case f == AFInet || f == AFInet6:
			want := AFInet
			if so.IPv6() {
				want = AFInet6
			}
			if f != want {
				return fmt.Errorf("family %d does not match src %v", f, so.Src)
			}
			if f == AFInet {
				w.line(1, "family: AF_INET")
			} else {
				w.line(1, "family: AF_INET6")
			}
		case f > 0 && f < AFMax:
			return fmt.Errorf("family %d is not one a scenario may name", f)
		default:
			w.line(1, "family: %d", f)
		}
	}
	return nil
}

func (w *yamlWriter) peer(p *Peer) error {
	if p == nil {
		return nil
	}
	w.line(0, "peer:")
	if len(p.Features) > 0 {
		for i, f := range p.Features {
			if f != GRO || i > 0 {
				return fmt.Errorf("features: %v: only gro, once", p.Features)
			}
		}
		w.line(1, "features: [gro]")
	}
	if len(p.Sysctl) > 0 {
		w.line(1, "sysctl:")
		for i, s := range p.Sysctl {
			spec, ok := PeerSysctlOf(s.Name)
			if !ok {
				return fmt.Errorf("sysctl[%d]: unknown sysctl %q", i, s.Name)
			}
			if s.Value < spec.Lo || s.Value > spec.Hi {
				return fmt.Errorf("sysctl %s: %d is out of range %d..%d", s.Name, s.Value, spec.Lo, spec.Hi)
			}
			for _, t := range p.Sysctl[:i] {
				if t.Name == s.Name {
					return fmt.Errorf("sysctl %s given twice", s.Name)
				}
			}
			w.line(2, "%s: %d", s.Name, s.Value)
		}
	}
	switch {
	case p.Sockets == nil:
	case len(p.Sockets) == 0:
		w.line(1, "sockets: []")
	case len(p.Sockets) > MaxPeerSockets:
		return fmt.Errorf("%d sockets; at most %d", len(p.Sockets), MaxPeerSockets)
	default:
		w.line(1, "sockets:")
		for i, ps := range p.Sockets {
			if err := w.peerSocket(ps); err != nil {
				return fmt.Errorf("sockets[%d]: %w", i, err)
			}
		}
	}
	return nil
}

func (w *yamlWriter) peerSocket(ps PeerSocket) error {
	if ps.Proto != UDP && ps.Proto != UDPLite {
		return fmt.Errorf("unknown proto %q", ps.Proto)
	}
	if err := peerAddrOK(ps.Bind, true); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	w.line(2, "- bind: %q", ps.Bind.String())
	w.line(3, "proto: %s", ps.Proto)
	if ps.Connect.IsValid() {
		if err := peerAddrOK(ps.Connect, false); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		if ps.Connect.Addr().Is6() != ps.IPv6() {
			return fmt.Errorf("connect %v and bind %v are of different families", ps.Connect, ps.Bind)
		}
		w.line(3, "connect: %q", ps.Connect.String())
	}
	if ps.Rcvbuf != nil {
		w.line(3, "rcvbuf: %d", *ps.Rcvbuf)
	}
	if len(ps.Setsockopt) > 0 {
		w.line(3, "setsockopt:")
		for i, o := range ps.Setsockopt {
			if _, ok := peerOptSpecOf(o.Name); !ok {
				return fmt.Errorf("setsockopt[%d]: %q is not a peer socket option", i, o.Name)
			}
			w.line(4, "- %s: %s", o.Name, strconv.Itoa(o.Int))
		}
	}
	return nil
}

// peerAddrOK is checkPeerAddr's test, for Marshal.
func peerAddrOK(ap netip.AddrPort, bind bool) error {
	a := ap.Addr().Unmap()
	switch {
	case !ap.IsValid() || ap.Port() == 0:
		return fmt.Errorf("%v is not an address with a nonzero port", ap)
	case ap.Addr().Zone() != "" || a.IsLinkLocalUnicast():
		return fmt.Errorf("%v needs a scope id", ap)
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%v: multicast and broadcast are out of scope", ap)
	case a.IsUnspecified() && !bind:
		return fmt.Errorf("connect to %v", ap)
	}
	return nil
}

func (w *yamlWriter) recv(r *Recv) error {
	w.line(1, "- recv:")
	if r.ErrQueue {
		if r.Socket != 0 {
			return fmt.Errorf("errqueue reads the sender's socket, but socket is %d", r.Socket)
		}
		w.line(3, "errqueue: true")
	} else {
		if r.Socket < 0 || r.Socket >= MaxPeerSockets {
			return fmt.Errorf("socket %d is out of range 0..%d", r.Socket, MaxPeerSockets-1)
		}
		w.line(3, "socket: %d", r.Socket)
	}
	if r.Len < 0 || r.Len > MaxRecvLen {
		return fmt.Errorf("len %d is out of range 0..%d", r.Len, MaxRecvLen)
	}
	w.line(3, "len: %d", r.Len)
	if r.CmsgLen < 0 || r.CmsgLen > MaxCmsgLen {
		return fmt.Errorf("cmsg_len %d is out of range 0..%d", r.CmsgLen, MaxCmsgLen)
	}
	w.line(3, "cmsg_len: %d", r.CmsgLen)
	if r.Flags != 0 {
		names := RecvFlagNames(r.Flags)
		f := 0
		for _, n := range names {
			b, _ := recvFlagBit(n)
			f |= b
		}
		if f != r.Flags {
			return fmt.Errorf("flags %#x has bits no recv flag name covers (%#x)", r.Flags, r.Flags&^f)
		}
		w.line(3, "flags: [%s]", joinComma(names))
	}
	switch {
	case r.Count == RecvAll:
		w.line(3, "count: all")
	case r.Count < 1 || r.Count > MaxRecvCalls:
		return fmt.Errorf("count %d is out of range 1..%d", r.Count, MaxRecvCalls)
	case r.Count != 1:
		w.line(3, "count: %d", r.Count)
	}
	return w.expect(r.Expect)
}
