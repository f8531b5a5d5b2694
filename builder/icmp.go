package builder

import (
	"fmt"
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
	icmpInMsgs, icmpInDestUnreachs int
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

// ICMP types and codes the sender's kernel maps to errnos (icmp_err_convert).
const (
	icmpDestUnreach  = 3
	icmpPortUnreach  = 3
	soEEOriginICMP   = 2
	ipRecvErrCmsgLen = 32 // struct sock_extended_err + struct sockaddr_in
)

// icmpRcv mirrors icmp_rcv and icmp_unreach for an ICMP error frame (its
// Ethernet header first) reaching the sender: the counters, then the
// quoted datagram's protocol handler, __udp4_lib_err.
func (s *Socket) icmpRcv(frame []byte) {
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
	r := report.Recv{Ret: copied, Len: copied, Digest: report.Digest(ee.payload[:copied]), From: ee.addr.String()}
	val := fmt.Sprintf("ee_errno=%s origin=icmp type=%d code=%d info=%d data=0 offender=%s", ee.errno.Name(), ee.typ, ee.code, ee.info, ee.offender)
	switch {
	case cmsgLen < cmsgHdrLen:
		flags |= msgCtrunc
	case cmsgLen < cmsgHdrLen+ipRecvErrCmsgLen:
		flags |= msgCtrunc
		r.Cmsgs = append(r.Cmsgs, report.Cmsg{Name: "IP_RECVERR", Value: val})
	default:
		r.Cmsgs = append(r.Cmsgs, report.Cmsg{Name: "IP_RECVERR", Value: val})
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
