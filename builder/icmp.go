package builder

import (
	"encoding/binary"
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
		// sndbufErrors counts the sends that failed ENOBUFS
		// (udp_sendmsg's and udpv6_sendmsg's UDP_MIB_SNDBUFERRORS).
		sndbufErrors int
	}
	icmpInMsgs, icmpInDestUnreachs   int
	icmp6InMsgs, icmp6InDestUnreachs int
	// icmpInErrors and icmp6InErrors count errors no socket took
	// (__udp4_lib_err, __udp6_lib_err).
	icmpInErrors, icmp6InErrors int
	// icmpOutMsgs, icmpOutDestUnreachs count ip_fragment's frag-needed
	// to itself.
	icmpOutMsgs, icmpOutDestUnreachs int
}

// counters adds the non-zero counters to m, each prefixed.
func (m *senderMib) counters(prefix string, into map[string]int64) {
	tables := [2][2]string{{"Udp", "UdpLite"}, {"Udp6", "UdpLite6"}}
	for i := range m.udp {
		for j := range m.udp[i] {
			if v := m.udp[i][j].outDatagrams; v != 0 {
				into[prefix+tables[i][j]+".OutDatagrams"] = int64(v)
			}
			if v := m.udp[i][j].sndbufErrors; v != 0 {
				into[prefix+tables[i][j]+".SndbufErrors"] = int64(v)
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
	if m.icmpOutMsgs != 0 {
		into[prefix+"Icmp.OutMsgs"] = int64(m.icmpOutMsgs)
		into[prefix+"Icmp.OutDestUnreachs"] = int64(m.icmpOutDestUnreachs)
	}
	if m.icmpInErrors != 0 {
		into[prefix+"Icmp.InErrors"] = int64(m.icmpInErrors)
	}
	if m.icmp6InErrors != 0 {
		into[prefix+"Icmp6.InErrors"] = int64(m.icmp6InErrors)
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

// ipIcmpError mirrors ip_icmp_error (ipv6_icmp_error with origin
// SO_EE_ORIGIN_ICMP6): an entry on the error queue carrying the quoted
// payload (the quote after its UDP header) and ee_info.
func (s *Socket) ipIcmpError(e errno.Errno, origin, typ, code int, info uint32, offender netip.Addr, addr netip.AddrPort, payload []byte) {
	s.errQueue = append(s.errQueue, sockExterr{errno: e, origin: origin, typ: typ, code: code, info: info,
		offender: offender, addr: addr, payload: append([]byte(nil), payload...)})
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
	switch {
	case s.inet6:
		level, typ, clen = 41, 25, ipv6RecvErrCmsgLen // SOL_IPV6, IPV6_RECVERR
		from = netip.AddrPortFrom(netip.AddrFrom16(from.Addr().As16()), from.Port())
		if ee.origin == soEEOriginLocal {
			break // a local error's offender is AF_UNSPEC, zeroed
		}
		binary.NativeEndian.PutUint16(b[16:], 10)
		a := ee.offender.As16()
		copy(b[24:40], a[:])
	case ee.origin == soEEOriginLocal:
	default:
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
	// sock_dequeue_err_skb: sk_err becomes the next entry's errno if that
	// is an ICMP error; reading an ICMP error with none behind it clears
	// it; a local error (ip_local_error's) leaves it.
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
