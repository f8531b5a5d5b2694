package scenario

import (
	"net/netip"
	"slices"

	"github.com/udpbuild/udpbuild/header"
)

// PeerAddrs returns the addresses the receiving host holds, in the order
// its device gets them (the first IPv4 one is its primary address): every
// unicast address a send may leave for (socket.dst, each send's to, and
// the first hop of a source route in IP options or of an IPv6 routing
// header, socket option or control message), never one of the sender's
// own; on a dual-stack link also both defaults, DefaultDst and
// DefaultDst6, so that a wildcard-bound socket reaches either. The kernel
// runner adds exactly these to the peer's device; the model's peer holds
// the same, so that a bind to any other address is EADDRNOTAVAIL in both.
func (sc *Scenario) PeerAddrs() []netip.Addr {
	v6 := sc.DualStack()
	var src, src6 netip.Addr
	switch a := sc.Socket.Src.Addr(); {
	case IsUnicast4(a.Unmap()):
		src = a.Unmap()
	case IsUnicast6(a):
		src6 = a
	}
	own := func(a netip.Addr) bool {
		return a == src || a == src6 || (v6 && (a == DefaultSrc.Addr() || a == DefaultSrc6.Addr()))
	}
	var out []netip.Addr
	add := func(a netip.Addr) {
		a = a.Unmap()
		if (IsUnicast4(a) || (v6 && IsUnicast6(a))) && !own(a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	addOpts := func(opts []Opt) {
		for _, o := range opts {
			switch o.Name {
			case OptIPOptions:
				if hop, ok := SourceRouteFirstHop(o.Bytes); ok {
					add(hop)
				}
			case OptIPv6Rthdr:
				if hop, ok := RoutingHeaderFirstHop(o.Bytes); ok {
					add(hop)
				}
			}
		}
	}
	add(sc.Socket.Dst.Addr())
	addOpts(sc.Socket.Setsockopt)
	for _, st := range sc.Steps {
		addOpts(st.Setsockopt)
		if st.Send == nil {
			continue
		}
		add(st.Send.To.Addr())
		for _, c := range st.Send.Cmsg {
			switch c.Type {
			case CmsgIPOptions:
				if hop, ok := SourceRouteFirstHop(c.Bytes); ok {
					add(hop)
				}
			case CmsgIPv6Rthdr:
				if hop, ok := RoutingHeaderFirstHop(c.Bytes); ok {
					add(hop)
				}
			}
		}
	}
	if v6 {
		// The peer always holds both defaults (the spec's link), so a
		// wildcard-bound socket reaches either.
		add(DefaultDst.Addr())
		add(DefaultDst6.Addr())
	}
	return out
}

// IsUnicast4 reports whether a is an IPv4 address that goes to a
// neighbour over the veth: not multicast, broadcast, loopback or 0.0.0.0,
// which need no neighbour entry (or never reach the device).
func IsUnicast4(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// IsUnicast6 reports whether a is an IPv6 address (not v4-mapped) that goes
// to a neighbour over the veth: not multicast, loopback, :: or link-local
// (which would need a scope id).
func IsUnicast6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		!a.IsLinkLocalUnicast()
}

// RoutingHeaderFirstHop finds the address an IPv6 routing header sends the
// packet to first, as fl6_update_dst and the push (ipv6_push_rthdr0,
// ipv6_push_rthdr4) make it the header's destination: addr[0] for types 0
// and 2, segments[segments_left] for a segment routing header (type 4).
// Malformed headers yield nothing; the kernel refuses them anyway.
func RoutingHeaderFirstHop(rt []byte) (netip.Addr, bool) {
	if len(rt) < 8 || len(rt) != (int(rt[1])+1)*8 {
		return netip.Addr{}, false
	}
	i := 0
	switch rt[2] {
	case 0, 2:
	case 4:
		i = int(rt[3])
	default:
		return netip.Addr{}, false
	}
	off := 8 + 16*i
	if off+16 > len(rt) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(rt[off : off+16])), true
}

// SourceRouteFirstHop finds a loose or strict source route (IPOPT_LSRR 131,
// IPOPT_SSRR 137) in IP options as given to setsockopt or IP_RETOPTS, and
// returns its first address: ip_options_get moves that address into
// opt->faddr, so the packet leaves for it rather than for the destination.
// Malformed options yield nothing; the kernel will reject them anyway.
func SourceRouteFirstHop(opts []byte) (netip.Addr, bool) {
	w := header.WalkIPv4Options(opts)
	for w.Next() {
		o := w.Option().Bytes
		if (o[0] == header.IPv4OptLSRR || o[0] == header.IPv4OptSSRR) && len(o) >= 7 {
			return netip.AddrFrom4([4]byte(o[3:7])), true
		}
	}
	return netip.Addr{}, false
}
