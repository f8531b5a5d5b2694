// Package builder is udpbuild's model of the Linux IPv4 UDP send path:
// udp_sendmsg -> ip_make_skb / ip_append_data -> udp_send_skb ->
// __ip_make_skb -> ip_finish_output (fragmentation or GSO) ->
// dev_queue_xmit. Each stage keeps the kernel's name so that a reader with
// net/ipv4/udp.c and ip_output.c open beside this package finds the same
// decision in the same place.
//
// The model is deterministic: where the kernel draws random numbers (IP ID
// counters, a connected socket's inet_id) it draws them from a seed.
package builder

import (
	"fmt"

	"github.com/udpbuild/udpbuild/scenario"
)

// Features is a set of NIC features (netdev_features_t, the few that matter
// to the UDP send path).
type Features uint8

// The features, as NETIF_F_* bits.
const (
	FeatHWCsum   Features = 1 << iota // NETIF_F_HW_CSUM
	FeatIPCsum                        // NETIF_F_IP_CSUM
	FeatSG                            // NETIF_F_SG
	FeatGSOUDPL4                      // NETIF_F_GSO_UDP_L4
)

var featureNames = [...]struct {
	f    Features
	name scenario.Feature
}{{FeatHWCsum, scenario.HWCsum}, {FeatIPCsum, scenario.IPCsum}, {FeatSG, scenario.SG}, {FeatGSOUDPL4, scenario.GSOUDPL4}}

// Has reports whether all of g are in f.
func (f Features) Has(g Features) bool { return f&g == g }

// CanChecksum reports whether the device can checksum an IPv4 UDP packet
// (can_checksum_protocol for IPPROTO_UDP over ETH_P_IP).
func (f Features) CanChecksum() bool { return f&(FeatHWCsum|FeatIPCsum) != 0 }

// Names lists the features by their scenario names.
func (f Features) Names() []string {
	out := []string{}
	for _, n := range featureNames {
		if f.Has(n.f) {
			out = append(out, string(n.name))
		}
	}
	return out
}

// FixFeatures mirrors netdev_fix_features for the bits udpbuild models, as
// the running kernel (6.18) applies them: it returns what the kernel leaves
// enabled when asked for req, and a sentence for every requested feature it
// dropped.
//
//   - NETIF_F_HW_CSUM together with NETIF_F_IP_CSUM: the kernel drops the
//     protocol-specific one ("mixed HW and IP checksum settings").
//   - NETIF_F_GSO_UDP_L4 without a checksum feature is dropped: the device
//     could not finish the segments' checksums.
//   - NETIF_F_SG is kept without a checksum feature. (Older kernels dropped
//     it, "Dropping NETIF_F_SG since no checksum feature"; 6.18 does not,
//     measured with ethtool on a veth.)
func FixFeatures(req []scenario.Feature) (Features, []string) {
	var f Features
	for _, r := range req {
		for _, n := range featureNames {
			if n.name == r {
				f |= n.f
			}
		}
	}
	var dropped []string
	if f.Has(FeatHWCsum | FeatIPCsum) {
		f &^= FeatIPCsum
		dropped = append(dropped, "ip-csum: dropped because hw-csum is set (mixed HW and IP checksum settings)")
	}
	if f.Has(FeatGSOUDPL4) && !f.CanChecksum() {
		f &^= FeatGSOUDPL4
		dropped = append(dropped, "gso-udp-l4: dropped because no checksum feature is set")
	}
	return f, dropped
}

// Device is the sending net_device: its MTU, features and addresses.
type Device struct {
	MTU      int
	Features Features
	SrcMAC   [6]byte
	DstMAC   [6]byte

	// Scratch space Transmit reuses from frame to frame; a Runner keeps
	// it across runs.
	bufs txBuffers
	fi   FrameInfo // the frame being handed over (FrameFunc's fi)
}

// txBuffers are a Device's scratch buffers.
type txBuffers struct {
	scratch []byte    // a frame joined into one slice (Transmit)
	saved   []byte    // the bytes in-place headers cover (emitAt)
	head    []byte    // a frame head with the start of a UDP header
	hdr     [2][]byte // frame heads updated from frame to frame
	sizes   []int     // slow-path fragment sizes
}

// Default MAC addresses of the two ends, as udpbuild kernel assigns them.
var (
	DefaultSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	DefaultDstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// NewDevice builds the device a scenario's link describes, with the
// kernel's feature fix-ups applied.
func NewDevice(l scenario.Link) (*Device, []string, error) {
	if l.MTU < 68 || l.MTU > 65535 {
		return nil, nil, fmt.Errorf("link mtu %d out of range 68..65535", l.MTU)
	}
	f, dropped := FixFeatures(l.Features)
	d := &Device{MTU: l.MTU, Features: f, SrcMAC: DefaultSrcMAC, DstMAC: DefaultDstMAC}
	if len(l.SrcMAC) == 6 {
		d.SrcMAC = [6]byte(l.SrcMAC)
	}
	if len(l.DstMAC) == 6 {
		d.DstMAC = [6]byte(l.DstMAC)
	}
	return d, dropped, nil
}
