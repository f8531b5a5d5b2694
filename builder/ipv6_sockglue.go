package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv6/ipv6_sockglue.c: the SOL_IPV6 socket options
// a scenario can set (do_ipv6_setsockopt) and the sticky extension headers
// (ipv6_set_opt_hdr), with the AF_INET6 socket state they set
// (struct ipv6_pinfo, as inet6_create and udp_init_sock leave it).

// ipv6Pinfo mirrors the fields of struct ipv6_pinfo (and the sock's IPv6
// addresses) that the send path reads.
type ipv6Pinfo struct {
	// saddr is sk_v6_rcv_saddr (np->saddr): the bound address, "::" for
	// the wildcard.
	saddr netip.Addr
	// daddr is sk_v6_daddr, set by connect().
	daddr netip.Addr
	// flowLabel is np->flow_label: connect's sin6_flowinfo with
	// IPV6_FLOWINFO_SEND.
	flowLabel uint32
	// txhash is sk_txhash, drawn by connect(): a connected socket's
	// automatic flow label.
	txhash   uint32
	pmtudisc scenario.PMTUDisc
	// hopLimit is np->hop_limit: -1 means the route's (64).
	hopLimit int
	tclass   uint8
	// fragSize is np->frag_size (IPV6_MTU): 0 for none.
	fragSize int
	dontfrag bool // IPV6_DONTFRAG
	sndflow  bool // IPV6_FLOWINFO_SEND
	v6only   bool // sk_ipv6only
	// beforeBind is set while an IPv6 socket's set-up list runs, before
	// inet6_bind (only IPV6_V6ONLY cares).
	beforeBind bool
	// autoflowlabel is IPV6_AUTOFLOWLABEL: -1 until set (then the sysctl
	// net.ipv6.auto_flowlabels, 1, decides: on).
	autoflowlabel int8
	// opt is np->opt, the sticky extension headers.
	opt txOptions
	// UDP_NO_CHECK6_TX, UDP_NO_CHECK6_RX (struct udp_sock).
	noCheck6Tx, noCheck6Rx bool
	// hashCache keeps the last automatic label's flow hash.
	hashCache flowHashCache
}

// Defaults of a fresh namespace that the IPv6 send path reads.
const (
	ipv6DefaultHopLimit = 64    // net.ipv6.conf.*.hop_limit
	ip6MaxMTU           = 65575 // IP6_MAX_MTU: 65535 + sizeof(struct ipv6hdr)
	ipv6MaxPlen         = 65535 // IPV6_MAXPLEN
)

// inet6Create sets up a fresh AF_INET6 socket bound to src, as
// inet6_create, udp_init_sock and inet6_bind leave it: both halves of
// the state. The IPv4 half's source (inet_saddr) is what a v4-mapped send
// leaves from: the host's IPv4 address for the wildcard, the mapped
// address itself, or none (LOOPBACK4_IPV6) for an IPv6 one.
func (s *Socket) inet6Create(src netip.Addr) {
	s.np = ipv6Pinfo{saddr: src, hopLimit: -1, pmtudisc: scenario.PMTUWant, autoflowlabel: -1}
	switch {
	case src.IsUnspecified():
		s.saddr = scenario.DefaultSrc.Addr() // chosen by the IPv4 route
	case src.Is4In6():
		s.saddr = src.Unmap()
	default:
		s.saddr = netip.Addr{} // LOOPBACK4_IPV6: no IPv4 route
	}
	s.inet6Bind()
}

// inet6Bind is what inet6_bind does to the options: a socket bound to a
// specific IPv6 address that is not v4-mapped becomes IPv6-only
// ("if (!(addr_type & IPV6_ADDR_MAPPED)) sk->sk_ipv6only = 1"), so its
// IPv4 sends meet udpv6_sendmsg's ENETUNREACH before any other check.
// Runner.Run calls it again after an IPv6 socket's set-up list, which
// runs before the bind.
func (s *Socket) inet6Bind() {
	if a := s.np.saddr; !a.IsUnspecified() && !a.Is4In6() {
		s.np.v6only = true
	}
}

// doIPv6Setsockopt mirrors do_ipv6_setsockopt for the SOL_IPV6 options a
// scenario can set, on an AF_INET6 socket.
func (s *Socket) doIPv6Setsockopt(o scenario.Opt) errno.Errno {
	v := o.Int
	np := &s.np
	switch o.Name {
	case scenario.OptIPv6RecvErr:
		// np->recverr; turning it off purges the error queue.
		s.recverr6 = v != 0
		if !s.recverr6 {
			s.errQueue = s.errQueue[:0]
		}
	case scenario.OptIPv6MTUDiscover:
		if v < int(scenario.PMTUDont) || v > int(scenario.PMTUOmit) {
			return errno.EINVAL
		}
		np.pmtudisc = scenario.PMTUDisc(v)
	case scenario.OptIPv6TClass:
		if v < -1 || v > 0xff {
			return errno.EINVAL
		}
		// RFC 3542, 6.5: -1 is the default traffic class, 0. A new
		// class drops the cached route (sk_dst_reset) [live: IPV6_MTU
		// is ENOTCONN until the next connected send].
		if uint8(max(v, 0)) != np.tclass {
			s.dstCached = false
		}
		np.tclass = uint8(max(v, 0))
	case scenario.OptIPv6UnicastHops:
		if v < -1 || v > 255 {
			return errno.EINVAL
		}
		np.hopLimit = v
	case scenario.OptIPv6DontFrag:
		np.dontfrag = v != 0

	case scenario.OptIPv6MTU:
		if v != 0 && v < header.IPv6MinMTU {
			return errno.EINVAL
		}
		np.fragSize = v
	case scenario.OptIPv6FlowinfoSend:
		np.sndflow = v != 0
	case scenario.OptIPv6AutoFlowlabel:
		np.autoflowlabel = 0
		if v != 0 {
			np.autoflowlabel = 1
		}
	case scenario.OptIPv6V6Only:
		// "if (inet_sk(sk)->inet_num) goto e_inval": only before bind.
		// An IPv6 socket's set-up list runs before its bind, as the
		// kernel runner does it (Runner.Run); a step's comes after.
		if !np.beforeBind {
			return errno.EINVAL
		}
		np.v6only = v != 0
	case scenario.OptIPv6HopOpts, scenario.OptIPv6DstOpts, scenario.OptIPv6RthdrDstOpts, scenario.OptIPv6Rthdr:
		return s.ipv6SetOptHdr(o.Name, o.Bytes)
	default:
		return errno.ENOPROTOOPT
	}
	return 0
}

// ipv6SetOptHdr mirrors ipv6_set_opt_hdr (and ipv6_renew_options): a
// sticky extension header. CAP_NET_RAW, which hop-by-hop and destination
// options need, is assumed (udpbuild runs as root).
//
//   - no bytes remove the header (RFC 3542);
//   - fewer than 2 bytes, a length not a multiple of 8, or more than
//     8 * 255 bytes is EINVAL, and so is a header whose own length
//     ((hdrlen + 1) * 8) exceeds the bytes given; bytes past that length
//     are dropped;
//   - IPV6_RTHDR must then be a routing header the kernel accepts: a
//     segment routing header (type 4) that seg6_validate_srh passes, or,
//     with CONFIG_IPV6_MIP6 (not on 6.18 as measured), type 2; anything
//     else is EINVAL and leaves the socket's headers as they were.
func (s *Socket) ipv6SetOptHdr(name scenario.OptName, b []byte) errno.Errno {
	var h []byte
	if len(b) > 0 {
		if len(b) < 2 || len(b)&7 != 0 || len(b) > 8*255 {
			return errno.EINVAL
		}
		n := ipv6Optlen(b)
		if n > len(b) {
			return errno.EINVAL
		}
		h = b[:n]
	}
	if name == scenario.OptIPv6Rthdr && h != nil && !rthdrAcceptable(h, len(b)) {
		if s.tracing() {
			s.tracef("ipv6_set_opt_hdr", "rthdr->type", h[2], "only a valid segment routing header (type 4) is accepted as a sticky IPV6_RTHDR: -EINVAL")
		}
		return errno.EINVAL
	}
	o := &s.np.opt
	// The socket keeps its own copy (ipv6_renew_options duplicates).
	keep := func(dst []byte) []byte {
		if h == nil {
			return nil
		}
		return append(dst[:0], h...)
	}
	switch name {
	case scenario.OptIPv6HopOpts:
		o.hop = keep(o.hop)
	case scenario.OptIPv6RthdrDstOpts:
		o.dst0 = keep(o.dst0)
	case scenario.OptIPv6Rthdr:
		o.srcrt = keep(o.srcrt)
	case scenario.OptIPv6DstOpts:
		o.dst1 = keep(o.dst1)
	}
	o.renew()
	// ipv6_update_options drops a connected socket's cached route
	// (sk_dst_reset) [live for IPV6_DSTOPTS].
	s.dstCached = false
	return 0
}

// rthdrAcceptable is ipv6_set_opt_hdr's check of a sticky routing header h
// given as optlen bytes.
func rthdrAcceptable(h []byte, optlen int) bool {
	if len(h) < 4 {
		return false
	}
	switch h[2] {
	case 2:
		return mip6Enabled && h[1] == 2 && h[3] == 1
	case 4:
		return seg6ValidateSRH(h, optlen)
	}
	return false
}
