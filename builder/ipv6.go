package builder

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file holds the IPv6 rules of include/net/ipv6.h the send path
// applies: the per-call cookie (struct ipcm6_cookie), ip6_sk_ignore_df,
// the hop limit and the flow label.

// Flow info masks (include/net/ipv6.h), in host order.
const (
	ipv6FlowinfoMask  = 0x0FFFFFFF // IPV6_FLOWINFO_MASK: traffic class and flow label
	ipv6FlowlabelMask = 0x000FFFFF // IPV6_FLOWLABEL_MASK
)

// ipcm6 mirrors struct ipcm6_cookie: per-call IPv6 settings.
type ipcm6 struct {
	hlimit   int // -1: the socket's or the route's
	tclass   int // an int: a control message may set -1 (sent as 0xff)
	dontfrag bool
	gsoSize  int
}

// ipcm6InitSk mirrors ipcm6_init_sk, then udpv6_sendmsg's ipc6.gso_size =
// up->gso_size.
func (s *Socket) ipcm6InitSk() ipcm6 {
	return ipcm6{hlimit: -1, tclass: int(s.np.tclass), dontfrag: s.np.dontfrag, gsoSize: int(s.gsoSize)}
}

// ip6SkIgnoreDF is ip6_sk_ignore_df: local fragmentation is allowed in
// the modes that do not ask for real path MTU discovery (DONT, WANT,
// OMIT); the same rule as IPv4's ip_sk_ignore_df.
func ip6SkIgnoreDF(p scenario.PMTUDisc) bool { return ignoreDF(p) }

// ip6SkDstHoplimit mirrors ip6_sk_dst_hoplimit for a unicast destination:
// IPV6_UNICAST_HOPS, else the route's hop limit (ip6_dst_hoplimit: the
// device's conf hop_limit, 64).
func (s *Socket) ip6SkDstHoplimit() int {
	if s.np.hopLimit >= 0 {
		return s.np.hopLimit
	}
	return ipv6DefaultHopLimit
}

// ip6MakeFlowlabel mirrors ip6_make_flowlabel with ip6_autoflowlabel, on
// net.ipv6.auto_flowlabels 1 and flowlabel_state_ranges 0 (a fresh
// namespace): an explicit label (sin6_flowinfo with IPV6_FLOWINFO_SEND,
// np->flow_label, an IPV6_FLOWINFO control message) is sent as is;
// otherwise, unless IPV6_AUTOFLOWLABEL is 0, rol32(hash, 16) of the
// flow's hash. The kernel's hash is sk_txhash for a connected socket
// (random per connect()) and otherwise a flow-dissector hash of the
// addresses, ports and protocol keyed by a boot secret; the model keys
// the same inputs with the run's seed, so a label is the same for one
// 5-tuple (unconnected) or one connect, and differs otherwise.
//
// auto says the label is the hash's, which the kernel and the model draw
// differently: compare reads such labels as a pattern (report.LabelAuto).
func (s *Socket) ip6MakeFlowlabel(fl *flow, proto uint8) (label uint32, auto bool) {
	label = fl.flowlabel & ipv6FlowlabelMask
	if label != 0 || s.np.autoflowlabel == 0 {
		return label, false
	}
	hash := s.np.txhash
	if hash == 0 {
		// The hash is a function of the flow: the last one is kept,
		// since a socket mostly sends to one destination.
		c := &s.np.hashCache
		if !c.valid || c.fl.saddr != fl.saddr || c.fl.daddr != fl.daddr || c.fl.sport != fl.sport || c.fl.dport != fl.dport || c.proto != proto {
			*c = flowHashCache{valid: true, fl: *fl, proto: proto, hash: s.flowHash(fl, proto)}
		}
		hash = c.hash
	}
	return bits.RotateLeft32(hash, 16) & ipv6FlowlabelMask, true
}

// flowHashCache is the last flow ip6MakeFlowlabel hashed.
type flowHashCache struct {
	valid bool
	fl    flow
	proto uint8
	hash  uint32
}

// flowHash is the model's __get_hash_from_flowi6: a seeded hash of the
// flow's addresses, ports and protocol.
func (s *Socket) flowHash(fl *flow, proto uint8) uint32 {
	a, b := fl.saddr.As16(), fl.daddr.As16()
	h := s.idents.seed ^ 0x666c6f776c61626c
	h = mix(h ^ binary.BigEndian.Uint64(a[:8]))
	h = mix(h ^ binary.BigEndian.Uint64(a[8:]))
	h = mix(h ^ binary.BigEndian.Uint64(b[:8]))
	h = mix(h ^ binary.BigEndian.Uint64(b[8:]))
	h = mix(h ^ uint64(fl.sport)<<24 ^ uint64(fl.dport)<<8 ^ uint64(proto))
	return uint32(h)
}

// localAddr6 reports whether a is one of the host's IPv6 addresses, as
// ipv6_chk_addr finds them: the link's (scenario.DefaultSrc6), the one the
// socket is bound to, and loopback. v4-mapped addresses never are.
func (s *Socket) localAddr6(a netip.Addr) bool {
	if a.Is4In6() || !a.Is6() {
		return false
	}
	if a == netip.IPv6Loopback() {
		return true // lo keeps its address whatever the link does
	}
	if s.rt.mtu() < header.IPv6MinMTU {
		// addrconf took IPv6, addresses and all, off a link below
		// IPV6_MIN_MTU (found by kernel-differential fuzzing, seed 701:
		// an IPV6_PKTINFO source there is EINVAL, before the route's
		// ENETUNREACH).
		return false
	}
	return a == scenario.DefaultSrc6.Addr() || a == s.np.saddr
}
