// Package cmsg models sendmsg() control messages on the IPv4 UDP send path:
// the raw msg_control buffer a C program passes (Build, Marshal), the walk the
// kernel makes over it (Parse: for_each_cmsghdr + CMSG_OK), and what the
// messages do to one send (Apply: udp_cmsg_send, then ip_cmsg_send and
// __sock_cmsg_send, as udp_sendmsg calls them).
//
// The layout is the 64-bit Linux one (x86-64, arm64): struct cmsghdr is
// {u64 cmsg_len; i32 cmsg_level; i32 cmsg_type}, 16 bytes, and CMSG_ALIGN
// rounds to sizeof(long) = 8. Integer payloads are in the host's byte order,
// as the kernel reads them with a plain load (*(int *)CMSG_DATA(cmsg)).
//
// The behaviour is that of the running 6.18 kernel, checked by
// kernel_linux_test.go against real sendmsg() calls; where it differs from
// older sources (SO_PRIORITY, SCM_DEVMEM_DMABUF and the TX_COMPLETION
// timestamping flag are accepted in SOL_SOCKET cmsgs) the comments say so.
package cmsg

import (
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
)

// Levels (setsockopt levels, include/linux/socket.h). They are fixed by the
// ABI, so the model does not depend on the host's headers.
const (
	SolSocket = 1  // SOL_SOCKET (asm-generic/socket.h)
	SolIP     = 0  // SOL_IP
	SolUDP    = 17 // SOL_UDP
	SolIPv6   = 41 // SOL_IPV6
)

// Types the model understands (uapi linux/in.h, linux/udp.h,
// asm-generic/socket.h; the SOL_SOCKET numbers are those of x86-64 and
// arm64, which share the asm-generic values).
const (
	IPTOS      = 1   // IP_TOS
	IPTTL      = 2   // IP_TTL
	IPRetOpts  = 7   // IP_RETOPTS: the sendmsg() form of IP_OPTIONS
	IPPktInfo  = 8   // IP_PKTINFO
	IPProtocol = 52  // IP_PROTOCOL (raw sockets use it; UDP ignores it)
	UDPSegment = 103 // UDP_SEGMENT

	// IPv6 (uapi linux/in6.h, linux/ipv6.h): the types
	// ip6_datagram_send_ctl reads.
	IPv6FlowInfo     = 11 // IPV6_FLOWINFO
	IPv6PktInfo      = 50 // IPV6_PKTINFO
	IPv6HopLimit     = 52 // IPV6_HOPLIMIT
	IPv6HopOpts      = 54 // IPV6_HOPOPTS
	IPv6RthdrDstOpts = 55 // IPV6_RTHDRDSTOPTS
	IPv6Rthdr        = 57 // IPV6_RTHDR
	IPv6DstOpts      = 59 // IPV6_DSTOPTS
	IPv6DontFrag     = 62 // IPV6_DONTFRAG
	IPv6TClass       = 67 // IPV6_TCLASS

	SCMRights         = 1  // SCM_RIGHTS
	SCMCredentials    = 2  // SCM_CREDENTIALS
	SOPriority        = 12 // SO_PRIORITY
	SOMark            = 36 // SO_MARK
	SOTimestampingOld = 37 // SO_TIMESTAMPING_OLD (SO_TIMESTAMPING on 64-bit)
	SCMTxTime         = 61 // SCM_TXTIME
	SOTimestampingNew = 65 // SO_TIMESTAMPING_NEW
	SCMDevmemDMABuf   = 79 // SCM_DEVMEM_DMABUF
	SCMTSOptID        = 81 // SCM_TS_OPT_ID
)

// HdrLen is sizeof(struct cmsghdr) on 64-bit Linux.
const HdrLen = 16

// Align is CMSG_ALIGN: round up to sizeof(long).
func Align(n int) int { return (n + 7) &^ 7 }

// Len is CMSG_LEN: the cmsg_len of a message carrying n data bytes.
func Len(n int) int { return HdrLen + n }

// Space is CMSG_SPACE: the buffer space one message with n data bytes takes.
func Space(n int) int { return HdrLen + Align(n) }

// Msg is one control message header + data as the kernel sees it.
type Msg struct {
	Level, Type int32
	// Data is CMSG_DATA: cmsg_len - sizeof(struct cmsghdr) bytes. Parse
	// returns slices of its input buffer (capacity clipped), not copies.
	Data []byte
}

// DefaultOptmemMax is the default of the net.core.optmem_max sysctl since
// Linux 6.9 (128 KiB), which bounds a msg_control buffer.
const DefaultOptmemMax = 131072

// ctlOnStack is the size of the on-stack buffer ____sys_sendmsg uses before
// it needs sock_kmalloc: sizeof(struct cmsghdr) + 20.
const ctlOnStack = HdrLen + 20

// CheckControlLen mirrors the msg_controllen checks of ____sys_sendmsg, made
// before the protocol's sendmsg runs: a length above INT_MAX, or one that
// does not fit the stack buffer and that sock_kmalloc refuses (size at or
// above optmem_max, for a socket with no other option memory charged) is
// ENOBUFS. optmemMax <= 0 means DefaultOptmemMax.
func CheckControlLen(n, optmemMax int) error {
	if optmemMax <= 0 {
		optmemMax = DefaultOptmemMax
	}
	if n < 0 || int64(n) > 1<<31-1 {
		return fmt.Errorf("msg_controllen %d above INT_MAX: %w", n, errno.ENOBUFS)
	}
	// sock_kmalloc: size <= optmem_max && sk_omem_alloc + size < optmem_max.
	if n > ctlOnStack && n >= optmemMax {
		return fmt.Errorf("msg_controllen %d: sock_kmalloc over optmem_max %d: %w", n, optmemMax, errno.ENOBUFS)
	}
	return nil
}

// Marshal encodes messages the way a C program does with CMSG_SPACE and
// CMSG_LEN: each header carries cmsg_len = CMSG_LEN(len(Data)), each message
// takes CMSG_SPACE(len(Data)) bytes (zero padded), and msg_controllen is the
// sum. No messages give nil, i.e. msg_controllen 0.
func Marshal(msgs []Msg) []byte {
	n := 0
	for _, m := range msgs {
		n += Space(len(m.Data))
	}
	if n == 0 {
		return nil
	}
	buf := make([]byte, n)
	off := 0
	for _, m := range msgs {
		binary.NativeEndian.PutUint64(buf[off:], uint64(Len(len(m.Data))))
		binary.NativeEndian.PutUint32(buf[off+8:], uint32(m.Level))
		binary.NativeEndian.PutUint32(buf[off+12:], uint32(m.Type))
		copy(buf[off+HdrLen:], m.Data)
		off += Space(len(m.Data))
	}
	return buf
}

// Build encodes scenario control messages into a raw msg_control buffer
// (64-bit Linux layout), byte-identical to what a C program using
// CMSG_SPACE/CMSG_LEN would pass:
//
//	UDP_SEGMENT       -> SOL_UDP(17)/UDP_SEGMENT(103), u16
//	IP_TTL            -> SOL_IP(0)/IP_TTL(2), int
//	IP_TOS            -> SOL_IP(0)/IP_TOS(1), int, or one byte when Size == 1
//	IP_OPTIONS        -> SOL_IP(0)/IP_RETOPTS(7), Bytes as given
//	IPV6_TCLASS       -> SOL_IPV6(41)/IPV6_TCLASS(67), int
//	IPV6_HOPLIMIT     -> SOL_IPV6(41)/IPV6_HOPLIMIT(52), int
//	IPV6_DONTFRAG     -> SOL_IPV6(41)/IPV6_DONTFRAG(62), int
//	IPV6_FLOWINFO     -> SOL_IPV6(41)/IPV6_FLOWINFO(11), __be32 (network order)
//	IPV6_PKTINFO      -> SOL_IPV6(41)/IPV6_PKTINFO(50), struct in6_pktinfo:
//	                     Addr, then ifindex (an int in host order)
//	IPV6_HOPOPTS, IPV6_DSTOPTS, IPV6_RTHDRDSTOPTS, IPV6_RTHDR
//	                  -> SOL_IPV6(41)/54, 59, 55, 57, Bytes as given
//
// ifindex is the link's interface index, which IPV6_PKTINFO carries.
// Size, when 1..8, overrides the payload width of the integer messages (the
// value is written as a two's-complement integer of that many bytes in host
// order), so a scenario can provoke the kernel's length checks; otherwise the
// width is the one above. A message of an unknown Type is skipped: the
// scenario loader rejects those.
func Build(msgs []scenario.Cmsg, ifindex int) []byte {
	out := make([]Msg, 0, len(msgs))
	for _, c := range msgs {
		if m, ok := FromScenario(c, ifindex); ok {
			out = append(out, m)
		}
	}
	return Marshal(out)
}

// FromScenario converts one scenario control message to its kernel form (see
// Build). ok is false for an unknown Type.
func FromScenario(c scenario.Cmsg, ifindex int) (m Msg, ok bool) {
	width := func(def int) int {
		if c.Size >= 1 && c.Size <= 8 {
			return c.Size
		}
		return def
	}
	switch c.Type {
	case scenario.CmsgUDPSegment:
		return Msg{Level: SolUDP, Type: UDPSegment, Data: putInt(c.Int, width(2))}, true
	case scenario.CmsgIPTTL:
		return Msg{Level: SolIP, Type: IPTTL, Data: putInt(c.Int, width(4))}, true
	case scenario.CmsgIPTOS:
		return Msg{Level: SolIP, Type: IPTOS, Data: putInt(c.Int, width(4))}, true
	case scenario.CmsgIPOptions:
		return Msg{Level: SolIP, Type: IPRetOpts, Data: append([]byte{}, c.Bytes...)}, true
	case scenario.CmsgIPv6TClass:
		return Msg{Level: SolIPv6, Type: IPv6TClass, Data: putInt(c.Int, width(4))}, true
	case scenario.CmsgIPv6HopLimit:
		return Msg{Level: SolIPv6, Type: IPv6HopLimit, Data: putInt(c.Int, width(4))}, true
	case scenario.CmsgIPv6DontFrag:
		return Msg{Level: SolIPv6, Type: IPv6DontFrag, Data: putInt(c.Int, width(4))}, true
	case scenario.CmsgIPv6FlowInfo:
		// ip6_datagram_send_ctl reads a __be32: the label in network order.
		return Msg{Level: SolIPv6, Type: IPv6FlowInfo, Data: binary.BigEndian.AppendUint32(nil, uint32(c.Int))}, true
	case scenario.CmsgIPv6PktInfo:
		a := c.Addr.As16()
		d := append(a[:], putInt(ifindex, 4)...)
		return Msg{Level: SolIPv6, Type: IPv6PktInfo, Data: d}, true
	case scenario.CmsgIPv6HopOpts:
		return Msg{Level: SolIPv6, Type: IPv6HopOpts, Data: append([]byte{}, c.Bytes...)}, true
	case scenario.CmsgIPv6DstOpts:
		return Msg{Level: SolIPv6, Type: IPv6DstOpts, Data: append([]byte{}, c.Bytes...)}, true
	case scenario.CmsgIPv6RthdrDstOpts:
		return Msg{Level: SolIPv6, Type: IPv6RthdrDstOpts, Data: append([]byte{}, c.Bytes...)}, true
	case scenario.CmsgIPv6Rthdr:
		return Msg{Level: SolIPv6, Type: IPv6Rthdr, Data: append([]byte{}, c.Bytes...)}, true
	}
	return Msg{}, false
}

// putInt writes v as a two's-complement integer of size bytes (1..8) in the
// host's byte order, as a C program storing it in an integer of that width.
func putInt(v, size int) []byte {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], uint64(int64(v)))
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return append([]byte{}, b[:size]...) // little endian: low bytes first
	}
	return append([]byte{}, b[8-size:]...) // big endian: low bytes last
}

// Parse walks a raw msg_control buffer as the kernel's for_each_cmsghdr does,
// checking each header with CMSG_OK as udp_cmsg_send and ip_cmsg_send do:
//
//   - CMSG_FIRSTHDR: a buffer shorter than a header holds no message (the
//     kernel accepts it and ignores it);
//   - CMSG_OK: cmsg_len must be at least sizeof(struct cmsghdr) and must not
//     reach past the end of the buffer, else the send fails with EINVAL;
//   - __cmsg_nxthdr: the next header starts CMSG_ALIGN(cmsg_len) further on,
//     and the walk ends when a whole header no longer fits (trailing bytes
//     shorter than a header are ignored).
//
// The error, when there is one, is errno.EINVAL wrapped with the offset.
func Parse(buf []byte) ([]Msg, error) {
	var msgs []Msg
	off := 0
	for len(buf)-off >= HdrLen {
		clen := binary.NativeEndian.Uint64(buf[off:])
		if clen < HdrLen {
			return nil, fmt.Errorf("cmsg at offset %d: cmsg_len %d shorter than the header: %w", off, clen, errno.EINVAL)
		}
		if clen > uint64(len(buf)-off) {
			return nil, fmt.Errorf("cmsg at offset %d: cmsg_len %d beyond the %d-byte buffer: %w", off, clen, len(buf), errno.EINVAL)
		}
		end := off + int(clen)
		msgs = append(msgs, Msg{
			Level: int32(binary.NativeEndian.Uint32(buf[off+8:])),
			Type:  int32(binary.NativeEndian.Uint32(buf[off+12:])),
			Data:  buf[off+HdrLen : end : end],
		})
		// __cmsg_nxthdr; clen <= len(buf) so the alignment cannot overflow.
		off += Align(int(clen))
	}
	return msgs, nil
}
