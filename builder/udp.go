package builder

import (
	"fmt"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/scenario"
)

// sendSkb mirrors udp_send_skb: the UDP header, the GSO checks and marks,
// and the checksum, then ip_send_skb.
func (s *Socket) sendSkb(d *Datagram, c *cork) errno.Errno {
	uh := header.UDP(d.UDP)
	length := d.L4Len()
	datalen := length - udpHdrLen
	uh.SetPorts(c.fl.sport, c.fl.dport)
	uh.SetLength(uint16(length))
	uh.SetChecksum(0)
	src, dst := [4]byte(d.IP[12:16]), [4]byte(d.IP[16:20])
	// The pseudo-header uses fl4's addresses, which are the IP header's:
	// for a source route that is the first hop, not the final destination.
	if c.gsoSize > 0 {
		hlen := len(d.IP) + udpHdrLen
		switch {
		case hlen+min(datalen, c.gsoSize) > c.fragsize:
			// 6.18 measures the first segment as it will really be: a
			// datagram shorter than gso_size only has to fit the MTU.
			return errno.EMSGSIZE
		case datalen > c.gsoSize*udpMaxSegments:
			return errno.EINVAL
		case s.noCheckTx:
			return errno.EINVAL
		case s.proto == scenario.UDPLite:
			return errno.EIO
		}
		if s.tracing() {
			s.tracef("udp_send_skb", "gso checks", "pass", "hlen %d + min(datalen %d, gso_size %d) <= fragsize %d; at most %d segments", hlen, datalen, c.gsoSize, c.fragsize, udpMaxSegments)
		}
		if datalen > c.gsoSize {
			// On the TX path CHECKSUM_NONE and CHECKSUM_UNNECESSARY
			// mean the same; the GSO stack wants the latter.
			if d.Summed == csumNone {
				d.Summed = csumUnnecessary
			}
			d.GSOSize = c.gsoSize
			d.GSOSegs = (datalen + c.gsoSize - 1) / c.gsoSize
			if s.tracing() {
				s.tracef("udp_send_skb", "gso_segs", d.GSOSegs, "DIV_ROUND_UP(datalen %d, gso_size %d); checksum left to GSO (csum_partial)", datalen, c.gsoSize)
			}
			// Don't checksum the payload: the skb will be segmented.
			s.hwcsum(d, src, dst)
			return s.sendIP(d)
		}
	}
	switch {
	case s.proto == scenario.UDPLite:
		s.udpliteCsum(d, src, dst)
	case s.noCheckTx:
		d.Summed = csumNone // checksum 0: none
	case d.Summed == csumPartial:
		s.hwcsum(d, src, dst)
	default:
		uh.SetChecksum(fullChecksum(d, src, dst, d.Proto, uint16(length)))
	}
	if s.tracing() {
		why := "software: udp_csum over the datagram, CSUM_MANGLED_0 for 0"
		switch {
		case s.proto == scenario.UDPLite:
			why = "UDP-Lite: udplite_csum over the coverage"
		case s.noCheckTx:
			why = "SO_NO_CHECK: checksum 0"
		case d.Summed == csumPartial && len(d.SkbData) == 1:
			why = "CHECKSUM_PARTIAL: udp4_hwcsum stores the pseudo-header sum for the device"
		case d.Summed == csumPartial:
			why = "CHECKSUM_PARTIAL but a frag list: udp4_hwcsum sums in software"
		}
		s.tracef("udp_send_skb", "uh->check", fmt.Sprintf("%#04x", uh.Checksum()), why)
	}
	return s.sendIP(d)
}

// hwcsum mirrors udp4_hwcsum: a single skb gets the pseudo-header sum for
// the device to finish; a frag list is summed in software.
func (s *Socket) hwcsum(d *Datagram, src, dst [4]byte) {
	uh := header.UDP(d.UDP)
	if len(d.SkbData) == 1 {
		uh.SetChecksum(header.PseudoHeaderSum(src, dst, 17, uint16(d.L4Len())))
		return
	}
	d.Summed = csumNone
	uh.SetChecksum(fullChecksum(d, src, dst, 17, uint16(d.L4Len())))
}

// udpliteCsum mirrors udplite_csum and the pseudo-header step of
// udp_send_skb: coverage pcslen when the sender set one (0 meaning the
// whole datagram), the UDP length field holding the coverage.
func (s *Socket) udpliteCsum(d *Datagram, src, dst [4]byte) {
	uh := header.UDP(d.UDP)
	length := d.L4Len()
	cov := length
	if s.pcflagSend && s.pcslen < length {
		if s.pcslen > 0 {
			cov = s.pcslen
		}
		uh.SetLength(uint16(s.pcslen))
	}
	d.Summed = csumNone
	sum := d.l4Sum(cov, header.PseudoHeaderSum(src, dst, d.Proto, uint16(length)))
	c := ^sum
	if c == 0 {
		c = header.CsumMangled0
	}
	uh.SetChecksum(c)
}

// fullChecksum is the UDP checksum of d's UDP header (its checksum field
// zero) and payload with the pseudo-header, 0 sent as 0xffff
// (CSUM_MANGLED_0).
func fullChecksum(d *Datagram, src, dst [4]byte, proto uint8, length uint16) uint16 {
	c := ^d.l4Sum(d.L4Len(), header.PseudoHeaderSum(src, dst, proto, length))
	if c == 0 {
		return header.CsumMangled0
	}
	return c
}

// sendIP mirrors ip_send_skb -> __ip_local_out (tot_len, header checksum)
// -> ip_finish_output's one decision that returns an errno to the caller:
// a datagram too long for the MTU that must not be fragmented.
func (s *Socket) sendIP(d *Datagram) errno.Errno {
	total := len(d.IP) + d.L4Len()
	header.IPv4(d.IP).SetTotalLength(uint16(total))
	header.IPv4(d.IP).SetChecksum()
	if d.GSOSize == 0 && total > s.dev.MTU && d.IP[6]&0x40 != 0 && !d.IgnoreDF {
		// ip_fragment: DF set and local fragmentation not allowed:
		// ICMP_FRAG_NEEDED to ourselves and EMSGSIZE.
		return errno.EMSGSIZE
	}
	if s.out != nil {
		if err := s.out(d); err != nil {
			s.outErr = err
		}
	}
	return 0
}
