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
//
// A frame whose payload is the sender's own buffer (see Datagram.Payload)
// is joined into a scratch buffer first; TransmitV hands it over in two
// pieces instead.
//
// fn must not transmit on the same Device: the frame being handed over
// lives in the device's buffers, which a nested Transmit would rebuild.
func (dev *Device) Transmit(d *Datagram, v View, fn func(FrameInfo, []byte) error) error {
	return dev.TransmitV(d, v, func(fi *FrameInfo, head, data []byte) error {
		if len(head) == 0 {
			return fn(*fi, data)
		}
		b := append(append(dev.bufs.scratch[:0], head...), data...)
		dev.bufs.scratch = b
		return fn(*fi, b)
	})
}

// FrameFunc receives one frame as two pieces, head then data (head may be
// empty); together they are the frame's bytes. Writers that take vectors
// (a pcap record: header, head, data) then never copy the payload to build
// the frame. fi and both pieces are only valid during the call (fi is
// passed by reference because it is copied for every frame otherwise), and
// neither fi nor the pieces may be written to: data may be the sender's
// own buffer (for a scenario, the pattern table every run shares), and fi
// carries over to the next frame of the datagram.
type FrameFunc func(fi *FrameInfo, head, data []byte) error

// TransmitV is Transmit handing each frame over in pieces (see FrameFunc).
// As with Transmit, fn must not transmit on the same Device.
func (dev *Device) TransmitV(d *Datagram, v View, fn FrameFunc) error {
	total := len(d.IP) + d.L4Len()
	switch {
	case d.GSOSize > 0:
		if v == Tap && dev.segmentsGSO(d) {
			dev.fi = FrameInfo{Kind: report.Super, Count: 1, Segs: d.GSOSegs, GSOSize: d.GSOSize, Partial: true, IDWhy: d.IDWhy}
			return dev.emitAt(fn, &dev.fi, d, dev.linkHead(0, d.IP), 0, d.L4Len())
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
	dev.fi = FrameInfo{Kind: report.Datagram, Count: 1, Partial: d.Summed == csumPartial && v == Tap, IDWhy: d.IDWhy}
	return dev.emitAt(fn, &dev.fi, d, dev.linkHead(0, d.IP), 0, d.L4Len())
}

// segmentsGSO reports whether the device takes a GSO skb whole and
// segments it itself (netif_skb_features): it needs NETIF_F_GSO_UDP_L4 and
// a checksum feature, and gso_features_check sends skbs of gso_max_size or
// more (link header included) to software segmentation before the tap.
func (dev *Device) segmentsGSO(d *Datagram) bool {
	total := header.EthernetLen + len(d.IP) + d.L4Len()
	return dev.Features.Has(FeatGSOUDPL4) && dev.Features.CanChecksum() && total < gsoMaxSize
}

// completeChecksum finishes a CHECKSUM_PARTIAL checksum as skb_checksum_help
// (or the NIC) does: the field already holds the pseudo-header sum. Like
// skb_checksum_help it leaves the skb CHECKSUM_NONE, so that a datagram
// transmitted again is not summed over its finished checksum.
func completeChecksum(d *Datagram) {
	uh := header.UDP(d.UDP)
	c := ^d.l4Sum(d.L4Len(), 0)
	if c == 0 {
		c = header.CsumMangled0
	}
	uh.SetChecksum(c)
	d.Summed = csumNone
}

// linkHead builds an Ethernet header followed by ip in the device's header
// buffer k, and returns it: the frame head the output functions then
// update in place from frame to frame.
func (dev *Device) linkHead(k int, ip []byte) []byte {
	h := dev.bufs.hdr[k][:0]
	if cap(h) < headroom {
		h = make([]byte, 0, headroom)
	}
	h = h[:header.EthernetLen]
	header.PutEthernet(h, dev.DstMAC, dev.SrcMAC)
	h = append(h, ip...)
	dev.bufs.hdr[k] = h
	return h
}

// emitAt hands fn the frame made of hdrs (its Ethernet, IP and, for a GSO
// segment, UDP headers) and bytes [off, off+n) of the datagram's UDP
// header and payload. When the datagram's bytes are contiguous behind
// headroom, the headers are written in place just before the data, as the
// kernel builds them in an skb's headroom (the bytes they cover, the tail
// of the previous fragment or segment, are saved and put back after fn
// returns): the frame is one piece and nothing is copied. Otherwise the
// headers and the data are handed over as two pieces, the data where it
// lies. fn must not keep either piece.
func (dev *Device) emitAt(fn FrameFunc, fi *FrameInfo, d *Datagram, hdrs []byte, off, n int) error {
	hl := len(hdrs)
	base := headroom + off
	if d.contig && base >= hl && base+n <= len(d.buf) {
		start := base - hl
		saved := append(dev.bufs.saved[:0], d.buf[start:base]...)
		dev.bufs.saved = saved
		copy(d.buf[start:], hdrs)
		err := fn(fi, nil, d.buf[start:base+n])
		copy(d.buf[start:base], saved)
		return err
	}
	if off >= udpHdrLen {
		return fn(fi, hdrs, d.Payload[off-udpHdrLen:off-udpHdrLen+n])
	}
	// The frame starts inside the UDP header (the first fragment, or the
	// whole datagram): the header joins the head.
	hdrEnd := min(off+n, udpHdrLen)
	h := append(append(dev.bufs.head[:0], hdrs...), d.UDP[off:hdrEnd]...)
	dev.bufs.head = h
	return fn(fi, h, d.Payload[:off+n-hdrEnd])
}

// fragment mirrors ip_do_fragment: the fast path turns each skb of the frag
// list into a fragment when their geometry allows; otherwise the slow path
// cuts MTU-sized, 8-byte aligned pieces.
func (dev *Device) fragment(d *Datagram, fn FrameFunc) error {
	hlen := len(d.IP)
	mtu := dev.MTU - hlen // data space
	sizes, fast := d.SkbData, fastPath(d.SkbData, mtu)
	if !fast {
		sizes = dev.bufs.sizes[:0]
		for left := d.L4Len(); left > 0; {
			n := min(left, mtu)
			if n < left {
				n &^= 7
			}
			sizes = append(sizes, n)
			left -= n
		}
		dev.bufs.sizes = sizes
	}
	// Two frame heads: the first fragment's, and every later one's.
	heads := [2][]byte{dev.linkHead(0, d.IP), dev.linkHead(1, d.IP)}
	ips := [2]header.IPv4{heads[0][header.EthernetLen:], heads[1][header.EthernetLen:]}
	if hlen > header.IPv4MinLen {
		// ip_options_fragment: options not marked "copied" become NOOPs
		// in every fragment after the first.
		copy(ips[1][header.IPv4MinLen:], ipopt.Fragment(d.IP[header.IPv4MinLen:]))
	}
	// ip_do_fragment rewrites tot_len and frag_off (and the checksum) in
	// each fragment; the rest of each header's sum is taken once.
	sums := [2]uint64{ips[0].SumExcept(), ips[1].SumExcept()}
	id := ips[0].ID()
	fi := &dev.fi
	*fi = FrameInfo{Kind: report.Fragment, Count: len(sizes), SlowPath: !fast, IDWhy: d.IDWhy}
	off := 0
	for i, n := range sizes {
		k := min(i, 1)
		w := uint16(off >> 3)
		if i < len(sizes)-1 {
			w |= header.IPv4MF
		}
		ips[k].SetFields(sums[k], uint16(hlen+n), id, w)
		fi.Index, fi.Offset = i, off
		if err := dev.emitAt(fn, fi, d, heads[k], off, n); err != nil {
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
func (dev *Device) segment(d *Datagram, partial bool, fn FrameFunc) error {
	payload := d.Payload
	n := d.GSOSegs
	oldLen := binary.BigEndian.Uint16(d.UDP[4:])
	oldCheck := binary.BigEndian.Uint16(d.UDP[6:])
	id := binary.BigEndian.Uint16(d.IP[4:])
	src, dst := [4]byte(d.IP[12:16]), [4]byte(d.IP[16:20])
	// Each segment's head is Ethernet, IP and its own UDP header, updated
	// in place from segment to segment.
	head := append(dev.linkHead(0, d.IP), d.UDP...)
	dev.bufs.hdr[0] = head
	ip := header.IPv4(head[header.EthernetLen : header.EthernetLen+len(d.IP)])
	uh := head[header.EthernetLen+len(d.IP):]
	ipSum, frag := ip.SumExcept(), ip.FragWord()
	fi := &dev.fi
	*fi = FrameInfo{Kind: report.Segment, Count: n, GSOSize: d.GSOSize, Partial: partial, IDWhy: d.IDWhy}
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
			c := ^header.Checksum(seg, header.Checksum(uh, header.PseudoHeaderSum(src, dst, d.Proto, newLen)))
			if c == 0 {
				c = header.CsumMangled0
			}
			binary.BigEndian.PutUint16(uh[6:], c)
		}
		ip.SetFields(ipSum, uint16(len(ip))+newLen, id+uint16(i), frag)
		fi.Index, fi.Offset = i, off
		if err := dev.emitAt(fn, fi, d, head, udpHdrLen+off, len(seg)); err != nil {
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
