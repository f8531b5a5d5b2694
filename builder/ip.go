package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file holds the IPv4 rules of include/net/ip.h the send path
// applies: the limits, the per-call cookie, the DF rules and the choice of
// IP ID.

// Limits of the IPv4 send path (include/net/ip.h) and the namespace default.
const (
	ipMaxMTU   = 0xFFFF // IP_MAX_MTU
	ipv4MinMTU = 68     // IPV4_MIN_MTU
	defaultTTL = 64     // net.ipv4.ip_default_ttl in a fresh namespace
)

// ipcm mirrors struct ipcm_cookie: per-call IP settings.
type ipcm struct {
	ttl     int // 0: unset
	tos     int // -1: unset
	opt     *ipopt.Options
	gsoSize int
	addr    netip.Addr
}

// ipcmInitSk mirrors ipcm_init_sk, then udp_sendmsg's ipc.gso_size =
// up->gso_size: on 6.x the cookie starts with the socket's TOS, so a corked
// datagram keeps the TOS of its first call.
func (s *Socket) ipcmInitSk() ipcm {
	return ipcm{tos: int(s.tos), gsoSize: int(s.gsoSize)}
}

// ignoreDF mirrors ip_sk_ignore_df: local fragmentation is allowed unless
// the user asked for real path MTU discovery.
func ignoreDF(p scenario.PMTUDisc) bool {
	return p < scenario.PMTUDo || p == scenario.PMTUOmit
}

// dontFragment mirrors ip_dont_fragment: DO, or WANT on a route whose
// MTU is not locked (a path MTU clamped to min_pmtu is).
func dontFragment(p scenario.PMTUDisc, locked bool) bool {
	return p == scenario.PMTUDo || (p == scenario.PMTUWant && !locked)
}

// ipSkUsePmtu mirrors ip_sk_use_pmtu (and ip6_sk_use_pmtu): below PROBE
// the cork and ip_finish_output take the path MTU (dst_mtu), from PROBE up
// the device's.
func ipSkUsePmtu(p scenario.PMTUDisc) bool { return p < scenario.PMTUProbe }

// ipSkAcceptPmtu mirrors ip_sk_accept_pmtu (and ip6_sk_accept_pmtu):
// INTERFACE and OMIT never learn a path MTU from an ICMP error.
func ipSkAcceptPmtu(p scenario.PMTUDisc) bool {
	return p != scenario.PMTUInterface && p != scenario.PMTUOmit
}

// ipSelectIdent mirrors ip_select_ident_segs with segs = 1, as
// __ip_make_skb calls it (a GSO super-packet is not yet marked as such
// there): a connected socket's own counter, ID 0 for a DF packet that may
// not be fragmented, otherwise __ip_select_ident's per-destination counter.
func (s *Socket) ipSelectIdent(d *Datagram) {
	const segs = 1
	ip := header.IPv4(d.IP)
	d.FlowLabel = "" // an IPv4 datagram has none
	switch {
	case s.daddr.IsValid():
		// A connected socket's private counter; UDP advances it
		// atomically and uses the new value.
		s.inetID += segs
		ip.SetID(s.inetID)
		d.IDWhy, d.IDSource = "ID from the connected socket's inet_id counter", report.IDInetID
	case ip.FragWord()&header.IPv4DF != 0 && !d.IgnoreDF:
		ip.SetID(0)
		d.IDWhy, d.IDSource = "ID 0: DF set and fragmentation forbidden (pmtudisc do/probe)", report.IDZero
	default:
		k := identKey{src: ip.Src4(), dst: ip.Dst4(), proto: d.Proto}
		ip.SetID(s.idents.reserve(k, segs))
		d.IDWhy, d.IDSource = "ID from the per-destination ip_idents counter", report.IDIdents
	}
}
