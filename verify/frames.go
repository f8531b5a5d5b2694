package verify

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/udpbuild/udpbuild/report"
)

// ethMinFrame is the shortest Ethernet frame without FCS; shorter frames are
// padded to it by the device.
const ethMinFrame = 60

// sentFrame is one frame of a Frames call after decoding.
type sentFrame struct {
	idx int
	f   report.Frame
	// v6 says the frame is IPv6; ip and hdr are IPv4's, x6 IPv6's.
	v6  bool
	ip  layers.IPv4
	hdr ipv4Header
	x6  frame6
	// src and dst are the addresses of the pseudo-header (IPv6: the
	// final destination, behind a routing header's segments), proto the
	// transport protocol (an IPv6 fragment: what its fragment header
	// names).
	src, dst netip.Addr
	proto    uint8
	// trans is the IP payload trimmed to tot_len (IPv4), or what follows
	// the headers (IPv6: the upper-layer header of a whole datagram, the
	// data after a fragment header).
	trans []byte
}

// Frames cross-checks the frames one udpbuild run emitted (report.Frame
// records with Data, from the Ethernet header on) and returns every
// inconsistency found. view is report.Wire (what a receiver, or the peer of
// a veth, sees: every checksum final) or report.Tap (what an AF_PACKET tap
// on the sending device sees: a checksum may still be the CHECKSUM_PARTIAL
// seed and a GSO super-packet may exceed the MTU); mtu (if positive) caps
// every IP packet except a GSO super-packet; sent holds the UDP payload each
// datagram should carry, indexed by report.Frame.Datagram (nil: payloads
// not checked).
//
// Per frame: Ethernet type IPv4; IPv4 version, IHL against the options
// (ip_options_compile's rules), total length against the frame length
// (padding of short frames to 60 bytes allowed), header checksum, MTU.
// Per datagram: a whole datagram is not a fragment; fragments start at 0, are
// contiguous without overlap, carry multiples of 8 bytes but for the last,
// set MF on all but the last, share ID, protocol and addresses and never set
// DF; each GSO segment is a valid datagram, IDs counting up, all but the last
// of equal size. After reassembly the UDP length, the checksum (full, zero,
// or in tap view the CHECKSUM_PARTIAL pseudo-header sum) or UDP-Lite coverage
// checksum are checked, and the payload is compared with sent.
//
// IPv6 frames (frame6, fragments6) are held to the same: payload length
// against the frame, the extension headers (hop-by-hop first, each within
// the packet, options well formed) walked by verify and by gopacket's
// layers, which must agree; fragments with the same nonzero identification
// (the random rule, report.IDRandom), the unfragmentable part (the fixed
// header but its payload length, the extension headers before the fragment
// header) repeated identically, offsets and M as for IPv4, the payload at
// most 65535; GSO segments each a datagram of its own (no ID); the UDP
// checksum over the IPv6 pseudo-header, with the final destination of a
// routing header that has segments left. A zero UDP checksum over IPv6
// passes: it is what a UDP_NO_CHECK6_TX socket sends, and report.Frame does
// not say which socket sent a frame (a receiver would drop it unless its
// socket set UDP_NO_CHECK6_RX; Verify says so).
func Frames(frames []report.Frame, view report.View, mtu int, sent [][]byte) []Problem {
	var k Checker
	return k.Frames(frames, view, mtu, sent)
}

// Checker is Frames with its working memory kept from call to call: the
// decoded frames, the orderings and the reassembly buffer. A program that
// checks a long run one datagram at a time (udpbuild's self-check of every
// frame it writes) then allocates nothing per datagram that verifies. Its
// zero value is ready; it is not safe for concurrent use.
type Checker struct {
	c frameChecker
	// index maps a datagram number to its group in groups (datagrams).
	index  map[int]int
	groups [][]*sentFrame
}

// Frames is the package-level Frames on the Checker's memory. The problems
// it returns are the caller's: later calls do not reuse them.
func (k *Checker) Frames(frames []report.Frame, view report.View, mtu int, sent [][]byte) []Problem {
	c := &k.c
	c.view, c.sent, c.problems = view, sent, nil
	if view != report.Wire && view != report.Tap {
		c.add(-1, -1, "View", fmt.Sprintf("unknown view %q; checking as %q", view, report.Wire))
		c.view = report.Wire
	}
	// Every sentFrame of this call lives in slab, sized up front so that
	// the pointers handed out stay valid until the call returns.
	c.slab = slices.Grow(c.slab[:0], len(frames))
	c.decoded = c.decoded[:0]
	for i, f := range frames {
		if sf := c.frame(i, f, mtu); sf != nil {
			c.decoded = append(c.decoded, sf)
		}
	}
	if k.oneDatagram() {
		d := c.decoded[0].f.Datagram
		c.datagram(d, c.decoded)
		for s := range sent {
			if s != d {
				c.add(-1, s, "Payload", fmt.Sprintf("no frame carries datagram %d (%d bytes sent)", s, len(sent[s])))
			}
		}
	} else {
		k.datagrams()
	}
	if c.problems == nil {
		return []Problem{}
	}
	return c.problems
}

// oneDatagram reports whether every decoded frame belongs to one datagram
// (the self-check's every call), which needs no grouping.
func (k *Checker) oneDatagram() bool {
	fs := k.c.decoded
	if len(fs) == 0 {
		return false
	}
	for _, sf := range fs[1:] {
		if sf.f.Datagram != fs[0].f.Datagram {
			return false
		}
	}
	return true
}

// datagrams groups the decoded frames by datagram, in the order each
// datagram first appears, and checks each group. The grouping reuses the
// Checker's map and slices: a run's worth of datagrams costs nothing once
// they have grown.
func (k *Checker) datagrams() {
	c := &k.c
	if k.index == nil {
		k.index = map[int]int{}
	}
	clear(k.index)
	for i := range k.groups {
		k.groups[i] = k.groups[i][:0]
	}
	n := 0
	for _, sf := range c.decoded {
		g, ok := k.index[sf.f.Datagram]
		if !ok {
			g = n
			k.index[sf.f.Datagram] = g
			if n == len(k.groups) {
				k.groups = append(k.groups, nil)
			}
			n++
		}
		k.groups[g] = append(k.groups[g], sf)
	}
	for _, fs := range k.groups[:n] {
		c.datagram(fs[0].f.Datagram, fs)
	}
	for d := range c.sent {
		if _, ok := k.index[d]; !ok {
			c.add(-1, d, "Payload", fmt.Sprintf("no frame carries datagram %d (%d bytes sent)", d, len(c.sent[d])))
		}
	}
}

// frameChecker collects the problems of one Frames call.
type frameChecker struct {
	view     report.View
	sent     [][]byte
	problems []Problem
	g6       gopacket6Layers

	// Working memory a Checker keeps between calls: the decoded frames
	// (slab, and decoded pointing into it), a scratch ordering of one
	// datagram's frames, and the reassembly buffer.
	slab    []sentFrame
	decoded []*sentFrame
	order   []*sentFrame
	buf     []byte
}

// newFrame returns a zeroed sentFrame from the slab, which Checker.Frames
// sized for every frame of the call.
func (c *frameChecker) newFrame() *sentFrame {
	c.slab = append(c.slab, sentFrame{})
	return &c.slab[len(c.slab)-1]
}

// sorted returns fs copied into the scratch ordering, stably sorted by
// key: the frames of one datagram, in the order a check walks them.
func (c *frameChecker) sorted(fs []*sentFrame, key func(*sentFrame) int) []*sentFrame {
	c.order = append(c.order[:0], fs...)
	slices.SortStableFunc(c.order, func(a, b *sentFrame) int { return key(a) - key(b) })
	return c.order
}

func (c *frameChecker) add(frame, datagram int, field, msg string) {
	c.problems = append(c.problems, Problem{Frame: frame, Datagram: datagram, Field: field, Msg: msg})
}

// frame checks one frame on its own and decodes it; nil if it is too broken
// to take part in datagram checks.
func (c *frameChecker) frame(i int, f report.Frame, mtu int) *sentFrame {
	bad := func(field, format string, args ...any) { c.add(i, f.Datagram, field, fmt.Sprintf(format, args...)) }
	if f.Len != len(f.Data) {
		bad("Frame.Len", "records %d bytes, data has %d", f.Len, len(f.Data))
	}
	var eth layers.Ethernet
	if err := eth.DecodeFromBytes(f.Data, gopacket.NilDecodeFeedback); err != nil {
		bad("Ethernet", "undecodable (%d bytes): %v", len(f.Data), err)
		return nil
	}
	if eth.EthernetType == layers.EthernetTypeIPv6 {
		return c.frame6(i, f, eth.Payload, mtu)
	}
	if eth.EthernetType != layers.EthernetTypeIPv4 {
		bad("Ethernet.EthernetType", "0x%04x (%v), want IPv4 or IPv6", uint16(eth.EthernetType), eth.EthernetType)
		return nil
	}
	ip := eth.Payload
	if len(ip) < ipHeaderMin {
		bad("IPv4", "%d bytes, an IPv4 header needs 20", len(ip))
		return nil
	}
	h := ipv4Header(ip)
	if h.version() != 4 {
		bad("IPv4.Version", "%d, want 4", h.version())
		return nil
	}
	if h.ihl() < ipHeaderMin || h.ihl() > len(ip) {
		bad("IPv4.IHL", "header length %d outside 20..%d", h.ihl(), len(ip))
		return nil
	}
	tot := h.totalLen()
	if tot < h.ihl() || tot > len(ip) {
		bad("IPv4.Length", "total length %d outside header length %d..%d bytes present", tot, h.ihl(), len(ip))
		return nil
	}
	if extra := len(ip) - tot; extra > 0 && !(len(f.Data) == ethMinFrame && len(f.Data)-extra < ethMinFrame) {
		bad("IPv4.Length", "frame carries %d bytes after the %d-byte IPv4 packet (only padding to %d bytes is allowed)", extra, tot, ethMinFrame)
	}
	if !ipHeaderOK(ip[:h.ihl()]) {
		bad("IPv4.Checksum", "header checksum does not verify")
	}
	if h.ihl() > ipHeaderMin {
		if complaint := optionsStructure(ip[ipHeaderMin:h.ihl()]); complaint != "" {
			bad("IPv4.Options", "%s", complaint)
		}
	}
	if mtu > 0 && f.Kind != report.Super && tot > mtu {
		bad("IPv4.Length", "%d bytes exceeds the MTU %d", tot, mtu)
	}
	sf := c.newFrame()
	*sf = sentFrame{idx: i, f: f, hdr: h[:h.ihl()], trans: ip[h.ihl():tot],
		src: netip.AddrFrom4(h.src()), dst: netip.AddrFrom4(h.dst()), proto: h.proto()}
	if err := sf.ip.DecodeFromBytes(ip[:tot], gopacket.NilDecodeFeedback); err != nil {
		bad("IPv4", "gopacket cannot decode the header: %v", err)
		return nil
	}
	isFrag := sf.ip.Flags&layers.IPv4MoreFragments != 0 || sf.ip.FragOffset != 0
	switch f.Kind {
	case report.Fragment:
		if sf.ip.Flags&layers.IPv4DontFragment != 0 {
			bad("IPv4.Flags", "DF set on a fragment")
		}
		if f.Offset != int(sf.ip.FragOffset)*8 {
			bad("Frame.Offset", "records %d, the header says %d", f.Offset, int(sf.ip.FragOffset)*8)
		}
	case report.Super:
		if c.view != report.Tap {
			bad("Frame.Kind", "a GSO super-packet in the %s view: only the tap sees one", c.view)
		}
		if isFrag {
			bad("IPv4.FragOffset", "a %s frame has MF=%v offset %d: it is a fragment", f.Kind, sf.ip.Flags&layers.IPv4MoreFragments != 0, int(sf.ip.FragOffset)*8)
		}
	case report.Datagram, report.Segment:
		if isFrag {
			bad("IPv4.FragOffset", "a %s frame has MF=%v offset %d: it is a fragment", f.Kind, sf.ip.Flags&layers.IPv4MoreFragments != 0, int(sf.ip.FragOffset)*8)
		}
	default:
		bad("Frame.Kind", "unknown kind %q", f.Kind)
	}
	return sf
}

// datagram checks the frames of one datagram together.
func (c *frameChecker) datagram(d int, fs []*sentFrame) {
	kind := fs[0].f.Kind
	for _, sf := range fs[1:] {
		if sf.f.Kind != kind {
			c.add(sf.idx, d, "Frame.Kind", fmt.Sprintf("%s in a datagram whose first frame is a %s", sf.f.Kind, kind))
			return
		}
	}
	for _, sf := range fs {
		if sf.f.Count != len(fs) {
			c.add(sf.idx, d, "Frame.Count", fmt.Sprintf("records %d frames, the datagram has %d", sf.f.Count, len(fs)))
		}
	}
	byIndex := c.sorted(fs, func(sf *sentFrame) int { return sf.f.Index })
	for k, sf := range byIndex {
		if sf.f.Index != k {
			c.add(sf.idx, d, "Frame.Index", fmt.Sprintf("index %d where %d was expected", sf.f.Index, k))
			break
		}
	}
	switch kind {
	case report.Fragment:
		if fs[0].v6 {
			c.fragments6(d, fs)
			return
		}
		c.fragments(d, fs)
	case report.Segment:
		c.segments(d, byIndex)
	default:
		if len(fs) != 1 {
			c.add(fs[1].idx, d, "Frame.Count", fmt.Sprintf("a %s datagram spans %d frames", kind, len(fs)))
		}
		if payload, ok := c.udp(fs[0], fs[0].trans); ok {
			c.payload(fs[0].idx, d, payload)
		}
	}
}

// fragments checks a fragmented datagram's layout, then reassembles it.
func (c *frameChecker) fragments(d int, fs []*sentFrame) {
	sorted := c.sorted(fs, func(sf *sentFrame) int { return int(sf.ip.FragOffset) })
	first := sorted[0]
	ok := true
	bad := func(sf *sentFrame, field, format string, args ...any) {
		c.add(sf.idx, d, field, fmt.Sprintf(format, args...))
		ok = false
	}
	if len(sorted) == 1 && first.ip.Flags&layers.IPv4MoreFragments == 0 && first.ip.FragOffset == 0 {
		bad(first, "IPv4.Flags", "a lone fragment with MF clear and offset 0 is not a fragment")
	}
	at := 0
	for k, sf := range sorted {
		last := k == len(sorted)-1
		if k > 0 {
			same(c, sf, first, d, &ok)
		}
		off := int(sf.ip.FragOffset) * 8
		switch {
		case off > at:
			bad(sf, "IPv4.FragOffset", "gap: offset %d, the previous fragment ended at %d", off, at)
		case off < at:
			bad(sf, "IPv4.FragOffset", "overlap: offset %d, the previous fragment ended at %d", off, at)
		}
		more := sf.ip.Flags&layers.IPv4MoreFragments != 0
		if !last && !more {
			bad(sf, "IPv4.Flags", "MF clear on a fragment that is not the last")
		}
		if last && more {
			bad(sf, "IPv4.Flags", "MF set on the last fragment")
		}
		if !last && len(sf.trans)%8 != 0 {
			bad(sf, "IPv4.FragOffset", "fragment carries %d bytes, not a multiple of 8: the next offset cannot follow on", len(sf.trans))
		}
		at = off + len(sf.trans)
	}
	if total := len(first.hdr) + at; total > ipMaxTotLen {
		bad(first, "IPv4.Length", "reassembled datagram of %d bytes exceeds 65535", total)
	}
	if !ok {
		return
	}
	buf := slices.Grow(c.buf[:0], at)
	for _, sf := range sorted {
		buf = append(buf, sf.trans...)
	}
	c.buf = buf
	if payload, uok := c.udp(first, buf); uok {
		c.payload(first.idx, d, payload)
	}
}

// same reports header fields of fragment sf that differ from the first.
func same(c *frameChecker, sf, first *sentFrame, d int, ok *bool) {
	diff := func(field string, got, want any) {
		c.add(sf.idx, d, field, fmt.Sprintf("%v, the datagram's first fragment has %v", got, want))
		*ok = false
	}
	if sf.ip.Id != first.ip.Id {
		diff("IPv4.Id", sf.ip.Id, first.ip.Id)
	}
	if sf.ip.Protocol != first.ip.Protocol {
		diff("IPv4.Protocol", sf.ip.Protocol, first.ip.Protocol)
	}
	if !sf.ip.SrcIP.Equal(first.ip.SrcIP) {
		diff("IPv4.SrcIP", sf.ip.SrcIP, first.ip.SrcIP)
	}
	if !sf.ip.DstIP.Equal(first.ip.DstIP) {
		diff("IPv4.DstIP", sf.ip.DstIP, first.ip.DstIP)
	}
}

// segments checks the datagrams __udp_gso_segment cut from one super-packet
// (in index order): each valid, IDs consecutive, all but the last of the
// same size, and the payloads joined compared with what was sent.
func (c *frameChecker) segments(d int, fs []*sentFrame) {
	// Sized up front: growing it by append costs several times the
	// datagram when segments are small (a fuzz campaign's hot spot).
	n := 0
	for _, sf := range fs {
		n += len(sf.trans)
	}
	joined := slices.Grow(c.buf[:0], n)
	ok := true
	first := fs[0]
	for k, sf := range fs {
		if k > 0 {
			// IPv6 segments have no ID (no fragment header).
			if want := first.ip.Id + uint16(k); !sf.v6 && sf.ip.Id != want {
				c.add(sf.idx, d, "IPv4.Id", fmt.Sprintf("segment %d has ID %d, want %d (IDs count up)", k, sf.ip.Id, want))
			}
			if sf.v6 != first.v6 || sf.src != first.src || sf.dst != first.dst || sf.proto != first.proto {
				c.add(sf.idx, d, ipName(sf), "segment addresses or protocol differ from segment 0")
			}
			if k < len(fs)-1 && len(sf.trans) != len(first.trans) {
				c.add(sf.idx, d, "UDP.Length", fmt.Sprintf("segment %d carries %d bytes, segment 0 %d: only the last may differ", k, len(sf.trans), len(first.trans)))
			}
			if len(sf.trans) > len(first.trans) {
				c.add(sf.idx, d, "UDP.Length", fmt.Sprintf("segment %d carries %d bytes, more than segment 0's %d", k, len(sf.trans), len(first.trans)))
			}
		}
		payload, uok := c.udp(sf, sf.trans)
		if !uok {
			ok = false
			continue
		}
		if k > 0 && len(sf.trans) >= 4 && len(first.trans) >= 4 && !bytes.Equal(sf.trans[:4], first.trans[:4]) {
			c.add(sf.idx, d, "UDP.SrcPort", "segment ports differ from segment 0")
		}
		joined = append(joined, payload...)
	}
	c.buf = joined
	if ok {
		c.payload(first.idx, d, joined)
	}
}

// udp judges a datagram's transport bytes as a receiver would, adding a
// problem for every failure; it returns the UDP payload when the datagram
// passes.
func (c *frameChecker) udp(sf *sentFrame, trans []byte) ([]byte, bool) {
	d := sf.f.Datagram
	proto := sf.proto
	if sf.v6 && sf.x6.frag {
		// A reassembled IPv6 datagram: what its fragment header named
		// may be more extension headers (destination options).
		var ok bool
		if proto, trans, ok = c.upper6(sf, proto, trans); !ok {
			return nil, false
		}
	}
	if proto != protoUDP && proto != protoUDPLite {
		field := "IPv4.Protocol"
		if sf.v6 {
			field = "IPv6.NextHeader"
		}
		c.add(sf.idx, d, field, fmt.Sprintf("%d, want UDP (17) or UDP-Lite (136)", proto))
		return nil, false
	}
	// A zero UDP checksum over IPv6 is what a UDP_NO_CHECK6_TX socket
	// sends; report.Frame does not say which socket sent the frame, so
	// it passes (see Frames).
	o := udpRcv(sf.src, sf.dst, proto, trans, len(trans), true)
	if o.code != "" {
		c.add(sf.idx, d, o.field, o.reason)
		return nil, false
	}
	if ulen := o.plen + udpHeaderLen; proto == protoUDP && ulen < len(trans) {
		c.add(sf.idx, d, "UDP.Length", fmt.Sprintf("%d < %d bytes after the IP header (a receiver trims the rest)", ulen, len(trans)))
	}
	if o.checksum == csumPartial && c.view != report.Tap {
		c.add(sf.idx, d, "UDP.Checksum", "holds the pseudo-header sum (CHECKSUM_PARTIAL) in the wire view")
	}
	return o.payload, true
}

// payload compares a datagram's UDP payload with what was sent.
func (c *frameChecker) payload(frame, d int, got []byte) {
	if c.sent == nil {
		return
	}
	if d < 0 || d >= len(c.sent) {
		c.add(frame, d, "Payload", fmt.Sprintf("datagram %d has no sent payload to compare (%d sent)", d, len(c.sent)))
		return
	}
	want := c.sent[d]
	if bytes.Equal(got, want) {
		return
	}
	at := 0
	for at < len(got) && at < len(want) && got[at] == want[at] {
		at++
	}
	c.add(frame, d, "Payload", fmt.Sprintf("%d bytes differ from the %d sent, first at byte %d", len(got), len(want), at))
}
