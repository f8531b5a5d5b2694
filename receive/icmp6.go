package receive

import (
	"encoding/binary"
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv6/icmp.c's icmp6_send for the port
// unreachable __udp6_lib_rcv sends: the rate limits (icmpv6_global_allow
// shares IPv4's global credit; icmpv6_xrlim_allow scales the peer's
// interval by the route's prefix length), the quote (up to IPV6_MIN_MTU)
// and the reply's header.

const (
	icmpv6DestUnreach = 1
	icmpv6PortUnreach = 4
	protoICMPv6       = 58
	// icmpv6Time is net.ipv6.icmp.ratelimit, 100 ms (IPv4's is 1000),
	// in jiffies.
	icmpv6Time = HZ / 10
	// peerRoutePlen is the prefix length of the route ip6_route_output
	// gives the reply: a /128 clone of the peer's on-link default route,
	// so the interval is not shifted [live: after six replies, one per
	// 100 ms wait, never two].
	peerRoutePlen = 128
	// defaultHopLimit is net.ipv6.conf.default.hop_limit.
	defaultHopLimit = 64
)

// icmpv6XrlimAllow mirrors icmpv6_xrlim_allow: the inet_peer bucket of
// the destination, its interval icmp.ratelimit >> ((128 - plen) >> 5)
// ("Give more bandwidth to wider prefixes").
func (h *Host) icmpv6XrlimAllow(dst netip.Addr, apply bool) bool {
	if !apply {
		return true
	}
	tmo := h.icmp.sysctl.ratelimit6
	if peerRoutePlen < 128 {
		tmo >>= (128 - peerRoutePlen) >> 5
	}
	if !h.icmp.peerAllow(dst, h.jiffies, tmo) {
		h.Counters.Icmp6.OutRateLimitHost++
		return false
	}
	h.icmp.credit--
	return true
}

// icmpv6Send mirrors icmp6_send for an error about the packet r: from r's
// destination to its source, quoting r from its IPv6 header up to
// IPV6_MIN_MTU - 40 - 8 bytes, traffic class 0 (the ICMPv6 socket's), an
// automatic flow label (the socket is not opted out of
// net.ipv6.auto_flowlabels), hop limit 64.
func (h *Host) icmpv6Send(r *rskb, typ, code int) {
	const fn = "icmp6_send"
	in := header.IPv6(r.ip)
	ok, apply := h.icmpv4GlobalAllow(icmpDestUnreach) // icmpv6_mask_allow: type 1 is in the ratemask
	if !ok {
		h.Counters.Icmp.OutRateLimitGlobal++ // icmpv6_global_allow counts in the IPv4 table
		return
	}
	if !h.icmpv6XrlimAllow(in.Src(), apply) {
		h.tracef(fn, "icmpv6_xrlim_allow", "false", "the peer's tokens are spent (icmp.ratelimit 100 ms >> %d, burst %d): Icmp6 OutRateLimitHost", (128-peerRoutePlen)>>5, xrlimBurstFactor)
		return
	}
	n := min(len(r.ip), header.IPv6MinMTU-header.IPv6MinLen-8)
	plen := 8 + n
	f := make([]byte, header.EthernetLen+header.IPv6MinLen+plen)
	header.PutEthernetType(f, h.cfg.PeerMAC, h.cfg.MAC, 0x86dd)
	ip := header.IPv6(f[header.EthernetLen:])
	src, dst := in.Dst().As16(), in.Src().As16()
	label := uint32(mix(h.cfg.Seed^0x6f1a^uint64(src[15])<<8^uint64(dst[15]))) & header.IPv6FlowLabelMask
	if label == 0 {
		label = 1
	}
	ip.Encode(&header.IPv6Fields{FlowLabel: label, PayloadLength: uint16(plen), NextHeader: protoICMPv6, HopLimit: defaultHopLimit, Src: src, Dst: dst})
	ic := f[header.EthernetLen+header.IPv6MinLen:]
	ic[0], ic[1] = byte(typ), byte(code)
	copy(ic[8:], r.ip[:n])
	ps := header.PseudoHeaderSum6(src, dst, protoICMPv6, uint32(plen))
	binary.BigEndian.PutUint16(ic[2:], ^header.Checksum(ic, ps))
	// Icmp6OutMsgs stays 0 on 6.18 after these replies [live], while
	// Icmp6OutDestUnreachs counts them.
	h.Counters.Icmp6.OutDestUnreachs++
	h.out = append(h.out, f)
	if h.tracing() {
		h.tracef(fn, "reply", "port unreachable", "to %s, quoting %d of %d bytes, hop limit %d, automatic flow label", in.Src(), n, len(r.ip), defaultHopLimit)
	}
}
