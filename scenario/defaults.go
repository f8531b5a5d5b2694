package scenario

import "net/netip"

// Defaults of the spec: what a scenario gets for what its file leaves out.
// Both runners, the model and the kernel, take them from here.
var (
	DefaultSrc = netip.MustParseAddrPort("10.0.0.1:40000")
	DefaultDst = netip.MustParseAddrPort("10.0.0.2:9000")
	// DefaultSrcMAC and DefaultDstMAC are the link's two ends, as
	// udpbuild kernel gives them to its veth pair.
	DefaultSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	DefaultDstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// The link MTU: the default when the file names none, and the range a file
// may name (IPV4_MIN_MTU up to the largest IPv4 packet).
const (
	DefaultMTU = 1500
	MinMTU     = 68
	MaxMTU     = 65535
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
