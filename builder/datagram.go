package builder

import "net/netip"

// This file re-tells net/ipv4/datagram.c: connect() on a datagram socket
// (an AF_INET6 socket's is Connect6, ipv6_datagram.go).

// Connect mirrors __ip4_datagram_connect for a unicast destination: it sets
// the socket's destination and state, and seeds inet_id (the kernel draws
// it with get_random_u16; a scenario may fix it).
func (s *Socket) Connect(dst netip.AddrPort, inetID *uint16) {
	s.daddr = dst.Addr()
	s.dport = dst.Port()
	s.connected = true
	// ip_route_connect fills inet->cork.fl, and the route is cached
	// (sk_dst_set).
	s.corkFl = flow{saddr: s.saddr, sport: s.sport, daddr: s.daddr, dport: s.dport}
	s.dstCached = true
	if inetID != nil {
		s.inetID = *inetID
	} else {
		s.inetID = s.idents.draw("inet_id")
	}
}
