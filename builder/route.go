package builder

import (
	"fmt"
	"net/netip"
)

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
// ip_route_output_flow returns it, or IPv6's rt6_info). udpbuild's world
// has one link: every destination routes out through the same device. A
// router's ICMP error (an icmp step) can leave a route exception for one
// destination (exc), which later routes to it carry: the path MTU.
type route struct {
	dev *Device
	// exc are the exceptions, one per destination address of either
	// family: the next-hop exceptions (struct fib_nh_exception) IPv4's
	// __ip_rt_update_pmtu creates and IPv6's RTF_CACHE routes
	// (rt6_insert_exception). They live in the namespace, not the
	// socket; udpbuild's run has one socket, so the socket keeps them.
	exc []pmtuException
}

// pmtuException is one destination's learnt path MTU. locked is IPv4's
// RTAX_MTU lock, set when the MTU was clamped to min_pmtu. Its expiry
// (net.ipv4.route.mtu_expires, 600 s) is beyond any scenario.
type pmtuException struct {
	daddr  netip.Addr
	mtu    int
	locked bool
}

// mtu is the device's MTU (dev->mtu), which the kernel reads where it
// wants the interface and not the path: ip_sk_use_pmtu's other choice,
// inetdev_valid_mtu, IPv6's presence on the link.
func (rt *route) mtu() int { return rt.dev.MTU }

// dstMTU mirrors dst_mtu of the route to daddr (ipv4_mtu, ip6_mtu): the
// exception's MTU when one exists, else the device's; locked says the
// MTU metric is locked (ip_mtu_locked).
func (rt *route) dstMTU(daddr netip.Addr) (mtu int, locked bool) {
	if e := rt.exception(daddr); e != nil {
		return e.mtu, e.locked
	}
	return rt.dev.MTU, false
}

func (rt *route) exception(daddr netip.Addr) *pmtuException {
	daddr = daddr.Unmap()
	for i := range rt.exc {
		if rt.exc[i].daddr == daddr {
			return &rt.exc[i]
		}
	}
	return nil
}

// IPv4 and IPv6 path MTU floors: net.ipv4.route.min_pmtu's default
// (ip_rt_min_pmtu, 512 + 20 + 20) and IPV6_MIN_MTU.
const (
	ipRtMinPmtu = 552
	ipv6MinMTU  = 1280
)

// ipRtUpdatePmtu mirrors __ip_rt_update_pmtu for the route to daddr: a
// locked MTU stays; a reported MTU above the current one is ignored
// (never raised; an equal one refreshes the exception); below min_pmtu
// it becomes min(old, min_pmtu) and locked; then update_or_create_fnhe
// keeps it for daddr. It returns what it did, for explain.
func (rt *route) ipRtUpdatePmtu(daddr netip.Addr, mtu int) string {
	old, locked := rt.dstMTU(daddr)
	if locked {
		return fmt.Sprintf("ip_mtu_locked: the MTU %d to %s is locked, unchanged", old, daddr)
	}
	if old < mtu {
		return fmt.Sprintf("old_mtu %d < mtu %d: a path MTU is never raised; unchanged", old, mtu)
	}
	why := fmt.Sprintf("update_or_create_fnhe: %s's path MTU is %d (was %d)", daddr, mtu, old)
	if mtu < ipRtMinPmtu {
		lock := min(old, ipRtMinPmtu)
		why = fmt.Sprintf("mtu %d < ip_rt_min_pmtu %d: min(old_mtu %d, %d) = %d, locked; update_or_create_fnhe for %s", mtu, ipRtMinPmtu, old, ipRtMinPmtu, lock, daddr)
		mtu, locked = lock, true
	}
	rt.setException(daddr, mtu, locked)
	return why
}

// ip6RtUpdatePmtu mirrors __ip6_rt_update_pmtu for the route to daddr:
// below IPV6_MIN_MTU the report is ignored, as is one not below the
// route's MTU; otherwise an RTF_CACHE exception route (ip6_rt_cache_alloc,
// rt6_do_update_pmtu, rt6_insert_exception) carries it.
func (rt *route) ip6RtUpdatePmtu(daddr netip.Addr, mtu int) string {
	old, _ := rt.dstMTU(daddr)
	switch {
	case mtu < ipv6MinMTU:
		return fmt.Sprintf("mtu %d < IPV6_MIN_MTU %d: ignored", mtu, ipv6MinMTU)
	case mtu >= old:
		return fmt.Sprintf("mtu %d >= dst_mtu %d: ignored (never raised)", mtu, old)
	}
	rt.setException(daddr, mtu, false)
	return fmt.Sprintf("rt6_do_update_pmtu: an RTF_CACHE route to %s with MTU %d (was %d)", daddr, mtu, old)
}

func (rt *route) setException(daddr netip.Addr, mtu int, locked bool) {
	if e := rt.exception(daddr); e != nil {
		e.mtu, e.locked = mtu, locked
		return
	}
	rt.exc = append(rt.exc, pmtuException{daddr: daddr.Unmap(), mtu: mtu, locked: locked})
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

// broadcast4 is the directed broadcast address of an IPv4 prefix, which
// fib_add_ifaddr adds as an RTN_BROADCAST route for prefixes up to /30.
func broadcast4(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := be32(a) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
