package scenario

import (
	"math"
	"net/netip"
)

// This file holds the receiving side of a scenario (docs/scenario.md, "The
// receiving side"): the peer's device, sysctls and sockets, and the recv
// steps that read from them.

// Peer describes the receiving host: its device's GRO, its sysctls and its
// sockets. A Scenario without one (Scenario.Peer nil) has the default
// sockets (DefaultPeerSockets) and a silent peer that sends no ICMP error,
// as every scenario had before the receiving side existed.
type Peer struct {
	// Features are the peer device's features (GRO), in file order.
	Features []PeerFeature
	// Sysctl are net.ipv4 / net.ipv6 sysctls of the peer's namespace, set
	// in file order before the link comes up (see PeerSysctls).
	Sysctl []Sysctl
	// Sockets are the peer's sockets; nil means the defaults
	// (DefaultPeerSockets), an empty non-nil slice means none at all
	// (`sockets: []`): every datagram then meets a closed port.
	Sockets []PeerSocket
}

// PeerFeature is a feature of the peer's device.
type PeerFeature string

// GRO is generic receive offload on the peer's veth (NETIF_F_GRO), set up
// as the kernel's tools/testing/selftests/net/udpgro.sh does it.
const GRO PeerFeature = "gro"

// Has reports whether the peer device has feature f.
func (p *Peer) Has(f PeerFeature) bool {
	if p == nil {
		return false
	}
	for _, g := range p.Features {
		if g == f {
			return true
		}
	}
	return false
}

// Sysctl is one peer sysctl, by its name in the table PeerSysctls.
type Sysctl struct {
	Name  string
	Value int64
	Line  int
}

// PeerSysctl is one sysctl a scenario may set on the peer.
type PeerSysctl struct {
	// Name is the scenario's key: the net.ipv4 name ("icmp_ratelimit") or
	// "ipv6." and the net.ipv6 name ("ipv6.icmp.ratelimit").
	Name string
	// Paths are the sysctl keys written, in order (rp_filter is set on
	// "all" and "default", before the peer's device exists, so that the
	// device inherits it).
	Paths []string
	// Lo and Hi bound the value as the kernel's proc handler does.
	Lo, Hi int64
}

// PeerSysctls is the allow-list of peer sysctls: each exists in every
// network namespace on Linux 6.18 (they are per-namespace there), and
// each bears on what the receiving side does.
var PeerSysctls = [...]PeerSysctl{
	{"rp_filter", []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"}, 0, 2},
	{"icmp_ratelimit", []string{"net.ipv4.icmp_ratelimit"}, 0, math.MaxInt32},
	{"icmp_ratemask", []string{"net.ipv4.icmp_ratemask"}, 0, math.MaxInt32},
	{"icmp_msgs_per_sec", []string{"net.ipv4.icmp_msgs_per_sec"}, 0, math.MaxInt32},
	{"icmp_msgs_burst", []string{"net.ipv4.icmp_msgs_burst"}, 0, math.MaxInt32},
	{"icmp_errors_use_inbound_ifaddr", []string{"net.ipv4.icmp_errors_use_inbound_ifaddr"}, 0, 1},
	{"udp_rmem_min", []string{"net.ipv4.udp_rmem_min"}, 1, math.MaxInt32},
	{"udp_early_demux", []string{"net.ipv4.udp_early_demux"}, 0, 1},
	{"ipfrag_high_thresh", []string{"net.ipv4.ipfrag_high_thresh"}, 0, math.MaxInt32},
	{"ipfrag_low_thresh", []string{"net.ipv4.ipfrag_low_thresh"}, 0, math.MaxInt32},
	{"ipfrag_time", []string{"net.ipv4.ipfrag_time"}, 0, math.MaxInt32},
	{"ipfrag_max_dist", []string{"net.ipv4.ipfrag_max_dist"}, 0, math.MaxInt32},
	{"ipv6.icmp.ratelimit", []string{"net.ipv6.icmp.ratelimit"}, 0, math.MaxInt32},
	{"ipv6.ip6frag_high_thresh", []string{"net.ipv6.ip6frag_high_thresh"}, 0, math.MaxInt32},
	{"ipv6.ip6frag_low_thresh", []string{"net.ipv6.ip6frag_low_thresh"}, 0, math.MaxInt32},
	{"ipv6.ip6frag_time", []string{"net.ipv6.ip6frag_time"}, 0, math.MaxInt32},
}

// PeerSysctlOf finds the allow-list entry named name.
func PeerSysctlOf(name string) (PeerSysctl, bool) {
	return find(PeerSysctls[:], func(s PeerSysctl) string { return s.Name }, name)
}

func peerSysctlNames() string {
	return joined(PeerSysctls[:], func(s PeerSysctl) string { return s.Name })
}

// PeerSocket is one socket of the peer, created, set up, bound and
// (optionally) connected before the first step, in this order: SO_RCVBUF
// (Rcvbuf), the Setsockopt list, bind, connect. Every peer socket also
// gets SO_RCVTIMEO of 100 ms (RecvTimeout).
type PeerSocket struct {
	Proto Proto
	// Bind is the bound address: the wildcard (0.0.0.0, ::) or one of the
	// peer's addresses. An IPv6 address (:: included) makes an AF_INET6
	// socket.
	Bind netip.AddrPort
	// Connect, when valid, is connect()'s address: a connected receiver.
	Connect netip.AddrPort
	// Rcvbuf, when non-nil, is SO_RCVBUF as the program passes it (the
	// kernel doubles it, sk_setsockopt).
	Rcvbuf *int
	// Setsockopt is applied in order, after Rcvbuf, before bind.
	Setsockopt []Opt
	// Line is the scenario file line, for messages.
	Line int
}

// IPv6 reports whether the socket is AF_INET6.
func (p PeerSocket) IPv6() bool { return p.Bind.Addr().Is6() }

// RecvTimeoutMillis is SO_RCVTIMEO of every peer socket: a recv that
// would block returns EAGAIN after it.
const RecvTimeoutMillis = 100

// PeerSockets returns the peer's sockets: peer.sockets as the file gives
// them, or the defaults (DefaultPeerSockets) when it gives none.
func (sc *Scenario) PeerSockets() []PeerSocket {
	if sc.Peer != nil && sc.Peer.Sockets != nil {
		return sc.Peer.Sockets
	}
	return sc.DefaultPeerSockets()
}

// DefaultPeerSockets are the sockets of a peer that the scenario does not
// describe: for the destination port (socket.dst's, else the first port a
// send names, else DefaultDst's), a UDP socket (index 0) and a UDP-Lite
// socket (index 1) bound to the wildcard; then for every further port a
// send names (in order of first appearance) another UDP and UDP-Lite pair,
// so that nothing the sender sends meets a closed port. The wildcard is
// "[::]" (dual-stack: it receives IPv4 too) on a dual-stack link, else
// 0.0.0.0.
func (sc *Scenario) DefaultPeerSockets() []PeerSocket {
	var ports []uint16
	add := func(ap netip.AddrPort) {
		if !ap.IsValid() || ap.Port() == 0 {
			return
		}
		for _, p := range ports {
			if p == ap.Port() {
				return
			}
		}
		ports = append(ports, ap.Port())
	}
	add(sc.Socket.Dst)
	for _, st := range sc.Steps {
		if st.Send != nil {
			add(st.Send.To)
		}
	}
	if len(ports) == 0 {
		ports = []uint16{DefaultDst.Port()}
	}
	wild := netip.IPv4Unspecified()
	if sc.DualStack() {
		wild = netip.IPv6Unspecified()
	}
	out := make([]PeerSocket, 0, 2*len(ports))
	for _, p := range ports {
		for _, proto := range []Proto{UDP, UDPLite} {
			out = append(out, PeerSocket{Proto: proto, Bind: netip.AddrPortFrom(wild, p)})
		}
	}
	return out
}

// RecvAll is Recv.Count for `count: all`: read until EAGAIN.
const RecvAll = -1

// MaxRecvCalls bounds the recvmsg calls of one recv step (count: N, and
// count: all, which stops there if the queue never empties).
const MaxRecvCalls = 100000

// The recv step's defaults and limits.
const (
	// DefaultRecvLen is the buffer a recv passes when the file names none:
	// 65536 bytes, more than any UDP payload, GRO's coalesced ones (at
	// most 65535 bytes of IP packet) included.
	DefaultRecvLen = 65536
	// DefaultCmsgLen is the control buffer a recv passes by default.
	DefaultCmsgLen = 1024
	// MaxRecvLen and MaxCmsgLen bound what a file may ask for.
	MaxRecvLen = MaxPayload
	MaxCmsgLen = 65536
)

// Recv is one recv step: Count recvmsg() calls on peer socket Socket, or
// on the sender's socket with MSG_ERRQUEUE (ErrQueue).
type Recv struct {
	// Socket indexes PeerSockets(); unused with ErrQueue.
	Socket int
	// Len is the data buffer's size, CmsgLen the control buffer's.
	Len, CmsgLen int
	// Flags is the flags argument (unix.MSG_* values of recvFlags).
	Flags int
	// Count is the number of calls, or RecvAll.
	Count int
	// ErrQueue reads the sender socket's error queue (MSG_ERRQUEUE is
	// added to Flags by the runner); it never blocks.
	ErrQueue bool
	// Expect, when non-nil, is what the step (its last call) must return.
	Expect *Expect
}

// SockType is the type argument of the sender's socket() call: a SOCK_*
// type ORed with SOCK_NONBLOCK / SOCK_CLOEXEC. Zero means SOCK_DGRAM.
type SockType int

// The socket() type bits a scenario may name (<linux/net.h>).
const (
	SockStream    SockType = 1
	SockDgram     SockType = 2
	SockRaw       SockType = 3
	SockRDM       SockType = 4
	SockSeqpacket SockType = 5
	SockDCCP      SockType = 6
	SockPacket    SockType = 10
	// SockMax is SOCK_MAX: __sock_create answers EINVAL from it up.
	SockMax SockType = 11
	// SockTypeMask is SOCK_TYPE_MASK: the bits above it are flags.
	SockTypeMask SockType = 0xf
	SockNonblock SockType = 0o4000    // O_NONBLOCK
	SockCloexec  SockType = 0o2000000 // O_CLOEXEC
)

// Value is the type argument socket() is called with.
func (t SockType) Value() int {
	if t == 0 {
		return int(SockDgram)
	}
	return int(t)
}

// sockTypeNames are the names a socket.type may combine, in the order
// Marshal writes them.
var sockTypeNames = [...]struct {
	name string
	bits SockType
}{
	{"SOCK_STREAM", SockStream}, {"SOCK_DGRAM", SockDgram}, {"SOCK_RAW", SockRaw}, {"SOCK_RDM", SockRDM},
	{"SOCK_SEQPACKET", SockSeqpacket}, {"SOCK_DCCP", SockDCCP}, {"SOCK_PACKET", SockPacket},
	{"SOCK_NONBLOCK", SockNonblock}, {"SOCK_CLOEXEC", SockCloexec},
}

// The address families a socket.family may name; others are numbers.
const (
	AFUnspec = 0
	AFInet   = 2
	AFInet6  = 10
	// AFMax is AF_MAX (NPROTO) on Linux 6.18: __sock_create answers
	// EAFNOSUPPORT for a family outside 0..AFMax-1.
	AFMax = 46
)
