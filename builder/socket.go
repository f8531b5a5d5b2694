package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/scenario"
)

// Socket is one SOCK_DGRAM socket, AF_INET or AF_INET6: the union of what
// struct sock, struct inet_sock, struct ipv6_pinfo and struct udp_sock hold
// that the send path reads, and its route to the device. It is the only
// stateful part of the model. An AF_INET6 socket carries both halves: its
// v4-mapped sends use the IPv4 one.
type Socket struct {
	rt    route
	proto scenario.Proto
	// inet6 is set for an AF_INET6 socket (its bound address is IPv6).
	inet6 bool
	// dualStack is Config.DualStack.
	dualStack bool
	np        ipv6Pinfo

	// inet_sock: bound source, connect() state and IP-level options.
	saddr     netip.Addr
	sport     uint16
	daddr     netip.Addr // inet_daddr: set by connect()
	dport     uint16
	connected bool // sk_state == TCP_ESTABLISHED
	inetID    uint16
	tos       uint8
	ucTTL     int // -1: use the route's hop limit
	pmtudisc  scenario.PMTUDisc
	opt       *ipopt.Options // inet_opt; nil when none
	noCheckTx bool           // sk_no_check_tx (SO_NO_CHECK)
	recverr   bool           // IP_RECVERR
	recverr6  bool           // IPV6_RECVERR (np->recverr)

	// skErr is sk->sk_err: an ICMP error __udp4_lib_err recorded, handed
	// to (and cleared by) the next sock_alloc_send_skb; errQueue is
	// sk_error_queue (IP_RECVERR).
	skErr    errno.Errno
	errQueue []sockExterr
	// mib counts what the sender's /proc/net/snmp shows of its socket.
	mib senderMib

	// udp_sock
	corkFlag   bool   // UDP_CORK
	gsoSize    uint16 // UDP_SEGMENT
	pcslen     int    // UDP-Lite send coverage
	pcflagSend bool   // UDPLITE_SEND_CC
	pcrlen     int
	pcflagRecv bool
	pending    uint8 // up->pending: 0, afInet or afInet6
	upLen      int   // up->len

	// inet->cork and sk_write_queue: the corked datagram being built.
	cork  cork
	queue skbQueue
	// corkFl is inet->cork.fl, the flow connect() routes and every corked
	// call rewrites; a connected send on the cached route (dstCached,
	// sk_dst_check) builds its datagram from it, stale or not.
	corkFl    flow
	dstCached bool
	// The lockless fast path's private cork and queue (ip_make_skb's),
	// and the datagram handed to the output path; kept to be reused.
	fastCork  cork
	fastQueue skbQueue
	dg        Datagram
	// callOpt holds the extension headers of one send's control messages
	// (udpv6_sendmsg's opt_space), fixOpt ipv6_fixup_options' copy.
	callOpt, fixOpt txOptions

	trace func(Event)
	step  int

	idents *identTable
	rnd    uint64 // draws of the run's seeded stream (random32)
	clock  func() uint32
	outErr error // the first error the device's sink returned
}

// Config is what a socket needs besides its device.
type Config struct {
	Proto scenario.Proto
	Src   netip.AddrPort
	// Seed draws the random values the kernel would draw.
	Seed uint64
	// Clock returns milliseconds since midnight UTC for IP timestamp
	// options (inet_current_timestamp).
	Clock func() uint32
	// DualStack says the link carries both families
	// (scenario.Scenario.DualStack): the sender's IPv4 address is then
	// scenario.DualStackPrefix4, whose subnet broadcast is refused.
	DualStack bool
}

// NewSocket is socket(AF_INET, SOCK_DGRAM, proto) followed by bind(src),
// or socket(AF_INET6, ...) when src is an IPv6 address (the wildcard "::"
// and v4-mapped addresses included).
// Every destination routes out through dev: the datagrams the socket
// sends leave as dev's frames, handed to dev.Sink.
func NewSocket(dev *Device, c Config) *Socket {
	s := &Socket{}
	s.reinit(dev, c)
	return s
}

// reinit makes s a fresh socket, keeping only its buffers' memory.
func (s *Socket) reinit(dev *Device, c Config) {
	clock := c.Clock
	if clock == nil {
		clock = func() uint32 { return DefaultTimestamp }
	}
	keep := func(q skbQueue) skbQueue {
		return skbQueue{buf: q.buf, lens: q.lens[:0], room: q.room[:0], truesize: q.truesize[:0]}
	}
	idents := s.idents
	if idents == nil {
		idents = newIdentTable(c.Seed)
	} else {
		idents.seed, idents.buckets = c.Seed, idents.buckets[:0]
	}
	*s = Socket{
		rt:        route{dev: dev},
		proto:     c.Proto,
		saddr:     c.Src.Addr(),
		sport:     c.Src.Port(),
		inet6:     c.Src.Addr().Is6(),
		dualStack: c.DualStack,
		ucTTL:     -1,
		pmtudisc:  scenario.PMTUWant, // net.ipv4.ip_no_pmtu_disc = 0
		idents:    idents,
		clock:     clock,
		queue:     keep(s.queue),
		fastQueue: keep(s.fastQueue),
		dg:        Datagram{IP: s.dg.IP[:0], SkbData: s.dg.SkbData[:0], buf: s.dg.buf},
	}
	if s.inet6 {
		s.inet6Create(c.Src.Addr())
	}
}

// DefaultTimestamp is the clock of IP timestamp options when none is given:
// 12:00:00.000 UTC, in milliseconds since midnight.
const DefaultTimestamp = 12 * 3600 * 1000

// Setsockopt applies one socket option at its level: udp_lib_setsockopt
// (udp.go), do_ip_setsockopt (ip_sockglue.go), do_ipv6_setsockopt
// (ipv6_sockglue.go) or sk_setsockopt (below). SOL_IP options apply to
// both families (ipv6_setsockopt hands SOL_IP to udp_prot's setsockopt);
// SOL_IPV6 options on an AF_INET socket reach ip_setsockopt, which
// answers ENOPROTOOPT for any level but SOL_IP.
func (s *Socket) Setsockopt(o scenario.Opt) errno.Errno {
	switch o.Name {
	case scenario.OptUDPCork, scenario.OptUDPSegment, scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov,
		scenario.OptUDPNoCheck6TX, scenario.OptUDPNoCheck6RX:
		return s.udpLibSetsockopt(o)
	case scenario.OptIPTOS, scenario.OptIPTTL, scenario.OptIPMTUDiscover, scenario.OptIPOptions, scenario.OptIPRecvErr:
		return s.doIPSetsockopt(o)
	case scenario.OptSONoCheck:
		return s.skSetsockopt(o)
	case scenario.OptIPv6MTUDiscover, scenario.OptIPv6TClass, scenario.OptIPv6UnicastHops, scenario.OptIPv6DontFrag,
		scenario.OptIPv6MTU, scenario.OptIPv6FlowinfoSend, scenario.OptIPv6AutoFlowlabel, scenario.OptIPv6V6Only, scenario.OptIPv6RecvErr,
		scenario.OptIPv6HopOpts, scenario.OptIPv6DstOpts, scenario.OptIPv6RthdrDstOpts, scenario.OptIPv6Rthdr:
		if !s.inet6 {
			return errno.ENOPROTOOPT // ip_setsockopt: level != SOL_IP
		}
		return s.doIPv6Setsockopt(o)
	}
	return errno.ENOPROTOOPT
}

// skSetsockopt mirrors sk_setsockopt (net/core/sock.c) for SO_NO_CHECK.
func (s *Socket) skSetsockopt(o scenario.Opt) errno.Errno {
	if o.Name != scenario.OptSONoCheck {
		return errno.ENOPROTOOPT
	}
	s.noCheckTx = o.Int != 0
	return 0
}
