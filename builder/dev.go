package builder

import (
	"fmt"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/core/dev.c for the send path: the device's
// features as netdev_fix_features leaves them, and dev_queue_xmit with what
// validate_xmit_skb does on the way (software GSO, skb_checksum_help) and
// the hand-over of each frame (xmit_one: dev_queue_xmit_nit for the tap,
// then the wire). Both address families share it.

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

// Device is the sending net_device: its MTU, features and addresses, and
// what watches the link: Sink receives every frame the device transmits,
// drawn as View shows it.
type Device struct {
	MTU      int
	Features Features
	SrcMAC   [6]byte
	DstMAC   [6]byte
	// View is which picture of the output Sink gets: report.Tap (also
	// the zero value) or report.Wire.
	View report.View
	// Sink receives every datagram and frame; nil drops them unseen.
	Sink FrameSink

	trace func(Event)
	// datagrams counts the datagrams handed to the device (FrameInfo's
	// Datagram).
	datagrams int
	// Scratch space reused from frame to frame; a Runner keeps it across
	// runs.
	bufs txBuffers
	fi   FrameInfo // the frame being handed over (FrameSink.Frame's fi)
}

// txBuffers are a Device's scratch buffers.
type txBuffers struct {
	saved []byte    // the bytes in-place headers cover (xmitOne)
	hdr   [2][]byte // frame heads updated from frame to frame
	sizes []int     // slow-path fragment sizes
	skbs6 []int     // an IPv6 frag list's sizes from the fragment header on
	seg   segHeader // the network header GSO segments update
	out   output    // ip_finish_output's decision for the datagram
}

// NewDevice builds the device a scenario's link describes, with the
// kernel's feature fix-ups applied.
func NewDevice(l scenario.Link) (*Device, []string, error) {
	if l.MTU < scenario.MinMTU || l.MTU > scenario.MaxMTU {
		return nil, nil, fmt.Errorf("link mtu %d out of range %d..%d", l.MTU, scenario.MinMTU, scenario.MaxMTU)
	}
	f, dropped := FixFeatures(l.Features)
	d := &Device{MTU: l.MTU, Features: f}
	d.SrcMAC, d.DstMAC = l.MACs()
	return d, dropped, nil
}

// SetTrace installs fn to receive an event for every frame the device
// hands over; nil turns tracing off.
func (dev *Device) SetTrace(fn func(Event)) { dev.trace = fn }

// gsoMaxSize is a device's default gso_max_size (GSO_LEGACY_MAX_SIZE).
const gsoMaxSize = 65536

// segmentsGSO reports whether the device takes a GSO skb whole and
// segments it itself (netif_skb_features): it needs NETIF_F_GSO_UDP_L4 and
// a checksum feature, and gso_features_check sends skbs of gso_max_size or
// more (link header included) to software segmentation before the tap.
//
// __udp_gso_segment also takes NETIF_F_GSO_UDP_L4 and the checksum
// features away from a super-packet that is not CHECKSUM_PARTIAL ("We
// don't know if egress device can segment and checksum the packet when
// IPv6 extension headers are present"): an IPv6 datagram with extension
// headers never is (__ip6_append_data), so it is segmented in software
// with full checksums.
func (dev *Device) segmentsGSO(d *Datagram) bool {
	total := header.EthernetLen + d.Len()
	return dev.Features.Has(FeatGSOUDPL4) && d.canChecksum(dev.Features) && d.Summed == csumPartial && total < gsoMaxSize
}

// begin counts the next datagram and tells the sink of it.
func (dev *Device) begin(d *Datagram) error {
	dev.datagrams++
	return dev.Sink.Datagram(d)
}

// frame readies the device's FrameInfo for the frames of datagram d, cut
// into count frames of kind k, and returns it for the caller to update
// frame by frame. The fields are set one by one: the whole struct, strings
// and all, is copied on every send otherwise.
func (dev *Device) frame(d *Datagram, k report.Kind, count int) *FrameInfo {
	fi := &dev.fi
	fi.Step, fi.Datagram, fi.IDSource, fi.IDWhy, fi.FlowLabel = d.Step, dev.datagrams-1, d.IDSource, d.IDWhy, d.FlowLabel
	fi.ipv6 = d.IPv6
	fi.Kind, fi.Count = k, count
	fi.Index, fi.Offset, fi.GSOSize, fi.Segs = 0, 0, 0, 0
	fi.SlowPath, fi.Partial = false, false
	return fi
}

// queueXmit mirrors dev_queue_xmit for a datagram that reaches the device
// whole (path is ip_finish_output's decision): validate_xmit_skb segments
// a GSO skb the device cannot take (__udp_gso_segment) and finishes a
// CHECKSUM_PARTIAL checksum the device cannot (skb_checksum_help). The
// wire view also draws what the device itself does: its segments and its
// checksums.
func (dev *Device) queueXmit(d *Datagram, path outPath) error {
	tap := dev.View != report.Wire
	switch path {
	case pathGSODevice:
		if tap {
			fi := dev.frame(d, report.Super, 1)
			fi.Segs, fi.GSOSize, fi.Partial = d.GSOSegs, d.GSOSize, true
			return dev.xmitOne(d, dev.linkHead(0, d.IP), 0, d.L4Len())
		}
		return udpGSOSegment(dev, d, false)
	case pathGSOSoftware:
		return udpGSOSegment(dev, d, tap && d.Summed == csumPartial && d.canChecksum(dev.Features))
	}
	if d.Summed == csumPartial && (!tap || !d.canChecksum(dev.Features)) {
		skbChecksumHelp(d)
	}
	fi := dev.frame(d, report.Datagram, 1)
	fi.Partial = d.Summed == csumPartial && tap
	return dev.xmitOne(d, dev.linkHead(0, d.IP), 0, d.L4Len())
}

// skbChecksumHelp finishes a CHECKSUM_PARTIAL checksum as skb_checksum_help
// (or the NIC) does: the field already holds the pseudo-header sum. Like
// skb_checksum_help it leaves the skb CHECKSUM_NONE, so that a datagram
// transmitted again is not summed over its finished checksum.
func skbChecksumHelp(d *Datagram) {
	uh := header.UDP(d.UDP)
	c := ^d.l4Sum(d.L4Len(), 0)
	if c == 0 {
		c = header.CsumMangled0
	}
	uh.SetChecksum(c)
	d.Summed = csumNone
}

// linkHead builds an Ethernet header followed by nh (the network header)
// in the device's header buffer k, and returns it: the frame head the
// output functions then update in place from frame to frame.
func (dev *Device) linkHead(k int, nh []byte) []byte {
	h := dev.bufs.hdr[k][:0]
	if cap(h) < headroom {
		h = make([]byte, 0, headroom)
	}
	h = h[:header.EthernetLen]
	header.PutEthernetType(h, dev.DstMAC, dev.SrcMAC, etherType(nh))
	h = append(h, nh...)
	dev.bufs.hdr[k] = h
	return h
}

// xmitOne hands the sink one frame (xmit_one): hdrs (its Ethernet, IP and,
// for a GSO segment, UDP headers) followed by bytes [off, off+n) of the
// datagram's UDP header and payload, described by the device's FrameInfo.
// When the datagram's bytes are contiguous behind headroom, the headers
// are written in place just before the data, as the kernel builds them in
// an skb's headroom (the bytes they cover, the tail of the previous
// fragment or segment, are saved and put back after the sink returns): the
// frame is one piece and nothing is copied. Otherwise the headers and the
// data are handed over as two pieces, the data where it lies.
func (dev *Device) xmitOne(d *Datagram, hdrs []byte, off, n int) error {
	if dev.trace != nil {
		dev.traceFrame(len(hdrs) + n)
	}
	hl := len(hdrs)
	base := headroom + off
	if d.contig && base >= hl && base+n <= len(d.buf) {
		start := base - hl
		saved := append(dev.bufs.saved[:0], d.buf[start:base]...)
		dev.bufs.saved = saved
		copy(d.buf[start:], hdrs)
		err := dev.hand(nil, d.buf[start:base+n])
		copy(d.buf[start:base], saved)
		return err
	}
	if off >= udpHdrLen {
		return dev.hand(hdrs, d.Payload[off-udpHdrLen:off-udpHdrLen+n])
	}
	// The frame starts inside the UDP header (the first fragment, or the
	// whole datagram): the header joins the head, written after it in the
	// head buffer's spare room (linkHead leaves headroom bytes of it,
	// enough for any header), which no later frame reads.
	hdrEnd := min(off+n, udpHdrLen)
	h := append(hdrs, d.UDP[off:hdrEnd]...)
	return dev.hand(h, d.Payload[:off+n-hdrEnd])
}

// hand gives the sink one frame, described by the device's FrameInfo. A
// FrameFunc is called directly rather than through its Frame method: one
// indirect call a frame instead of two, which a 45-fragment send notices.
func (dev *Device) hand(head, data []byte) error {
	if f, ok := dev.Sink.(FrameFunc); ok {
		return f(&dev.fi, head, data)
	}
	return dev.Sink.Frame(&dev.fi, head, data)
}

// traceFrame records the frame about to be handed over, under the kernel
// function that made it.
func (dev *Device) traceFrame(n int) {
	fi := &dev.fi
	fn := "dev_queue_xmit"
	switch fi.Kind {
	case report.Fragment:
		fn = "ip_do_fragment"
		if fi.ipv6 {
			fn = "ip6_fragment"
		}
	case report.Segment:
		fn = "__udp_gso_segment"
	}
	dev.trace(Event{Step: fi.Step, Func: fn, Var: fmt.Sprintf("frame (%s %d of %d)", fi.Kind, fi.Index+1, fi.Count), Value: fmt.Sprintf("%d bytes", n), Why: fi.Why()})
}
