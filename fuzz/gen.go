// Package fuzz draws random but valid scenarios over the whole scenario
// spec, and plays them through the model and the real kernel to find where
// the two disagree (Differential). The same generator serves `go test
// -fuzz` (FromBytes turns the fuzzer's bytes into a scenario) and seeded
// runs (Generate), so a scenario found one way can be replayed the other.
//
// Running it:
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzScenario$'      # model invariants, IPv4
//	go test ./fuzz -run '^$' -fuzz '^FuzzScenarioIPv6$'  # the same over IPv6 and mixed sockets
//	sudo UDPBUILD_DIFF_N=300 UDPBUILD_DIFF_SEED=1 UDPBUILD_DIFF_OUT=/tmp/d \
//	    go test ./fuzz -run TestDifferentialKernel -v -timeout 2h
package fuzz

import (
	"math/rand/v2"
	"net/netip"

	gofuzz "github.com/AdaLogics/go-fuzz-headers"
	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/scenario"
)

// GenConfig tunes Generate.
type GenConfig struct {
	// KernelOnly keeps to what the kernel runner can reproduce: no
	// ip-csum feature, which a veth cannot offer.
	KernelOnly bool
	// MaxSteps bounds the number of steps (default 8).
	MaxSteps int
	// Family is which sockets to draw (gen6.go); the zero value draws
	// IPv4 only, as before IPv6 existed.
	Family Family
	// Peer draws the receiving side too (genpeer.go): the peer's device
	// and sockets, recv steps, the sender's IP_RECVERR. Off, a seed
	// makes the sender-only scenario it always made.
	Peer bool
	// Path draws path events too (genpath.go): a router's ICMP errors
	// after sends, getsockopt IP_MTU / IPV6_MTU, the error queue. Off, a
	// seed makes the scenario it always made.
	Path bool
}

// DefaultMaxSteps is GenConfig.MaxSteps when left zero.
const DefaultMaxSteps = 8

// source is where the generator's choices come from: a seeded PRNG or the
// fuzzer's bytes.
type source interface {
	// intN returns a value in [0, n) for n > 0.
	intN(n int) int
}

type randSource struct{ r *rand.Rand }

func (s randSource) intN(n int) int { return s.r.IntN(n) }

// consumerSource reads choices from fuzzer bytes; once they run out every
// choice is 0, which the generator maps to its most ordinary option, so a
// short input still makes a small valid scenario.
type consumerSource struct{ c *gofuzz.ConsumeFuzzer }

func (s consumerSource) intN(n int) int {
	nbytes := 1
	switch {
	case n > 1<<16:
		nbytes = 4
	case n > 1<<8:
		nbytes = 2
	}
	v := 0
	for range nbytes {
		b, err := s.c.GetByte()
		if err != nil {
			return 0
		}
		v = v<<8 | int(b)
	}
	return v % n
}

// Generate draws one random scenario from r. The scenario is valid: Marshal
// writes it and scenario.Parse reads it back unchanged. The same r state
// always gives the same scenario.
func Generate(r *rand.Rand, cfg GenConfig) *scenario.Scenario {
	sc := newGen(randSource{r}, cfg).scenario()
	sc.Name = "generated"
	return sc
}

// FromBytes turns fuzzer bytes into a scenario of the same structure as
// Generate's (with every feature allowed). It never fails: input that runs
// short ends in ordinary choices.
func FromBytes(data []byte) *scenario.Scenario {
	return FromBytesWith(data, GenConfig{})
}

// FromBytesWith is FromBytes with a configuration (a family, a step
// bound); FromBytes is FromBytesWith(data, GenConfig{}).
func FromBytesWith(data []byte, cfg GenConfig) *scenario.Scenario {
	sc := newGen(consumerSource{gofuzz.NewConsumer(data)}, cfg).scenario()
	sc.Name = "fuzz"
	return sc
}

// gen holds the generator's state: what it has set on the socket so far,
// so that send lengths can aim at the boundaries that state makes.
type gen struct {
	src source
	cfg GenConfig

	mtu    int
	optlen int // length of the socket's IP options as the kernel pads them
	gso    int // the socket's UDP_SEGMENT
	sends  int

	// v6 is set for an IPv6 socket; hop, dst and rt are the lengths of
	// its sticky hop-by-hop, destination options and routing headers.
	v6           bool
	hop, dst, rt int
}

func newGen(src source, cfg GenConfig) *gen {
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = DefaultMaxSteps
	}
	return &gen{src: src, cfg: cfg}
}

func (g *gen) intN(n int) int { return g.src.intN(n) }

// rangeIn returns a value in [lo, hi].
func (g *gen) rangeIn(lo, hi int) int { return lo + g.intN(hi-lo+1) }

// percent is true p times in a hundred. The 0 choice is "no", so that a
// fuzzer input that runs short picks the plain path.
func (g *gen) percent(p int) bool { return g.intN(100) >= 100-p }

// weighted returns i with probability ws[i]/sum(ws).
func (g *gen) weighted(ws ...int) int {
	total := 0
	for _, w := range ws {
		total += w
	}
	v := g.intN(total)
	for i, w := range ws {
		if v < w {
			return i
		}
		v -= w
	}
	return len(ws) - 1
}

func (g *gen) scenario() *scenario.Scenario {
	sc := &scenario.Scenario{}
	sc.Link = g.link()
	g.mtu = sc.Link.MTU
	if g.cfg.Family == FamilyIPv6 || (g.cfg.Family == FamilyMixed && g.percent(50)) {
		// Below 1280 the link has no IPv6: worth a draw now and then,
		// not the two in seven that commonMTUs would give.
		if g.mtu < scenario.IPv6MinMTU && g.percent(85) {
			sc.Link.MTU = []int{1280, 1500, 9000}[g.intN(3)]
			g.mtu = sc.Link.MTU
		}
		sc.Socket = g.socket6()
	} else {
		sc.Socket = g.socket()
	}
	if g.cfg.Peer {
		sc.Peer = g.peer(&sc.Socket)
		if g.percent(25) {
			sc.Socket.Setsockopt = append(sc.Socket.Setsockopt, g.recvErrOpt())
		}
	}
	n := 1 + g.intN(g.cfg.MaxSteps)
	for range n {
		if g.cfg.Peer && g.percent(30) {
			// The sockets so far: a send drawn later may add default
			// ones (DefaultPeerSockets), never take one away.
			sc.Steps = append(sc.Steps, scenario.Step{Recv: g.recv(len(sc.PeerSockets()))})
			continue
		}
		sc.Steps = append(sc.Steps, g.step(&sc.Socket))
	}
	if g.cfg.Path {
		g.pathEvents(sc)
	}
	return sc
}

// commonMTUs are the link MTUs worth hitting often: IPv4's minimum, the
// classic 576, IPv6's minimum, Ethernet (twice: the usual case), jumbo and
// the largest.
var commonMTUs = [...]int{1500, 68, 576, 1280, 1500, 9000, 65535}

func (g *gen) link() scenario.Link {
	l := scenario.Link{}
	if g.percent(20) {
		l.MTU = g.rangeIn(68, 65535)
	} else {
		l.MTU = commonMTUs[g.intN(len(commonMTUs))]
	}
	feats := []scenario.Feature{scenario.HWCsum, scenario.SG, scenario.GSOUDPL4, scenario.IPCsum}
	if g.cfg.KernelOnly {
		feats = feats[:3]
	}
	for _, f := range feats {
		if g.percent(50) {
			l.Features = append(l.Features, f)
		}
	}
	// File order is part of the scenario; shuffle it (Fisher-Yates).
	for i := len(l.Features) - 1; i > 0; i-- {
		j := g.intN(i + 1)
		l.Features[i], l.Features[j] = l.Features[j], l.Features[i]
	}
	return l
}

func (g *gen) socket() scenario.Socket {
	so := scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst}
	if g.percent(20) {
		so.Proto = scenario.UDPLite
	}
	if g.percent(10) {
		so.Src = netip.AddrPortFrom(so.Src.Addr(), uint16(g.rangeIn(1024, 65535)))
	}
	if g.percent(20) {
		so.Dst = netip.AddrPortFrom(g.peerAddr(), uint16(g.rangeIn(1, 65535)))
	}
	so.Connect = g.percent(40)
	if so.Connect {
		if g.percent(30) {
			id := uint16(g.intN(1 << 16))
			so.InetID = &id
		}
	} else if g.percent(15) {
		so.Dst = netip.AddrPort{} // dst: none
	}
	so.PMTUDisc = []scenario.PMTUDisc{
		scenario.PMTUWant, scenario.PMTUDont, scenario.PMTUDo,
		scenario.PMTUProbe, scenario.PMTUInterface, scenario.PMTUOmit,
	}[g.weighted(40, 15, 20, 15, 5, 5)]
	if g.percent(60) {
		n := 1 + g.intN(4)
		for range n {
			so.Setsockopt = append(so.Setsockopt, g.socketOpt(so.Proto))
		}
	}
	return so
}

// peerAddr is an address in 10.0.0.0/24 other than 10.0.0.1, the source:
// mostly ordinary hosts, sometimes the network and broadcast addresses of
// the /24 (which a /32 set-up treats as hosts too).
func (g *gen) peerAddr() netip.Addr {
	var x int
	switch g.weighted(70, 25, 3, 2) {
	case 0:
		x = 2
	case 1:
		x = g.rangeIn(3, 254)
	case 2:
		x = 0
	default:
		x = 255
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, byte(x)})
}

// socketOpt draws one option of the socket's set-up list.
func (g *gen) socketOpt(proto scenario.Proto) scenario.Opt {
	switch g.weighted(15, 12, 12, 15, 8, 15, 10, 4, 5) {
	case 0:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: []int{1, 0, 2, -1}[g.weighted(80, 10, 5, 5)]}
	case 1:
		return scenario.Opt{Name: scenario.OptIPTOS, Int: g.tos()}
	case 2:
		return scenario.Opt{Name: scenario.OptIPTTL, Int: g.ttl(true)}
	case 3:
		return g.ipOptionsOpt()
	case 4:
		return scenario.Opt{Name: scenario.OptSONoCheck, Int: g.intN(2)}
	case 5:
		v := g.gsoSize()
		g.gso = v
		return scenario.Opt{Name: scenario.OptUDPSegment, Int: v}
	case 6:
		if proto == scenario.UDP && g.percent(70) {
			// On a UDP socket this is ENOPROTOOPT: keep that rare.
			return scenario.Opt{Name: scenario.OptIPTOS, Int: g.tos()}
		}
		return scenario.Opt{Name: scenario.OptUDPLiteSendCov, Int: g.coverage()}
	case 7:
		return scenario.Opt{Name: scenario.OptUDPLiteRecvCov, Int: g.coverage()}
	default:
		return scenario.Opt{Name: scenario.OptIPMTUDiscover, Int: g.intN(6)}
	}
}

func (g *gen) ipOptionsOpt() scenario.Opt {
	b, padded := g.ipOptions()
	if padded >= 0 {
		g.optlen = padded
	}
	return scenario.Opt{Name: scenario.OptIPOptions, Bytes: b}
}

// tos draws a TOS byte: DSCP classes, ECN codepoints (which the kernel
// treats apart) or anything.
func (g *gen) tos() int {
	common := []int{0x10, 0, 0xb8, 0x01, 0x02, 0x03, 0xfc, 0xff}
	if g.percent(25) {
		return g.intN(256)
	}
	return common[g.intN(len(common))]
}

// ttl draws a TTL; invalid ones (0, and -1, which setsockopt takes as "the
// route's default" but a control message refuses) only when allowed and
// rarely.
func (g *gen) ttl(invalid bool) int {
	if invalid && g.percent(8) {
		return []int{0, -1}[g.intN(2)]
	}
	switch g.weighted(30, 20, 10, 15, 25) {
	case 0:
		return 64
	case 1:
		return 1
	case 2:
		return 2
	case 3:
		return 255
	}
	return g.rangeIn(1, 255)
}

func (g *gen) coverage() int {
	switch g.weighted(20, 20, 20, 20, 20) {
	case 0:
		return 0
	case 1:
		return g.rangeIn(1, 7) // illegal coverage: raised to 8
	case 2:
		return 8
	case 3:
		return []int{9, 20, 28, 100}[g.intN(4)]
	default:
		return g.intN(2000)
	}
}

// gsoSize draws a UDP_SEGMENT value around the boundaries the kernel checks
// (the segment must fit the MTU with the headers; 0 turns GSO off).
func (g *gen) gsoSize() int {
	fit := g.mtu - 28 - g.optlen
	switch g.weighted(8, 6, 20, 14, 12, 6, 6, 14, 4) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return []int{500, 1000, 1400, 1472, 8, 100}[g.intN(6)]
	case 3:
		return max(fit, 0)
	case 4:
		return max(fit+1, 0)
	case 5:
		return max(fit-1, 0)
	case 6:
		return g.rangeIn(1, 65535)
	case 7:
		return g.rangeIn(1, max(1, min(fit, 65535)))
	default:
		return 65535
	}
}

// ipOption is one entry of the IP options library. padded is the length
// the kernel keeps (rounded up to 4), or -1 for bytes it refuses.
type ipOption struct {
	bytes  []byte
	padded int
}

// ipOptions draws IP option bytes as a program would hand them to
// setsockopt(IP_OPTIONS) or an IP_RETOPTS control message.
func (g *gen) ipOptions() ([]byte, int) {
	o := g.ipOptionEntry()
	return o.bytes, o.padded
}

func pad4(n int) int { return (n + 3) &^ 3 }

func valid(b []byte) ipOption   { return ipOption{bytes: b, padded: pad4(len(b))} }
func invalid(b []byte) ipOption { return ipOption{bytes: b, padded: -1} }

func (g *gen) ipOptionEntry() ipOption {
	switch g.weighted(16, 14, 10, 10, 8, 8, 6, 6, 4, 4, 10, 4) {
	case 0: // record route, 1, 2 or 9 slots (9 fills the 40 bytes)
		return valid(recordRoute([]int{1, 2, 9, 3}[g.intN(4)], 4))
	case 1: // timestamps only (flag 0)
		n := 1 + g.intN(9)
		return valid(append([]byte{0x44, byte(4 + 4*n), 5, 0}, make([]byte, 4*n)...))
	case 2: // address and timestamp (flag 1)
		n := 1 + g.intN(4)
		return valid(append([]byte{0x44, byte(4 + 8*n), 5, 1}, make([]byte, 8*n)...))
	case 3: // prespecified addresses (flag 3); 10.0.0.1 is the sender's own
		n := 1 + g.intN(4)
		b := []byte{0x44, byte(4 + 8*n), 5, 3}
		for range n {
			a := []byte{1, 2, byte(g.rangeIn(3, 254))}[g.intN(3)]
			b = append(b, 10, 0, 0, a, 0, 0, 0, 0)
		}
		return valid(b)
	case 4, 5: // loose or strict source route through 1-3 hops
		typ := byte(0x83)
		if g.intN(2) == 1 {
			typ = 0x89
		}
		n := 1 + g.intN(3)
		b := []byte{typ, byte(3 + 4*n), 4}
		for range n {
			a := g.peerAddr().As4()
			b = append(b, a[:]...)
		}
		// ip_options_get moves the first hop out of the option: the
		// option the kernel keeps is 4 bytes shorter.
		return ipOption{bytes: b, padded: pad4(len(b) - 4)}
	case 6: // NOOP padding before an option, END after it
		rr := recordRoute(1, 4)
		if g.intN(2) == 0 {
			return valid(append([]byte{1, 1, 1}, rr...))
		}
		return valid(append(rr, 0))
	case 7: // padding only
		return valid([][]byte{{1, 1, 1, 1}, {0}, {1, 0, 0, 0}}[g.intN(3)])
	case 8: // router alert
		return valid([]byte{0x94, 4, 0, 0})
	case 9: // a full record route (pointer past the end) and a full timestamp
		if g.intN(2) == 0 {
			return valid(recordRoute(1, 8))
		}
		return valid([]byte{0x44, 8, 9, 0, 0, 0, 0, 0})
	case 10: // bytes the kernel refuses
		return invalid([][]byte{
			recordRoute(1, 3),              // pointer below 4
			{0x07, 0x00},                   // length 0
			{0x07, 0x0b, 0x04, 0, 0, 0, 0}, // longer than what is given
			append(recordRoute(1, 4), recordRoute(1, 4)...), // RR twice
			{0x83, 0x07, 0x08, 10, 0, 0, 2},                 // source route pointer not 4
			{0x44, 0x03, 0x05},                              // timestamp shorter than 4
			{0x44, 0x08, 0x05, 0x02, 0, 0, 0, 0},            // timestamp flag 2
			make41Noops(),                                   // more than 40 bytes
		}[g.intN(8)])
	default: // cleared options
		return ipOption{bytes: []byte{}, padded: 0}
	}
}

// recordRoute is an IPOPT_RR option with n address slots and the given
// pointer.
func recordRoute(n int, ptr byte) []byte {
	return append([]byte{0x07, byte(3 + 4*n), ptr}, make([]byte, 4*n)...)
}

func make41Noops() []byte {
	b := make([]byte, 41)
	for i := range b {
		b[i] = 1
	}
	return b
}

func (g *gen) step(so *scenario.Socket) scenario.Step {
	if g.percent(20) {
		n := 1
		if g.percent(25) {
			n = 2
		}
		var opts []scenario.Opt
		for range n {
			if g.v6 {
				opts = append(opts, g.stepOpt6())
			} else {
				opts = append(opts, g.stepOpt())
			}
		}
		return scenario.Step{Setsockopt: opts}
	}
	if g.v6 {
		return scenario.Step{Send: g.send6(so)}
	}
	return scenario.Step{Send: g.send(so)}
}

// stepOpt draws an option set mid-life: mostly uncorking, the option that
// pushes a corked datagram.
func (g *gen) stepOpt() scenario.Opt {
	switch g.weighted(40, 10, 12, 12, 10, 12, 4) {
	case 0:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: 0}
	case 1:
		return scenario.Opt{Name: scenario.OptUDPCork, Int: 1}
	case 2:
		return scenario.Opt{Name: scenario.OptIPTOS, Int: g.tos()}
	case 3:
		return scenario.Opt{Name: scenario.OptIPTTL, Int: g.ttl(true)}
	case 4:
		return scenario.Opt{Name: scenario.OptIPMTUDiscover, Int: g.intN(6)}
	case 5:
		v := g.gsoSize()
		g.gso = v
		return scenario.Opt{Name: scenario.OptUDPSegment, Int: v}
	default:
		return g.ipOptionsOpt()
	}
}

func (g *gen) send(so *scenario.Socket) *scenario.Send {
	s := &scenario.Send{Index: g.sends}
	g.sends++
	gso, optlen := g.gso, g.optlen
	if g.percent(25) {
		n := 1 + g.weighted(60, 30, 10)
		for range n {
			c := g.cmsg()
			switch c.Type {
			case scenario.CmsgUDPSegment:
				gso = c.Int
			case scenario.CmsgIPOptions:
				if p := pad4(len(c.Bytes)); validLen(c.Bytes) {
					optlen = p
				}
			}
			s.Cmsg = append(s.Cmsg, c)
		}
	}
	s.Payload = scenario.PatternView(s.Index, g.length(gso, optlen))
	s.Flags = g.flags()
	noDst := !so.Connect && !so.Dst.IsValid()
	if (noDst && g.percent(50)) || g.percent(15) {
		if g.percent(8) {
			s.To = netip.AddrPortFrom(g.peerAddr(), 0) // EINVAL
		} else if g.percent(50) {
			s.To = scenario.DefaultDst
		} else {
			s.To = netip.AddrPortFrom(g.peerAddr(), uint16(g.rangeIn(1, 65535)))
		}
	}
	if g.cfg.Family == FamilyMixed && g.percent(3) {
		s.To = scenario.DefaultDst6 // a sockaddr_in6 on an IPv4 socket
	}
	return s
}

// validLen is a rough guess, for aiming lengths only, at whether option
// bytes will be accepted: anything up to 40 bytes.
func validLen(b []byte) bool { return len(b) <= 40 }

func (g *gen) cmsg() scenario.Cmsg {
	switch g.weighted(35, 25, 25, 15) {
	case 0:
		return scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: g.gsoSize(), Size: 2}
	case 1:
		return scenario.Cmsg{Type: scenario.CmsgIPTTL, Int: g.ttl(true), Size: 4}
	case 2:
		size := 4
		if g.percent(40) {
			size = 1
		}
		return scenario.Cmsg{Type: scenario.CmsgIPTOS, Int: g.tos(), Size: size}
	default:
		b, _ := g.ipOptions()
		return scenario.Cmsg{Type: scenario.CmsgIPOptions, Bytes: b}
	}
}

// flags draws msg_flags: MSG_MORE often, the others rarely.
func (g *gen) flags() int {
	f := 0
	if g.percent(30) {
		f |= unix.MSG_MORE
	}
	if g.percent(4) {
		f |= scenario.MsgProbe
	}
	if g.percent(2) {
		f |= unix.MSG_OOB
	}
	if g.percent(5) {
		f |= unix.MSG_CONFIRM
	}
	if g.percent(5) {
		f |= unix.MSG_DONTWAIT
	}
	if g.percent(4) {
		f |= unix.MSG_DONTROUTE
	}
	return f
}

// length draws a payload length, weighted towards the boundaries where the
// send path changes its mind: empty, one byte, the largest unfragmented
// datagram, fragment boundaries, multiples of the GSO size, the largest
// datagram (65507 without options) and beyond it.
func (g *gen) length(gso, optlen int) int {
	hdr := 20 + optlen
	fit := g.mtu - hdr - 8 // the largest payload that needs no fragment
	maxLen := 0xFFFF - hdr - 8
	pm1 := func(v int) int { return max(0, v+g.rangeIn(-1, 1)) }
	var n int
	switch g.weighted(8, 6, 22, 8, 16, 8, 4, 14, 14) {
	case 0:
		n = 0
	case 1:
		n = 1
	case 2:
		n = pm1(fit)
	case 3: // a fragment boundary: k full fragments of the datagram
		per := max(8, (g.mtu-hdr)&^7)
		n = pm1(per*(1+g.intN(4)) - 8)
	case 4:
		if gso == 0 {
			gso = max(1, fit)
		}
		k := []int{1, 2, 3, 64, 128, 129}[g.intN(6)]
		if g.percent(30) {
			k = 1 + g.intN(130)
		}
		n = pm1(gso * k)
	case 5:
		n = []int{maxLen, maxLen + 1, 65507, 65508}[g.intN(4)]
	case 6:
		n = []int{65535, 65536}[g.intN(2)]
	case 7:
		n = g.intN(max(2, 3*g.mtu))
	default:
		// Any length up to 65507, log-uniform: a bit length, then a
		// value below 1<<bits. Every length stays reachable (bit length
		// 16 draws from them all) and a third of the draws are 512 bytes
		// or more, but the draw averages about 4 KiB instead of 32 KiB.
		// An input's cost in FuzzScenario grows with its bytes (four
		// model runs, two verify.Frames), and the cases above already
		// send datagrams near every large boundary, so the uniform draw
		// mostly made inputs slower.
		n = g.intN(min(1<<g.intN(17), 65508))
	}
	return min(n, 65536)
}
