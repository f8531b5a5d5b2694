package builder

import (
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// This file re-tells net/ipv4/udp_offload.c's segmentation of a UDP GSO
// super-packet, which both address families share (__udp_gso_segment
// handles IPv6 too); the network header of each segment is the family's
// part (segHeader, family.go).

// udpGSOSegment mirrors __udp_gso_segment under inet_gso_segment: gso_size
// payload bytes per segment, the last one shorter; each segment's UDP
// length and checksum adjusted, IP IDs counting up from the super-packet's.
// partial leaves each checksum as the adjusted pseudo-header sum (a device
// that can checksum finishes it); otherwise it is computed in full
// (gso_make_checksum). Each segment goes to the device in turn.
func udpGSOSegment(dev *Device, d *Datagram, partial bool) error {
	payload := d.Payload
	n := d.GSOSegs
	duh := header.UDP(d.UDP)
	oldLen, oldCheck := duh.Length(), duh.Checksum()
	// Each segment's head is Ethernet, IP and its own UDP header, updated
	// in place from segment to segment.
	head := append(dev.linkHead(0, d.IP), d.UDP...)
	dev.bufs.hdr[0] = head
	seg := &dev.bufs.seg
	*seg = newSegHeader(head[header.EthernetLen : header.EthernetLen+len(d.IP)])
	uh := header.UDP(head[header.EthernetLen+len(d.IP):])
	fi := dev.frame(d, report.Segment, n)
	fi.GSOSize, fi.Partial = d.GSOSize, partial
	for i := 0; i < n; i++ {
		off := i * d.GSOSize
		end := min(off+d.GSOSize, len(payload))
		data := payload[off:end]
		newLen := uint16(udpHdrLen + len(data))
		// csum16_add(csum16_sub(check, oldlen), newlen): the partial
		// sum re-based on the segment's length.
		check := header.Combine(header.Combine(oldCheck, ^oldLen), newLen)
		uh.SetLength(newLen)
		if partial {
			uh.SetChecksum(check)
		} else {
			// gso_make_checksum(seg, ~check) ?: CSUM_MANGLED_0
			uh.SetChecksum(0)
			c := ^header.Checksum(data, header.Checksum(uh, d.pseudoSum(newLen)))
			if c == 0 {
				c = header.CsumMangled0
			}
			uh.SetChecksum(c)
		}
		seg.set(i, newLen)
		fi.Index, fi.Offset = i, off
		if err := dev.xmitOne(d, head, udpHdrLen+off, len(data)); err != nil {
			return err
		}
	}
	return nil
}
