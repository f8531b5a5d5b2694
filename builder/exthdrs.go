package builder

import (
	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells net/ipv6/exthdrs.c for the send path: the extension
// headers a datagram carries (struct ipv6_txoptions), how
// ipv6_push_nfrag_opts and ipv6_push_frag_opts put them in front of the
// UDP header, the routing header's address rewriting (ipv6_push_rthdr0,
// ipv6_push_rthdr4), and ipv6_fixup_options. seg6_validate_srh, from
// net/ipv6/seg6.c, checks a sticky segment routing header.

// mip6Enabled is CONFIG_IPV6_MIP6 (package cmsg holds the one fact).
const mip6Enabled = cmsg.KernelMIP6

// txOptions mirrors struct ipv6_txoptions: the extension headers of a
// datagram, each its bytes as given (byte 0, the next header, is
// overwritten when pushed), and the byte counts of the two parts: nflen
// (opt_nflen: hop-by-hop, the destination options before the routing
// header, the routing header; they go before a fragment header) and flen
// (opt_flen: IPV6_DSTOPTS, after it).
type txOptions struct {
	hop, dst0, srcrt, dst1 []byte
	nflen, flen            int
}

// any reports whether any extension header is set (opt_nflen | opt_flen).
func (o *txOptions) any() bool { return o.nflen|o.flen != 0 }

// renew recomputes the counts from the headers, as ipv6_renew_options
// does for the sticky set.
func (o *txOptions) renew() {
	o.nflen = len(o.hop) + len(o.dst0) + len(o.srcrt)
	o.flen = len(o.dst1)
}

// ipv6Optlen is ipv6_optlen: an option header's length from its hdrlen
// byte.
func ipv6Optlen(h []byte) int { return (int(h[1]) + 1) * 8 }

// ipv6FixupOptions mirrors ipv6_fixup_options: destination options meant
// for before a routing header (IPV6_RTHDRDSTOPTS) are dropped when there
// is no routing header (RFC 3542), on a copy (space) so that the socket's
// own set is untouched. It returns the options the send uses.
func ipv6FixupOptions(space, opt *txOptions) *txOptions {
	if opt != nil && opt.dst0 != nil && opt.srcrt == nil {
		if opt != space {
			*space = *opt
			opt = space
		}
		opt.nflen -= len(opt.dst0)
		opt.dst0 = nil
	}
	return opt
}

// copyInto deep-copies o into dst, reusing dst's buffers: ip6_setup_cork's
// ip6_opt_dup of every header, so that a corked datagram keeps its
// headers whatever the caller does with its control buffer.
func (o *txOptions) copyInto(dst *txOptions) {
	dup := func(b, into []byte) []byte {
		if b == nil {
			return nil
		}
		return append(into[:0], b...)
	}
	dst.hop = dup(o.hop, dst.hop)
	dst.dst0 = dup(o.dst0, dst.dst0)
	dst.srcrt = dup(o.srcrt, dst.srcrt)
	dst.dst1 = dup(o.dst1, dst.dst1)
	dst.nflen, dst.flen = o.nflen, o.flen
}

// pushedLen is the bytes ipv6_push_nfrag_opts and ipv6_push_frag_opts put
// in front of the UDP header: each header by its own length (a repeated
// DSTOPTS control message counted twice in flen is pushed once), the
// pre-routing destination options only with a routing header.
func (o *txOptions) pushedLen() (nfrag, frag int) {
	if o.srcrt != nil {
		nfrag += ipv6Optlen(o.srcrt)
		if o.dst0 != nil {
			nfrag += ipv6Optlen(o.dst0)
		}
	}
	if o.hop != nil {
		nfrag += ipv6Optlen(o.hop)
	}
	if o.dst1 != nil {
		frag = ipv6Optlen(o.dst1)
	}
	return nfrag, frag
}

// ipv6PushExthdr mirrors ipv6_push_exthdr: header h goes in front of
// buf[off:], its first byte naming what follows (*proto), and *proto
// becomes typ. It returns the new front.
func ipv6PushExthdr(buf []byte, off int, proto *uint8, typ uint8, h []byte) int {
	n := ipv6Optlen(h)
	off -= n
	copy(buf[off:off+n], h)
	buf[off] = *proto
	*proto = typ
	return off
}

// ipv6PushFragOpts mirrors ipv6_push_frag_opts: IPV6_DSTOPTS, the only
// header after the fragment header, goes right before the UDP header.
func ipv6PushFragOpts(buf []byte, off int, opt *txOptions, proto *uint8) int {
	if opt.dst1 != nil {
		off = ipv6PushExthdr(buf, off, proto, header.NextHdrDest, opt.dst1)
	}
	return off
}

// ipv6PushNfragOpts mirrors ipv6_push_nfrag_opts: the routing header
// (which takes the final destination and names the first hop, *daddr),
// the destination options before it (only with a routing header), then
// hop-by-hop, each in front of the last.
func ipv6PushNfragOpts(buf []byte, off int, opt *txOptions, proto *uint8, daddr *[16]byte) int {
	if opt.srcrt != nil {
		off = ipv6PushRthdr(buf, off, proto, opt.srcrt, daddr)
		// IPV6_RTHDRDSTOPTS is ignored unless IPV6_RTHDR is set (RFC 3542).
		if opt.dst0 != nil {
			off = ipv6PushExthdr(buf, off, proto, header.NextHdrDest, opt.dst0)
		}
	}
	if opt.hop != nil {
		off = ipv6PushExthdr(buf, off, proto, header.NextHdrHop, opt.hop)
	}
	return off
}

// ipv6PushRthdr mirrors ipv6_push_rthdr: a segment routing header
// (ipv6_push_rthdr4) puts the final destination in segments[0] and routes
// to segments[segments_left]; types 0 and 2 (ipv6_push_rthdr0) shift the
// addresses by one, the final destination last, and route to the first.
// *daddr, the final destination on the way in, is the IPv6 header's
// destination on the way out. An SRH's HMAC TLV is copied as given:
// seg6_push_hmac needs a key the model's host does not have.
func ipv6PushRthdr(buf []byte, off int, proto *uint8, h []byte, daddr *[16]byte) int {
	n := ipv6Optlen(h)
	off -= n
	p := buf[off : off+n]
	copy(p, h)
	final := *daddr
	switch h[2] {
	case 4:
		// struct ipv6_sr_hdr: 8 bytes, then segments[first_segment + 1].
		const segOff = 8
		segsLeft := int(h[3])
		copy(p[segOff:segOff+16], final[:])
		if at := segOff + 16*segsLeft; at+16 <= len(h) {
			*daddr = [16]byte(h[at : at+16])
		}
	default:
		// struct rt0_hdr: 8 bytes, then hdrlen / 2 addresses.
		const addrOff = 8
		hops := int(h[1]) >> 1
		if hops > 0 && addrOff+16*hops <= len(h) {
			copy(p[addrOff:], h[addrOff+16:addrOff+16*hops])
			copy(p[addrOff+16*(hops-1):], final[:])
			*daddr = [16]byte(h[addrOff : addrOff+16])
		}
	}
	p[0] = *proto
	*proto = header.NextHdrRouting
	return off
}

// seg6ValidateSRH mirrors seg6_validate_srh (net/ipv6/seg6.c) with
// reduced false, for a sticky IPV6_RTHDR of optlen bytes: type 4, its
// length exactly optlen, segments_left at most first_segment, the
// segment list within the header, and TLVs that fill the rest exactly.
func seg6ValidateSRH(h []byte, optlen int) bool {
	if len(h) < 8 || h[2] != 4 || ipv6Optlen(h) != optlen {
		return false
	}
	hdrlen, segsLeft, first := int(h[1]), int(h[3]), int(h[4])
	if segsLeft > first {
		return false
	}
	if first > hdrlen/2-1 {
		return false
	}
	tlvOff := 8 + (first+1)*16
	trailing := optlen - tlvOff
	if trailing < 0 {
		return false
	}
	for trailing > 0 {
		if trailing < 2 {
			return false
		}
		tlvLen := 2 + int(h[tlvOff+1])
		trailing -= tlvLen
		if trailing < 0 {
			return false
		}
		tlvOff += tlvLen
	}
	return true
}

// firstHop is fl6_update_dst's answer for the route lookup: with a routing
// header, the address the IPv6 header will carry (type 0/2: addr[0]; SRH:
// segments[segments_left]); ok is false without one.
func firstHop(opt *txOptions) (hop [16]byte, ok bool) {
	if opt == nil || opt.srcrt == nil {
		return hop, false
	}
	h := opt.srcrt
	at := 8
	if h[2] == 4 {
		at += 16 * int(h[3])
	}
	if at+16 > len(h) {
		return hop, false
	}
	return [16]byte(h[at : at+16]), true
}
