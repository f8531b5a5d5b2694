package builder

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells what the sender's kernel does with an ICMP error
// about a datagram it sent (docs/pmtu-study.md): icmp_rcv and icmp_unreach
// (net/ipv4/icmp.c), icmpv6_rcv and icmpv6_notify (net/ipv6/icmp.c), the
// UDP error handlers __udp4_lib_err (net/ipv4/udp.c) and __udp6_lib_err
// (net/ipv6/udp.c), and what they call: ipv4_sk_update_pmtu and
// ip6_sk_update_pmtu (the route exception, route.go), ip_icmp_error and
// ipv6_icmp_error (the error queue, icmp.go); and the send path's own
// entries, ip_local_error and ipv6_local_error.

// icmpRcv mirrors icmp_rcv / icmpv6_rcv for an ICMP error frame (its
// Ethernet header first) reaching the sender, by the frame's family.
func (s *Socket) icmpRcv(frame []byte) {
	if len(frame) <= header.EthernetLen {
		return
	}
	pkt := frame[header.EthernetLen:]
	switch pkt[0] >> 4 {
	case 4:
		s.icmpRcv4(pkt)
	case 6:
		s.icmpv6Rcv(pkt)
	}
}

// The ICMP types and codes the sender's handlers tell apart.
const (
	icmpSourceQuench  = 4
	icmpTimeExceeded  = 11
	icmpParameterProb = 12
	icmpFragNeeded    = 4
	icmpExcFragtime   = 1
	nrICMPUnreach     = 15 // NR_ICMP_UNREACH
	soEEOriginLocal   = 1  // SO_EE_ORIGIN_LOCAL: ip_local_error's

	icmpv6PktTooBig    = 2
	icmpv6TimeExceed   = 3
	icmpv6ParamProb    = 4
	icmpv6RejectRoute  = 6 // the last code of icmpv6_err_convert's table
	icmpv6InfoMsgFirst = 128
)

// icmpErrConvert is icmp_err_convert (net/ipv4/icmp.c): each destination
// unreachable code's errno and whether it is fatal (a hard error).
var icmpErrConvert = [nrICMPUnreach + 1]struct {
	errno errno.Errno
	fatal bool
}{
	{errno.ENETUNREACH, false},  // 0 ICMP_NET_UNREACH
	{errno.EHOSTUNREACH, false}, // 1 ICMP_HOST_UNREACH
	{errno.ENOPROTOOPT, true},   // 2 ICMP_PROT_UNREACH
	{errno.ECONNREFUSED, true},  // 3 ICMP_PORT_UNREACH
	{errno.EMSGSIZE, false},     // 4 ICMP_FRAG_NEEDED
	{errno.EOPNOTSUPP, false},   // 5 ICMP_SR_FAILED
	{errno.ENETUNREACH, true},   // 6 ICMP_NET_UNKNOWN
	{errno.EHOSTDOWN, true},     // 7 ICMP_HOST_UNKNOWN
	{errno.ENONET, true},        // 8 ICMP_HOST_ISOLATED
	{errno.ENETUNREACH, true},   // 9 ICMP_NET_ANO
	{errno.EHOSTUNREACH, true},  // 10 ICMP_HOST_ANO
	{errno.ENETUNREACH, false},  // 11 ICMP_NET_UNR_TOS
	{errno.EHOSTUNREACH, false}, // 12 ICMP_HOST_UNR_TOS
	{errno.EHOSTUNREACH, true},  // 13 ICMP_PKT_FILTERED
	{errno.EHOSTUNREACH, true},  // 14 ICMP_PREC_VIOLATION
	{errno.EHOSTUNREACH, true},  // 15 ICMP_PREC_CUTOFF
}

// icmpRcv4 mirrors icmp_rcv and icmp_unreach: the counters, the checks on
// the quote (its IP header and 8 bytes of the transport), info (a
// frag-needed's next-hop MTU, a parameter problem's pointer), then the
// quoted protocol's handler.
func (s *Socket) icmpRcv4(pkt []byte) {
	ip := header.IPv4(pkt)
	ihl := ip.IHL()
	if len(pkt) < ihl+8 {
		return
	}
	ic := pkt[ihl:]
	if n := int(ip.TotalLength()); n >= ihl+8 && n < len(pkt) {
		ic = pkt[ihl:n]
	}
	s.mib.icmpInMsgs++
	typ, code := int(ic[0]), int(ic[1])
	var info uint32
	switch typ {
	case icmpDestUnreach:
		s.mib.icmpInDestUnreachs++
		if code > nrICMPUnreach {
			if s.tracing() {
				s.tracef("icmp_unreach", "code", code, "beyond NR_ICMP_UNREACH: dropped")
			}
			return
		}
		if code == icmpFragNeeded {
			info = uint32(binary.BigEndian.Uint16(ic[6:8])) // net.ipv4.ip_no_pmtu_disc 0
		}
	case icmpParameterProb:
		info = uint32(ic[4]) // ntohl(icmph->un.gateway) >> 24
	case icmpTimeExceeded:
		if code == icmpExcFragtime {
			// [live, docs/pmtu-study.md 6] no entry, no sk_err even with
			// IP_RECVERR; the check that drops it is not yet located.
			if s.tracing() {
				s.tracef("icmp_unreach", "code", code, "reassembly time exceeded: the running kernel ignores it for UDP")
			}
			return
		}
	case icmpSourceQuench:
	default:
		return // not an error icmp_unreach handles
	}
	quote := ic[8:]
	if len(quote) < header.IPv4MinLen || header.IPv4(quote).IHL() < header.IPv4MinLen || len(quote) < header.IPv4(quote).IHL()+8 {
		if s.tracing() {
			s.tracef("icmp_unreach", "quote", len(quote), "shorter than the quoted IP header and 8 bytes: dropped")
		}
		return
	}
	s.udp4LibErr(ip.Src(), typ, code, info, quote)
}

// udp4LibErr mirrors __udp4_lib_err. The socket is looked up from the
// quoted headers as if the quoted datagram were arriving from the peer
// (__udp4_lib_lookup(daddr, dest, saddr, source)): a socket connected
// elsewhere does not match, and with no socket the error counts as
// Icmp.InErrors and changes nothing, not even the route. Then by type
// (docs/pmtu-study.md 1, 6): frag-needed learns the path MTU
// (ipv4_sk_update_pmtu) and is EMSGSIZE unless pmtudisc is DONT, which
// stops there; other unreachables are icmp_err_convert's; time exceeded
// EHOSTUNREACH; parameter problem EPROTO, hard; source quench nothing.
// Without IP_RECVERR only a hard error on a connected socket sets sk_err;
// with it every error does, and ip_icmp_error queues it.
func (s *Socket) udp4LibErr(offender netip.Addr, typ, code int, info uint32, quote []byte) {
	const fn = "__udp4_lib_err"
	iph := header.IPv4(quote)
	ihl := iph.IHL()
	uh := header.UDP(quote[ihl:])
	saddr, daddr := iph.Src(), iph.Dst()
	if iph.Protocol() != s.proto.Number() || s.sport != uh.SrcPort() || (s.saddr.IsValid() && !s.saddr.IsUnspecified() && s.saddr.Unmap() != saddr) ||
		(s.connected && (s.daddr.Unmap() != daddr || s.dport != uh.DstPort())) {
		s.mib.icmpInErrors++
		if s.tracing() {
			s.tracef(fn, "sk", "none", "no socket matches the quoted %s:%d -> %s:%d: Icmp.InErrors, the error is ignored", saddr, uh.SrcPort(), daddr, uh.DstPort())
		}
		return
	}
	var err errno.Errno
	hard := false
	switch typ {
	case icmpDestUnreach:
		if code == icmpFragNeeded {
			s.ipv4SkUpdatePmtu(daddr, int(info))
			if s.pmtudisc == scenario.PMTUDont {
				if s.tracing() {
					s.tracef(fn, "err", 0, "frag-needed on a pmtudisc dont socket: no error (goto out)")
				}
				return
			}
			err, hard = errno.EMSGSIZE, true
			break
		}
		err, hard = icmpErrConvert[code].errno, icmpErrConvert[code].fatal
	case icmpParameterProb:
		err, hard = errno.EPROTO, true
	case icmpTimeExceeded:
		err = errno.EHOSTUNREACH
	default: // source quench
		if s.tracing() {
			s.tracef(fn, "err", 0, "ICMP %d/%d: ignored (goto out)", typ, code)
		}
		return
	}
	s.sockError(fn, err, hard, func() {
		s.ipIcmpError(err, soEEOriginICMP, typ, code, info, offender, netip.AddrPortFrom(daddr, uh.DstPort()), quote[ihl+header.UDPLen:])
	}, offender, typ, code)
}

// sockError is the end both error handlers share: without IP_RECVERR
// (IPV6_RECVERR) only a hard error on a connected socket is recorded;
// with it every error is, and queue (ip_icmp_error / ipv6_icmp_error)
// puts it on the error queue; then sk_err and sk_error_report.
func (s *Socket) sockError(fn string, err errno.Errno, hard bool, queue func(), offender netip.Addr, typ, code int) {
	recverr := s.recverr
	opt := "IP_RECVERR"
	if fn == "__udp6_lib_err" {
		recverr, opt = s.recverr6, "IPV6_RECVERR"
	}
	if !recverr {
		if !hard || !s.connected {
			if s.tracing() {
				why := "a soft error"
				if hard {
					why = "a hard error on an unconnected socket"
				}
				s.tracef(fn, "sk_err", "unchanged", "ICMP %d/%d (%s) from %s: %s without %s is not reported", typ, code, err.Name(), offender, why, opt)
			}
			return
		}
	} else {
		queue()
	}
	s.skErr = err
	if s.tracing() {
		s.tracef(fn, "sk_err", err.Name(), "ICMP %d/%d from %s: the next datagram's first skb (sock_alloc_send_skb) fails with it", typ, code, offender)
	}
}

// ipv4SkUpdatePmtu mirrors ipv4_sk_update_pmtu: a socket that does not
// accept path MTUs (ip_sk_accept_pmtu: INTERFACE, OMIT) leaves the route
// alone; otherwise the route to the quoted destination (the connected
// route, or a fresh lookup) takes __ip_rt_update_pmtu.
func (s *Socket) ipv4SkUpdatePmtu(daddr netip.Addr, mtu int) {
	const fn = "ipv4_sk_update_pmtu"
	if !ipSkAcceptPmtu(s.pmtudisc) {
		if s.tracing() {
			s.tracef(fn, "route", "unchanged", "ip_sk_accept_pmtu: pmtudisc %s ignores the path MTU", s.pmtudisc)
		}
		return
	}
	why := s.rt.ipRtUpdatePmtu(daddr, mtu)
	if s.tracing() {
		m, locked := s.rt.dstMTU(daddr)
		v := fmt.Sprint(m)
		if locked {
			v += " (locked)"
		}
		s.tracef("__ip_rt_update_pmtu", "mtu", v, why)
	}
}

// icmpv6Rcv mirrors icmpv6_rcv and icmpv6_notify: error messages (types
// below 128) reach the quoted protocol's handler once the quote's
// extension headers are skipped (ipv6_skip_exthdr) to its transport
// header; info is packet-too-big's MTU or a parameter problem's pointer.
func (s *Socket) icmpv6Rcv(pkt []byte) {
	if len(pkt) < header.IPv6MinLen+8 {
		return
	}
	ip := header.IPv6(pkt)
	ic := pkt[header.IPv6MinLen:]
	if n := int(ip.PayloadLength()); n >= 8 && n < len(ic) {
		ic = ic[:n]
	}
	typ, code := int(ic[0]), int(ic[1])
	if typ >= icmpv6InfoMsgFirst {
		return
	}
	if typ == icmpv6DestUnreach {
		s.mib.icmp6InDestUnreachs++
	}
	info := binary.BigEndian.Uint32(ic[4:8])
	quote := ic[8:]
	if len(quote) < header.IPv6MinLen {
		return
	}
	qip := header.IPv6(quote)
	body := quote[header.IPv6MinLen:]
	w := header.WalkIPv6Ext(qip.NextHeader(), body)
	for w.Next() {
	}
	proto, off := w.Upper()
	if proto != s.proto.Number() || off+8 > len(body) {
		if s.tracing() {
			s.tracef("icmpv6_notify", "quote", len(quote), "no UDP header in the quote: dropped")
		}
		return
	}
	s.udp6LibErr(ip.Src(), typ, code, info, qip, body[off:])
}

// icmpv6ErrConvert mirrors icmpv6_err_convert: the errno and whether the
// error is fatal.
func icmpv6ErrConvert(typ, code int) (errno.Errno, bool) {
	switch typ {
	case icmpv6DestUnreach:
		if code > icmpv6RejectRoute {
			return errno.EPROTO, true
		}
		return [...]struct {
			e errno.Errno
			f bool
		}{{errno.ENETUNREACH, false}, {errno.EACCES, true}, {errno.EHOSTUNREACH, false}, {errno.EHOSTUNREACH, false},
			{errno.ECONNREFUSED, true}, {errno.EACCES, true}, {errno.EACCES, true}}[code].e, code == 1 || code >= 4
	case icmpv6PktTooBig:
		return errno.EMSGSIZE, false
	case icmpv6ParamProb:
		return errno.EPROTO, true
	case icmpv6TimeExceed:
		return errno.EHOSTUNREACH, false
	}
	return errno.EPROTO, true
}

// udp6LibErr mirrors __udp6_lib_err: the lookup as IPv4's; a packet too
// big on a socket that does not accept path MTUs (ip6_sk_accept_pmtu:
// INTERFACE, OMIT) stops there with no error at all; otherwise it learns
// the MTU (ip6_sk_update_pmtu) and is hard unless pmtudisc is DONT. The
// errno is icmpv6_err_convert's; reporting is as IPv4's with IPV6_RECVERR
// (ipv6_icmp_error).
func (s *Socket) udp6LibErr(offender netip.Addr, typ, code int, info uint32, qip header.IPv6, uh header.UDP) {
	const fn = "__udp6_lib_err"
	saddr, daddr := qip.Src(), qip.Dst()
	if !s.inet6 || s.sport != uh.SrcPort() || (s.np.saddr.IsValid() && !s.np.saddr.IsUnspecified() && s.np.saddr != saddr) ||
		(s.connected && (s.np.daddr != daddr || s.dport != uh.DstPort())) {
		s.mib.icmp6InErrors++
		if s.tracing() {
			s.tracef(fn, "sk", "none", "no socket matches the quoted [%s]:%d -> [%s]:%d: Icmp6.InErrors, the error is ignored", saddr, uh.SrcPort(), daddr, uh.DstPort())
		}
		return
	}
	err, hard := icmpv6ErrConvert(typ, code)
	if typ == icmpv6PktTooBig {
		if !ipSkAcceptPmtu(s.np.pmtudisc) {
			if s.tracing() {
				s.tracef(fn, "err", 0, "ip6_sk_accept_pmtu: pmtudisc %s ignores packet too big (goto out)", s.np.pmtudisc)
			}
			return
		}
		why := s.rt.ip6RtUpdatePmtu(daddr, int(info))
		if s.tracing() {
			m, _ := s.rt.dstMTU(daddr)
			s.tracef("__ip6_rt_update_pmtu", "mtu", m, why)
		}
		hard = s.np.pmtudisc != scenario.PMTUDont
	}
	payload := uh[header.UDPLen:]
	s.sockError(fn, err, hard, func() {
		s.ipIcmpError(err, soEEOriginICMP6, typ, code, info, offender, netip.AddrPortFrom(daddr, uh.DstPort()), payload)
	}, offender, typ, code)
}

// icmpSendFragNeeded mirrors ip_fragment's answer to a DF datagram that
// may not be fragmented locally: icmp_send(ICMP_DEST_UNREACH,
// ICMP_FRAG_NEEDED, mtu) to the datagram's own source, which the sender's
// stack receives through the loopback (Icmp Out and In counters) and
// hands to __udp4_lib_err like a router's: the quote is the datagram from
// its IP header, at most 548 bytes (576 less the headers), the offender
// the sender's own address.
func (s *Socket) icmpSendFragNeeded(d *Datagram, mtu int) {
	s.mib.icmpOutMsgs++
	s.mib.icmpOutDestUnreachs++
	q := make([]byte, 0, scenario.ICMPQuote4)
	q = append(append(append(q, d.IP...), d.UDP...), d.Payload...)
	q = q[:min(len(q), scenario.ICMPQuote4)]
	if s.tracing() {
		s.tracef("ip_fragment", "icmp_send", "3/4", "DF without ignore_df: ICMP frag-needed (mtu %d) to ourselves, quoting %d bytes", mtu, len(q))
	}
	s.mib.icmpInMsgs++
	s.mib.icmpInDestUnreachs++
	s.udp4LibErr(header.IPv4(d.IP).Src(), icmpDestUnreach, icmpFragNeeded, uint32(mtu), q)
}

// ipLocalError mirrors ip_local_error: with IP_RECVERR the send path's
// own error (EMSGSIZE, info the MTU) goes on the error queue, with no
// payload and no offender; msg_name is daddr and the socket's inet_dport
// (0 unless connected). sk_err is not touched.
func (s *Socket) ipLocalError(e errno.Errno, daddr netip.Addr, port uint16, info int) {
	if !s.recverr {
		return
	}
	s.errQueue = append(s.errQueue, sockExterr{errno: e, origin: soEEOriginLocal, info: uint32(info), addr: netip.AddrPortFrom(daddr, port)})
	if s.tracing() {
		s.tracef("ip_local_error", "ee_info", info, "IP_RECVERR: the error queue gets a local %s entry", e.Name())
	}
}

// ipv6LocalError mirrors ipv6_local_error: as ip_local_error, with
// IPV6_RECVERR, the flow's destination and port.
func (s *Socket) ipv6LocalError(e errno.Errno, fl flow, info int) {
	if !s.recverr6 {
		return
	}
	s.errQueue = append(s.errQueue, sockExterr{errno: e, origin: soEEOriginLocal, info: uint32(info), addr: netip.AddrPortFrom(fl.daddr, fl.dport)})
	if s.tracing() {
		s.tracef("ipv6_local_error", "ee_info", info, "IPV6_RECVERR: the error queue gets a local %s entry", e.Name())
	}
}
