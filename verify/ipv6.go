package verify

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// IPv6 constants (include/uapi/linux/ipv6.h, include/net/ipv6.h). verify
// keeps its own rather than package header's, as it keeps its own walk:
// see docs/architecture.md.
const (
	ipv6HeaderLen = 40
	// ipv6MaxPayload is IPV6_MAXPLEN.
	ipv6MaxPayload = 65535

	nexthdrHop      = 0
	nexthdrRouting  = 43
	nexthdrFragment = 44
	nexthdrESP      = 50
	nexthdrAuth     = 51
	nexthdrNone     = 59
	nexthdrDest     = 60

	// ip6FragOffset and ip6FragMF are IP6_OFFSET and IP6_MF of the
	// fragment header's frag_off; ip6FragNotAtomic is the 0xFFF9 that
	// ipv6_frag_rcv tests to tell a fragment from an atomic one.
	ip6FragOffset    = 0xfff8
	ip6FragMF        = 0x0001
	ip6FragNotAtomic = 0xfff9

	// ip6MaxOpts is the default of max_hbh_opts_cnt and max_dst_opts_cnt
	// (IP6_DEFAULT_MAX_HBH_OPTS_CNT, IP6_DEFAULT_MAX_DST_OPTS_CNT): how
	// many options other than padding ip6_parse_tlv takes in a header.
	ip6MaxOpts = 8
)

// Hop-by-hop and destination option types ip6_parse_tlv knows
// (include/uapi/linux/in6.h).
const (
	ip6OptPad1        = 0
	ip6OptPadN        = 1
	ip6OptRouterAlert = 5
	ip6OptCALIPSO     = 7
	ip6OptIOAM        = 49
	ip6OptJumbo       = 0xc2
)

// Routing header types ipv6_rthdr_rcv hands on (IPV6_SRCRT_TYPE_*).
const (
	rthdrRPL = 3
	rthdrSRH = 4
)

// ipv6Header is a byte-slice view of the fixed IPv6 header (40 bytes), read
// as ip6_rcv_core reads it, before any length has been trusted.
type ipv6Header []byte

func (h ipv6Header) version() int      { return int(h[0] >> 4) }
func (h ipv6Header) tclass() uint8     { return uint8(binary.BigEndian.Uint16(h[0:2]) >> 4) }
func (h ipv6Header) payloadLen() int   { return int(binary.BigEndian.Uint16(h[4:6])) }
func (h ipv6Header) nextHeader() uint8 { return h[6] }
func (h ipv6Header) src() netip.Addr   { return netip.AddrFrom16([16]byte(h[8:24])) }
func (h ipv6Header) dst() netip.Addr   { return netip.AddrFrom16([16]byte(h[24:40])) }

// isExtHeader mirrors ipv6_ext_hdr: the next-header values
// ipv6_skip_exthdr steps over.
func isExtHeader(n uint8) bool {
	switch n {
	case nexthdrHop, nexthdrRouting, nexthdrFragment, nexthdrAuth, nexthdrNone, nexthdrDest:
		return true
	}
	return false
}

// extLen is an extension header's length from its second byte: AH counts
// 4-byte words less 2 (ipv6_authlen), the others 8-byte words less 1
// (ipv6_optlen); a fragment header is 8.
func extLen(n uint8, b1 byte) int {
	switch n {
	case nexthdrFragment:
		return 8
	case nexthdrAuth:
		return (int(b1) + 2) << 2
	}
	return (int(b1) + 1) << 3
}

// skipResult is where a walk of the extension headers ended.
type skipResult uint8

const (
	skipUpper    skipResult = iota // at the upper-layer header (or ESP)
	skipLaterFrg                   // at the fragment header of a fragment other than the first
	skipNone                       // at "no next header"
	skipShort                      // a header reaches past the bytes given
)

// skipExt mirrors ipv6_skip_exthdr over b, which starts with a header of
// type next: it steps over extension headers to the upper-layer header and
// returns its type and offset in b. It stops at the fragment header of a
// fragment that is not the first (nothing after it is a header). As the
// kernel's, it reads two bytes of each header: the offset of the upper
// layer may lie beyond b, which callers check.
func skipExt(next uint8, b []byte) (uint8, int, skipResult) {
	off := 0
	for isExtHeader(next) {
		if next == nexthdrNone {
			return next, off, skipNone
		}
		if off+2 > len(b) {
			return next, off, skipShort
		}
		if next == nexthdrFragment {
			if off+4 > len(b) {
				return next, off, skipShort
			}
			if binary.BigEndian.Uint16(b[off+2:])&^7 != 0 {
				return next, off, skipLaterFrg
			}
		}
		n := extLen(next, b[off+1])
		next = b[off]
		off += n
	}
	return next, off, skipUpper
}

// judged6 says whether an IPv6 packet whose headers start with next in b
// gets a verdict: when it carries UDP, UDP-Lite or a tunnelled packet, when
// it is a fragment (only the whole datagram shows what it carries), and
// when its chain cannot be followed to the end in the bytes captured.
func judged6(next uint8, b []byte) (uint8, bool) {
	upper, _, r := skipExt(next, b)
	switch r {
	case skipLaterFrg, skipShort:
		return upper, true
	case skipNone:
		return upper, false
	}
	if bytesHaveFragment(next, b) {
		return upper, true
	}
	return upper, carriesJudged(upper)
}

// carriesJudged reports the protocols whose packets verify judges.
func carriesJudged(p uint8) bool {
	switch p {
	case protoUDP, protoUDPLite, protoIPIP, protoIPv6in, protoGRE:
		return true
	}
	return false
}

// bytesHaveFragment reports a fragment header in the chain.
func bytesHaveFragment(next uint8, b []byte) bool {
	off := 0
	for isExtHeader(next) && next != nexthdrNone && off+2 <= len(b) {
		if next == nexthdrFragment {
			return true
		}
		n := extLen(next, b[off+1])
		next = b[off]
		off += n
	}
	return false
}

// rx6 is an IPv6 packet on its way up: what ip6_protocol_deliver_rcu walks.
type rx6 struct {
	vd *Verdict
	// data is the captured part of the bytes after the fixed header
	// (trimmed to payload_len), full their length; base is where data
	// starts counted from the network header (40, or less for a
	// reassembled datagram whose fragment header is gone).
	data []byte
	full int
	base int
	// payloadLen is the header's payload_len (0: a jumbogram's).
	payloadLen int
	// fragmented is IP6SKB_FRAGMENTED: a fragment header was taken.
	fragmented bool
	// ecn is the traffic class's ECN bits (ip6_frag_ecn).
	ecn    uint8
	frames []int
	// notes go to the verdict of the datagram.
	notes string
}

// verdictFor6 starts a verdict for an IPv6 packet with header h.
func (v *Verifier) verdictFor6(h ipv6Header, proto uint8, p *pkt) *Verdict {
	vd := v.verdict()
	*vd = Verdict{
		Frames: p.frames,
		Where:  v.where(),
		Src:    netip.AddrPortFrom(h.src(), 0),
		Dst:    netip.AddrPortFrom(h.dst(), 0),
		Proto:  proto,
	}
	return vd
}

// ipv6 takes an IPv6 packet through ip6_rcv_core (version, addresses,
// payload length, the trim of what follows it, the hop-by-hop header) and
// then up the extension headers as ip6_protocol_deliver_rcu does.
func (v *Verifier) ipv6(ip []byte, p *pkt) {
	if len(ip) == 0 {
		if p.missing > 0 {
			v.notCapturedFrame("IPv6", "the capture cut the frame where the IPv6 header starts")
		} else {
			v.unjudged("IPv6", "no bytes where the IPv6 header should be")
		}
		return
	}
	h := ipv6Header(ip)
	if h.version() != 6 {
		v.unjudged("IPv6.Version", "version %d in an IPv6 packet (ip6_rcv_core drops it)", h.version())
		return
	}
	if len(ip) < ipv6HeaderLen {
		if p.missing > 0 {
			v.notCapturedFrame("IPv6", "the capture kept %d bytes of the IPv6 header", len(ip))
		} else {
			v.unjudged("IPv6", "truncated: %d bytes, an IPv6 header needs 40 (ip6_rcv_core drops it)", len(ip))
		}
		return
	}
	v.stats.IPv6++
	h = h[:ipv6HeaderLen]
	upper, judge := judged6(h.nextHeader(), ip[ipv6HeaderLen:])
	if !judge {
		v.skip(&v.stats.NotUDP, "IPv6.NextHeader", fmt.Sprintf("next header %d (%v) is not UDP or UDP-Lite", upper, layers.IPProtocol(upper)))
		return
	}
	vd := v.verdictFor6(h, upper, p)
	after := ip[ipv6HeaderLen:]
	if m := ip6Martian(h.src(), h.dst()); m != "" {
		v.udpHint6(vd, h.nextHeader(), after)
		v.drop(vd, CodeIP6Address, m+" (ip6_rcv_core)")
		return
	}
	plen := h.payloadLen()
	received := len(ip) + p.missing
	data, full := after, received-ipv6HeaderLen
	if plen != 0 || h.nextHeader() != nexthdrHop {
		if ipv6HeaderLen+plen > received {
			v.udpHint6(vd, h.nextHeader(), after)
			v.drop(vd, CodeIPTruncated, fmt.Sprintf("payload length %d > %d bytes received after the header (ip6_rcv_core)", plen, received-ipv6HeaderLen))
			return
		}
		// pskb_trim_rcsum to payload_len: link-layer padding goes.
		data, full = after[:min(plen, len(after))], plen
	}
	r := rx6{vd: vd, data: data, full: full, base: ipv6HeaderLen, payloadLen: plen, ecn: h.tclass() & 3, frames: p.frames}
	next, off := h.nextHeader(), 0
	if next == nexthdrHop {
		var ok bool
		if next, off, ok = v.hopByHop(&r); !ok {
			return
		}
	}
	v.chain6(&r, next, off)
}

// ip6Martian reports why ip6_rcv_core would drop a packet from another
// node for its addresses, or "".
func ip6Martian(src, dst netip.Addr) string {
	switch {
	case src.IsLoopback() || dst.IsLoopback():
		return "loopback address ::1 on a packet from another node"
	case dst.IsMulticast() && dst.As16()[1]&0x0f == 1:
		return "interface-local multicast destination from another node"
	case dst.IsMulticast() && dst.As16()[1]&0x0f == 0:
		return "multicast destination of reserved scope 0"
	case src.IsMulticast():
		return "multicast source address"
	}
	return ""
}

// need checks that an extension header of n bytes at off lies within the
// packet: false, with the verdict written, when it does not (a drop) or
// when the capture cut it (not captured).
func (v *Verifier) need(r *rx6, off, n int, what, fn string) bool {
	if off+n > r.full {
		v.drop(r.vd, CodeIP6ExtHeader, fmt.Sprintf("%s of %d bytes at byte %d runs past the packet's %d (%s)", what, n, r.base+off, r.base+r.full, fn))
		return false
	}
	if off+n > len(r.data) {
		r.vd.Reason = fmt.Sprintf("the capture cut the %s (%d of its %d bytes kept)", what, max(len(r.data)-off, 0), n)
		v.emit(r.vd)
		return false
	}
	return true
}

// hopByHop mirrors ipv6_parse_hopopts: the hop-by-hop header, first after
// the fixed header, and its options. It returns the next header and where
// it starts.
func (v *Verifier) hopByHop(r *rx6) (uint8, int, bool) {
	if !v.need(r, 0, 8, "hop-by-hop header", "ipv6_parse_hopopts") {
		return 0, 0, false
	}
	n := extLen(nexthdrHop, r.data[1])
	if !v.need(r, 0, n, "hop-by-hop header", "ipv6_parse_hopopts") {
		return 0, 0, false
	}
	if !v.tlvs(r, 0, n, true) {
		return 0, 0, false
	}
	return r.data[0], n, true
}

// tlvs mirrors ip6_parse_tlv over the options of the header at off (n
// bytes): false, with the verdict written, when the packet is dropped.
func (v *Verifier) tlvs(r *rx6, off, n int, hop bool) bool {
	what, fn := "destination options", "ipv6_destopt_rcv"
	if hop {
		what, fn = "hop-by-hop options", "ipv6_parse_hopopts"
	}
	bad := func(format string, args ...any) bool {
		v.udpHint6(r.vd, r.data[off], r.data[off+n:])
		v.drop(r.vd, CodeIP6Options, fmt.Sprintf(what+": "+format+" (ip6_parse_tlv, %s)", append(args, fn)...))
		return false
	}
	b := r.data[off : off+n]
	pad, count := 0, 0
	for i := 2; i < n; {
		t := b[i]
		if t == ip6OptPad1 {
			if pad++; pad > 7 {
				return bad("more than 7 bytes of padding")
			}
			i++
			continue
		}
		if n-i < 2 {
			return bad("option %d at byte %d has no length", t, i)
		}
		optlen := int(b[i+1]) + 2
		if optlen > n-i {
			return bad("option %d of %d bytes at byte %d runs past the header's %d", t, optlen, i, n)
		}
		if t == ip6OptPadN {
			if pad += optlen; pad > 7 {
				return bad("more than 7 bytes of padding")
			}
			for _, c := range b[i+2 : i+optlen] {
				if c != 0 {
					return bad("PadN holds a nonzero byte")
				}
			}
		} else {
			if count++; count > ip6MaxOpts {
				return bad("more than %d options", ip6MaxOpts)
			}
			optoff := r.base + off + i // from the network header
			if c := v.option(r, t, b[i:i+optlen], optoff, hop); c != "" {
				return bad("%s", c)
			}
			if hop && t == ip6OptJumbo {
				// ipv6_hop_jumbo trimmed the packet to the jumbo
				// length; a shorter packet was dropped above.
				jl := int(binary.BigEndian.Uint32(b[i+2:]))
				r.full = jl
				r.data = r.data[:min(len(r.data), jl)]
				r.payloadLen = 0
			}
			pad = 0
		}
		i += optlen
	}
	return true
}

// option judges one option other than padding (ipv6_hop_ra,
// ipv6_hop_ioam, ipv6_hop_jumbo, ipv6_hop_calipso, ip6_tlvopt_unknown):
// a complaint when the packet is dropped.
func (v *Verifier) option(r *rx6, t byte, o []byte, optoff int, hop bool) string {
	if hop {
		switch t {
		case ip6OptRouterAlert:
			if o[1] != 2 {
				return fmt.Sprintf("router alert option of length %d, not 2 (ipv6_hop_ra)", o[1])
			}
			return ""
		case ip6OptIOAM:
			if optoff&3 != 0 {
				return fmt.Sprintf("IOAM option at byte %d, not 4-aligned (ipv6_hop_ioam)", optoff)
			}
			return "" // ioam6_enabled is off by default: ignored
		case ip6OptJumbo:
			if o[1] != 4 || optoff&3 != 2 {
				return fmt.Sprintf("jumbo payload option of length %d at byte %d (ipv6_hop_jumbo)", o[1], optoff)
			}
			jl := int(binary.BigEndian.Uint32(o[2:]))
			switch {
			case jl <= ipv6MaxPayload:
				return fmt.Sprintf("jumbo payload length %d <= 65535 (ipv6_hop_jumbo)", jl)
			case r.payloadLen != 0:
				return fmt.Sprintf("jumbo payload option with payload length %d (ipv6_hop_jumbo)", r.payloadLen)
			case jl > r.full:
				return fmt.Sprintf("jumbo payload length %d > %d bytes received (ipv6_hop_jumbo)", jl, r.full)
			}
			return ""
		case ip6OptCALIPSO:
			if o[1] < 8 || int(o[6])*4+8 > int(o[1]) {
				return fmt.Sprintf("CALIPSO option of length %d (ipv6_hop_calipso)", o[1])
			}
			return "CALIPSO option with no CALIPSO DOI configured (calipso_validate)"
		}
	}
	switch t >> 6 {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("unknown option %d, whose type says drop (ip6_tlvopt_unknown)", t)
	}
	return fmt.Sprintf("unknown option %d, whose type says drop and send a parameter problem (ip6_tlvopt_unknown)", t)
}

// chain6 walks the headers from next at data[off] as
// ip6_protocol_deliver_rcu resubmits them to each protocol's handler, and
// judges what it reaches.
func (v *Verifier) chain6(r *rx6, next uint8, off int) {
	for hops := 0; ; hops++ {
		if hops > 64 {
			// Every header is at least 8 bytes; 64 of them are more
			// than any packet verify reads needs.
			v.drop(r.vd, CodeIP6ExtHeader, "more than 64 extension headers")
			return
		}
		switch next {
		case nexthdrHop:
			v.dropAt(r, next, off, CodeIP6HopByHop, "hop-by-hop header after the first header: no protocol handles next header 0 (ip6_protocol_deliver_rcu)")
			return
		case nexthdrDest:
			if !v.need(r, off, 8, "destination options header", "ipv6_destopt_rcv") {
				return
			}
			n := extLen(next, r.data[off+1])
			if !v.need(r, off, n, "destination options header", "ipv6_destopt_rcv") || !v.tlvs(r, off, n, false) {
				return
			}
			next, off = r.data[off], off+n
		case nexthdrRouting:
			if !v.need(r, off, 8, "routing header", "ipv6_rthdr_rcv") {
				return
			}
			n := extLen(next, r.data[off+1])
			if !v.need(r, off, n, "routing header", "ipv6_rthdr_rcv") {
				return
			}
			if c := rthdrCheck(r.vd.Dst.Addr(), r.data[off:off+n]); c != "" {
				v.udpHint6(r.vd, r.data[off], r.data[off+n:])
				v.drop(r.vd, CodeIP6Routing, c)
				return
			}
			next, off = r.data[off], off+n
		case nexthdrFragment:
			v.fragment6(r, off)
			return
		case protoUDP, protoUDPLite, protoIPIP, protoIPv6in, protoGRE:
			r.vd.Proto = next
			v.transport(r.vd, r.data[min(off, len(r.data)):], r.full-off, r.notes, r.frames)
			return
		default:
			v.skip(&v.stats.NotUDP, "IPv6.NextHeader", fmt.Sprintf("next header %d (%v) is not UDP or UDP-Lite", next, layers.IPProtocol(next)))
			return
		}
	}
}

// dropAt drops the datagram at the header of type next at data[off],
// naming the ports of the UDP header beyond it when the capture has them.
func (v *Verifier) dropAt(r *rx6, next uint8, off int, code Code, reason string) {
	v.udpHint6(r.vd, next, r.data[min(off, len(r.data)):])
	v.drop(r.vd, code, reason)
}

// rthdrCheck mirrors ipv6_rthdr_rcv for a host (forwarding off, the
// default sysctls, no MIP6): "" when the header is stepped over.
func rthdrCheck(dst netip.Addr, rt []byte) string {
	typ, left := rt[2], rt[3]
	switch {
	case dst.IsMulticast():
		return "routing header to a multicast destination (ipv6_rthdr_rcv)"
	case typ == rthdrSRH:
		return "segment routing header while seg6_enabled is off, the default (ipv6_srh_rcv)"
	case typ == rthdrRPL:
		return "RPL source routing header while rpl_seg_enabled is off, the default (ipv6_rpl_srh_rcv)"
	case left != 0:
		return fmt.Sprintf("routing header type %d with %d segments left: not a type a host processes (ipv6_rthdr_rcv; ICMPv6 parameter problem)", typ, left)
	}
	return ""
}

// fragment6 mirrors ipv6_frag_rcv for the fragment header at data[off]:
// an atomic fragment goes on up, a fragment to ip6_frag_queue.
func (v *Verifier) fragment6(r *rx6, off int) {
	vd := r.vd
	if r.fragmented {
		v.dropAt(r, nexthdrFragment, off, CodeIP6ExtHeader, "a second fragment header (ipv6_frag_rcv; ICMPv6 parameter problem)")
		return
	}
	if r.payloadLen == 0 {
		v.dropAt(r, nexthdrFragment, off, CodeIP6ExtHeader, "fragment header in a jumbogram (ipv6_frag_rcv; ICMPv6 parameter problem)")
		return
	}
	if !v.need(r, off, 8, "fragment header", "ipv6_frag_rcv") {
		return
	}
	fh := r.data[off : off+8]
	fragOff := binary.BigEndian.Uint16(fh[2:4])
	vd.ID = binary.BigEndian.Uint32(fh[4:8])
	if fragOff&ip6FragNotAtomic == 0 {
		// An atomic fragment (offset 0, M clear): processed as if the
		// fragment header were not there (RFC 8021).
		r.fragmented = true
		r.notes = appendNote(r.notes, "atomic fragment (offset 0, M clear): taken whole (ipv6_frag_rcv)")
		v.chain6(r, fh[0], off+8)
		return
	}
	offset, more := int(fragOff&ip6FragOffset), fragOff&ip6FragMF != 0
	if offset == 0 {
		// ipv6frag_thdr_truncated: the first fragment must hold the
		// chain through the upper-layer header, walked from the fixed
		// header (the fragment header's own offset 0 steps over it).
		if c, cut := firstFragShort(fh[0], r.data[off+8:], r.full-off-8, len(r.data) < r.full); c != "" {
			v.udpHint6(vd, fh[0], r.data[off+8:])
			v.drop(vd, CodeFragChain, c)
			return
		} else if cut {
			vd.Reason = "the capture cut the first fragment's header chain"
			v.emit(vd)
			return
		}
	}
	data := r.data[off+8:]
	v.defrag6.add(fragIn{
		key:    fragKey{src: vd.Src.Addr(), dst: vd.Dst.Addr(), id: vd.ID},
		offset: offset, more: more, ecn: r.ecn, headLen: r.base + off, nexthdr: fh[0],
		data: data, full: r.full - off - 8, frames: r.frames, frameLen: v.frameLen, where: v.whereFn, now: v.now,
		scratch: &v.scratch[v.depth]})
}

// firstFragShort mirrors ipv6frag_thdr_truncated for a first fragment: b
// holds the captured bytes after its fragment header (n of them on the
// wire), starting with a header of type next. It returns a complaint when
// the upper-layer header (8 bytes of UDP, 1 byte of anything else) is not
// all there, or cut when the capture decides it.
func firstFragShort(next uint8, b []byte, n int, captureCut bool) (string, bool) {
	upper, at, r := skipExt(next, b)
	switch r {
	case skipNone, skipLaterFrg:
		return "", false
	case skipShort:
		if captureCut {
			return "", true
		}
		// ipv6_skip_exthdr fails (-1): the check passes.
		return "", false
	}
	need := 1
	switch upper {
	case protoUDP:
		need = udpHeaderLen
	case 6: // TCP
		need = 20
	case 58: // ICMPv6
		need = 8
	}
	if at+need > n {
		return fmt.Sprintf("first fragment holds %d bytes of the %v header after its extension headers, %d needed (ipv6_frag_rcv, RFC 8200 4.5)", max(n-at, 0), layers.IPProtocol(upper), need), false
	}
	return "", false
}

// udpHint6 fills in the ports and length of a verdict for an IPv6
// datagram dropped before UDP looked at it, from whatever UDP header the
// capture kept after the headers starting with next in b.
func (v *Verifier) udpHint6(vd *Verdict, next uint8, b []byte) {
	upper, at, r := skipExt(next, b)
	if r != skipUpper || (upper != protoUDP && upper != protoUDPLite) || at+4 > len(b) {
		return
	}
	vd.Proto = upper
	u := b[at:]
	vd.Src = netip.AddrPortFrom(vd.Src.Addr(), binary.BigEndian.Uint16(u[0:2]))
	vd.Dst = netip.AddrPortFrom(vd.Dst.Addr(), binary.BigEndian.Uint16(u[2:4]))
	if len(u) >= 6 && upper == protoUDP {
		vd.Len = max(int(binary.BigEndian.Uint16(u[4:6]))-udpHeaderLen, 0)
	}
}

// fragVerdict6 turns an IPv6 reassembly queue's fate into a verdict: a
// whole datagram resumes the walk at the first fragment's next header
// (ip6_frag_reasm returns 1 and ip6_protocol_deliver_rcu resubmits), with
// the fragment header gone.
func (v *Verifier) fragVerdict6(vd *Verdict, ev *fragEvent) {
	if ev.done {
		if ev.notCaptured {
			vd.Reason = ev.reason
		}
		vd.Proto = ev.nexthdr
		r := rx6{vd: vd, data: ev.payload, full: ev.full, payloadLen: ev.full, fragmented: true, frames: vd.Frames, notes: ev.notes}
		if upper, _, res := skipExt(ev.nexthdr, ev.payload); res == skipUpper {
			if !carriesJudged(upper) {
				v.skip(&v.stats.NotUDP, "IPv6.NextHeader", fmt.Sprintf("reassembled datagram of next header %d (%v), not UDP or UDP-Lite", upper, layers.IPProtocol(upper)))
				return
			}
			vd.Proto = upper
		}
		v.chain6(&r, ev.nexthdr, 0)
		return
	}
	vd.Proto = ev.nexthdr
	if ev.first == nil && !isExtHeader(ev.nexthdr) && !carriesJudged(ev.nexthdr) {
		v.skip(&v.stats.NotUDP, "IPv6.NextHeader", fmt.Sprintf("fragments of next header %d (%v), not UDP or UDP-Lite", ev.nexthdr, layers.IPProtocol(ev.nexthdr)))
		return
	}
	if ev.first != nil {
		// A queue of another protocol's fragments fails unseen, as
		// IPv4's, whose queues only UDP fragments enter.
		if upper, _, res := skipExt(ev.nexthdr, ev.first); res == skipUpper && !carriesJudged(upper) {
			v.skip(&v.stats.NotUDP, "IPv6.NextHeader", fmt.Sprintf("fragments of next header %d (%v), not UDP or UDP-Lite", upper, layers.IPProtocol(upper)))
			return
		}
		v.udpHint6(vd, ev.nexthdr, ev.first)
	}
	vd.Note = ev.notes
	v.drop(vd, ev.code, ev.reason)
}
