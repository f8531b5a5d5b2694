package fuzz

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/scenario"
)

// This file is the generator's IPv6 half: AF_INET6 sockets with the
// options, extension headers, control messages and destinations of the
// spec's "IPv6 sockets", and lengths aimed at the boundaries of the IPv6
// send path (the 1280 floor, the fragment header's 8 bytes, the 65535-byte
// payload_len limit). The IPv4 draws are untouched: a GenConfig without a
// Family makes exactly the scenarios it always made.

// Family is which sockets Generate draws.
type Family uint8

// The families of GenConfig.Family.
const (
	// FamilyIPv4 draws IPv4 sockets only: the zero value, so that every
	// seed gives the scenario it gave before IPv6 existed.
	FamilyIPv4 Family = iota
	// FamilyIPv6 draws IPv6 sockets only.
	FamilyIPv6
	// FamilyMixed draws either, half and half; its IPv4 sockets
	// sometimes send to IPv6 addresses (EAFNOSUPPORT).
	FamilyMixed
)

// ParseFamily reads a Family by the name String gives it.
func ParseFamily(s string) (Family, error) {
	for f := FamilyIPv4; f <= FamilyMixed; f++ {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown family %q (ipv4, ipv6 or mixed)", s)
}

// String names the family: "ipv4", "ipv6" or "mixed".
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	case FamilyMixed:
		return "mixed"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Addresses of the IPv6 draws: the link's own (scenario.DefaultSrc6 and
// DefaultDst6) and others on the peer's side.
var (
	v6Wildcard = netip.IPv6Unspecified()
	v4Mapped1  = netip.AddrFrom16(netip.MustParseAddr("::ffff:10.0.0.1").As16())
)

// peerAddr6 is an IPv6 destination other than the sender's own: mostly
// fd00::2, sometimes another host of fd00::/64 or one off the link's
// prefix (every destination is on-link in udpbuild's world).
func (g *gen) peerAddr6() netip.Addr {
	switch g.weighted(70, 20, 10) {
	case 0:
		return scenario.DefaultDst6.Addr()
	case 1:
		a := scenario.DefaultDst6.Addr().As16()
		a[15] = byte(g.rangeIn(3, 254))
		return netip.AddrFrom16(a)
	}
	return netip.MustParseAddr("2001:db8::" + fmt.Sprint(g.rangeIn(1, 99)))
}

// mapped is the v4-mapped form of an IPv4 peer.
func mapped(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

func (g *gen) socket6() scenario.Socket {
	so := scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc6, Dst: scenario.DefaultDst6}
	g.v6 = true
	if g.percent(20) {
		so.Proto = scenario.UDPLite
	}
	port := so.Src.Port()
	if g.percent(10) {
		port = uint16(g.rangeIn(1024, 65535))
	}
	switch g.weighted(75, 20, 5) {
	case 1:
		so.Src = netip.AddrPortFrom(v6Wildcard, port)
	case 2:
		so.Src = netip.AddrPortFrom(v4Mapped1, port)
	default:
		so.Src = netip.AddrPortFrom(so.Src.Addr(), port)
	}
	switch g.weighted(70, 15, 10, 5) {
	case 1:
		so.Dst = netip.AddrPortFrom(g.peerAddr6(), uint16(g.rangeIn(1, 65535)))
	case 2:
		so.Dst = netip.AddrPortFrom(mapped(g.peerAddr()), scenario.DefaultDst.Port())
	case 3:
		so.Dst = netip.AddrPortFrom(g.peerAddr(), scenario.DefaultDst.Port()) // a sockaddr_in
	}
	so.Connect = g.percent(40)
	if !so.Connect && g.percent(15) {
		so.Dst = netip.AddrPort{} // dst: none
	}
	if so.Dst.Addr().Is6() && g.percent(20) {
		so.Flowinfo = g.flowinfo()
	}
	so.PMTUDisc = []scenario.PMTUDisc{
		scenario.PMTUWant, scenario.PMTUDont, scenario.PMTUDo,
		scenario.PMTUProbe, scenario.PMTUInterface, scenario.PMTUOmit,
	}[g.weighted(40, 15, 20, 15, 5, 5)]
	if g.percent(60) {
		n := 1 + g.intN(4)
		for range n {
			so.Setsockopt = append(so.Setsockopt, g.socketOpt6(so.Proto))
		}
	}
	if so.Src.Addr().Is4In6() {
		// An IPv6-only socket cannot bind a v4-mapped address (the
		// loader refuses the pair): keep the option, turned off.
		for i, o := range so.Setsockopt {
			if o.Name == scenario.OptIPv6V6Only {
				so.Setsockopt[i].Int = 0
			}
		}
	}
	return so
}

// flowinfo draws sin6_flowinfo: a flow label, sometimes with traffic class
// bits, rarely bits beyond IPV6_FLOWINFO_MASK.
func (g *gen) flowinfo() uint32 {
	switch g.weighted(70, 20, 10) {
	case 0:
		return uint32(g.rangeIn(1, 0xfffff))
	case 1:
		return uint32(g.intN(256))<<20 | uint32(g.intN(0x100000))
	}
	return uint32(g.intN(1<<16))<<16 | uint32(g.intN(1<<16))
}

func (g *gen) socketOpt6(proto scenario.Proto) scenario.Opt {
	switch g.weighted(12, 8, 8, 8, 8, 5, 5, 4, 14, 8, 8, 4, 4, 4) {
	case 0:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: []int{1, 0}[g.weighted(85, 15)]}
	case 1:
		return scenario.Opt{Name: scenario.OptIPv6TClass, Int: g.tclass()}
	case 2:
		return scenario.Opt{Name: scenario.OptIPv6UnicastHops, Int: g.hops()}
	case 3:
		return scenario.Opt{Name: scenario.OptIPv6DontFrag, Int: []int{1, 0}[g.weighted(85, 15)]}
	case 4:
		return scenario.Opt{Name: scenario.OptIPv6MTU, Int: g.ipv6MTU()}
	case 5:
		return scenario.Opt{Name: scenario.OptIPv6FlowinfoSend, Int: g.intN(2)}
	case 6:
		return scenario.Opt{Name: scenario.OptIPv6AutoFlowlabel, Int: g.intN(2)}
	case 7:
		return scenario.Opt{Name: scenario.OptIPv6V6Only, Int: g.intN(2)}
	case 8:
		name, b := g.extHdrOpt()
		return scenario.Opt{Name: name, Bytes: b}
	case 9:
		v := g.gsoSize()
		g.gso = v
		return scenario.Opt{Name: scenario.OptUDPSegment, Int: v}
	case 10:
		return scenario.Opt{Name: scenario.OptUDPNoCheck6TX, Int: g.intN(2)}
	case 11:
		if proto == scenario.UDPLite {
			return scenario.Opt{Name: scenario.OptUDPLiteSendCov, Int: g.coverage()}
		}
		return scenario.Opt{Name: scenario.OptIPTOS, Int: g.tos()} // for v4-mapped sends
	case 12:
		return scenario.Opt{Name: scenario.OptIPv6MTUDiscover, Int: g.intN(6)}
	}
	return scenario.Opt{Name: scenario.OptIPTTL, Int: g.ttl(false)}
}

// tclass draws a traffic class as IPV6_TCLASS takes it (-1: the default).
func (g *gen) tclass() int {
	if g.percent(10) {
		return -1
	}
	return g.tos()
}

// hops draws a hop limit (-1: the route's default; 0 is legal on IPv6).
func (g *gen) hops() int {
	if g.percent(10) {
		return []int{-1, 0}[g.intN(2)]
	}
	return g.ttl(false)
}

// ipv6MTU draws IPV6_MTU: 0 (the route's), the 1280 floor and just below
// it (EINVAL), the link's MTU and values between.
func (g *gen) ipv6MTU() int {
	switch g.weighted(15, 30, 10, 15, 30) {
	case 0:
		return 0
	case 1:
		return scenario.IPv6MinMTU
	case 2:
		return scenario.IPv6MinMTU - 1
	case 3:
		return g.mtu
	}
	return g.rangeIn(scenario.IPv6MinMTU, max(scenario.IPv6MinMTU, g.mtu))
}

// extHdrOpt draws a sticky extension header and records its length for
// the lengths to aim at.
func (g *gen) extHdrOpt() (scenario.OptName, []byte) {
	switch g.weighted(35, 35, 15, 15) {
	case 0:
		b := g.optsHdr()
		g.hop = len(b)
		return scenario.OptIPv6HopOpts, b
	case 1:
		b := g.optsHdr()
		g.dst = len(b)
		return scenario.OptIPv6DstOpts, b
	case 2:
		return scenario.OptIPv6RthdrDstOpts, g.optsHdr()
	}
	b := g.rthdr()
	g.rt = len(b)
	return scenario.OptIPv6Rthdr, b
}

// optsHdr draws a hop-by-hop or destination options header as a program
// hands it over (the next-header byte is the kernel's to fill): 8, 16 or
// 24 bytes of options a Linux receiver accepts (an experimental option of
// RFC 4727 that it skips, and padding of at most 7 bytes, since
// ip6_parse_tlv drops longer runs), rarely bytes the sender's kernel
// refuses (a length beyond what is given, not a multiple of 8) or none
// (which clears the header).
func (g *gen) optsHdr() []byte {
	switch g.weighted(70, 10, 10, 10) {
	case 0:
		n := 1 + g.intN(3)
		b := make([]byte, 8*n)
		b[1] = byte(n - 1)
		if n == 1 {
			b[2], b[3] = 1, 4 // PadN: 6 bytes
			return b
		}
		// 0x1e (skip if unknown) filling all but 4 bytes, then PadN.
		b[2], b[3] = 0x1e, byte(8*n-8)
		for i := 4; i < 8*n-4; i++ {
			b[i] = byte(i)
		}
		b[8*n-4], b[8*n-3] = 1, 2
		return b
	case 1:
		return []byte{0, 1, 1, 4, 0, 0, 0, 0} // hdrlen says 16, 8 given
	case 2:
		return []byte{0, 0, 1, 2, 0, 0} // 6 bytes
	}
	return []byte{}
}

// rthdr draws a routing header: a segment routing header (type 4) with one
// segment, the only type sticky IPV6_RTHDR takes on 6.18, or a type 0 or
// type 2 header the kernel refuses.
func (g *gen) rthdr() []byte {
	seg := g.peerAddr6().As16()
	switch g.weighted(60, 20, 20) {
	case 0:
		b := []byte{0, 2, 4, 0, 0, 0, 0, 0}
		return append(b, seg[:]...)
	case 1:
		b := []byte{0, 2, 0, 1, 0, 0, 0, 0}
		return append(b, seg[:]...)
	}
	b := []byte{0, 2, 2, 1, 0, 0, 0, 0}
	return append(b, seg[:]...)
}

// stepOpt6 draws an option set mid-life on an IPv6 socket.
func (g *gen) stepOpt6() scenario.Opt {
	switch g.weighted(40, 10, 10, 10, 10, 10, 10) {
	case 0:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: 0}
	case 1:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: 1}
	case 2:
		return scenario.Opt{Name: scenario.OptIPv6TClass, Int: g.tclass()}
	case 3:
		return scenario.Opt{Name: scenario.OptIPv6DontFrag, Int: g.intN(2)}
	case 4:
		return scenario.Opt{Name: scenario.OptIPv6MTUDiscover, Int: g.intN(6)}
	case 5:
		v := g.gsoSize()
		g.gso = v
		return scenario.Opt{Name: scenario.OptUDPSegment, Int: v}
	}
	name, b := g.extHdrOpt()
	return scenario.Opt{Name: name, Bytes: b}
}

func (g *gen) cmsg6() scenario.Cmsg {
	switch g.weighted(25, 12, 12, 12, 10, 14, 5, 5, 5) {
	case 0:
		return scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: g.gsoSize(), Size: 2}
	case 1:
		return scenario.Cmsg{Type: scenario.CmsgIPv6TClass, Int: g.tclass(), Size: 4}
	case 2:
		return scenario.Cmsg{Type: scenario.CmsgIPv6HopLimit, Int: g.hops(), Size: 4}
	case 3:
		return scenario.Cmsg{Type: scenario.CmsgIPv6DontFrag, Int: []int{1, 0, 2}[g.weighted(70, 25, 5)], Size: 4}
	case 4:
		a := []netip.Addr{scenario.DefaultSrc6.Addr(), v6Wildcard, netip.MustParseAddr("fd00::99")}[g.weighted(60, 25, 15)]
		return scenario.Cmsg{Type: scenario.CmsgIPv6PktInfo, Addr: a, Size: 20}
	case 5:
		return scenario.Cmsg{Type: []scenario.CmsgType{scenario.CmsgIPv6HopOpts, scenario.CmsgIPv6DstOpts}[g.intN(2)], Bytes: g.optsHdr()}
	case 6:
		return scenario.Cmsg{Type: scenario.CmsgIPv6RthdrDstOpts, Bytes: g.optsHdr()}
	case 7:
		return scenario.Cmsg{Type: scenario.CmsgIPv6Rthdr, Bytes: g.rthdr()}
	}
	return scenario.Cmsg{Type: scenario.CmsgIPv6FlowInfo, Int: int(g.flowinfo()), Size: 4}
}

func (g *gen) send6(so *scenario.Socket) *scenario.Send {
	s := &scenario.Send{Index: g.sends}
	g.sends++
	gso, ext := g.gso, g.hop+g.dst+g.rt
	if g.percent(25) {
		n := 1 + g.weighted(60, 30, 10)
		for range n {
			c := g.cmsg6()
			switch c.Type {
			case scenario.CmsgUDPSegment:
				gso = c.Int
			case scenario.CmsgIPv6HopOpts, scenario.CmsgIPv6DstOpts:
				ext += len(c.Bytes)
			}
			s.Cmsg = append(s.Cmsg, c)
		}
	}
	s.Payload = scenario.PatternView(s.Index, g.length6(gso, ext))
	s.Flags = g.flags()
	noDst := !so.Connect && !so.Dst.IsValid()
	if (noDst && g.percent(50)) || g.percent(15) {
		switch g.weighted(8, 46, 30, 10, 6) {
		case 0:
			s.To = netip.AddrPortFrom(g.peerAddr6(), 0) // EINVAL
		case 1:
			s.To = scenario.DefaultDst6
		case 2:
			s.To = netip.AddrPortFrom(g.peerAddr6(), uint16(g.rangeIn(1, 65535)))
		case 3:
			s.To = netip.AddrPortFrom(mapped(g.peerAddr()), scenario.DefaultDst.Port())
		default:
			s.To = scenario.DefaultDst // a sockaddr_in on an IPv6 socket
		}
	}
	if g.percent(8) {
		// sin6_flowinfo in this call's msg_name; without a to the
		// loader names the socket's dst, which must then be IPv6.
		if s.To.Addr().Is6() || (!s.To.IsValid() && so.Dst.Addr().Is6()) {
			s.Flowinfo = g.flowinfo()
			if !s.To.IsValid() {
				s.To = so.Dst
			}
		}
	}
	return s
}

// length6 draws a payload length for an IPv6 send, weighted towards where
// the IPv6 path changes its mind: the largest unfragmented datagram, the
// fragment boundaries (the fragment header takes 8 bytes of each), GSO
// multiples, the 65535-byte payload_len limit and beyond.
func (g *gen) length6(gso, ext int) int {
	hdr := 40 + ext
	fit := max(g.mtu, scenario.IPv6MinMTU) - hdr - 8
	maxLen := 0xFFFF - ext - 8
	pm1 := func(v int) int { return max(0, v+g.rangeIn(-1, 1)) }
	var n int
	switch g.weighted(6, 6, 24, 10, 14, 10, 16, 14) {
	case 0:
		n = 0
	case 1:
		n = 1
	case 2:
		n = pm1(fit)
	case 3:
		per := max(8, (g.mtu-hdr-8)&^7)
		n = pm1(per*(1+g.intN(4)) - 8)
	case 4:
		if gso == 0 {
			gso = max(1, fit)
		}
		k := []int{1, 2, 3, 64, 128, 129}[g.intN(6)]
		n = pm1(gso * k)
	case 5:
		n = []int{maxLen, maxLen + 1, 65527, 65528}[g.intN(4)]
	case 6:
		n = g.intN(max(2, 3*g.mtu))
	default:
		n = g.intN(min(1<<g.intN(17), 65528))
	}
	return min(n, 65536)
}
