package report

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/udpbuild/udpbuild/errno"
)

// RenderCmsg renders one received control message (its level, type and
// the data cmsg_len covers, possibly cut short by a small control buffer,
// MSG_CTRUNC) as Cmsg documents: by name where the data holds the value,
// otherwise "level=L type=T" with the bytes in hex. The model renders its
// own control messages with it, so that they read as the kernel runner's
// (kernel/peer.go renderCmsg, whose rules these are: the two should become
// one).
func RenderCmsg(level, typ int, d []byte) Cmsg {
	const (
		solIP, solIPv6, solUDP                     = 0, 41, 17
		ipTOS, ipTTL, ipRecvopts, ipRetopts, ipPkt = 1, 2, 6, 7, 8
		udpGRO                                     = 104
		ipv6Pktinfo, ipv6Hoplimit, ipv6Tclass      = 50, 52, 67
		ipRecvErr, ipv6RecvErr                     = 11, 25
	)
	u32 := func() string {
		if len(d) < 4 {
			return hex.EncodeToString(d)
		}
		return strconv.Itoa(int(int32(binary.NativeEndian.Uint32(d))))
	}
	switch {
	case level == solUDP && typ == udpGRO:
		return Cmsg{Name: "UDP_GRO", Value: u32()}
	case level == solIP && typ == ipTOS && len(d) >= 1:
		return Cmsg{Name: "IP_TOS", Value: fmt.Sprintf("%#02x", d[0])}
	case level == solIP && typ == ipTTL:
		return Cmsg{Name: "IP_TTL", Value: u32()}
	case level == solIP && typ == ipPkt && len(d) >= 12:
		return Cmsg{Name: "IP_PKTINFO", Value: fmt.Sprintf("ifindex=%d spec_dst=%s addr=%s",
			int32(binary.NativeEndian.Uint32(d[0:4])), netip.AddrFrom4([4]byte(d[4:8])), netip.AddrFrom4([4]byte(d[8:12])))}
	case level == solIP && typ == ipRecvopts:
		return Cmsg{Name: "IP_RECVOPTS", Value: hex.EncodeToString(d)}
	case level == solIP && typ == ipRetopts:
		return Cmsg{Name: "IP_RETOPTS", Value: hex.EncodeToString(d)}
	case level == solIP && typ == ipRecvErr:
		return Cmsg{Name: "IP_RECVERR", Value: extendedErr(d)}
	case level == solIPv6 && typ == ipv6RecvErr:
		return Cmsg{Name: "IPV6_RECVERR", Value: extendedErr(d)}
	case level == solIPv6 && typ == ipv6Pktinfo && len(d) >= 20:
		return Cmsg{Name: "IPV6_PKTINFO", Value: fmt.Sprintf("ifindex=%d addr=%s",
			int32(binary.NativeEndian.Uint32(d[16:20])), netip.AddrFrom16([16]byte(d[0:16])))}
	case level == solIPv6 && typ == ipv6Tclass && len(d) >= 4:
		return Cmsg{Name: "IPV6_TCLASS", Value: fmt.Sprintf("%#02x", binary.NativeEndian.Uint32(d))}
	case level == solIPv6 && typ == ipv6Hoplimit:
		return Cmsg{Name: "IPV6_HOPLIMIT", Value: u32()}
	}
	return Cmsg{Name: fmt.Sprintf("level=%d type=%d", level, typ), Value: "hex=" + hex.EncodeToString(d)}
}

// eeOrigins names sock_extended_err's ee_origin (SO_EE_ORIGIN_*).
var eeOrigins = [...]string{"none", "local", "icmp", "icmp6", "txstatus", "zerocopy", "txtime"}

// extendedErr renders a struct sock_extended_err and the offender's
// address that follows it (SO_EE_OFFENDER), as much as the data holds.
func extendedErr(d []byte) string {
	if len(d) < 16 {
		return "hex=" + hex.EncodeToString(d)
	}
	origin := strconv.Itoa(int(d[4]))
	if int(d[4]) < len(eeOrigins) {
		origin = eeOrigins[d[4]]
	}
	s := fmt.Sprintf("ee_errno=%s origin=%s type=%d code=%d info=%d data=%d",
		errno.Errno(binary.NativeEndian.Uint32(d[0:4])).Name(), origin, d[5], d[6],
		binary.NativeEndian.Uint32(d[8:12]), binary.NativeEndian.Uint32(d[12:16]))
	off := d[16:]
	if len(off) >= 2 {
		switch binary.NativeEndian.Uint16(off) {
		case 2: // AF_INET: family, port, address
			if len(off) >= 8 {
				s += " offender=" + netip.AddrFrom4([4]byte(off[4:8])).String()
			}
		case 10: // AF_INET6: family, port, flowinfo, address
			if len(off) >= 24 {
				s += " offender=" + netip.AddrFrom16([16]byte(off[8:24])).String()
			}
		}
	}
	return s
}
