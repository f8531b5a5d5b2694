// Package scenario reads scenario files: one UDP socket's life (the link, the
// socket's set-up, then a sequence of calls), as described in
// docs/scenario.md. The same Scenario drives the Go model (builder) and the
// real kernel (kernel), so that the two can be compared frame by frame.
package scenario

import (
	"net"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
)

// Scenario is a parsed, validated scenario file with defaults applied.
type Scenario struct {
	// Name is free text.
	Name string
	// Path is the file the scenario came from ("" when parsed from bytes).
	Path   string
	Link   Link
	Socket Socket
	// Peer is the receiving side; nil when the file has no peer key (see
	// Peer and PeerSockets).
	Peer  *Peer
	Steps []Step
	// Repeat is how many times the steps run, in order (an extension for
	// long runs: the same calls, the same payloads). At least 1.
	Repeat int
}

// Feature is a NIC feature the simulated device offers.
type Feature string

// The NIC features of the spec, by the kernel's NETIF_F_* names.
const (
	HWCsum   Feature = "hw-csum"    // NETIF_F_HW_CSUM
	IPCsum   Feature = "ip-csum"    // NETIF_F_IP_CSUM
	SG       Feature = "sg"         // NETIF_F_SG
	GSOUDPL4 Feature = "gso-udp-l4" // NETIF_F_GSO_UDP_L4
)

// AllFeatures lists every feature name in the order the spec gives them.
var AllFeatures = [...]Feature{HWCsum, IPCsum, SG, GSOUDPL4}

// Link is the sending device.
type Link struct {
	// MTU is the device MTU, 68..65535; the path MTU equals it.
	MTU int
	// Features are the requested NIC features, deduplicated, in file order.
	Features []Feature
	SrcMAC   net.HardwareAddr
	DstMAC   net.HardwareAddr
}

// Has reports whether f was requested.
func (l Link) Has(f Feature) bool {
	for _, g := range l.Features {
		if g == f {
			return true
		}
	}
	return false
}

// Proto is the socket's protocol.
type Proto string

// The two protocols of a SOCK_DGRAM IPv4 socket that udpbuild models.
const (
	UDP     Proto = "udp"     // IPPROTO_UDP (17)
	UDPLite Proto = "udplite" // IPPROTO_UDPLITE (136)
)

// Number is the IP protocol number.
func (p Proto) Number() uint8 {
	if p == UDPLite {
		return 136
	}
	return 17
}

// PMTUDisc is an IP_MTU_DISCOVER mode.
type PMTUDisc int

// The IP_MTU_DISCOVER values of <linux/in.h>. Interface and omit exist in
// the kernel too; a scenario may name them as an extension.
const (
	PMTUDont      PMTUDisc = 0 // IP_PMTUDISC_DONT
	PMTUWant      PMTUDisc = 1 // IP_PMTUDISC_WANT
	PMTUDo        PMTUDisc = 2 // IP_PMTUDISC_DO
	PMTUProbe     PMTUDisc = 3 // IP_PMTUDISC_PROBE
	PMTUInterface PMTUDisc = 4 // IP_PMTUDISC_INTERFACE
	PMTUOmit      PMTUDisc = 5 // IP_PMTUDISC_OMIT
)

var pmtuNames = map[string]PMTUDisc{"dont": PMTUDont, "want": PMTUWant, "do": PMTUDo, "probe": PMTUProbe, "interface": PMTUInterface, "omit": PMTUOmit}

// String returns the scenario name of the mode ("want").
func (p PMTUDisc) String() string {
	for k, v := range pmtuNames {
		if v == p {
			return k
		}
	}
	return "invalid"
}

// Socket is the socket's set-up before the first step.
type Socket struct {
	Proto Proto
	// Src is the bound address. An IPv6 address (including "::" and a
	// v4-mapped "::ffff:a.b.c.d") makes an AF_INET6 socket; see IPv6.
	Src netip.AddrPort
	// Dst is the destination of sends that name none, and of connect().
	Dst     netip.AddrPort
	Connect bool
	// PMTUDisc is applied with setsockopt(IP_MTU_DISCOVER) before the list.
	PMTUDisc PMTUDisc
	// InetID, when set, is the first IP ID of a connected socket's counter.
	InetID *uint16
	// Flowinfo is sin6_flowinfo of Dst (an IPv6 socket's connect and the
	// msg_name of sends that name no destination of their own): the flow
	// label and traffic class bits as the program writes them.
	Flowinfo uint32
	// Setsockopt is applied in order before the first step.
	Setsockopt []Opt
	// Type is socket()'s type argument (SOCK_DGRAM when zero).
	Type SockType
	// Family, when non-nil, is socket()'s family argument in place of the
	// one src implies: AF_UNSPEC or a number outside Linux's families, so
	// that socket() fails with EAFNOSUPPORT.
	Family *int
}

// IPv6 reports whether the socket is AF_INET6: its source is an IPv6
// address (the wildcard "::" and v4-mapped addresses included).
func (s Socket) IPv6() bool { return s.Src.Addr().Is6() }

// DualStack reports whether the scenario's link carries both families:
// when it uses IPv6 anywhere (an AF_INET6 socket, or an IPv6 or v4-mapped
// dst or msg_name). The sender then holds DualStackPrefix4 and
// fd00::1/64 (DefaultSrc6), the peer 10.0.0.2 and fd00::2; an IPv4-only
// scenario's sender holds its source address alone (a /32), as before
// IPv6 existed.
func (sc *Scenario) DualStack() bool {
	if sc.Socket.IPv6() || sc.Socket.Dst.Addr().Is6() {
		return true
	}
	for _, st := range sc.Steps {
		if st.Send != nil && st.Send.To.Addr().Is6() {
			return true
		}
	}
	return false
}

// OptName names a socket option a scenario can set.
type OptName string

// The socket options of the spec (and IP_MTU_DISCOVER, an extension that
// lets a step change the mode mid-life).
const (
	OptUDPCork        OptName = "UDP_CORK"           // SOL_UDP
	OptUDPSegment     OptName = "UDP_SEGMENT"        // SOL_UDP
	OptIPTOS          OptName = "IP_TOS"             // SOL_IP
	OptIPTTL          OptName = "IP_TTL"             // SOL_IP
	OptIPOptions      OptName = "IP_OPTIONS"         // SOL_IP
	OptIPMTUDiscover  OptName = "IP_MTU_DISCOVER"    // SOL_IP
	OptSONoCheck      OptName = "SO_NO_CHECK"        // SOL_SOCKET
	OptUDPLiteSendCov OptName = "UDPLITE_SEND_CSCOV" // SOL_UDPLITE
	OptUDPLiteRecvCov OptName = "UDPLITE_RECV_CSCOV" // SOL_UDPLITE

	// IPv6 sockets (SOL_IPV6 unless said otherwise).
	OptIPv6MTUDiscover   OptName = "IPV6_MTU_DISCOVER"
	OptIPv6TClass        OptName = "IPV6_TCLASS"
	OptIPv6UnicastHops   OptName = "IPV6_UNICAST_HOPS"
	OptIPv6DontFrag      OptName = "IPV6_DONTFRAG"
	OptIPv6MTU           OptName = "IPV6_MTU"
	OptIPv6FlowinfoSend  OptName = "IPV6_FLOWINFO_SEND"
	OptIPv6AutoFlowlabel OptName = "IPV6_AUTOFLOWLABEL"
	OptIPv6V6Only        OptName = "IPV6_V6ONLY"
	OptIPv6HopOpts       OptName = "IPV6_HOPOPTS"
	OptIPv6DstOpts       OptName = "IPV6_DSTOPTS"
	OptIPv6RthdrDstOpts  OptName = "IPV6_RTHDRDSTOPTS"
	OptIPv6Rthdr         OptName = "IPV6_RTHDR"
	OptUDPNoCheck6TX     OptName = "UDP_NO_CHECK6_TX" // SOL_UDP
	OptUDPNoCheck6RX     OptName = "UDP_NO_CHECK6_RX" // SOL_UDP

	// The error queue: the sender's or a peer socket's (SOL_IP, SOL_IPV6).
	OptIPRecvErr   OptName = "IP_RECVERR"
	OptIPv6RecvErr OptName = "IPV6_RECVERR"

	// The receiving side's options (peer sockets only).
	OptUDPGRO           OptName = "UDP_GRO"           // SOL_UDP
	OptIPPktInfo        OptName = "IP_PKTINFO"        // SOL_IP
	OptIPRecvTOS        OptName = "IP_RECVTOS"        // SOL_IP
	OptIPRecvTTL        OptName = "IP_RECVTTL"        // SOL_IP
	OptIPRecvOpts       OptName = "IP_RECVOPTS"       // SOL_IP
	OptIPRetOpts        OptName = "IP_RETOPTS"        // SOL_IP
	OptIPv6RecvPktInfo  OptName = "IPV6_RECVPKTINFO"  // SOL_IPV6
	OptIPv6RecvTClass   OptName = "IPV6_RECVTCLASS"   // SOL_IPV6
	OptIPv6RecvHopLimit OptName = "IPV6_RECVHOPLIMIT" // SOL_IPV6
	OptSOReusePort      OptName = "SO_REUSEPORT"      // SOL_SOCKET
	OptSORcvBuf         OptName = "SO_RCVBUF"         // SOL_SOCKET
	OptSOReuseAddr      OptName = "SO_REUSEADDR"      // SOL_SOCKET
)

// Opt is one setsockopt call.
type Opt struct {
	Name OptName
	// Int is the int argument (all options but IP_OPTIONS).
	Int int
	// Bytes is the IP_OPTIONS argument, exactly as given to setsockopt.
	Bytes []byte
	// Line is the scenario file line, for messages.
	Line int
}

// Step is one call: exactly one of Send, Recv and Setsockopt is set.
type Step struct {
	Send       *Send
	Setsockopt []Opt
	// Recv reads from a peer socket (or the sender's error queue).
	Recv *Recv
	// ICMP is a path event: the path's error about the last datagram.
	ICMP *ICMP
	// Getsockopt, when not empty, reads an option (IP_MTU, IPV6_MTU).
	Getsockopt OptName
	Line       int
}

// Op is "send", "recv", "icmp", "getsockopt" or "setsockopt".
func (s Step) Op() string {
	switch {
	case s.Send != nil:
		return "send"
	case s.Recv != nil:
		return "recv"
	case s.ICMP != nil:
		return "icmp"
	case s.Getsockopt != "":
		return "getsockopt"
	}
	return "setsockopt"
}

// Send is one sendmsg() call.
type Send struct {
	// Payload is the data; its length may exceed 0xFFFF to provoke EMSGSIZE.
	Payload []byte
	// Flags is the msg_flags bitmask (unix.MSG_* values).
	Flags int
	// Cmsg are the control messages, in order.
	Cmsg []Cmsg
	// To, when valid, is msg_name: a sockaddr_in for an IPv4 address, a
	// sockaddr_in6 for an IPv6 one (v4-mapped included).
	To netip.AddrPort
	// Flowinfo is the sin6_flowinfo of an IPv6 msg_name. The loader sets
	// To to the socket's Dst when a send gives flowinfo but no to.
	Flowinfo uint32
	// Expect, when non-nil, is what the step must return.
	Expect *Expect
	// Index is the k of "the k-th send step" (the pattern payload's seed).
	Index int
}

// CmsgType names a control message a scenario can attach.
type CmsgType string

// The control messages of the spec.
const (
	CmsgUDPSegment CmsgType = "UDP_SEGMENT" // SOL_UDP, u16
	CmsgIPTTL      CmsgType = "IP_TTL"      // SOL_IP, int
	CmsgIPTOS      CmsgType = "IP_TOS"      // SOL_IP, int or u8
	CmsgIPOptions  CmsgType = "IP_OPTIONS"  // SOL_IP IP_RETOPTS

	// IPv6 (SOL_IPV6), read by ip6_datagram_send_ctl.
	CmsgIPv6TClass       CmsgType = "IPV6_TCLASS"       // int
	CmsgIPv6HopLimit     CmsgType = "IPV6_HOPLIMIT"     // int
	CmsgIPv6DontFrag     CmsgType = "IPV6_DONTFRAG"     // int
	CmsgIPv6FlowInfo     CmsgType = "IPV6_FLOWINFO"     // __be32
	CmsgIPv6PktInfo      CmsgType = "IPV6_PKTINFO"      // struct in6_pktinfo
	CmsgIPv6HopOpts      CmsgType = "IPV6_HOPOPTS"      // the header's bytes
	CmsgIPv6DstOpts      CmsgType = "IPV6_DSTOPTS"      // the header's bytes
	CmsgIPv6RthdrDstOpts CmsgType = "IPV6_RTHDRDSTOPTS" // the header's bytes
	CmsgIPv6Rthdr        CmsgType = "IPV6_RTHDR"        // the header's bytes
)

// Cmsg is one control message.
type Cmsg struct {
	Type CmsgType
	// Int is the integer value (all but IP_OPTIONS).
	Int int
	// Size is the payload size in bytes: 2 for UDP_SEGMENT, 4 for IP_TTL and
	// the int form of IP_TOS, 1 for the u8 form of IP_TOS.
	Size int
	// Bytes is the IP_OPTIONS payload, or an IPv6 extension header's.
	Bytes []byte
	// Addr is IPV6_PKTINFO's ipi6_addr (its ipi6_ifindex is the link's).
	Addr netip.Addr
}

// Expect is the expected result of a send.
type Expect struct {
	// Ret is the expected return value when Err is zero.
	Ret int
	Err errno.Errno
}
