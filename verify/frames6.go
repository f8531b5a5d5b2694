package verify

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/report"
)

// frame6 is what Frames reads of an IPv6 frame beyond sentFrame's common
// fields.
type frame6 struct {
	// fixed is the 40-byte header; unfrag the extension headers before
	// the fragment header (of a whole datagram: all of them).
	fixed, unfrag []byte
	// frag says a fragment header is present; fragNext is its next
	// header, offset (bytes) and more its place, id its identification.
	frag     bool
	fragNext uint8
	offset   int
	more     bool
	id       uint32
}

// ipName names a frame's IP layer for a Problem's Field.
func ipName(sf *sentFrame) string {
	if sf.v6 {
		return "IPv6"
	}
	return "IPv4"
}

// frame6 checks one IPv6 frame on its own and decodes it: version, payload
// length against the frame (padding of short frames to 60 bytes allowed),
// the MTU, the extension headers up to the fragment header or the
// upper-layer header (hop-by-hop only first, each within the packet, their
// options well formed), the fragment header's reserved fields, and the same
// walk done by gopacket's layers, which must agree. nil if the frame is
// too broken to take part in datagram checks.
func (c *frameChecker) frame6(i int, f report.Frame, ip []byte, mtu int) *sentFrame {
	bad := func(field, format string, args ...any) { c.add(i, f.Datagram, field, fmt.Sprintf(format, args...)) }
	if len(ip) < ipv6HeaderLen {
		bad("IPv6", "%d bytes, an IPv6 header needs 40", len(ip))
		return nil
	}
	h := ipv6Header(ip)
	if h.version() != 6 {
		bad("IPv6.Version", "%d, want 6", h.version())
		return nil
	}
	plen := h.payloadLen()
	if plen == 0 {
		bad("IPv6.Length", "payload length 0 (a jumbogram's): no UDP datagram of udpbuild's is one")
		return nil
	}
	tot := ipv6HeaderLen + plen
	if tot > len(ip) {
		bad("IPv6.Length", "payload length %d, %d bytes present", plen, len(ip)-ipv6HeaderLen)
		return nil
	}
	if extra := len(ip) - tot; extra > 0 && !(len(f.Data) == ethMinFrame && len(f.Data)-extra < ethMinFrame) {
		bad("IPv6.Length", "frame carries %d bytes after the %d-byte IPv6 packet (only padding to %d bytes is allowed)", extra, tot, ethMinFrame)
	}
	if mtu > 0 && f.Kind != report.Super && tot > mtu {
		bad("IPv6.Length", "%d bytes exceeds the MTU %d", tot, mtu)
	}
	ip = ip[:tot]
	sf := c.newFrame()
	*sf = sentFrame{idx: i, f: f, v6: true, src: h.src(), dst: h.dst()}
	x := &sf.x6
	x.fixed = ip[:ipv6HeaderLen]
	b := ip[ipv6HeaderLen:]
	next, off := h.nextHeader(), 0
walk:
	for {
		switch next {
		case nexthdrHop, nexthdrDest, nexthdrRouting:
			if next == nexthdrHop && off != 0 {
				bad("IPv6.NextHeader", "a hop-by-hop header at byte %d: it may only come first", ipv6HeaderLen+off)
				return nil
			}
			if off+8 > len(b) || off+extLen(next, b[off+1]) > len(b) {
				bad("IPv6", "%v header at byte %d runs past the packet", layers.IPProtocol(next), ipv6HeaderLen+off)
				return nil
			}
			n := extLen(next, b[off+1])
			if next == nexthdrRouting {
				final, complaint := finalDst(b[off:off+n], sf.dst)
				if complaint != "" {
					bad("IPv6Routing", "%s", complaint)
					return nil
				}
				sf.dst = final
			} else if complaint := tlvStructure(b[off : off+n]); complaint != "" {
				bad("IPv6.Options", "%v header: %s", layers.IPProtocol(next), complaint)
			}
			next, off = b[off], off+n
		case nexthdrFragment:
			if off+8 > len(b) {
				bad("IPv6Fragment", "fragment header at byte %d runs past the packet", ipv6HeaderLen+off)
				return nil
			}
			fh := b[off : off+8]
			w := binary.BigEndian.Uint16(fh[2:])
			x.frag, x.fragNext, x.offset, x.more, x.id = true, fh[0], int(w&ip6FragOffset), w&ip6FragMF != 0, binary.BigEndian.Uint32(fh[4:])
			if fh[1] != 0 || w&6 != 0 {
				bad("IPv6Fragment.Reserved", "reserved fields %d and %d set: the kernel writes 0", fh[1], w>>1&3)
			}
			x.unfrag, sf.proto, sf.trans = b[:off], fh[0], b[off+8:]
			break walk
		default:
			x.unfrag, sf.proto, sf.trans = b[:off], next, b[off:]
			break walk
		}
	}
	c.gopacket6(sf, ip)
	switch f.Kind {
	case report.Fragment:
		if !x.frag {
			bad("IPv6.NextHeader", "a fragment frame without a fragment header")
			return nil
		}
		if !x.more && x.offset == 0 {
			bad("IPv6Fragment", "an atomic fragment (offset 0, M clear): Linux sends none")
		}
		if f.Offset != x.offset {
			bad("Frame.Offset", "records %d, the header says %d", f.Offset, x.offset)
		}
		if x.id == 0 {
			bad("IPv6Fragment.Identification", "0, which ipv6_select_ident never draws")
		}
		if f.IDSource != "" && f.IDSource != report.IDRandom {
			bad("Frame.IDSource", "%q on an IPv6 fragment, whose identification is %q", f.IDSource, report.IDRandom)
		}
	case report.Super, report.Datagram, report.Segment:
		if f.Kind == report.Super && c.view != report.Tap {
			bad("Frame.Kind", "a GSO super-packet in the %s view: only the tap sees one", c.view)
		}
		if x.frag {
			bad("IPv6Fragment", "a %s frame has a fragment header (offset %d, M %v)", f.Kind, x.offset, x.more)
		}
	default:
		bad("Frame.Kind", "unknown kind %q", f.Kind)
	}
	return sf
}

// gopacket6 walks an IPv6 packet with gopacket's layers (the header with
// its hop-by-hop options, destination options, routing and fragment
// headers) and reports where that walk disagrees with verify's own: the
// upper-layer protocol, where its bytes start, the fragment header's
// fields.
func (c *frameChecker) gopacket6(sf *sentFrame, ip []byte) {
	bad := func(format string, args ...any) {
		c.add(sf.idx, sf.f.Datagram, "IPv6", "gopacket: "+fmt.Sprintf(format, args...))
	}
	g := &c.g6
	df := gopacket.NilDecodeFeedback
	if err := g.ip.DecodeFromBytes(ip, df); err != nil {
		bad("cannot decode the header: %v", err)
		return
	}
	next, payload := g.ip.NextLayerType(), g.ip.Payload
	var frag *layers.IPv6Fragment
	for range 64 {
		var err error
		switch next {
		case layers.LayerTypeIPv6Destination:
			err = g.dst.DecodeFromBytes(payload, df)
			next, payload = g.dst.NextHeader.LayerType(), g.dst.Payload
		case layers.LayerTypeIPv6Routing:
			err = g.skip.DecodeFromBytes(payload, df)
			next, payload = g.skip.NextLayerType(), g.skip.Payload
		case layers.LayerTypeIPv6Fragment:
			err = g.frag.DecodeFromBytes(payload, df)
			frag, payload = &g.frag, g.frag.Payload
		}
		if err != nil {
			bad("cannot decode the %v: %v", next, err)
			return
		}
		if frag != nil || (next != layers.LayerTypeIPv6Destination && next != layers.LayerTypeIPv6Routing && next != layers.LayerTypeIPv6Fragment) {
			break
		}
	}
	at := len(ip) - len(payload)
	if want := len(ip) - len(sf.trans); at != want {
		bad("the headers end at byte %d, verify's walk says %d", at, want)
	}
	x := &sf.x6
	switch {
	case (frag != nil) != x.frag:
		bad("fragment header found: %v, verify's walk: %v", frag != nil, x.frag)
	case frag != nil:
		if uint8(frag.NextHeader) != x.fragNext || int(frag.FragmentOffset)*8 != x.offset || frag.MoreFragments != x.more || frag.Identification != x.id {
			bad("fragment header next %d offset %d M %v id %#x, verify's walk: next %d offset %d M %v id %#x",
				frag.NextHeader, int(frag.FragmentOffset)*8, frag.MoreFragments, frag.Identification, x.fragNext, x.offset, x.more, x.id)
		}
	}
}

// gopacket6Layers are the decoders gopacket6 reuses.
type gopacket6Layers struct {
	ip   layers.IPv6
	dst  layers.IPv6Destination
	skip layers.IPv6ExtensionSkipper
	frag layers.IPv6Fragment
}

// finalDst returns the destination a routing header leads to, which is
// what the sender's UDP checksum covers (udpv6_sendmsg's fl6->daddr, RFC
// 8200 8.1's "last element of the Routing header" at the originating
// node): segments[0] of a segment routing header, whatever segments_left
// says (ipv6_push_rthdr4 writes the final destination there and routes to
// the header's own segments[segments_left], so a sticky SRH with no
// segment left whose segment is not the destination goes to that segment,
// checksummed for the destination); otherwise the IPv6 header's dst when
// no segment is left, else the last address of a type 0 or 2 header.
func finalDst(rt []byte, dst netip.Addr) (netip.Addr, string) {
	n := (len(rt) - 8) / 16
	if rt[2] == rthdrSRH && n > 0 {
		return netip.AddrFrom16([16]byte(rt[8:24])), ""
	}
	if rt[3] == 0 {
		return dst, ""
	}
	if n == 0 {
		return dst, fmt.Sprintf("%d segments left in a routing header with no address", rt[3])
	}
	if rt[2] == 0 || rt[2] == 2 {
		return netip.AddrFrom16([16]byte(rt[8+16*(n-1):])), ""
	}
	return dst, fmt.Sprintf("routing header type %d with %d segments left: its final destination is unknown", rt[2], rt[3])
}

// tlvStructure checks that an options header's options are well formed
// (each length within the header), as optionsStructure does for IPv4: a
// sender is held to the structure, not to a receiver's policy.
func tlvStructure(b []byte) string {
	for i := 2; i < len(b); {
		if b[i] == ip6OptPad1 {
			i++
			continue
		}
		if len(b)-i < 2 || int(b[i+1])+2 > len(b)-i {
			return fmt.Sprintf("option %d at byte %d runs past the header's %d bytes", b[i], i, len(b))
		}
		i += int(b[i+1]) + 2
	}
	return ""
}

// upper6 walks the extension headers a reassembled IPv6 datagram starts
// with (those after the fragment header) to its upper-layer header.
func (c *frameChecker) upper6(sf *sentFrame, next uint8, b []byte) (uint8, []byte, bool) {
	upper, at, r := skipExt(next, b)
	if r != skipUpper || at > len(b) {
		c.add(sf.idx, sf.f.Datagram, "IPv6.NextHeader", fmt.Sprintf("the reassembled datagram's headers from next header %d do not lead to an upper-layer header", next))
		return 0, nil, false
	}
	return upper, b[at:], true
}

// fragments6 checks an IPv6 datagram's fragments: the layout (as IPv4's:
// from 0, contiguous, multiples of 8 but for the last, M on all but the
// last, the payload at most 65535), the same identification in every one,
// the unfragmentable part (the fixed header but its payload length, and
// the extension headers before the fragment header) repeated identically;
// then it reassembles the datagram and checks its UDP header and payload.
func (c *frameChecker) fragments6(d int, fs []*sentFrame) {
	sorted := c.sorted(fs, func(sf *sentFrame) int { return sf.x6.offset })
	first := sorted[0]
	ok := true
	bad := func(sf *sentFrame, field, format string, args ...any) {
		c.add(sf.idx, d, field, fmt.Sprintf(format, args...))
		ok = false
	}
	at := 0
	for k, sf := range sorted {
		last := k == len(sorted)-1
		x, fx := &sf.x6, &first.x6
		if k > 0 {
			if x.id != fx.id {
				bad(sf, "IPv6Fragment.Identification", "%#x, the datagram's first fragment has %#x", x.id, fx.id)
			}
			if x.fragNext != fx.fragNext {
				bad(sf, "IPv6Fragment.NextHeader", "%d, the datagram's first fragment has %d", x.fragNext, fx.fragNext)
			}
			if !bytes.Equal(x.fixed[0:4], fx.fixed[0:4]) || !bytes.Equal(x.fixed[6:], fx.fixed[6:]) {
				bad(sf, "IPv6", "header (but for the payload length) differs from the first fragment's")
			}
			if !bytes.Equal(x.unfrag, fx.unfrag) {
				bad(sf, "IPv6.ExtensionHeaders", "the %d bytes of extension headers before the fragment header differ from the first fragment's %d", len(x.unfrag), len(fx.unfrag))
			}
		}
		switch {
		case x.offset > at:
			bad(sf, "IPv6Fragment.FragmentOffset", "gap: offset %d, the previous fragment ended at %d", x.offset, at)
		case x.offset < at:
			bad(sf, "IPv6Fragment.FragmentOffset", "overlap: offset %d, the previous fragment ended at %d", x.offset, at)
		}
		if !last && !x.more {
			bad(sf, "IPv6Fragment.MoreFragments", "M clear on a fragment that is not the last")
		}
		if last && x.more {
			bad(sf, "IPv6Fragment.MoreFragments", "M set on the last fragment")
		}
		if !last && len(sf.trans)%8 != 0 {
			bad(sf, "IPv6Fragment.FragmentOffset", "fragment carries %d bytes, not a multiple of 8: the next offset cannot follow on", len(sf.trans))
		}
		at = x.offset + len(sf.trans)
	}
	if total := len(first.x6.unfrag) + at; total > ipv6MaxPayload {
		bad(first, "IPv6.Length", "reassembled payload of %d bytes exceeds 65535", total)
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
