package builder

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
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
	icmpInMsgs, icmpInDestUnreachs int
	// icmpInErrors and icmp6InErrors count errors no socket took
	// (__udp4_lib_err, __udp6_lib_err); icmp6InDestUnreachs ICMPv6
	// destination unreachables (Icmp6.InMsgs is not reported: MLD counts
	// there at random).
	icmpInErrors, icmp6InErrors, icmp6InDestUnreachs int
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
	for name, v := range map[string]int{"Icmp.InErrors": m.icmpInErrors, "Icmp6.InErrors": m.icmp6InErrors, "Icmp6.InDestUnreachs": m.icmp6InDestUnreachs} {
		if v != 0 {
			into[prefix+name] = int64(v)
		}
	}
}

// sockExterr is one entry of the error queue: struct sock_exterr_skb as
// ip_icmp_error fills it, and the quoted payload the entry carries.
type sockExterr struct {
	errno     errno.Errno
	origin    int // SO_EE_ORIGIN_ICMP
	typ, code int
	info      uint32
	offender  netip.Addr
	addr      netip.AddrPort // the original destination (addr_offset, port)
	payload   []byte
}

// sock_extended_err's origins and the IP_RECVERR control message's
// payload: struct sock_extended_err and the offender's sockaddr_in (or
// sockaddr_in6 on an AF_INET6 socket).
const (
	soEEOriginLocal    = 1
	soEEOriginICMP     = 2
	soEEOriginICMP6    = 3
	ipRecvErrCmsgLen   = 16 + 16
	ipv6RecvErrCmsgLen = 16 + 28
)

// ipIcmpError mirrors ip_icmp_error (and ipv6_icmp_error, origin
// SO_EE_ORIGIN_ICMP6): an entry on the error queue carrying the quoted
// payload.
func (s *Socket) ipIcmpError(e errno.Errno, origin, typ, code int, info uint32, offender netip.Addr, addr netip.AddrPort, payload []byte) {
	s.errQueue = append(s.errQueue, sockExterr{errno: e, origin: origin, typ: typ, code: code, info: info,
		offender: offender, addr: addr, payload: append([]byte(nil), payload...)})
}

// RecvErr mirrors ip_recv_error (ipv6_recv_error on an AF_INET6 socket),
// recvmsg with MSG_ERRQUEUE on the sender's socket: the oldest entry's
// payload (MSG_TRUNC when the buffer is shorter), MSG_ERRQUEUE, the
// original destination as msg_name and the IP_RECVERR (IPV6_RECVERR)
// control message, whose offender is left out for a local error.
// sock_dequeue_err_skb then sets sk_err to the next entry's errno if that
// is an ICMP error, or clears it when the one read was and the next is
// not. An empty queue is EAGAIN.
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
	addr := ee.addr
	name, need := "IP_RECVERR", ipRecvErrCmsgLen
	if s.inet6 {
		name, need = "IPV6_RECVERR", ipv6RecvErrCmsgLen
		addr = netip.AddrPortFrom(netip.AddrFrom16(addr.Addr().As16()), addr.Port())
	}
	r := report.Recv{Ret: copied, Len: copied, Digest: report.Digest(ee.payload[:copied]), From: addr.String()}
	origin := map[int]string{soEEOriginLocal: "local", soEEOriginICMP: "icmp", soEEOriginICMP6: "icmp6"}[ee.origin]
	val := fmt.Sprintf("ee_errno=%s origin=%s type=%d code=%d info=%d data=0", ee.errno.Name(), origin, ee.typ, ee.code, ee.info)
	if ee.origin != soEEOriginLocal {
		off := ee.offender
		if s.inet6 {
			off = netip.AddrFrom16(off.As16())
		}
		val += " offender=" + off.String()
	}
	switch {
	case cmsgLen < cmsgHdrLen:
		flags |= msgCtrunc
	case cmsgLen < cmsgHdrLen+need:
		flags |= msgCtrunc
		r.Cmsgs = append(r.Cmsgs, report.Cmsg{Name: name, Value: val})
	default:
		r.Cmsgs = append(r.Cmsgs, report.Cmsg{Name: name, Value: val})
	}
	r.MsgFlags = report.MsgFlagNames(flags)
	icmp := func(e sockExterr) bool { return e.origin == soEEOriginICMP || e.origin == soEEOriginICMP6 }
	switch {
	case len(s.errQueue) > 0 && icmp(s.errQueue[0]):
		s.skErr = s.errQueue[0].errno
	case icmp(ee):
		s.skErr = 0
	}
	return r
}

const (
	msgCtrunc   = 0x8
	msgTrunc    = 0x20
	msgErrqueue = 0x2000
	cmsgHdrLen  = 16
)
