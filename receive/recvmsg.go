package receive

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells udp_recvmsg (net/ipv4/udp.c) and __skb_recv_udp: what
// one recvmsg() call on a peer socket returns.

// The msg_flags bits of <linux/socket.h> a recvmsg reads or reports.
const (
	MsgPeek     = 0x2
	MsgCtrunc   = 0x8
	MsgTrunc    = 0x20
	MsgDontwait = 0x40
	MsgErrqueue = 0x2000
)

// RecvReq is one recvmsg() call: the buffer and control buffer lengths the
// program passes and its flags (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT,
// MSG_ERRQUEUE).
type RecvReq struct {
	Len, CmsgLen, Flags int
}

// RecvResult is what the call returned.
type RecvResult struct {
	// Ret is the return value when Errno is 0.
	Ret int
	// Errno is the error (EAGAIN, ECONNREFUSED, ...), 0 on success.
	Errno int
	// Flags is msg_flags.
	Flags int
	// From is msg_name: the datagram's source.
	From netip.AddrPort
	// Cmsgs are the control messages, in order, as put_cmsg wrote them.
	Cmsgs []Cmsg
	// Data is the bytes copied to the buffer.
	Data []byte
}

const (
	eagain       = 11  // EAGAIN
	econnrefused = 111 // ECONNREFUSED
)

// rcvtimeoJiffies is the peer sockets' SO_RCVTIMEO (100 ms) in jiffies: a
// recv that finds nothing waits it out.
const rcvtimeoJiffies = HZ / 10

// Recvmsg mirrors udp_recvmsg on socket sk.
func (h *Host) Recvmsg(sk *Sock, req RecvReq) RecvResult {
	const fn = "udp_recvmsg"
	if req.Flags&MsgErrqueue != 0 {
		// ip_recv_error: the peer's sockets never hear an ICMP error in
		// a scenario (the sender answers nothing): -EAGAIN.
		return RecvResult{Errno: eagain}
	}
	peeking := req.Flags&MsgPeek != 0
	var mib *UDPMib
	for {
		r, errno := h.skbRecvUDP(sk, req.Flags)
		if r == nil {
			return RecvResult{Errno: errno}
		}
		mib = h.Counters.mib(r.v6(), sk.lite)
		var res RecvResult
		ulen := r.ulen - header.UDPLen
		copied := req.Len
		if copied > ulen {
			copied = ulen
		} else if copied < ulen {
			res.Flags |= MsgTrunc
		}
		// The checksum: before the copy when it is truncated, a peek, or
		// a partial coverage; otherwise while copying.
		if !r.skbCsumUnnecessary() {
			where := "while copying (skb_copy_and_csum_datagram_msg)"
			if copied < ulen || peeking || r.partialCov {
				where = "before the copy: truncated, peeking or partial coverage (__udp_lib_checksum_complete)"
			}
			if h.udpLibChecksumComplete(r) {
				h.tracef(fn, "csum", "bad", "verified %s: the datagram is dropped, InCsumErrors, InErrors; the next one is tried", where)
				h.dequeue(sk, r)
				mib.InCsumErrors++
				mib.InErrors++
				continue
			}
			h.tracef(fn, "csum", "verified", where)
		}
		res.Data = append([]byte(nil), r.l4()[header.UDPLen:header.UDPLen+copied]...)
		if !peeking {
			mib.InDatagrams++
		}
		uh := header.UDP(r.l4())
		switch {
		case r.v6():
			res.From = netip.AddrPortFrom(header.IPv6(r.ip).Src(), uh.SrcPort())
		case sk.inet6:
			// udpv6_recvmsg: an IPv4 source as a v4-mapped address.
			res.From = netip.AddrPortFrom(netip.AddrFrom16(header.IPv4(r.ip).Src().As16()), uh.SrcPort())
		default:
			res.From = netip.AddrPortFrom(header.IPv4(r.ip).Src(), uh.SrcPort())
		}
		cb := cmsgBuf{room: req.CmsgLen}
		if sk.groEnabled {
			h.udpCmsgRecv(&cb, r)
		}
		if sk.inet6 {
			h.ip6DatagramRecvCommonCtl(&cb, sk, r)
		}
		switch {
		case !r.v6() && sk.cmsgFlags != 0:
			h.ipCmsgRecvOffset(&cb, sk, r)
		case r.v6():
			h.ip6DatagramRecvSpecificCtl(&cb, sk, r)
		}
		res.Cmsgs = cb.msgs
		if cb.ctrunc {
			res.Flags |= MsgCtrunc
		}
		res.Ret = copied
		if req.Flags&MsgTrunc != 0 {
			res.Ret = ulen
		}
		if h.tracing() {
			h.tracef(fn, "return", res.Ret, "%d of %d bytes copied; msg_flags %#x", copied, ulen, res.Flags)
		}
		return res
	}
}

// skbRecvUDP mirrors __skb_recv_udp: a pending socket error first
// (sock_error clears it), then the reader queue, then the receive queue
// spliced onto it; nothing is EAGAIN, after SO_RCVTIMEO unless
// MSG_DONTWAIT. A datagram taken (not peeked) is uncharged by
// udp_rmem_release.
func (h *Host) skbRecvUDP(sk *Sock, flags int) (*rskb, int) {
	if sk.skErr != 0 {
		e := sk.skErr
		sk.skErr = 0
		return nil, e
	}
	if len(sk.readerQ) == 0 && len(sk.receiveQ) > 0 {
		sk.readerQ = append(sk.readerQ, sk.receiveQ...)
		sk.receiveQ = sk.receiveQ[:0]
	}
	if len(sk.readerQ) == 0 {
		if flags&MsgDontwait == 0 {
			h.jiffies += rcvtimeoJiffies
		}
		h.tracef("__skb_recv_udp", "return", "-EAGAIN", "socket %d: nothing queued", sk.index)
		return nil, eagain
	}
	r := sk.readerQ[0]
	if flags&MsgPeek == 0 {
		h.dequeue(sk, r)
	}
	return r, 0
}

// dequeue unlinks r from the reader queue and uncharges it.
func (h *Host) dequeue(sk *Sock, r *rskb) {
	for i, q := range sk.readerQ {
		if q == r {
			sk.readerQ = append(sk.readerQ[:i], sk.readerQ[i+1:]...)
			h.udpRmemRelease(sk, r.truesize)
			return
		}
	}
}
