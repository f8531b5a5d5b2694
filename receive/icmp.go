package receive

import (
	"encoding/binary"
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv4/icmp.c's __icmp_send for the error the
// receive path sends (destination unreachable, port unreachable): its rate
// limits (icmpv4_global_allow, icmpv4_xrlim_allow with
// inet_peer_xrlim_allow of net/ipv4/inetpeer.c), what it quotes and the
// reply's IP header (icmp_push_reply through the ICMP socket).

const (
	icmpDestUnreach = 3
	icmpPortUnreach = 3
)

// The ICMP sysctls of a fresh namespace (6.18 defaults).
const (
	// icmpRatelimit is net.ipv4.icmp_ratelimit, 1000 ms, in jiffies.
	icmpRatelimit = HZ
	// xrlimBurstFactor is XRLIM_BURST_FACTOR: a peer's tokens cap at six
	// intervals.
	xrlimBurstFactor = 6
	// icmpMsgsPerSec and icmpMsgsBurst are net.ipv4.icmp_msgs_per_sec
	// and icmp_msgs_burst.
	icmpMsgsPerSec = 1000
	icmpMsgsBurst  = 50
	// icmpRatemask is net.ipv4.icmp_ratemask (6168: destination
	// unreachable, source quench, time exceeded, parameter problem).
	icmpRatemask = 6168
	// defaultTTL is net.ipv4.ip_default_ttl.
	defaultTTL = 64
	// iptosPrecInternetcontrol and iptosTOSMask make an error's TOS
	// (RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL).
	iptosPrecInternetcontrol = 0xc0
	iptosTOSMask             = 0x1e
)

// icmpState is the host's ICMP state: the global credit, the one peer's
// inet_peer tokens (the sender is the only host that talks to the peer),
// and the ip_idents counter of the replies' (saddr, daddr, ICMP) bucket.
type icmpState struct {
	sysctl      icmpSysctl
	credit      int
	globalStamp int64
	// peers are the inet_peer entries' rate tokens, by address.
	peers map[netip.Addr]*peerTokens
	ident uint16
}

// icmpSysctl are the ICMP sysctls in force (intervals in jiffies).
type icmpSysctl struct {
	ratelimit, ratelimit6, ratemask, msgsPerSec, msgsBurst int64
}

// peerTokens is an inet_peer's rate_tokens and rate_last.
type peerTokens struct{ tokens, last int64 }

// peerAllow mirrors inet_getpeer and inet_peer_xrlim_allow: a new peer
// starts 60 s in the past; tokens grow a jiffy at a time, capped at
// XRLIM_BURST_FACTOR intervals; a message costs an interval.
func (s *icmpState) peerAllow(a netip.Addr, now, timeout int64) bool {
	if s.peers == nil {
		s.peers = map[netip.Addr]*peerTokens{}
	}
	p := s.peers[a]
	if p == nil {
		p = &peerTokens{last: now - 60*HZ}
		s.peers[a] = p
	}
	token := min(p.tokens+now-p.last, xrlimBurstFactor*timeout)
	p.last = now
	ok := token >= timeout
	if ok {
		token -= timeout
	}
	p.tokens = token
	return ok
}

func (s *icmpState) init(seed uint64) {
	// The bucket's counter starts where the seed says (ip_idents_reserve
	// within one jiffy counts up from a random value).
	s.ident = uint16(mix(seed ^ 0x1c3b))
}

// icmpv4GlobalAllow mirrors icmpv4_global_allow and icmp_global_allow:
// types outside icmp_ratemask are never limited; for the others a
// credit refilled at icmp_msgs_per_sec up to icmp_msgs_burst must be left.
// It returns whether to send and whether the per-peer limit applies.
func (h *Host) icmpv4GlobalAllow(typ int) (ok, apply bool) {
	s := &h.icmp
	if s.sysctl.ratemask&(1<<typ) == 0 {
		return true, false
	}
	if s.credit > 0 {
		return true, true
	}
	delta := min(h.jiffies+60*HZ-s.globalStamp, HZ)
	if delta < HZ/50 {
		return false, false
	}
	incr := int(s.sysctl.msgsPerSec * delta / HZ)
	if incr == 0 {
		return false, false
	}
	s.globalStamp = h.jiffies + 60*HZ
	s.credit = min(s.credit+incr, int(s.sysctl.msgsBurst))
	return true, true
}

// icmpv4XrlimAllow mirrors icmpv4_xrlim_allow and inet_peer_xrlim_allow:
// the peer's tokens grow by one a jiffy, capped at XRLIM_BURST_FACTOR *
// icmp_ratelimit; a reply costs icmp_ratelimit. A new peer starts 60 s in
// the past (inet_getpeer), so with full tokens: six replies in a burst,
// then one a second [live: 13 datagrams to a closed port, 6 replies].
func (h *Host) icmpv4XrlimAllow(dst netip.Addr, apply bool) bool {
	if !apply {
		return true
	}
	if !h.icmp.peerAllow(dst, h.jiffies, h.icmp.sysctl.ratelimit) {
		h.Counters.Icmp.OutRateLimitHost++
		return false
	}
	// icmp_global_consume takes 0, 1 or 2 credits at random; the model
	// takes their mean.
	h.icmp.credit--
	return true
}

// icmpSend mirrors __icmp_send for an error about the datagram r: the
// rate limits, then a reply from r's destination to its source quoting r
// from its IP header, at most min(mtu, 576) - 20 - 8 bytes, with TOS
// RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL, TTL 64, no DF (the ICMP
// socket's IP_PMTUDISC_DONT), and an ID from the ip_idents bucket.
func (h *Host) icmpSend(r *rskb, typ, code int) {
	const fn = "__icmp_send"
	in := header.IPv4(r.ip)
	ok, apply := h.icmpv4GlobalAllow(typ)
	if !ok {
		h.Counters.Icmp.OutRateLimitGlobal++
		h.tracef(fn, "icmpv4_global_allow", "false", "no global credit left (icmp_msgs_per_sec %d, icmp_msgs_burst %d): OutRateLimitGlobal", icmpMsgsPerSec, icmpMsgsBurst)
		return
	}
	if !h.icmpv4XrlimAllow(in.Src(), apply) {
		h.tracef(fn, "inet_peer_xrlim_allow", "false", "the peer's tokens are spent (icmp_ratelimit 1000 ms, burst %d): OutRateLimitHost", xrlimBurstFactor)
		return
	}
	room := min(h.cfg.MTU, 576) - header.IPv4MinLen - 8
	n := min(len(r.ip), room)
	tot := header.IPv4MinLen + 8 + n
	f := make([]byte, header.EthernetLen+tot)
	header.PutEthernet(f, h.cfg.PeerMAC, h.cfg.MAC)
	ip := header.IPv4(f[header.EthernetLen:])
	tos := in.TOS()&iptosTOSMask | iptosPrecInternetcontrol
	id := h.icmp.ident
	h.icmp.ident++
	ip.Init(header.IPv4MinLen, tos, uint16(tot), id, 0, defaultTTL, protoICMP, in.Dst4(), in.Src4())
	ip.SetChecksum()
	ic := f[header.EthernetLen+header.IPv4MinLen:]
	ic[0], ic[1] = byte(typ), byte(code)
	copy(ic[8:], r.ip[:n])
	binary.BigEndian.PutUint16(ic[2:], ^header.Checksum(ic, 0))
	h.Counters.Icmp.OutMsgs++
	h.Counters.Icmp.OutDestUnreachs++
	h.out = append(h.out, f)
	if h.tracing() {
		h.tracef(fn, "reply", "port unreachable", "to %s, quoting %d of %d bytes (room %d), TOS %#x, TTL %d, ID %d (ip_idents)", in.Src(), n, len(r.ip), room, tos, defaultTTL, id)
	}
}
