package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/scenario"
)

// Limits of the UDP send path (include/net/udp.h, include/net/ip.h).
const (
	ipMaxMTU       = 0xFFFF // IP_MAX_MTU
	udpHdrLen      = 8      // sizeof(struct udphdr)
	ipv4MinMTU     = 68     // IPV4_MIN_MTU
	udpMaxSegments = 128    // UDP_MAX_SEGMENTS (1 << 7) on 6.x
	defaultTTL     = 64     // net.ipv4.ip_default_ttl in a fresh namespace
)

// Socket is one AF_INET SOCK_DGRAM socket: the union of what struct sock,
// struct inet_sock and struct udp_sock hold that the send path reads. It is
// the only stateful part of the model.
type Socket struct {
	dev   *Device
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
	out    func(*Datagram) error
	outErr error // the first error Out returned
}

// Config is what a socket needs besides the device.
type Config struct {
	Proto scenario.Proto
	Src   netip.AddrPort
	// Seed draws the random values the kernel would draw.
	Seed uint64
	// Clock returns milliseconds since midnight UTC for IP timestamp
	// options (inet_current_timestamp).
	Clock func() uint32
	// Out receives every datagram handed to the IP output path.
	Out func(*Datagram) error
}

// NewSocket is socket(AF_INET, SOCK_DGRAM, proto) followed by bind(src).
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
		dev:       dev,
		proto:     c.Proto,
		saddr:     c.Src.Addr(),
		sport:     c.Src.Port(),
		ucTTL:     -1,
		pmtudisc:  scenario.PMTUWant, // net.ipv4.ip_no_pmtu_disc = 0
		idents:    idents,
		clock:     clock,
		out:       c.Out,
		queue:     keep(s.queue),
		fastQueue: keep(s.fastQueue),
		dg:        Datagram{IP: s.dg.IP[:0], SkbData: s.dg.SkbData[:0], buf: s.dg.buf},
	}
}

// DefaultTimestamp is the clock of IP timestamp options when none is given:
// 12:00:00.000 UTC, in milliseconds since midnight.
const DefaultTimestamp = 12 * 3600 * 1000

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

// Setsockopt applies one socket option, mirroring udp_lib_setsockopt,
// do_ip_setsockopt and sk_setsockopt for the options a scenario can set.
func (s *Socket) Setsockopt(o scenario.Opt) errno.Errno {
	v := o.Int
	switch o.Name {
	case scenario.OptUDPCork:
		if v != 0 {
			s.corkFlag = true
			return 0
		}
		s.corkFlag = false
		// udp_lib_setsockopt pushes pending frames and ignores the
		// result: setsockopt succeeds even when the push fails.
		if s.pending {
			_ = s.pushPendingFrames()
		}
	case scenario.OptUDPSegment:
		if v < 0 || v > 0xFFFF {
			return errno.EINVAL
		}
		s.gsoSize = uint16(v)
	case scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov:
		if s.proto != scenario.UDPLite {
			return errno.ENOPROTOOPT // "Disable the option on UDP sockets"
		}
		// An illegal coverage (1..7) becomes the minimum, 8.
		if v != 0 && v < 8 {
			v = 8
		} else if v > 0xFFFF {
			v = 0xFFFF
		}
		if o.Name == scenario.OptUDPLiteSendCov {
			s.pcslen, s.pcflagSend = v, true
		} else {
			s.pcrlen, s.pcflagRecv = v, true
		}
	case scenario.OptIPTOS:
		// __ip_sock_set_tos keeps all 8 bits for datagram sockets and,
		// when the value changes, drops the cached route.
		if uint8(v) != s.tos {
			s.dstCached = false
		}
		s.tos = uint8(v)
	case scenario.OptIPTTL:
		if v != -1 && (v < 1 || v > 255) {
			return errno.EINVAL
		}
		s.ucTTL = v
	case scenario.OptIPMTUDiscover:
		if v < int(scenario.PMTUDont) || v > int(scenario.PMTUOmit) {
			return errno.EINVAL
		}
		s.pmtudisc = scenario.PMTUDisc(v)
	case scenario.OptIPOptions:
		opt, err := s.optEnv().Compile(o.Bytes)
		if err != nil {
			if e, ok := errno.From(err); ok {
				return e
			}
			return errno.EINVAL
		}
		s.opt = opt
	case scenario.OptSONoCheck:
		s.noCheckTx = v != 0
	default:
		return errno.ENOPROTOOPT
	}
	return 0
}

// ignoreDF mirrors ip_sk_ignore_df: local fragmentation is allowed unless
// the user asked for real path MTU discovery.
func ignoreDF(p scenario.PMTUDisc) bool {
	return p < scenario.PMTUDo || p == scenario.PMTUOmit
}

// dontFragment mirrors ip_dont_fragment (the route's MTU metric is never
// locked in udpbuild's world).
func dontFragment(p scenario.PMTUDisc) bool {
	return p == scenario.PMTUDo || p == scenario.PMTUWant
}

// identTable mirrors the kernel's ip_idents: a counter per (saddr, daddr,
// protocol) bucket. udpbuild assumes a scenario runs within one jiffy, so a
// bucket's counter starts at a seeded value and only counts up.
type identTable struct {
	seed uint64
	// A scenario touches few buckets: a short slice searched linearly is
	// cheaper than a map on the per-send path.
	buckets []identBucket
}

type identBucket struct {
	key identKey
	val uint16
}

type identKey struct {
	src, dst [4]byte
	proto    uint8
}

func newIdentTable(seed uint64) *identTable {
	return &identTable{seed: seed}
}

// reserve mirrors ip_idents_reserve: it returns the bucket's value and
// advances it by segs.
func (t *identTable) reserve(k identKey, segs int) uint16 {
	for i := range t.buckets {
		if b := &t.buckets[i]; b.key == k {
			v := b.val
			b.val += uint16(segs)
			return v
		}
	}
	v := uint16(mix(t.seed ^ uint64(k.proto)<<56 ^ uint64(be32(k.src))<<24 ^ uint64(be32(k.dst))))
	t.buckets = append(t.buckets, identBucket{key: k, val: v + uint16(segs)})
	return v
}

// draw returns a seeded 16-bit value named by what.
func (t *identTable) draw(what string) uint16 {
	h := t.seed
	for i := 0; i < len(what); i++ {
		h = mix(h ^ uint64(what[i]))
	}
	return uint16(h)
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// mix is splitmix64's finaliser: a cheap, well-spread hash of the seed.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// optEnv is the environment IP options are compiled in: running as root
// (CAP_NET_RAW), with the socket's own address and loopback local.
func (s *Socket) optEnv() ipopt.Env {
	return ipopt.Env{AddrType: ipopt.LocalTable(netip.PrefixFrom(s.saddr, 32), netip.MustParsePrefix("127.0.0.0/8"))}
}
