package receive

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells the receive half of net/ipv6/udp.c: __udp6_lib_rcv
// (udp6_csum_init is ip6_checksum.c's), the IPv6 lookup
// (__udp6_lib_lookup, compute_score), and the IPv6 control messages of
// udpv6_recvmsg (ip6_datagram_recv_common_ctl and
// ip6_datagram_recv_specific_ctl, net/ipv6/datagram.c).

// udpv6Rcv mirrors __udp6_lib_rcv: the length checks, udp6_csum_init, the
// lookup; a zero checksum is an error unless the socket found allows it
// (UDP_NO_CHECK6_RX, RFC 6936), and always without a socket; no socket is
// NoPorts and an ICMPv6 port unreachable.
func (h *Host) udpv6Rcv(r *rskb, lite bool) {
	const fn = "__udp6_lib_rcv"
	mib := h.Counters.mib(true, lite)
	r.proto = protoUDP
	if lite {
		r.proto = protoUDPLite
	}
	l4 := r.l4()
	if len(l4) < header.UDPLen {
		mib.InErrors++
		return
	}
	uh := header.UDP(l4)
	ulen := int(uh.Length())
	if ulen > len(l4) {
		h.tracef(fn, "drop", "short packet", "uh->len %d against %d bytes: InErrors", ulen, len(l4))
		mib.InErrors++
		return
	}
	if !lite {
		if ulen == 0 {
			ulen = len(l4) // a jumbogram's UDP length
		}
		if ulen < header.UDPLen {
			mib.InErrors++
			return
		}
		r.ip = r.ip[:r.ihl+ulen]
		l4 = r.l4()
	}
	r.ulen = len(l4)
	if h.udp4CsumInit(r, lite) {
		h.tracef(fn, "drop", "bad checksum", "udp6_csum_init: Udp6 InCsumErrors, InErrors")
		mib.InCsumErrors++
		mib.InErrors++
		return
	}
	ip := header.IPv6(r.ip)
	sk := h.udp6LibLookup(ip.Src(), uh.SrcPort(), ip.Dst(), uh.DstPort(), lite)
	if uh.Checksum() == 0 && (sk == nil || !sk.noCheck6Rx) {
		h.tracef(fn, "drop", "zero checksum", "udp6_csum_zero_error: a zero UDP checksum over IPv6 without UDP_NO_CHECK6_RX: InCsumErrors, InErrors")
		mib.InCsumErrors++
		mib.InErrors++
		return
	}
	if sk != nil {
		h.udpQueueRcvSkb(sk, r)
		return
	}
	if h.udpLibChecksumComplete(r) {
		mib.InCsumErrors++
		mib.InErrors++
		return
	}
	mib.NoPorts++
	h.tracef(fn, "sk", "none", "no socket on [%s]:%d: NoPorts, icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH)", ip.Dst(), uh.DstPort())
	h.icmpv6Send(r, icmpv6DestUnreach, icmpv6PortUnreach)
}

// csumOK6 sums the IPv6 pseudo-header and the first n bytes of the UDP
// header and payload.
func csumOK6(r *rskb, n int) bool {
	ip := header.IPv6(r.ip)
	ps := header.PseudoHeaderSum6(ip.Src().As16(), ip.Dst().As16(), r.proto, uint32(r.ulen))
	return header.Checksum(r.l4()[:n], ps) == 0xffff
}

// udp6LookupQuiet is udp6_gro_lookup_skb: the lookup without its trace.
func (h *Host) udp6LookupQuiet(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16) *Sock {
	tr := h.cfg.Trace
	h.cfg.Trace = nil
	defer func() { h.cfg.Trace = tr }()
	return h.udp6LibLookup(saddr, sport, daddr, dport, false)
}

// udp6LibLookup mirrors __udp6_lib_lookup: the (daddr, port) slot, then
// the (::, port) slot; compute_score starts at 0 for an AF_INET6 socket
// (badness starts at -1), +1 for a connected port, +1 for a connected
// address.
func (h *Host) udp6LibLookup(saddr netip.Addr, sport uint16, daddr netip.Addr, dport uint16, lite bool) *Sock {
	const fn = "__udp6_lib_lookup"
	for _, slot := range []netip.Addr{daddr, netip.IPv6Unspecified()} {
		var result *Sock
		badness := -1
		for _, sk := range h.chain {
			if !sk.inet6 || sk.lite != lite || sk.rcvSaddr != slot || sk.num != dport {
				continue
			}
			score := 0
			if sk.connected {
				if sk.dport != sport || sk.daddr != saddr {
					continue
				}
				score += 2
			}
			if score <= badness {
				continue
			}
			badness, result = score, sk
			if !sk.connected && sk.reuseport {
				grp := h.reuseportGroup(sk)
				if !reuseportHasConns(grp) {
					result = grp[h.reuseportHash(saddr, sport, daddr, dport)%uint64(len(grp))]
					break
				}
			}
		}
		if result != nil {
			if h.tracing() {
				h.tracef(fn, "sk", result.index, "socket %d bound to [%s]:%d (%s)", result.index, slot, dport, result.why(saddr, sport))
			}
			return result
		}
	}
	return nil
}

// ip6DatagramRecvCommonCtl mirrors ip6_datagram_recv_common_ctl:
// IPV6_PKTINFO (struct in6_pktinfo: the destination, v4-mapped for an
// IPv4 datagram, and the device's index).
func (h *Host) ip6DatagramRecvCommonCtl(cb *cmsgBuf, sk *Sock, r *rskb) {
	if !sk.rxinfo {
		return
	}
	var a [16]byte
	if r.v6() {
		a = header.IPv6(r.ip).Dst().As16()
	} else {
		a = netip.AddrFrom16(header.IPv4(r.ip).Dst().As16()).As16()
	}
	b := append(a[:], int32Bytes(h.cfg.Ifindex)...)
	cb.putCmsg(SolIPv6, ipv6Pktinfo, "IPV6_PKTINFO", b)
}

// ip6DatagramRecvSpecificCtl mirrors ip6_datagram_recv_specific_ctl for
// an IPv6 datagram: IPV6_HOPLIMIT then IPV6_TCLASS, each an int.
func (h *Host) ip6DatagramRecvSpecificCtl(cb *cmsgBuf, sk *Sock, r *rskb) {
	ip := header.IPv6(r.ip)
	if sk.rxhlim {
		cb.putCmsg(SolIPv6, ipv6Hoplimit, "IPV6_HOPLIMIT", int32Bytes(int(ip.HopLimit())))
	}
	if sk.rxtclass {
		cb.putCmsg(SolIPv6, ipv6Tclass, "IPV6_TCLASS", int32Bytes(int(ip.TrafficClass())))
	}
}

// The IPv6 control message types (<linux/in6.h>).
const (
	ipv6Pktinfo  = 50
	ipv6Hoplimit = 52
	ipv6Tclass   = 67
)
