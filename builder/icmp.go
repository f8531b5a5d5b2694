package builder

import (
	"encoding/binary"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// This file re-tells what the sender's kernel does with an ICMP error the
// peer sends back: icmp_rcv and icmp_unreach (net/ipv4/icmp.c) hand it to
// the protocol's err_handler, __udp4_lib_err (net/ipv4/udp.c), which finds
// the socket from the quoted headers and records the error (sk_err, and
// with IP_RECVERR ip_icmp_error's entry on the error queue, from
// net/ipv4/ip_sockglue.c, read back by ip_recv_error).

// senderMib is what the sender's /proc/net/snmp counts of its socket's
// doings: the UDP tables (Udp, UdpLite, Udp6, UdpLite6, indexed
// [ipv6][lite]) and the ICMP errors received.
type senderMib struct {
	udp [2][2]struct {
		outDatagrams int
	}
	icmpInMsgs, icmpInDestUnreachs   int
	icmp6InMsgs, icmp6InDestUnreachs int
}

// counters adds the non-zero counters to m, each prefixed.
func (m *senderMib) counters(prefix string, into map[string]int64) {
	tables := [2][2]string{{"Udp", "UdpLite"}, {"Udp6", "UdpLite6"}}
	for i := range m.udp {
		for j := range m.udp[i] {
			if v := m.udp[i][j].outDatagrams; v != 0 {
				into[prefix+tables[i][j]+".OutDatagrams"] = int64(v)
			}
		}
	}
	if m.icmpInMsgs != 0 {
		into[prefix+"Icmp.InMsgs"] = int64(m.icmpInMsgs)
	}
	if m.icmpInDestUnreachs != 0 {
		into[prefix+"Icmp.InDestUnreachs"] = int64(m.icmpInDestUnreachs)
	}
	if m.icmp6InMsgs != 0 {
		into[prefix+"Icmp6.InMsgs"] = int64(m.icmp6InMsgs)
	}
	if m.icmp6InDestUnreachs != 0 {
		into[prefix+"Icmp6.InDestUnreachs"] = int64(m.icmp6InDestUnreachs)
	}
}

// sockExterr is one entry of the error queue: struct sock_exterr_skb as
// ip_icmp_error fills it, and the quoted payload the entry carries.
type sockExterr struct {
	errno     errno.Errno
	origin    int // SO_EE_ORIGIN_ICMP or SO_EE_ORIGIN_ICMP6
	typ, code int
	info      uint32
	offender  netip.Addr
	addr      netip.AddrPort // the original destination (addr_offset, port)
	payload   []byte
}

// ICMP types and codes the sender's kernel maps to errnos (icmp_err_convert).
const (
	icmpDestUnreach   = 3
	icmpPortUnreach   = 3
	soEEOriginICMP    = 2
	soEEOriginICMP6   = 3
	icmpv6DestUnreach = 1
	icmpv6PortUnreach = 4
	// ipRecvErrCmsgLen and ipv6RecvErrCmsgLen are IP_RECVERR's and
	// IPV6_RECVERR's data: struct sock_extended_err, then the offender's
	// struct sockaddr_in or sockaddr_in6.
	ipRecvErrCmsgLen   = 16 + 16
	ipv6RecvErrCmsgLen = 16 + 28
)

// icmpRcv mirrors icmp_rcv and icmp_unreach for an ICMP error frame (its
// Ethernet header first) reaching the sender: the counters, then the
// quoted datagram's protocol handler, __udp4_lib_err.
func (s *Socket) icmpRcv(frame []byte) {
	if len(frame) > header.EthernetLen && frame[header.EthernetLen]>>4 == 6 {
		s.icmpv6Rcv(frame)
		return
	}
	if len(frame) < header.EthernetLen+header.IPv4MinLen+8 {
		return
	}
	ip := header.IPv4(frame[header.EthernetLen:])
	ihl := ip.IHL()
	ic := frame[header.EthernetLen+ihl:]
	if len(ic) < 8+header.IPv4MinLen+8 {
		return
	}
	s.mib.icmpInMsgs++
	if ic[0] != icmpDestUnreach {
		return
	}
	s.mib.icmpInDestUnreachs++
	s.udp4LibErr(ip.Src(), int(ic[0]), int(ic[1]), ic[8:])
}

// udp4LibErr mirrors __udp4_lib_err: the socket is looked up from the
// quoted headers as if the quoted datagram were arriving from the peer
// (__udp4_lib_lookup(daddr, dest, saddr, source)): a socket connected
// elsewhere does not match. Port unreachable is ECONNREFUSED, a hard
// error: without IP_RECVERR only a connected socket records it; with
// IP_RECVERR the error also goes on the error queue.
func (s *Socket) udp4LibErr(offender netip.Addr, typ, code int, quote []byte) {
	const fn = "__udp4_lib_err"
	iph := header.IPv4(quote)
	ihl := iph.IHL()
	if len(quote) < ihl+header.UDPLen {
		return
	}
	uh := header.UDP(quote[ihl:])
	saddr, daddr := iph.Src(), iph.Dst()
	if s.sport != uh.SrcPort() || (s.saddr.IsValid() && !s.saddr.IsUnspecified() && s.saddr.Unmap() != saddr) ||
		(s.connected && (s.daddr.Unmap() != daddr || s.dport != uh.DstPort())) {
		if s.tracing() {
			s.tracef(fn, "sk", "none", "no socket matches the quoted %s:%d -> %s:%d: the error is ignored", saddr, uh.SrcPort(), daddr, uh.DstPort())
		}
		return
	}
	if typ != icmpDestUnreach || code != icmpPortUnreach {
		return
	}
	err := errno.ECONNREFUSED
	if !s.recverr {
		if !s.connected {
			if s.tracing() {
				s.tracef(fn, "sk_err", "unchanged", "port unreachable on an unconnected socket without IP_RECVERR: ignored")
			}
			return
		}
	} else {
		s.ipIcmpError(err, typ, code, offender, netip.AddrPortFrom(daddr, uh.DstPort()), quote[ihl+header.UDPLen:])
	}
	s.skErr = err
	if s.tracing() {
		s.tracef(fn, "sk_err", "ECONNREFUSED", "ICMP port unreachable from %s: the next send (sock_alloc_send_skb) fails with it", offender)
	}
}

// ipIcmpError mirrors ip_icmp_error: an entry on the error queue carrying
// the quoted payload.
func (s *Socket) ipIcmpError(e errno.Errno, typ, code int, offender netip.Addr, addr netip.AddrPort, payload []byte) {
	s.errQueue = append(s.errQueue, sockExterr{errno: e, origin: soEEOriginICMP, typ: typ, code: code,
		offender: offender, addr: addr, payload: append([]byte(nil), payload...)})
}

// icmpv6Rcv mirrors icmpv6_rcv and icmpv6_notify for an ICMPv6 error
// frame reaching the sender: the counters, then __udp6_lib_err.
func (s *Socket) icmpv6Rcv(frame []byte) {
	b := frame[header.EthernetLen:]
	if len(b) < header.IPv6MinLen+8+header.IPv6MinLen+header.UDPLen || b[6] != 58 {
		return
	}
	// Icmp6InMsgs is not counted here: on 6.18 the kernel's
	// /proc/net/snmp6 shows it 0 after ICMPv6 errors were received
	// [live]; Icmp6InDestUnreachs counts them.
	ic := b[header.IPv6MinLen:]
	if ic[0] != icmpv6DestUnreach {
		return
	}
	s.mib.icmp6InDestUnreachs++
	quote := ic[8:]
	qip := header.IPv6(quote)
	// The quoted chain up to the UDP header (icmpv6_notify skips the
	// extension headers the same way).
	w := header.WalkIPv6Ext(qip.NextHeader(), quote[header.IPv6MinLen:])
	for w.Next() {
	}
	proto, off := w.Upper()
	if w.Err() != nil || (proto != 17 && proto != 136) || len(quote) < header.IPv6MinLen+off+header.UDPLen {
		return
	}
	s.udp6LibErr(header.IPv6(b).Src(), int(ic[0]), int(ic[1]), qip, quote[header.IPv6MinLen+off:])
}

// udp6LibErr mirrors __udp6_lib_err: the socket from the quoted headers;
// port unreachable is ECONNREFUSED (icmpv6_err_convert, fatal); without
// IPV6_RECVERR only a connected socket records it.
func (s *Socket) udp6LibErr(offender netip.Addr, typ, code int, qip header.IPv6, udp []byte) {
	const fn = "__udp6_lib_err"
	uh := header.UDP(udp)
	saddr, daddr := qip.Src(), qip.Dst()
	// sk_v6_rcv_saddr and sk_v6_daddr are the IPv6 half's (s.np).
	if !s.inet6 || s.sport != uh.SrcPort() || (s.np.saddr.IsValid() && !s.np.saddr.IsUnspecified() && s.np.saddr != saddr) ||
		(s.connected && (s.np.daddr != daddr || s.dport != uh.DstPort())) {
		if s.tracing() {
			s.tracef(fn, "sk", "none", "no socket matches the quoted [%s]:%d -> [%s]:%d: the error is ignored", saddr, uh.SrcPort(), daddr, uh.DstPort())
		}
		return
	}
	if typ != icmpv6DestUnreach || code != icmpv6PortUnreach {
		return
	}
	err := errno.ECONNREFUSED
	if !s.recverr6 {
		if !s.connected {
			return
		}
	} else {
		s.errQueue = append(s.errQueue, sockExterr{errno: err, origin: soEEOriginICMP6, typ: typ, code: code,
			offender: offender, addr: netip.AddrPortFrom(daddr, uh.DstPort()), payload: append([]byte(nil), udp[header.UDPLen:]...)})
	}
	s.skErr = err
	if s.tracing() {
		s.tracef(fn, "sk_err", "ECONNREFUSED", "ICMPv6 port unreachable from %s: the next send fails with it", offender)
	}
}

// RecvErr mirrors ip_recv_error (recvmsg with MSG_ERRQUEUE) on the
// sender's socket: the oldest entry's payload (MSG_TRUNC when the buffer
// is shorter), MSG_ERRQUEUE, the original destination as msg_name and the
// IP_RECVERR control message; sk_err becomes the next entry's errno, or 0.
// An empty queue is EAGAIN.
func (s *Socket) RecvErr(n, cmsgLen int) report.Recv {
	if len(s.errQueue) == 0 {
		return report.Recv{Err: errno.EAGAIN}
	}
	ee := s.errQueue[0]
	s.errQueue = s.errQueue[1:]
	flags := msgErrqueue
	copied := len(ee.payload)
	if copied > n {
		flags |= msgTrunc
		copied = n
	}
	// ip_recv_error, or ipv6_recv_error on an AF_INET6 socket, which
	// gives an IPv4 error's addresses v4-mapped and its control message
	// as IPV6_RECVERR: struct sock_extended_err, then the offender's
	// sockaddr.
	from := ee.addr
	level, typ := 0, 11 // SOL_IP, IP_RECVERR
	var b [16 + 28]byte
	binary.NativeEndian.PutUint32(b[0:], uint32(ee.errno))
	b[4], b[5], b[6] = byte(ee.origin), byte(ee.typ), byte(ee.code)
	binary.NativeEndian.PutUint32(b[8:], ee.info)
	clen := ipRecvErrCmsgLen
	if s.inet6 {
		level, typ, clen = 41, 25, ipv6RecvErrCmsgLen // SOL_IPV6, IPV6_RECVERR
		from = netip.AddrPortFrom(netip.AddrFrom16(from.Addr().As16()), from.Port())
		binary.NativeEndian.PutUint16(b[16:], 10)
		a := ee.offender.As16()
		copy(b[24:40], a[:])
	} else {
		binary.NativeEndian.PutUint16(b[16:], 2)
		a := ee.offender.As4()
		copy(b[20:24], a[:])
	}
	r := report.Recv{Ret: copied, Len: copied, Digest: report.Digest(ee.payload[:copied]), From: from.String()}
	// put_cmsg: no room for a header writes nothing, too little room
	// writes what fits; both set MSG_CTRUNC.
	switch {
	case cmsgLen < cmsgHdrLen:
		flags |= msgCtrunc
	case cmsgLen < cmsgHdrLen+clen:
		flags |= msgCtrunc
		r.Cmsgs = append(r.Cmsgs, report.RenderCmsg(level, typ, b[:cmsgLen-cmsgHdrLen]))
	default:
		r.Cmsgs = append(r.Cmsgs, report.RenderCmsg(level, typ, b[:clen]))
	}
	r.MsgFlags = report.MsgFlagNames(flags)
	s.skErr = 0
	if len(s.errQueue) > 0 {
		s.skErr = s.errQueue[0].errno
	}
	return r
}

const (
	msgCtrunc   = 0x8
	msgTrunc    = 0x20
	msgErrqueue = 0x2000
	cmsgHdrLen  = 16
)
