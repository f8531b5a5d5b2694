package builder

import (
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/report"
)

// View selects which picture of the output udpbuild draws.
type View uint8

const (
	// Tap is what AF_PACKET sees on the sending device (dev_queue_xmit_nit):
	// CHECKSUM_PARTIAL left as the pseudo-header sum, GSO super-packets
	// whole when the device segments them.
	Tap View = iota
	// Wire is what a peer receives: every offload done.
	Wire
)

func (v View) String() string {
	if v == Wire {
		return "wire"
	}
	return "tap"
}

// ParseView reads "tap" or "wire".
func ParseView(s string) (View, error) {
	switch s {
	case "tap":
		return Tap, nil
	case "wire":
		return Wire, nil
	}
	return 0, fmt.Errorf("unknown view %q (tap or wire)", s)
}

// gsoMaxSize is a device's default gso_max_size (GSO_LEGACY_MAX_SIZE).
const gsoMaxSize = 65536

// FrameInfo is a frame's provenance within its datagram.
type FrameInfo struct {
	Kind   report.Kind
	Index  int
	Count  int
	Offset int
	// SlowPath is set on fragments cut by ip_do_fragment's slow path.
	SlowPath bool
	// Partial is set when the UDP checksum is left for the device.
	Partial bool
	// GSOSize is the super-packet's gso_size (segments and super-packets),
	// Segs the number of segments a super-packet stands for.
	GSOSize, Segs int
	// IDWhy says where the datagram's IP ID came from.
	IDWhy string
}

// Why explains the frame in one line, in the kernel's terms. It is built
// on demand: the hot path never formats strings.
func (fi FrameInfo) Why() string {
	var s string
	switch fi.Kind {
	case report.Super:
		s = fmt.Sprintf("GSO super-packet: %d segments of %d bytes, segmented by the device (NETIF_F_GSO_UDP_L4)", fi.Segs, fi.GSOSize)
	case report.Segment:
		s = fmt.Sprintf("GSO segment %d of %d (gso_size %d), payload offset %d; ID of the super-packet + %d (%s)", fi.Index+1, fi.Count, fi.GSOSize, fi.Offset, fi.Index, fi.IDWhy)
	case report.Fragment:
		path := "fast path: one fragment per skb of the frag list"
		if fi.SlowPath {
			path = "slow path: the skb geometry does not allow the fast path"
		}
		s = fmt.Sprintf("fragment %d of %d at offset %d (ip_do_fragment %s); %s", fi.Index+1, fi.Count, fi.Offset, path, fi.IDWhy)
	default:
		s = "whole datagram; " + fi.IDWhy
	}
	if fi.Partial {
		s += "; UDP checksum left partial (CHECKSUM_PARTIAL) for the device"
	}
	return s
}

// Transmit cuts a datagram into the frames of the chosen view and hands
// each, Ethernet header included, to fn. It mirrors ip_finish_output
// (fragmentation, ip_do_fragment) and validate_xmit_skb (software GSO,
// __udp_gso_segment, and the checksum fallback skb_checksum_help). The
// frame slice is only valid during the call.
func (dev *Device) Transmit(d *Datagram, v View, fn func(FrameInfo, []byte) error) error {
	total := len(d.IP) + len(d.L4)
	switch {
	case d.GSOSize > 0:
		if v == Tap && dev.segmentsGSO(d) {
			fi := FrameInfo{Kind: report.Super, Count: 1, Segs: d.GSOSegs, GSOSize: d.GSOSize, Partial: true, IDWhy: d.IDWhy}
			return dev.emitAt(fn, fi, d, d.IP, nil, 0, len(d.L4))
		}
		partial := v == Tap && dev.Features.CanChecksum()
		return dev.segment(d, partial, fn)
	case total > dev.MTU:
		if d.Summed == csumPartial {
			completeChecksum(d) // ip_do_fragment: skb_checksum_help first
		}
		return dev.fragment(d, fn)
	}
	if d.Summed == csumPartial && (v == Wire || !dev.Features.CanChecksum()) {
		completeChecksum(d)
	}
	fi := FrameInfo{Kind: report.Datagram, Count: 1, Partial: d.Summed == csumPartial && v == Tap, IDWhy: d.IDWhy}
	return dev.emitAt(fn, fi, d, d.IP, nil, 0, len(d.L4))
}

// segmentsGSO reports whether the device takes a GSO skb whole and
// segments it itself (netif_skb_features): it needs NETIF_F_GSO_UDP_L4 and
// a checksum feature, and gso_features_check sends skbs of gso_max_size or
// more (link header included) to software segmentation before the tap.
func (dev *Device) segmentsGSO(d *Datagram) bool {
	total := header.EthernetLen + len(d.IP) + len(d.L4)
	return dev.Features.Has(FeatGSOUDPL4) && dev.Features.CanChecksum() && total < gsoMaxSize
}

// completeChecksum finishes a CHECKSUM_PARTIAL checksum as skb_checksum_help
// (or the NIC) does: the field already holds the pseudo-header sum.
func completeChecksum(d *Datagram) {
	uh := header.UDP(d.L4)
	c := ^header.Checksum(d.L4, 0)
	if c == 0 {
		c = header.CsumMangled0
	}
	uh.SetChecksum(c)
}

// emit writes one frame: Ethernet header, IP header, then the parts. The
// frame is built in the device's scratch buffer: fn must copy what it keeps.
func (dev *Device) emit(fn func(FrameInfo, []byte) error, fi FrameInfo, ip []byte, parts ...[]byte) error {
	b := dev.scratch[:0]
	var eth [header.EthernetLen]byte
	header.PutEthernet(eth[:], dev.DstMAC, dev.SrcMAC)
	b = append(b, eth[:]...)
	b = append(b, ip...)
	for _, p := range parts {
		b = append(b, p...)
	}
	dev.scratch = b
	return fn(fi, b)
}

// emitAt writes the frame made of an Ethernet header, ip, udp (a segment's
// own UDP header, or nil) and d.L4[off:off+n]. When the datagram keeps
// headroom, the headers are written in place just before the data (the
// bytes they cover, the tail of the previous fragment or segment, are saved
// and put back after fn returns), so the data is never copied. fn must not
// keep the frame.
func (dev *Device) emitAt(fn func(FrameInfo, []byte) error, fi FrameInfo, d *Datagram, ip, udp []byte, off, n int) error {
	hl := header.EthernetLen + len(ip) + len(udp)
	base := headroom + off
	if d.buf == nil || base < hl || base+n > len(d.buf) {
		return dev.emit(fn, fi, ip, udp, d.L4[off:off+n])
	}
	start := base - hl
	saved := append(dev.saved[:0], d.buf[start:base]...)
	dev.saved = saved
	header.PutEthernet(d.buf[start:], dev.DstMAC, dev.SrcMAC)
	copy(d.buf[start+header.EthernetLen:], ip)
	copy(d.buf[start+header.EthernetLen+len(ip):], udp)
	err := fn(fi, d.buf[start:base+n])
	copy(d.buf[start:base], saved)
	return err
}

// fragment mirrors ip_do_fragment: the fast path turns each skb of the frag
// list into a fragment when their geometry allows; otherwise the slow path
// cuts MTU-sized, 8-byte aligned pieces.
func (dev *Device) fragment(d *Datagram, fn func(FrameInfo, []byte) error) error {
	hlen := len(d.IP)
	mtu := dev.MTU - hlen // data space
	sizes, fast := d.SkbData, fastPath(d.SkbData, mtu)
	if !fast {
		sizes = dev.sizes[:0]
		for left := len(d.L4); left > 0; {
			n := min(left, mtu)
			if n < left {
				n &^= 7
			}
			sizes = append(sizes, n)
			left -= n
		}
		dev.sizes = sizes
	}
	first := append(dev.hdr[0][:0], d.IP...)
	later := append(dev.hdr[1][:0], d.IP...)
	dev.hdr[0], dev.hdr[1] = first, later
	if hlen > header.IPv4MinLen {
		// ip_options_fragment: options not marked "copied" become NOOPs
		// in every fragment after the first.
		copy(later[header.IPv4MinLen:], ipopt.Fragment(d.IP[header.IPv4MinLen:]))
	}
	off := 0
	for i, n := range sizes {
		h := first
		if i > 0 {
			h = later
		}
		ip := header.IPv4(h)
		ip.SetTotalLength(uint16(hlen + n))
		w := uint16(off >> 3)
		if i < len(sizes)-1 {
			w |= header.IPv4MF
		}
		ip.SetFragWord(w)
		ip.SetChecksum()
		fi := FrameInfo{Kind: report.Fragment, Index: i, Count: len(sizes), Offset: off, SlowPath: !fast, IDWhy: d.IDWhy}
		if err := dev.emitAt(fn, fi, d, h, nil, off, n); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// fastPath applies ip_do_fragment's geometry checks to the frag list: the
// head and every skb but the last must fit the data space and be a
// multiple of 8 bytes.
func fastPath(skbs []int, mtu int) bool {
	if len(skbs) < 2 {
		return false
	}
	if skbs[0] > mtu || skbs[0]&7 != 0 {
		return false
	}
	for i, n := range skbs[1:] {
		if n > mtu || (n&7 != 0 && i < len(skbs)-2) {
			return false
		}
	}
	return true
}

// segment mirrors __udp_gso_segment under inet_gso_segment: gso_size
// payload bytes per segment, the last one shorter; each segment's UDP
// length and checksum adjusted, IP IDs counting up from the super-packet's.
// partial leaves each checksum as the adjusted pseudo-header sum (a device
// that can checksum finishes it); otherwise it is computed in full.
func (dev *Device) segment(d *Datagram, partial bool, fn func(FrameInfo, []byte) error) error {
	payload := d.L4[udpHdrLen:]
	n := d.GSOSegs
	oldLen := binary.BigEndian.Uint16(d.L4[4:])
	oldCheck := binary.BigEndian.Uint16(d.L4[6:])
	id := binary.BigEndian.Uint16(d.IP[4:])
	src, dst := [4]byte(d.IP[12:16]), [4]byte(d.IP[16:20])
	ip := header.IPv4(append(dev.hdr[0][:0], d.IP...))
	dev.hdr[0] = ip
	var uh [udpHdrLen]byte
	copy(uh[:], d.L4[:udpHdrLen])
	for i := 0; i < n; i++ {
		off := i * d.GSOSize
		end := min(off+d.GSOSize, len(payload))
		seg := payload[off:end]
		newLen := uint16(udpHdrLen + len(seg))
		// csum16_add(csum16_sub(check, oldlen), newlen): the partial
		// sum re-based on the segment's length.
		check := csum16Add(csum16Add(oldCheck, ^oldLen), newLen)
		binary.BigEndian.PutUint16(uh[4:], newLen)
		if partial {
			binary.BigEndian.PutUint16(uh[6:], check)
		} else {
			// gso_make_checksum(seg, ~check) ?: CSUM_MANGLED_0
			binary.BigEndian.PutUint16(uh[6:], 0)
			c := ^header.Checksum(seg, header.Checksum(uh[:], header.PseudoHeaderSum(src, dst, d.Proto, newLen)))
			if c == 0 {
				c = header.CsumMangled0
			}
			binary.BigEndian.PutUint16(uh[6:], c)
		}
		ip.SetTotalLength(uint16(len(ip)) + newLen)
		ip.SetID(id + uint16(i))
		ip.SetChecksum()
		fi := FrameInfo{Kind: report.Segment, Index: i, Count: n, Offset: off, GSOSize: d.GSOSize, Partial: partial, IDWhy: d.IDWhy}
		if err := dev.emitAt(fn, fi, d, ip, uh[:], udpHdrLen+off, len(seg)); err != nil {
			return err
		}
	}
	return nil
}

// csum16Add mirrors csum16_add: a 16-bit one's complement add.
func csum16Add(a, b uint16) uint16 {
	r := a + b
	if r < b {
		r++
	}
	return r
}
