package fuzz

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/scenario"
)

// This file draws the receiving side (docs/scenario.md, "The receiving
// side") when GenConfig.Peer is set: the peer's device, its sockets and
// recv steps among the sends. Without Peer nothing here is drawn, so the
// sender-only scenarios of a seed stay what they always were.

// peer draws the receiving host for a scenario whose socket is so: the
// default sockets (nil Sockets) a third of the time, now and then none at
// all (every datagram meets a closed port and the peer answers with ICMP),
// otherwise one to three sockets of its own.
func (g *gen) peer(so *scenario.Socket) *scenario.Peer {
	p := &scenario.Peer{}
	if g.percent(30) {
		p.Features = []scenario.PeerFeature{scenario.GRO}
	}
	if g.percent(8) {
		// Without the per-peer ICMP limit every port unreachable is
		// sent (the global icmp_msgs_burst of 50 still holds).
		p.Sysctl = append(p.Sysctl, scenario.Sysctl{Name: "icmp_ratelimit", Value: 0})
	}
	switch g.weighted(35, 8, 57) {
	case 0:
		return p
	case 1:
		p.Sockets = []scenario.PeerSocket{}
		return p
	}
	n := 1 + g.weighted(60, 30, 10)
	for range n {
		p.Sockets = append(p.Sockets, g.peerSocket(so))
	}
	return p
}

// peerSocket draws one peer socket: mostly one that receives what the
// sender sends (the destination's port, a wildcard or the peer's own
// address), sometimes one that the lookup must pass over (another port, a
// connected socket whose remote end is not the sender, an address the
// peer does not have).
func (g *gen) peerSocket(so *scenario.Socket) scenario.PeerSocket {
	ps := scenario.PeerSocket{Proto: scenario.UDP}
	if g.percent(20) {
		ps.Proto = scenario.UDPLite
	}
	port := scenario.DefaultDst.Port()
	if so.Dst.IsValid() {
		port = so.Dst.Port()
	}
	if g.percent(15) {
		port = uint16(g.rangeIn(1, 65535))
	}
	v6 := g.v6 && g.percent(85)
	var addr netip.Addr
	switch g.weighted(60, 35, 5) {
	case 0:
		addr = netip.IPv4Unspecified()
		if v6 {
			addr = netip.IPv6Unspecified()
		}
	case 1:
		addr = scenario.DefaultDst.Addr()
		if v6 {
			addr = scenario.DefaultDst6.Addr()
		}
	default:
		// Not the peer's: bind answers EADDRNOTAVAIL.
		addr = netip.AddrFrom4([4]byte{10, 0, 0, 9})
		if v6 {
			addr = netip.MustParseAddr("fd00::9")
		}
	}
	ps.Bind = netip.AddrPortFrom(addr, port)
	if g.percent(20) {
		remote := so.Src
		if g.percent(30) {
			remote = netip.AddrPortFrom(remote.Addr(), uint16(g.rangeIn(1, 65535)))
		}
		if remote.Addr().IsUnspecified() {
			remote = netip.AddrPortFrom(scenario.DefaultSrc.Addr(), remote.Port())
			if g.v6 {
				remote = netip.AddrPortFrom(scenario.DefaultSrc6.Addr(), remote.Port())
			}
		}
		// A connected socket's remote end is of its own family: an IPv4
		// sender seen by an IPv6 socket is v4-mapped.
		switch {
		case v6 && remote.Addr().Is4():
			remote = netip.AddrPortFrom(netip.AddrFrom16(remote.Addr().As16()), remote.Port())
		case !v6 && remote.Addr().Is6():
			if !remote.Addr().Is4In6() {
				remote = netip.AddrPortFrom(scenario.DefaultSrc.Addr(), remote.Port())
			}
			remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		}
		ps.Connect = remote
	}
	if g.percent(20) {
		r := []int{0, 1, 1024, 2304, 4096, 8192, 65536, 212992}[g.intN(8)]
		ps.Rcvbuf = &r
	}
	if g.percent(50) {
		n := 1 + g.intN(3)
		for range n {
			ps.Setsockopt = append(ps.Setsockopt, g.peerOpt(ps))
		}
	}
	return ps
}

// peerOpt draws one option of a peer socket: the ancillary data a receiver
// asks for, UDP_GRO, UDP-Lite's coverage floor. SO_REUSEPORT is not drawn:
// which socket of a group gets a datagram is a hash with a boot-time
// secret, which no model can predict.
func (g *gen) peerOpt(ps scenario.PeerSocket) scenario.Opt {
	on := 1
	if g.percent(10) {
		on = 0
	}
	if ps.IPv6() && g.percent(50) {
		names := []scenario.OptName{scenario.OptIPv6RecvPktInfo, scenario.OptIPv6RecvTClass, scenario.OptIPv6RecvHopLimit,
			scenario.OptIPv6RecvErr, scenario.OptIPv6V6Only}
		return scenario.Opt{Name: names[g.intN(len(names))], Int: on}
	}
	switch g.weighted(25, 15, 12, 12, 8, 8, 8, 12) {
	case 0:
		return scenario.Opt{Name: scenario.OptUDPGRO, Int: on}
	case 1:
		return scenario.Opt{Name: scenario.OptIPPktInfo, Int: on}
	case 2:
		return scenario.Opt{Name: scenario.OptIPRecvTOS, Int: on}
	case 3:
		return scenario.Opt{Name: scenario.OptIPRecvTTL, Int: on}
	case 4:
		return scenario.Opt{Name: scenario.OptIPRecvOpts, Int: on}
	case 5:
		return scenario.Opt{Name: scenario.OptIPRetOpts, Int: on}
	case 6:
		return scenario.Opt{Name: scenario.OptIPRecvErr, Int: on}
	default:
		if ps.Proto == scenario.UDPLite {
			return scenario.Opt{Name: scenario.OptUDPLiteRecvCov, Int: g.coverage()}
		}
		return scenario.Opt{Name: scenario.OptUDPGRO, Int: on}
	}
}

// recvErrOpt is the sender's IP_RECVERR (IPV6_RECVERR on an IPv6
// socket): ICMP errors then go to its error queue, and a connected
// socket's next call is not the only place they show.
func (g *gen) recvErrOpt() scenario.Opt {
	if g.v6 {
		return scenario.Opt{Name: scenario.OptIPv6RecvErr, Int: 1}
	}
	return scenario.Opt{Name: scenario.OptIPRecvErr, Int: 1}
}

// recv draws a recv step on one of the peer's sockets (or, now and then,
// the sender's error queue). Most calls pass MSG_DONTWAIT: the link is
// quiet between steps, so what will arrive has arrived, and a blocking
// call on an empty queue only waits out SO_RCVTIMEO.
func (g *gen) recv(nsock int) *scenario.Recv {
	r := &scenario.Recv{Len: scenario.DefaultRecvLen, CmsgLen: scenario.DefaultCmsgLen, Count: 1}
	if nsock == 0 || g.percent(8) {
		r.ErrQueue = true
		r.Flags = unix.MSG_DONTWAIT
		if g.percent(30) {
			r.Len = []int{0, 8, 64, 512}[g.intN(4)]
		}
		return r
	}
	r.Socket = g.intN(nsock)
	switch g.weighted(50, 10, 20, 20) {
	case 1:
		r.Len = 0
	case 2:
		r.Len = g.rangeIn(1, 100)
	case 3:
		r.Len = []int{1400, 1472, 1500, 8000, 65507}[g.intN(5)]
	}
	if g.percent(20) {
		r.CmsgLen = []int{0, 16, 20, 24, 28, 32, 40, 64}[g.intN(8)]
	}
	if g.percent(75) {
		r.Flags |= unix.MSG_DONTWAIT
	}
	if g.percent(15) {
		r.Flags |= unix.MSG_PEEK
	}
	if g.percent(20) {
		r.Flags |= unix.MSG_TRUNC
	}
	switch g.weighted(70, 15, 15) {
	case 1:
		r.Count = 2 + g.intN(3)
	case 2:
		r.Count = scenario.RecvAll
		r.Flags |= unix.MSG_DONTWAIT // until EAGAIN, without waiting for it
	}
	if r.Count != 1 {
		// Peeking again and again reads the same datagram: count: all
		// would run to MaxRecvCalls.
		r.Flags &^= unix.MSG_PEEK
	}
	return r
}
