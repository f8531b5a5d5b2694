package builder

import "net/netip"

// This file re-tells what the IPv4 send path takes from net/ipv4/route.c:
// the route a send goes out on, and the per-destination IP ID counters
// (ip_idents_reserve) that __ip_select_ident draws from.

// flow is the part of struct flowi4 (or flowi6) the send path keeps: the
// addresses the IP header gets (for IPv4 daddr is the first hop of a
// source route; for IPv6 the final destination, which the pseudo-header
// sums) and, for IPv6, fl6->flowlabel (flow info: traffic class and flow
// label bits, before ip6_make_flowlabel).
type flow struct {
	saddr, daddr netip.Addr
	sport, dport uint16
	flowlabel    uint32
}

// route is the socket's route to its device (struct rtable as
// ip_route_output_flow returns it). udpbuild's world has one link and no
// route exceptions, so every destination routes out through the same
// device and the path MTU is the device's MTU.
type route struct {
	dev *Device
}

// mtu is the route's MTU (dst_mtu, ip_sk_use_pmtu's choice: equal here).
func (rt route) mtu() int { return rt.dev.MTU }

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

// broadcast4 is the directed broadcast address of an IPv4 prefix, which
// fib_add_ifaddr adds as an RTN_BROADCAST route for prefixes up to /30.
func broadcast4(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := be32(a) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
