package scenario

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/udpbuild/udpbuild/header"
)

// This file is the path events of docs/scenario.md: the icmp step (a
// router's error about the last datagram the socket sent) and the
// getsockopt step (IP_MTU, IPV6_MTU), their loader and Marshal.

// ICMPType names an ICMP error by what it says, for both families where
// both have it (port-unreachable is ICMP 3/3 after an IPv4 datagram,
// ICMPv6 1/4 after an IPv6 one).
type ICMPType string

// The ICMP errors a scenario can make the path send (docs/pmtu-study.md,
// section 6, says what each does to the sender).
const (
	ICMPFragNeeded       ICMPType = "frag-needed"    // IPv4 3/4, mtu
	ICMPPacketTooBig     ICMPType = "packet-too-big" // IPv6 2/0, mtu
	ICMPPortUnreachable  ICMPType = "port-unreachable"
	ICMPParameterProblem ICMPType = "parameter-problem" // pointer
)

// icmpCode is one family's type and code of an ICMPType; typ < 0: none.
type icmpCode struct{ typ, code int }

var none = icmpCode{-1, -1}

// icmpTypes is the one table of ICMP names: IPv4 and IPv6 type/code.
var icmpTypes = []struct {
	name   ICMPType
	v4, v6 icmpCode
}{
	{ICMPFragNeeded, icmpCode{3, 4}, none},
	{ICMPPacketTooBig, none, icmpCode{2, 0}},
	{"net-unreachable", icmpCode{3, 0}, icmpCode{1, 0}},
	{"host-unreachable", icmpCode{3, 1}, icmpCode{1, 3}},
	{"protocol-unreachable", icmpCode{3, 2}, none},
	{ICMPPortUnreachable, icmpCode{3, 3}, icmpCode{1, 4}},
	{"source-route-failed", icmpCode{3, 5}, none},
	{"net-unknown", icmpCode{3, 6}, none},
	{"host-unknown", icmpCode{3, 7}, none},
	{"net-prohibited", icmpCode{3, 9}, none},
	{"host-prohibited", icmpCode{3, 10}, none},
	{"net-tos-unreachable", icmpCode{3, 11}, none},
	{"host-tos-unreachable", icmpCode{3, 12}, none},
	{"admin-prohibited", icmpCode{3, 13}, icmpCode{1, 1}},
	{"precedence-violation", icmpCode{3, 14}, none},
	{"precedence-cutoff", icmpCode{3, 15}, none},
	{"beyond-scope", none, icmpCode{1, 2}},
	{"policy-fail", none, icmpCode{1, 5}},
	{"reject-route", none, icmpCode{1, 6}},
	{"time-exceeded", icmpCode{11, 0}, icmpCode{3, 0}},
	{"reassembly-timeout", icmpCode{11, 1}, icmpCode{3, 1}},
	{ICMPParameterProblem, icmpCode{12, 0}, icmpCode{4, 0}},
	{"source-quench", icmpCode{4, 0}, none},
}

// Codes returns the ICMP (v6 false) or ICMPv6 type and code of t; ok is
// false when the family has no such message.
func (t ICMPType) Codes(v6 bool) (typ, code int, ok bool) {
	for _, e := range icmpTypes {
		if e.name == t {
			c := e.v4
			if v6 {
				c = e.v6
			}
			return c.typ, c.code, c.typ >= 0
		}
	}
	return 0, 0, false
}

func (t ICMPType) known() bool {
	_, _, a := t.Codes(false)
	_, _, b := t.Codes(true)
	return a || b
}

// ICMPTypeNames lists the names, for messages and the generator.
func ICMPTypeNames() []ICMPType {
	out := make([]ICMPType, 0, len(icmpTypes))
	for _, e := range icmpTypes {
		out = append(out, e.name)
	}
	return out
}

// ICMP is an icmp step: the path's error message quoting the last
// datagram the socket sent (its first frame, at most 548 bytes of it for
// IPv4 and 1232 for IPv6, as a router quotes), sent to the sender.
type ICMP struct {
	Type ICMPType
	// MTU is the next-hop MTU of frag-needed (16 bits) and the MTU of
	// packet-too-big (32 bits); unused by the other types.
	MTU uint32
	// Pointer is parameter-problem's pointer (8 bits in IPv4, 32 in IPv6).
	Pointer uint32
	// From, when valid, is the ICMP's source: the router. Zero: the quoted
	// datagram's destination (the peer answers itself).
	From netip.Addr
}

// The quote a router sends back: an ICMP error fits in 576 bytes (IPv4,
// RFC 1812) or 1280 (IPv6, RFC 4443) with its own headers.
const (
	ICMPQuote4 = 576 - 20 - 8
	ICMPQuote6 = 1280 - 40 - 8
)

// ICMPQuoteLen is how much of a datagram an icmp step quotes: ICMPQuote4
// or ICMPQuote6, less when the message would not fit the link's MTU (it
// crosses the link to reach the sender), never beyond the frame.
func ICMPQuoteLen(v6 bool, linkMTU, frameLen int) int {
	n := min(ICMPQuote4, linkMTU-20-8)
	if v6 {
		n = min(ICMPQuote6, linkMTU-40-8)
	}
	return max(min(n, frameLen), 0)
}

// Message is the router's message for the icmp step when q is the first
// frame of the last datagram the sender sent (from its IP header on) and
// linkMTU the link's: its type and code in q's family, its info (the MTU
// or the pointer), from q's destination (or From) to q's source, quoting
// ICMPQuoteLen bytes. The MACs are the caller's. When the step sends
// nothing (nothing has left yet, the type has no form in q's family, or
// From is of the other family), ok is false and why says which. The model
// and the kernel runner both build the step's frame from it.
func (ic *ICMP) Message(q []byte, linkMTU int) (e header.ICMPError, why string, ok bool) {
	if len(q) == 0 {
		return e, "no datagram has left the socket: nothing to quote", false
	}
	v6 := q[0]>>4 == 6
	typ, code, ok := ic.Type.Codes(v6)
	if !ok {
		return e, fmt.Sprintf("%s has no %s form; the last datagram is of that family", ic.Type, map[bool]string{false: "IPv4", true: "IPv6"}[v6]), false
	}
	e.Type, e.Code = uint8(typ), uint8(code)
	switch {
	case ic.Type == ICMPFragNeeded:
		e.Info = ic.MTU & 0xffff
	case ic.Type == ICMPPacketTooBig:
		e.Info = ic.MTU
	case ic.Type == ICMPParameterProblem && !v6:
		e.Info = ic.Pointer << 24
	case ic.Type == ICMPParameterProblem:
		e.Info = ic.Pointer
	}
	if v6 {
		ip := header.IPv6(q)
		e.Src, e.Dst = ip.Dst(), ip.Src()
	} else {
		ip := header.IPv4(q)
		e.Src, e.Dst = ip.Dst(), ip.Src()
	}
	e.Quote = q[:ICMPQuoteLen(v6, linkMTU, len(q))]
	if ic.From.IsValid() {
		if ic.From.Is4() == v6 {
			// The sends before the step were of both families and the
			// last to leave is not the one the loader checked from
			// against: nothing to send, as for a type it lacks.
			return e, fmt.Sprintf("from %s is not of the last datagram's family", ic.From), false
		}
		e.Src = ic.From
	}
	return e, "", true
}

// OptIPMTU is what a getsockopt step reads on an AF_INET socket (SOL_IP
// 14): the connected route's MTU. An AF_INET6 socket's is OptIPv6MTU.
const OptIPMTU OptName = "IP_MTU"

// hasMTU, hasPointer: which keys a type takes.
func (t ICMPType) hasMTU() bool     { return t == ICMPFragNeeded || t == ICMPPacketTooBig }
func (t ICMPType) hasPointer() bool { return t == ICMPParameterProblem }

// checkICMP is what an icmp step must say, with the family of the
// datagram it quotes (v6): the loader's and Marshal's one test.
func checkICMP(ic *ICMP, v6 bool) error {
	if !ic.Type.known() {
		return fmt.Errorf("unknown icmp type %q (%s)", ic.Type, icmpNameList())
	}
	fam, other := "IPv4", "IPv6"
	if v6 {
		fam, other = other, fam
	}
	if _, _, ok := ic.Type.Codes(v6); !ok {
		hint := ""
		switch ic.Type {
		case ICMPFragNeeded:
			hint = "; IPv6's is packet-too-big"
		case ICMPPacketTooBig:
			hint = "; IPv4's is frag-needed"
		}
		return fmt.Errorf("%s is an %s message, but the datagram it quotes is %s%s", ic.Type, other, fam, hint)
	}
	if !ic.Type.hasMTU() && ic.MTU != 0 {
		return fmt.Errorf("mtu belongs to frag-needed and packet-too-big, not %s", ic.Type)
	}
	if ic.Type == ICMPFragNeeded && ic.MTU > math.MaxUint16 {
		return fmt.Errorf("frag-needed's next-hop MTU is 16 bits: %d", ic.MTU)
	}
	if !ic.Type.hasPointer() && ic.Pointer != 0 {
		return fmt.Errorf("pointer belongs to parameter-problem, not %s", ic.Type)
	}
	if ic.Type.hasPointer() && !v6 && ic.Pointer > math.MaxUint8 {
		return fmt.Errorf("an IPv4 parameter problem's pointer is 8 bits: %d", ic.Pointer)
	}
	if a := ic.From; a.IsValid() {
		switch {
		case a.Is4() == v6 || a.Is4In6():
			return fmt.Errorf("from %s is not an %s address", a, fam)
		case a.Zone() != "" || a.IsLinkLocalUnicast():
			return fmt.Errorf("from %s needs a scope id, which udpbuild does not model", a)
		case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return fmt.Errorf("from %s: a router's address is a unicast one", a)
		}
	}
	return nil
}

func icmpNameList() string {
	var s []string
	for _, e := range icmpTypes {
		s = append(s, string(e.name))
	}
	return strings.Join(s, ", ")
}

// quotedFamily is the family of the datagram an icmp step at index i
// quotes: that of the last send step before it (its to, else the
// socket's dst; a v4-mapped destination sends IPv4). ok is false when no
// send comes before.
func (sc *Scenario) quotedFamily(i int) (v6, ok bool) {
	for j := i - 1; j >= 0; j-- {
		if s := sc.Steps[j].Send; s != nil {
			to := s.To
			if !to.IsValid() {
				to = sc.Socket.Dst
			}
			if !to.IsValid() {
				return sc.Socket.IPv6(), true
			}
			a := to.Addr()
			return a.Is6() && !a.Is4In6(), true
		}
	}
	return false, false
}

// checkPath is the cross-check of the path events: an icmp quotes a datagram
// a send before it sent, of its own family; a getsockopt reads its
// family's option.
func (sc *Scenario) checkPath(i int) error {
	st := sc.Steps[i]
	switch {
	case st.ICMP != nil:
		v6, ok := sc.quotedFamily(i)
		if !ok {
			return fmt.Errorf("icmp quotes the last datagram the socket sent, but no send comes before it")
		}
		if err := checkICMP(st.ICMP, v6); err != nil {
			return err
		}
		if a := st.ICMP.From; a.IsValid() && sc.Socket.isLocal(a) {
			return fmt.Errorf("from %s is the sender's own address", a)
		}
	case st.Getsockopt != "":
		switch st.Getsockopt {
		case OptIPMTU:
			if sc.Socket.IPv6() {
				return fmt.Errorf("IP_MTU is an AF_INET socket's; this socket is AF_INET6 (IPV6_MTU)")
			}
		case OptIPv6MTU:
			if !sc.Socket.IPv6() {
				return fmt.Errorf("IPV6_MTU is an AF_INET6 socket's; this socket is AF_INET (IP_MTU)")
			}
		default:
			return fmt.Errorf("getsockopt reads IP_MTU or IPV6_MTU, not %q", st.Getsockopt)
		}
	}
	return nil
}

// icmp reads an icmp step: {type: NAME, mtu: N, pointer: N, from: ADDR}.
func (l *loader) icmp(n node) (*ICMP, error) {
	ents, err := l.mapping(n, "an icmp (type: frag-needed, mtu: 1280, ...)")
	if err != nil {
		return nil, err
	}
	ic := &ICMP{}
	haveType := false
	for _, e := range ents {
		switch e.key {
		case "type":
			var s string
			if s, err = l.str(e.val); err == nil {
				ic.Type, haveType = ICMPType(s), true
				if !ic.Type.known() {
					err = l.errf(e.val, "unknown icmp type %q (%s)", s, icmpNameList())
				}
			}
		case "mtu":
			var v int64
			v, err = l.integer(e.val, 0, math.MaxUint32)
			ic.MTU = uint32(v)
		case "pointer":
			var v int64
			v, err = l.integer(e.val, 0, math.MaxUint32)
			ic.Pointer = uint32(v)
		case "from":
			var s string
			if s, err = l.str(e.val); err == nil {
				if ic.From, err = netip.ParseAddr(s); err != nil {
					err = l.errf(e.val, "from %q is not an IP address", s)
				}
			}
		default:
			err = l.unknown(e, "type, mtu, pointer, from")
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveType {
		return nil, l.errf(n, "an icmp needs a type (%s)", icmpNameList())
	}
	if ic.Type.hasMTU() && !slices.ContainsFunc(ents, func(e entry) bool { return e.key == "mtu" }) {
		return nil, l.errf(n, "%s carries an MTU: give mtu", ic.Type)
	}
	return ic, nil
}

// getsockopt reads a getsockopt step: an option name.
func (l *loader) getsockopt(n node) (OptName, error) {
	s, err := l.str(n)
	if err != nil {
		return "", err
	}
	switch o := OptName(s); o {
	case OptIPMTU, OptIPv6MTU:
		return o, nil
	}
	return "", l.errf(n, "getsockopt reads IP_MTU or IPV6_MTU, not %q", s)
}

func (w *yamlWriter) icmp(ic *ICMP) {
	parts := []string{"type: " + string(ic.Type)}
	if ic.Type.hasMTU() {
		parts = append(parts, fmt.Sprintf("mtu: %d", ic.MTU))
	}
	if ic.Type.hasPointer() && ic.Pointer != 0 {
		parts = append(parts, fmt.Sprintf("pointer: %d", ic.Pointer))
	}
	if ic.From.IsValid() {
		parts = append(parts, fmt.Sprintf("from: %q", ic.From.String()))
	}
	w.line(1, "- icmp: {%s}", strings.Join(parts, ", "))
}
