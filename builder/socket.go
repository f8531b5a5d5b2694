package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/scenario"
)

// Socket is one AF_INET SOCK_DGRAM socket: the union of what struct sock,
// struct inet_sock and struct udp_sock hold that the send path reads, and
// its route to the device. It is the only stateful part of the model.
type Socket struct {
	rt    route
	proto scenario.Proto

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

	// udp_sock
	corkFlag   bool   // UDP_CORK
	gsoSize    uint16 // UDP_SEGMENT
	pcslen     int    // UDP-Lite send coverage
	pcflagSend bool   // UDPLITE_SEND_CC
	pcrlen     int
	pcflagRecv bool
	pending    bool // up->pending == AF_INET
	upLen      int  // up->len

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

	trace func(Event)
	step  int

	idents *identTable
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
}

// NewSocket is socket(AF_INET, SOCK_DGRAM, proto) followed by bind(src).
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
		return skbQueue{buf: q.buf, lens: q.lens[:0], room: q.room[:0]}
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
		ucTTL:     -1,
		pmtudisc:  scenario.PMTUWant, // net.ipv4.ip_no_pmtu_disc = 0
		idents:    idents,
		clock:     clock,
		queue:     keep(s.queue),
		fastQueue: keep(s.fastQueue),
		dg:        Datagram{IP: s.dg.IP[:0], SkbData: s.dg.SkbData[:0], buf: s.dg.buf},
	}
}

// DefaultTimestamp is the clock of IP timestamp options when none is given:
// 12:00:00.000 UTC, in milliseconds since midnight.
const DefaultTimestamp = 12 * 3600 * 1000

// Setsockopt applies one socket option at its level: udp_lib_setsockopt
// (udp.go), do_ip_setsockopt (ip_sockglue.go) or sk_setsockopt (below).
func (s *Socket) Setsockopt(o scenario.Opt) errno.Errno {
	switch o.Name {
	case scenario.OptUDPCork, scenario.OptUDPSegment, scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov:
		return s.udpLibSetsockopt(o)
	case scenario.OptIPTOS, scenario.OptIPTTL, scenario.OptIPMTUDiscover, scenario.OptIPOptions:
		return s.doIPSetsockopt(o)
	case scenario.OptSONoCheck:
		return s.skSetsockopt(o)
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
