package scenario

import "net/netip"

// Defaults of the spec: what a scenario gets for what its file leaves out.
// Both runners, the model and the kernel, take them from here.
var (
	DefaultSrc = netip.MustParseAddrPort("10.0.0.1:40000")
	DefaultDst = netip.MustParseAddrPort("10.0.0.2:9000")
	// DefaultSrc6 and DefaultDst6 are an IPv6 scenario's. The link carries
	// both families whatever the socket: the sender holds DefaultSrc's and
	// DefaultSrc6's addresses (10.0.0.1/24, fd00::1/64), the peer
	// DefaultDst's and DefaultDst6's, so that a socket bound to the
	// wildcard "::" sends from fd00::1, or from 10.0.0.1 to a v4-mapped
	// peer, as the kernel's source address selection picks them.
	DefaultSrc6 = netip.MustParseAddrPort("[fd00::1]:40000")
	DefaultDst6 = netip.MustParseAddrPort("[fd00::2]:9000")
	// DualStackPrefix4 is the sender's IPv4 address on a dual-stack link
	// (see DualStack), with its prefix: 10.0.0.255 is then the subnet's
	// broadcast address, which a socket without SO_BROADCAST may not send
	// to (EACCES).
	DualStackPrefix4 = netip.MustParsePrefix("10.0.0.1/24")
	// DefaultSrcMAC and DefaultDstMAC are the link's two ends, as
	// udpbuild kernel gives them to its veth pair.
	DefaultSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	DefaultDstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// The link MTU: the default when the file names none, and the range a file
// may name (IPV4_MIN_MTU up to the largest IPv4 packet). Below IPv6MinMTU
// (IPV6_MIN_MTU) the kernel takes IPv6 off the link (addrconf_notify
// on NETDEV_CHANGEMTU), and an IPv6 socket's sends fail as it answers.
const (
	DefaultMTU = 1500
	MinMTU     = 68
	MaxMTU     = 65535
	IPv6MinMTU = 1280
)

// MACs are the link's source and destination MAC addresses, the defaults
// where the scenario names none.
func (l Link) MACs() (src, dst [6]byte) {
	src, dst = DefaultSrcMAC, DefaultDstMAC
	if len(l.SrcMAC) == 6 {
		src = [6]byte(l.SrcMAC)
	}
	if len(l.DstMAC) == 6 {
		dst = [6]byte(l.DstMAC)
	}
	return src, dst
}
