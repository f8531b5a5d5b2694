package cmsg

import (
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/errno"
)

// maxOptLen is the most IP option bytes ip_cmsg_send hands to
// ip_options_get: longer IP_RETOPTS data is cut to 40 bytes, not refused.
const maxOptLen = 40

// txRecordMask is SOF_TIMESTAMPING_TX_RECORD_MASK of the running kernel:
// TX_HARDWARE, TX_SOFTWARE, TX_SCHED, TX_ACK and (since 6.16)
// TX_COMPLETION (1<<18), the only flags an SO_TIMESTAMPING cmsg may carry.
const txRecordMask = 1<<0 | 1<<1 | 1<<8 | 1<<9 | 1<<18

// Cookie is what control messages change for one send: the fields of struct
// ipcm_cookie (and its sockcm_cookie) that the IPv4 UDP path uses.
//
// The caller fills the start value the way udp_sendmsg does before it parses
// control messages (ipcm_init_sk, then ipc.gso_size = up->gso_size); Apply
// only overwrites what a message sets.
type Cookie struct {
	// TTL is ipc.ttl, a u8 where 0 means unset: __ip_make_skb then takes the
	// socket's IP_TTL or the route's hop limit. Apply writes only 1..255; a
	// start value (0, or -1 if the caller prefers) passes through unchanged.
	TTL int
	// TOS is ipc.tos; -1 means unset (ipcm_init). Newer kernels start it at
	// the socket's IP_TOS instead (ipcm_init_sk); either start works, since
	// Apply only overwrites it. An IP_TOS cmsg sets all 8 bits, ECN included.
	TOS int
	// Options are the raw IP_RETOPTS bytes of the last such message, at most
	// 40 (ip_cmsg_send truncates), unpadded and uncompiled: package ipopt
	// pads and compiles them as ip_options_get does. They replace the
	// socket's IP_OPTIONS for this send; so does an empty IP_RETOPTS, which
	// leaves HasOptions set and Options empty: the datagram has no options.
	Options    []byte
	HasOptions bool
	// GSOSize is ipc.gso_size; HasGSOSize reports that a UDP_SEGMENT message
	// set it (the start value is the socket's UDP_SEGMENT option). 0 is a
	// valid value: no segmentation for this send.
	GSOSize    uint16
	HasGSOSize bool
	// HasPktInfo reports an IP_PKTINFO message: OIF is ipc.oif (changed only
	// by a non-zero ipi_ifindex) and SpecDst is ipc.addr, the source address
	// for the route lookup (0.0.0.0 lets the route choose).
	HasPktInfo bool
	OIF        int
	SpecDst    [4]byte
	// NeedIP reports that udp_cmsg_send met a message of a level other than
	// SOL_UDP, so udp_sendmsg ran ip_cmsg_send and cleared `connected`: the
	// send does a fresh route lookup instead of using the socket's cache.
	NeedIP bool
	// AllowIPv6 is ip_cmsg_send's allow_ipv6, an input: set for an
	// AF_INET6 socket's send through udp_sendmsg (a v4-mapped or AF_INET
	// destination). Then an IPV6_PKTINFO message with a v4-mapped address
	// acts as IP_PKTINFO (any other address is EINVAL), and every other
	// SOL_IPV6 message is ignored.
	AllowIPv6 bool
}

// OptionsCheck is the compile step of ip_options_get: it receives the raw
// IP_RETOPTS bytes (1..40 of them; an empty message is never compiled) and
// returns an error when ip_options_compile would refuse them. Package ipopt
// provides it. The error's errno, when errno.From finds one, is what the
// send returns; any other error means EINVAL, as in ip_options_get.
type OptionsCheck func(raw []byte) error

// Apply mirrors udp_sendmsg's control-message step: udp_cmsg_send over all
// messages, then, when it reports another level, ip_cmsg_send over all of
// them again. It returns the cookie, or the errno the kernel returns
// (errno.EINVAL, ...) as an error errno.From recognises; on error the
// returned cookie is start. IP_RETOPTS data is not compiled; use ApplyChecked
// to have it checked in the kernel's order.
//
// The msgs are what Parse returned; a buffer Parse refuses fails the send
// with EINVAL before any message takes effect, since udp_cmsg_send checks
// every header with CMSG_OK first. udp_sendmsg skips this step entirely when
// msg_controllen is 0 and when it appends to a pending (corked) datagram.
//
// SOL_SOCKET messages are modelled for a privileged sender (CAP_NET_ADMIN,
// as `udpbuild kernel` runs), which makes SO_MARK and SO_PRIORITY always
// allowed; they, SO_TIMESTAMPING, SCM_DEVMEM_DMABUF, SCM_RIGHTS and
// SCM_CREDENTIALS are accepted and otherwise ignored, since nothing they set
// reaches the frames. SCM_TXTIME and SCM_TS_OPT_ID need socket options no
// scenario sets (SO_TXTIME, SOF_TIMESTAMPING_OPT_ID), so they are EINVAL, as
// is any other SOL_SOCKET type.
func Apply(msgs []Msg, start Cookie) (Cookie, error) {
	return ApplyChecked(msgs, start, nil)
}

// ApplyChecked is Apply with ip_options_get's compile step supplied, so that
// an invalid IP_RETOPTS fails the send where the kernel fails it: at that
// message, even when a later IP_RETOPTS would have replaced it. A nil check
// accepts any option bytes.
func ApplyChecked(msgs []Msg, start Cookie, check OptionsCheck) (Cookie, error) {
	c := start
	needIP, err := udpCmsgSend(msgs, &c)
	if err != nil {
		return start, err
	}
	if !needIP {
		return c, nil
	}
	c.NeedIP = true
	if err := ipCmsgSend(msgs, &c, check); err != nil {
		return start, err
	}
	return c, nil
}

// udpCmsgSend mirrors udp_cmsg_send and __udp_cmsg_send: only SOL_UDP
// messages are looked at, in order, and the first bad one ends the walk;
// any other level only makes the result ask for ip_cmsg_send.
func udpCmsgSend(msgs []Msg, c *Cookie) (needIP bool, err error) {
	for i, m := range msgs {
		if m.Level != SolUDP {
			needIP = true
			continue
		}
		switch m.Type {
		case UDPSegment:
			if len(m.Data) != 2 {
				return false, fmt.Errorf("cmsg %d: UDP_SEGMENT with %d data bytes, want 2: %w", i, len(m.Data), errno.EINVAL)
			}
			c.GSOSize = binary.NativeEndian.Uint16(m.Data)
			c.HasGSOSize = true
		default:
			return false, fmt.Errorf("cmsg %d: unknown SOL_UDP type %d: %w", i, m.Type, errno.EINVAL)
		}
	}
	return needIP, nil
}

// ipCmsgSend mirrors ip_cmsg_send: SOL_SOCKET and SOL_IP messages, and with
// allow_ipv6 (Cookie.AllowIPv6) IPV6_PKTINFO; every other level is ignored
// (SOL_UDP ones were handled by udp_cmsg_send).
func ipCmsgSend(msgs []Msg, c *Cookie, check OptionsCheck) error {
	for i, m := range msgs {
		if m.Level == SolSocket {
			if err := sockCmsgSend(m); err != nil {
				return fmt.Errorf("cmsg %d: %w", i, err)
			}
			continue
		}
		if m.Level == SolIPv6 && c.AllowIPv6 && m.Type == IPv6PktInfo {
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			if len(m.Data) < 20 {
				return fmt.Errorf("cmsg %d: IPV6_PKTINFO with %d data bytes, want 20: %w", i, len(m.Data), errno.EINVAL)
			}
			if [12]byte(m.Data[:12]) != [12]byte{10: 0xff, 11: 0xff} {
				return fmt.Errorf("cmsg %d: IPV6_PKTINFO on an IPv4 send needs a v4-mapped address: %w", i, errno.EINVAL)
			}
			if ifindex := int32(binary.NativeEndian.Uint32(m.Data[16:])); ifindex != 0 {
				c.OIF = int(ifindex)
			}
			copy(c.SpecDst[:], m.Data[12:16])
			c.HasPktInfo = true
			continue
		}
		if m.Level != SolIP {
			continue
		}
		switch m.Type {
		case IPRetOpts:
			raw := m.Data[:min(len(m.Data), maxOptLen)]
			if len(raw) > 0 && check != nil {
				if err := check(raw); err != nil {
					if _, ok := errno.From(err); ok {
						return fmt.Errorf("cmsg %d: IP_RETOPTS: %w", i, err)
					}
					return fmt.Errorf("cmsg %d: IP_RETOPTS: %v: %w", i, err, errno.EINVAL)
				}
			}
			// ip_options_get replaces any earlier options of this send.
			c.Options = append([]byte{}, raw...)
			c.HasOptions = true
		case IPPktInfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			if len(m.Data) != 12 {
				return fmt.Errorf("cmsg %d: IP_PKTINFO with %d data bytes, want 12: %w", i, len(m.Data), errno.EINVAL)
			}
			if ifindex := int32(binary.NativeEndian.Uint32(m.Data)); ifindex != 0 {
				c.OIF = int(ifindex)
			}
			copy(c.SpecDst[:], m.Data[4:8])
			c.HasPktInfo = true
		case IPTTL:
			v, err := intData(m, i, "IP_TTL")
			if err != nil {
				return err
			}
			if v < 1 || v > 255 {
				return fmt.Errorf("cmsg %d: IP_TTL %d outside 1..255: %w", i, v, errno.EINVAL)
			}
			c.TTL = int(v)
		case IPTOS:
			var v int32
			switch len(m.Data) {
			case 4:
				v = int32(binary.NativeEndian.Uint32(m.Data))
			case 1:
				v = int32(m.Data[0])
			default:
				return fmt.Errorf("cmsg %d: IP_TOS with %d data bytes, want 4 or 1: %w", i, len(m.Data), errno.EINVAL)
			}
			if v < 0 || v > 255 {
				return fmt.Errorf("cmsg %d: IP_TOS %d outside 0..255: %w", i, v, errno.EINVAL)
			}
			c.TOS = int(v)
		case IPProtocol:
			// Checked, then ignored: udp_sendmsg routes with sk_protocol.
			v, err := intData(m, i, "IP_PROTOCOL")
			if err != nil {
				return err
			}
			if v < 1 || v > 255 {
				return fmt.Errorf("cmsg %d: IP_PROTOCOL %d outside 1..255: %w", i, v, errno.EINVAL)
			}
		default:
			return fmt.Errorf("cmsg %d: unknown SOL_IP type %d: %w", i, m.Type, errno.EINVAL)
		}
	}
	return nil
}

// intData reads the int payload of a message that must be CMSG_LEN(sizeof(int)).
func intData(m Msg, i int, name string) (int32, error) {
	if len(m.Data) != 4 {
		return 0, fmt.Errorf("cmsg %d: %s with %d data bytes, want 4: %w", i, name, len(m.Data), errno.EINVAL)
	}
	return int32(binary.NativeEndian.Uint32(m.Data)), nil
}

// sockCmsgSend mirrors __sock_cmsg_send of the running kernel for a UDP
// socket with no SO_TXTIME and no SOF_TIMESTAMPING_OPT_ID, sent by a
// privileged process (see Apply). Nothing it accepts changes the frames.
func sockCmsgSend(m Msg) error {
	switch m.Type {
	case SOMark, SOPriority, SCMDevmemDMABuf:
		// SO_MARK: capability check (passes), then CMSG_LEN(sizeof(u32)).
		// SO_PRIORITY: CMSG_LEN(sizeof(u32)), then sk_set_prio_allowed.
		if len(m.Data) != 4 {
			return fmt.Errorf("SOL_SOCKET type %d with %d data bytes, want 4: %w", m.Type, len(m.Data), errno.EINVAL)
		}
	case SOTimestampingOld, SOTimestampingNew:
		if len(m.Data) != 4 {
			return fmt.Errorf("SO_TIMESTAMPING with %d data bytes, want 4: %w", len(m.Data), errno.EINVAL)
		}
		if f := binary.NativeEndian.Uint32(m.Data); f&^txRecordMask != 0 {
			return fmt.Errorf("SO_TIMESTAMPING flags %#x outside the TX record mask %#x: %w", f, txRecordMask, errno.EINVAL)
		}
	case SCMTxTime:
		return fmt.Errorf("SCM_TXTIME without SO_TXTIME: %w", errno.EINVAL)
	case SCMTSOptID:
		return fmt.Errorf("SCM_TS_OPT_ID without SOF_TIMESTAMPING_OPT_ID: %w", errno.EINVAL)
	case SCMRights, SCMCredentials:
		// Semantically SOL_UNIX messages: accepted whatever their length.
	default:
		return fmt.Errorf("unknown SOL_SOCKET type %d: %w", m.Type, errno.EINVAL)
	}
	return nil
}
