package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv6/datagram.c's connect(): __ip6_datagram_connect
// on an AF_INET6 socket. ip6_datagram_send_ctl, the same file's
// control-message half, is package cmsg's (Apply6).

// Connect6 mirrors __ip6_datagram_connect for a unicast destination dst
// with sin6_flowinfo flowinfo, on an AF_INET6 socket:
//
//   - an IPv4 (sockaddr_in) or v4-mapped destination connects the IPv4
//     half (__ip4_datagram_connect, inetID as Connect's), unless
//     IPV6_V6ONLY (EAFNOSUPPORT for a sockaddr_in, ENETUNREACH for a
//     mapped address); a socket with no IPv4 source (bound to a
//     non-mapped IPv6 address) gets ENETUNREACH from the IPv4 route;
//   - otherwise sk_v6_daddr and the port are set, np->flow_label takes
//     sin6_flowinfo when IPV6_FLOWINFO_SEND is on, the route is looked up
//     (ip6_datagram_dst_update: its errors undo the connect), and
//     sk_txhash is drawn (sk_set_txhash; the model draws from the seed),
//     which labels every later send of the socket.
//
// A failed connect leaves the socket unconnected.
//
// On a link below IPV6_MIN_MTU the kernel runner connects while the link
// still has IPv6 (at 1280) and lowers the MTU afterwards, since the
// socket could not even be bound otherwise; Connect6 connects as the
// kernel did then, and the sends find the route gone (ENETUNREACH).
func (s *Socket) Connect6(dst netip.AddrPort, flowinfo uint32, inetID *uint16) errno.Errno {
	a := dst.Addr()
	if a.Is4() || a.Is4In6() {
		switch {
		case s.np.v6only && a.Is4():
			return errno.EAFNOSUPPORT
		case s.np.v6only:
			return errno.ENETUNREACH
		case !s.saddr.IsValid():
			return errno.ENETUNREACH
		case s.dualStack && a.Unmap() == broadcast4(scenario.DualStackPrefix4):
			// __ip4_datagram_connect: a broadcast route without
			// SO_BROADCAST (found by kernel-differential fuzzing,
			// seed 1002).
			return errno.EACCES
		}
		s.Connect(netip.AddrPortFrom(a.Unmap(), dst.Port()), inetID)
		s.np.daddr = netip.AddrFrom16(a.As16()) // ipv6_addr_set_v4mapped
		// ipv4_connected: an unbound (or mapped-any) IPv6 source
		// becomes the v4-mapped IPv4 source, so a later IPv6 send
		// leaves from a mapped address and is refused (EAFNOSUPPORT).
		if s.np.saddr.IsUnspecified() || s.np.saddr == netip.AddrFrom16(netip.IPv4Unspecified().As16()) {
			s.np.saddr = netip.AddrFrom16(s.saddr.As16())
		}
		return 0
	}
	fl := flow{saddr: s.np.saddr, daddr: a, sport: s.sport, dport: dst.Port()}
	if fl.saddr.IsUnspecified() {
		fl.saddr = netip.Addr{}
	}
	lookup := s.ip6DstLookupFlow
	if s.rt.mtu() < header.IPv6MinMTU {
		lookup = s.ip6DstLookupTail // the route existed at connect
	}
	if e := lookup(&fl); e != 0 {
		return e
	}
	s.np.daddr = a
	s.dport = dst.Port()
	s.np.flowLabel = 0
	if s.np.sndflow {
		s.np.flowLabel = flowinfo & ipv6FlowinfoMask
	}
	s.connected = true
	s.dstCached = true // ip6_datagram_dst_update stores the route
	s.np.txhash = s.random32()
	return 0
}
