package receive

import "net/netip"

// This file re-tells what the peer's sockets hold (struct sock, inet_sock,
// udp_sock, as the receive path reads them) and their set-up: sk_setsockopt
// (net/core/sock.c) for SO_RCVBUF and SO_REUSEPORT, do_ip_setsockopt's
// IP_PKTINFO / IP_RECVTOS / IP_RECVTTL / IP_RECVOPTS / IP_RECVERR and
// udp_lib_setsockopt's UDP_GRO and UDPLITE_RECV_CSCOV.

// Sock is one of the peer's sockets.
type Sock struct {
	h     *Host
	index int
	lite  bool
	inet6 bool
	// rcvSaddr is sk_rcv_saddr, num the bound port; daddr and dport are
	// set by connect() (sk_state TCP_ESTABLISHED).
	rcvSaddr   netip.Addr
	num        uint16
	daddr      netip.Addr
	dport      uint16
	connected  bool
	reuseport  bool
	reuse      bool // SO_REUSEADDR (sk_reuse)
	v6only     bool // IPV6_V6ONLY
	noCheck6Rx bool // UDP_NO_CHECK6_RX
	// rxopt is np->rxopt: the IPv6 control messages asked for.
	rxinfo, rxhlim, rxtclass bool
	rcvbuf                   int // sk_rcvbuf
	rmemAlloc                int // sk_rmem_alloc
	drops                    int // sk_drops
	fwdThreshold             int // up->forward_threshold: sk_rcvbuf >> 2
	fwdDeficit               int // up->forward_deficit
	// cmsgFlags is inet->cmsg_flags (IP_CMSG_*).
	cmsgFlags  uint32
	recverr    bool
	groEnabled bool // UDP_GRO (udp_sk(sk)->gro_enabled)
	pcrlen     int  // UDPLITE_RECV_CSCOV
	pcflagRecv bool // UDPLITE_RECV_CC
	// sk_receive_queue and udp_sk(sk)->reader_queue: the enqueue side and
	// the reader's, refilled by splicing the whole receive queue.
	receiveQ, readerQ []*rskb
	skErr             int
}

// The IP_CMSG_* bits of inet->cmsg_flags, in ip_cmsg_recv_offset's order.
const (
	ipCmsgPktinfo uint32 = 1 << iota
	ipCmsgTTL
	ipCmsgTOS
	ipCmsgRecvopts
	ipCmsgRetopts
)

// Kernel constants of the receive buffer (x86_64, 6.18).
const (
	// rmemDefault is net.core.rmem_default, the initial sk_rcvbuf.
	rmemDefault = 212992
	// rmemMax is net.core.rmem_max, SO_RCVBUF's cap before doubling.
	rmemMax = 4194304
	// sockMinRcvbuf is SOCK_MIN_RCVBUF: 2048 + SKB_DATA_ALIGN(sizeof(struct
	// sk_buff)) [live: SO_RCVBUF 0 gives 2304].
	sockMinRcvbuf = 2304
)

// NewSocket is socket(AF_INET or AF_INET6, SOCK_DGRAM, udp or udplite) on
// the peer: the socket gets the next index, no address yet.
func (h *Host) NewSocket(lite, inet6 bool) *Sock {
	s := &Sock{h: h, index: len(h.socks), lite: lite, inet6: inet6, rcvbuf: rmemDefault, fwdThreshold: rmemDefault >> 2}
	h.socks = append(h.socks, s)
	return s
}

// Bind mirrors inet_bind / inet6_bind and udp_lib_get_port for the peer's
// sockets: the address must be the wildcard or one of the peer's
// (EADDRNOTAVAIL), the port free of a socket whose address overlaps
// unless both set SO_REUSEPORT (EADDRINUSE). It returns an errno value.
func (s *Sock) Bind(ap netip.AddrPort) int {
	h := s.h
	a := ap.Addr()
	if s.inet6 != (a.Is6() && !a.Is4In6()) && !(s.inet6 && a.Is4In6()) {
		return eafnosupport
	}
	v6, v4 := bindAddrs(s.inet6, a)
	a = a.Unmap()
	if !a.IsUnspecified() && !h.isLocal(a) {
		return eaddrnotavail
	}
	for _, t := range h.chain {
		// udp_lib_lport_inuse: no conflict when both set SO_REUSEADDR or
		// both SO_REUSEPORT.
		if t.lite != s.lite || t.num != ap.Port() || (t.reuseport && s.reuseport) || (t.reuse && s.reuse) {
			continue
		}
		if inetRcvSaddrEqual(s.inet6, s.v6only, v6, v4, t) {
			return eaddrinuse
		}
	}
	s.rcvSaddr, s.num = a, ap.Port()
	// udp_lib_get_port: hlist_add_head_rcu for an IPv4 socket; an IPv6
	// reuseport socket goes to the tail.
	if s.inet6 && s.reuseport {
		h.chain = append(h.chain, s)
	} else {
		h.chain = append([]*Sock{s}, h.chain...)
	}
	return 0
}

// loopback4IPv6 is LOOPBACK4_IPV6 (127.0.0.6): the inet_rcv_saddr of an
// AF_INET6 socket bound or connected to a (non-mapped) IPv6 address, so
// that no IPv4 lookup or bind ever matches it.
var loopback4IPv6 = netip.AddrFrom4([4]byte{127, 0, 0, 6})

// bindAddrs is what inet_bind / inet6_bind store for address a: v6 is
// sk_v6_rcv_saddr (invalid for an AF_INET socket, which has none), v4 is
// inet_rcv_saddr.
func bindAddrs(inet6 bool, a netip.Addr) (v6, v4 netip.Addr) {
	if !a.IsValid() {
		// Not bound (or its bind failed): the wildcard.
		a = netip.IPv4Unspecified()
		if inet6 {
			a = netip.IPv6Unspecified()
		}
	}
	if !inet6 {
		return netip.Addr{}, a.Unmap()
	}
	v6 = netip.AddrFrom16(a.As16())
	switch {
	case a.Is4() || a.Is4In6():
		v4 = a.Unmap()
	case a.IsUnspecified():
		v4 = netip.IPv4Unspecified()
	default:
		v4 = loopback4IPv6
	}
	return v6, v4
}

// rcvAddrs is bindAddrs of the socket as it stands: an AF_INET6 socket
// connected from the wildcard has taken the route's source
// (__ip6_datagram_connect: sk_v6_rcv_saddr the peer's IPv6 address and
// inet_rcv_saddr LOOPBACK4_IPV6, or both the IPv4 source for a
// v4-mapped destination).
func (s *Sock) rcvAddrs() (v6, v4 netip.Addr) {
	if s.inet6 && s.connected && s.rcvSaddr.IsUnspecified() {
		if s.daddr.Is4() {
			return bindAddrs(true, netip.AddrFrom16(s.h.cfg.Addr4.As16()))
		}
		for _, a := range s.h.cfg.Addrs {
			if a.Is6() {
				return a, loopback4IPv6
			}
		}
	}
	return bindAddrs(s.inet6, s.rcvSaddr)
}

// inetRcvSaddrEqual mirrors inet_rcv_saddr_equal(sk, sk2, true), the test
// udp_lib_lport_inuse makes of a port's sockets: whether a socket of
// family inet6 binding v6/v4 overlaps t. An AF_INET t has no IPv6
// address (ipv6_addr_type's IPV6_ADDR_MAPPED for it).
func inetRcvSaddrEqual(inet6, v6only bool, v6, v4 netip.Addr, t *Sock) bool {
	t6, t4 := t.rcvAddrs()
	if !inet6 {
		// ipv4_rcv_saddr_equal
		if t.v6only {
			return false
		}
		return v4 == t4 || v4.IsUnspecified() || t4.IsUnspecified()
	}
	// ipv6_rcv_saddr_equal
	mapped := func(a netip.Addr) bool { return !a.IsValid() || a.Is4In6() }
	any := func(a netip.Addr) bool { return a.IsValid() && a.IsUnspecified() }
	switch {
	case mapped(v6) && mapped(t6):
		if t.v6only {
			return false
		}
		return v4 == t4 || v4.IsUnspecified() || t4.IsUnspecified()
	case any(v6) && any(t6):
		return true
	case any(t6) && !(t.v6only && mapped(v6)):
		return true
	case any(v6) && !(v6only && mapped(t6)):
		return true
	}
	return t6.IsValid() && v6 == t6
}

func (h *Host) isLocal(a netip.Addr) bool {
	for _, l := range h.cfg.Addrs {
		if l == a {
			return true
		}
	}
	return false
}

// Connect mirrors __ip4_datagram_connect (and its IPv6 twin) for what the
// receive path reads; it returns an errno value.
func (s *Sock) Connect(to netip.AddrPort) int {
	if s.inet6 && to.Addr().Is4In6() {
		// __ip6_datagram_connect to a v4-mapped address: an IPV6_V6ONLY
		// socket is ENETUNREACH, and so is one bound to an IPv6 address,
		// whose inet_saddr LOOPBACK4_IPV6 no IPv4 route leaves from
		// (__ip4_datagram_connect) [live: two-ended fuzz, seed 7100
		// index 112].
		if _, v4 := s.rcvAddrs(); s.v6only || v4 == loopback4IPv6 {
			return enetunreach
		}
	}
	s.connect(to)
	return 0
}

const (
	enetunreach   = 101
	eafnosupport  = 97
	eaddrinuse    = 98
	eaddrnotavail = 99
)

// connect mirrors __ip4_datagram_connect for the receive path's purposes:
// the socket's peer becomes fixed (compute_score's +4 +4), and a wildcard
// bound socket takes the source address the route gives
// (udp_lib_rehash moves it to that address's slot: the head of its chain).
func (s *Sock) connect(to netip.AddrPort) {
	s.daddr, s.dport, s.connected = to.Addr().Unmap(), to.Port(), true
	if s.rcvSaddr.IsUnspecified() && !s.inet6 {
		s.rcvSaddr = s.h.cfg.Addr4
		s.h.rehead(s)
	}
}

func (h *Host) rehead(s *Sock) {
	for i, t := range h.chain {
		if t == s {
			copy(h.chain[1:i+1], h.chain[:i])
			h.chain[0] = s
			return
		}
	}
}

// Option names the peer socket options the model knows.
type Option string

// The options, by the kernel's names.
const (
	SoRcvbuf         Option = "SO_RCVBUF"
	SoReuseport      Option = "SO_REUSEPORT"
	SoReuseaddr      Option = "SO_REUSEADDR"
	IPPktinfo        Option = "IP_PKTINFO"
	IPRecvTOS        Option = "IP_RECVTOS"
	IPRecvTTL        Option = "IP_RECVTTL"
	IPRecvOpts       Option = "IP_RECVOPTS"
	IPRetOpts        Option = "IP_RETOPTS"
	IPRecvErr        Option = "IP_RECVERR"
	UDPGRO           Option = "UDP_GRO"
	UDPLiteRecvCscov Option = "UDPLITE_RECV_CSCOV"
	IPv6V6Only       Option = "IPV6_V6ONLY"
	IPv6RecvPktinfo  Option = "IPV6_RECVPKTINFO"
	IPv6RecvHopLimit Option = "IPV6_RECVHOPLIMIT"
	IPv6RecvTClass   Option = "IPV6_RECVTCLASS"
	IPv6RecvErr      Option = "IPV6_RECVERR"
	UDPNoCheck6Rx    Option = "UDP_NO_CHECK6_RX"
)

// Setsockopt applies one option as the kernel does; it returns an errno
// value (0 on success): ENOPROTOOPT for an option of the wrong protocol.
func (s *Sock) Setsockopt(o Option, v int) int {
	switch o {
	case SoRcvbuf:
		// sk_setsockopt's SO_RCVBUF: __sock_set_rcvbuf doubles the
		// value, capped at rmem_max first, with SOCK_MIN_RCVBUF below;
		// udp_lib_setsockopt then sets forward_threshold.
		val := min(uint32(v), rmemMax)
		s.rcvbuf = max(int(val)*2, sockMinRcvbuf)
		s.fwdThreshold = s.rcvbuf >> 2
	case SoReuseport:
		s.reuseport = v != 0
	case SoReuseaddr:
		s.reuse = v != 0
	case IPv6RecvPktinfo, IPv6RecvHopLimit, IPv6RecvTClass, IPv6RecvErr:
		if !s.inet6 {
			return enoprotoopt
		}
		switch o {
		case IPv6RecvPktinfo:
			s.rxinfo = v != 0
		case IPv6RecvHopLimit:
			s.rxhlim = v != 0
		case IPv6RecvTClass:
			s.rxtclass = v != 0
		}
	case UDPNoCheck6Rx:
		s.noCheck6Rx = v != 0
	case IPv6V6Only:
		if !s.inet6 {
			return enoprotoopt
		}
		s.v6only = v != 0
	case IPPktinfo:
		s.setCmsgFlag(ipCmsgPktinfo, v)
	case IPRecvTOS:
		s.setCmsgFlag(ipCmsgTOS, v)
	case IPRecvTTL:
		s.setCmsgFlag(ipCmsgTTL, v)
	case IPRecvOpts:
		s.setCmsgFlag(ipCmsgRecvopts, v)
	case IPRetOpts:
		s.setCmsgFlag(ipCmsgRetopts, v)
	case IPRecvErr:
		s.recverr = v != 0
	case UDPGRO:
		s.groEnabled = v != 0
	case UDPLiteRecvCscov:
		if !s.lite {
			return enoprotoopt
		}
		// udp_lib_setsockopt: values 1..7 mean 8; 0 means full coverage.
		if v != 0 && v < 8 {
			v = 8
		} else if v > 0xffff {
			v = 0xffff
		}
		s.pcrlen, s.pcflagRecv = v, true
	default:
		return enoprotoopt
	}
	return 0
}

const enoprotoopt = 92 // ENOPROTOOPT

func (s *Sock) setCmsgFlag(f uint32, v int) {
	if v != 0 {
		s.cmsgFlags |= f
	} else {
		s.cmsgFlags &^= f
	}
}

// Queued is how many datagrams wait on the socket, and RmemAlloc its
// sk_rmem_alloc: what SO_MEMINFO and /proc/net/udp's rx_queue show.
func (s *Sock) Queued() int { return len(s.receiveQ) + len(s.readerQ) }

// RmemAlloc is sk_rmem_alloc.
func (s *Sock) RmemAlloc() int { return s.rmemAlloc }

// Rcvbuf is sk_rcvbuf.
func (s *Sock) Rcvbuf() int { return s.rcvbuf }

// Drops is sk_drops.
func (s *Sock) Drops() int { return s.drops }
