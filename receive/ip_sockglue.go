package receive

import (
	"encoding/binary"

	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells the receive side of net/ipv4/ip_sockglue.c
// (ip_cmsg_recv_offset and its helpers), udp_cmsg_recv (include/net/udp.h)
// and put_cmsg (net/core/scm.c): the control messages a recvmsg gets, in
// the kernel's order, cut short as a short control buffer cuts them.

// Cmsg is one control message as put_cmsg wrote it.
type Cmsg struct {
	// Level and Type are cmsg_level and cmsg_type; Name is the kernel's
	// name of the type (IP_PKTINFO, IP_TTL, IP_TOS, UDP_GRO, ...).
	Level, Type int
	Name        string
	// Data is the payload as written: shorter than the full value when
	// Truncated (the control buffer ran out, MSG_CTRUNC).
	Data      []byte
	Truncated bool
}

// Socket levels and control message types of the receive path.
const (
	SolIP       = 0
	SolUDP      = 17
	SolIPv6     = 41
	ipPktinfo   = 8
	ipTTL       = 2
	ipTOS       = 1
	ipRecvopts  = 6
	ipRetopts   = 7
	udpGRO      = 104
	cmsgHdrLen  = 16 // sizeof(struct cmsghdr) on 64-bit
	cmsgAlignTo = 8
)

// cmsgBuf is the program's control buffer as put_cmsg fills it.
type cmsgBuf struct {
	room   int
	msgs   []Cmsg
	ctrunc bool
}

// putCmsg mirrors put_cmsg: no room for a header sets MSG_CTRUNC and
// writes nothing; room for less than CMSG_LEN(len) sets MSG_CTRUNC and
// writes what fits; the buffer then advances by CMSG_SPACE(len), or to
// its end.
func (cb *cmsgBuf) putCmsg(level, typ int, name string, data []byte) {
	if cb.room < cmsgHdrLen {
		cb.ctrunc = true
		return
	}
	cmlen := cmsgHdrLen + len(data)
	c := Cmsg{Level: level, Type: typ, Name: name, Data: data}
	if cb.room < cmlen {
		cb.ctrunc = true
		cmlen = cb.room
		c.Data, c.Truncated = data[:cmlen-cmsgHdrLen], true
	}
	cb.msgs = append(cb.msgs, c)
	space := cmsgHdrLen + (len(data)+cmsgAlignTo-1)&^(cmsgAlignTo-1)
	cb.room -= min(space, cb.room)
}

func int32Bytes(v int) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(int32(v)))
	return b
}

// udpCmsgRecv mirrors udp_cmsg_recv: a GSO skb read by a socket with
// UDP_GRO carries its gso_size (SOL_UDP, UDP_GRO, an int).
func (h *Host) udpCmsgRecv(cb *cmsgBuf, r *rskb) {
	if r.gsoSize == 0 {
		return
	}
	cb.putCmsg(SolUDP, udpGRO, "UDP_GRO", int32Bytes(r.gsoSize))
}

// ipCmsgRecvOffset mirrors ip_cmsg_recv_offset: IP_PKTINFO, IP_TTL,
// IP_TOS, IP_RECVOPTS, in that order, for the flags the socket set.
// IP_RETOPTS is ip_options_echo's reply options (ip_options.go).
func (h *Host) ipCmsgRecvOffset(cb *cmsgBuf, sk *Sock, r *rskb) {
	ip := header.IPv4(r.ip)
	f := sk.cmsgFlags
	if f&ipCmsgPktinfo != 0 {
		// struct in_pktinfo: ipi_ifindex, ipi_spec_dst (the local address
		// fib_compute_spec_dst gives a unicast datagram: its
		// destination), ipi_addr (the header's destination).
		b := int32Bytes(h.cfg.Ifindex)
		d := ip.Dst4()
		b = append(append(b, d[:]...), d[:]...)
		cb.putCmsg(SolIP, ipPktinfo, "IP_PKTINFO", b)
	}
	if f&ipCmsgTTL != 0 {
		cb.putCmsg(SolIP, ipTTL, "IP_TTL", int32Bytes(int(ip.TTL())))
	}
	if f&ipCmsgTOS != 0 {
		cb.putCmsg(SolIP, ipTOS, "IP_TOS", []byte{ip.TOS()})
	}
	if f&ipCmsgRecvopts != 0 && r.ihl > header.IPv4MinLen {
		cb.putCmsg(SolIP, ipRecvopts, "IP_RECVOPTS", append([]byte(nil), ip.Options()...))
	}
	if f&ipCmsgRetopts != 0 && r.ihl > header.IPv4MinLen {
		cb.putCmsg(SolIP, ipRetopts, "IP_RETOPTS", ipOptionsEcho(ip.Options()))
	}
}
