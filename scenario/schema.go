package scenario

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/udpbuild/udpbuild/errno"
)

// This file is the scenario schema as the loader walks it: every key a
// file may hold, its defaults and its checks, in the order of
// docs/scenario.md.

func (l *loader) top(n node) error {
	ents, err := l.mapping(n, "a scenario")
	if err != nil {
		return err
	}
	sc := l.sc
	sc.Repeat = 1
	sc.Link = Link{MTU: DefaultMTU}
	sc.Socket = Socket{Proto: UDP, Src: DefaultSrc, Dst: DefaultDst, PMTUDisc: PMTUWant}
	for _, e := range ents {
		switch e.key {
		case "name":
			if sc.Name, err = l.str(e.val); err != nil {
				return err
			}
		case "link":
			err = l.link(e.val)
		case "socket":
			err = l.socket(e.val)
		case "steps":
			err = l.steps(e.val)
		case "peer":
			err = l.peer(e.val)
		case "repeat":
			var v int64
			v, err = l.integer(e.val, 1, MaxRepeat)
			sc.Repeat = int(v)
		default:
			err = l.unknown(e, "name, link, socket, peer, steps, repeat")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) link(n node) error {
	ents, err := l.mapping(n, "link settings")
	if err != nil {
		return err
	}
	lk := &l.sc.Link
	for _, e := range ents {
		switch e.key {
		case "mtu":
			var v int64
			v, err = l.integer(e.val, MinMTU, MaxMTU)
			lk.MTU = int(v)
		case "features":
			err = l.features(e.val)
		case "src_mac":
			lk.SrcMAC, err = l.mac(e.val)
		case "dst_mac":
			lk.DstMAC, err = l.mac(e.val)
		default:
			err = l.unknown(e, "mtu, features, src_mac, dst_mac")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) features(n node) error {
	items, err := l.sequence(n, "a list of NIC features")
	if err != nil {
		return err
	}
	for _, it := range items {
		s, err := l.str(it)
		if err != nil {
			return err
		}
		f := Feature(s)
		known := false
		for _, k := range AllFeatures {
			known = known || k == f
		}
		if !known {
			return l.errf(it, "unknown feature %q (known: hw-csum, ip-csum, sg, gso-udp-l4)", s)
		}
		if l.sc.Link.Has(f) {
			return l.errf(it, "feature %q listed twice", s)
		}
		l.sc.Link.Features = append(l.sc.Link.Features, f)
	}
	return nil
}

func (l *loader) socket(n node) error {
	ents, err := l.mapping(n, "socket settings")
	if err != nil {
		return err
	}
	so := &l.sc.Socket
	var srcNode, dstNode, flowNode *node
	for _, e := range ents {
		switch e.key {
		case "proto":
			var s string
			if s, err = l.str(e.val); err == nil {
				switch Proto(s) {
				case UDP, UDPLite:
					so.Proto = Proto(s)
				default:
					err = l.errf(e.val, "unknown proto %q (udp or udplite)", s)
				}
			}
		case "src":
			srcNode = &e.val
			so.Src, err = l.addrPort(e.val)
			if err == nil && so.Src.Port() == 0 {
				err = l.errf(e.val, "source port 0 would let the kernel pick a random port; name one")
			}
			if err == nil {
				err = l.checkSource(e.val, so.Src.Addr())
			}
		case "dst":
			dstNode = &e.val
			// "none" is an extension: a socket with no default
			// destination, so that an unconnected send without msg_name
			// meets EDESTADDRREQ.
			if s, ok := scalarString(e.val.n); ok && s == "none" {
				so.Dst = netip.AddrPort{}
			} else {
				so.Dst, err = l.addrPort(e.val)
				if err == nil {
					err = l.checkUnicast(e.val, so.Dst.Addr(), "dst")
				}
			}
		case "flowinfo":
			flowNode = &e.val
			var v int64
			v, err = l.integer(e.val, 0, math.MaxUint32)
			so.Flowinfo = uint32(v)
		case "connect":
			so.Connect, err = l.boolean(e.val)
		case "pmtudisc":
			so.PMTUDisc, err = l.pmtudisc(e.val)
		case "inet_id":
			var v int64
			if v, err = l.integer(e.val, 0, 65535); err == nil {
				id := uint16(v)
				so.InetID = &id
			}
		case "setsockopt":
			so.Setsockopt, err = l.optList(e.val)
		case "type":
			so.Type, err = l.sockType(e.val)
		case "family":
			var f int
			if f, err = l.family(e.val); err == nil {
				so.Family = &f
				l.familyNode = &e.val
			}
		default:
			err = l.unknown(e, "proto, src, dst, flowinfo, connect, pmtudisc, inet_id, setsockopt, type, family")
		}
		if err != nil {
			return err
		}
	}
	// The family follows src; a file that names only an IPv6 dst gets the
	// IPv6 defaults for src, and an IPv6 src the IPv6 default dst.
	switch {
	case srcNode == nil && dstNode != nil && so.Dst.Addr().Is6() && !so.Dst.Addr().Is4In6():
		so.Src = DefaultSrc6
	case srcNode != nil && dstNode == nil && so.IPv6():
		so.Dst = DefaultDst6
	}
	if dstNode != nil && !so.IPv6() && so.Dst.Addr().Is6() {
		return l.errf(*dstNode, "dst %s is IPv6 but the socket is IPv4 (src %s); write src as \"[addr]:port\" for an IPv6 socket", so.Dst.Addr(), so.Src)
	}
	if so.Src.Addr().Is4In6() {
		for _, o := range so.Setsockopt {
			if o.Name == OptIPv6V6Only && o.Int != 0 {
				return l.errf(*srcNode, "src %s is v4-mapped, but socket.setsockopt sets IPV6_V6ONLY: bind() of an IPv6-only socket to a v4-mapped address fails (EINVAL), and an unbound socket's port is the kernel's choice", so.Src)
			}
		}
	}
	if flowNode != nil && (!so.IPv6() || !so.Dst.Addr().Is6()) {
		return l.errf(*flowNode, "flowinfo is sin6_flowinfo: it needs an IPv6 socket and an IPv6 dst")
	}
	if so.Connect && !so.Dst.IsValid() {
		return l.errf(n, "connect: true needs a dst")
	}
	return nil
}

// checkSource refuses a bound address whose socket could not send over the
// link. Unlike a destination, an IPv6 source may be the wildcard "::": the
// kernel then picks fd00::1 or 10.0.0.1 (DefaultSrc6, DefaultSrc) by
// source address selection.
func (l *loader) checkSource(n node, a netip.Addr) error {
	if a.Is6() && a.IsUnspecified() {
		return nil
	}
	return l.checkUnicast(n, a, "src")
}

// checkUnicast refuses addresses whose packets would not leave over the
// link: the kernel routes them to loopback or treats them as broadcast or
// multicast, none of which udpbuild models.
func (l *loader) checkUnicast(n node, a netip.Addr, what string) error {
	u := a.Unmap()
	switch {
	case a.Is6() && a.IsUnspecified():
		return l.errf(n, "%s %s: udpv6_sendmsg sends to :: as to ::1, which Linux delivers locally", what, a)
	case u.IsUnspecified():
		return l.errf(n, "%s %s: 0.0.0.0 is not a destination udpbuild models (Linux delivers it locally)", what, a)
	case u.IsLoopback():
		return l.errf(n, "%s %s: loopback traffic never reaches the link", what, a)
	case u.IsMulticast():
		return l.errf(n, "%s %s: multicast is not modelled", what, a)
	case u == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return l.errf(n, "%s %s: broadcast is not modelled", what, a)
	case u.IsLinkLocalUnicast():
		return l.errf(n, "%s %s: a link-local address needs a scope id, which udpbuild does not model; use a ULA such as fd00::2", what, a)
	}
	return nil
}

func (l *loader) pmtudisc(n node) (PMTUDisc, error) {
	n, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	if _, ok := n.n.(*ast.IntegerNode); ok {
		v, err := l.integer(n, int64(PMTUDont), int64(PMTUOmit))
		return PMTUDisc(v), err
	}
	s, err := l.str(n)
	if err != nil {
		return 0, err
	}
	p, ok := pmtuNames[s]
	if !ok {
		return 0, l.errf(n, "unknown pmtudisc mode %q (dont, want, do, probe, interface, omit)", s)
	}
	return p, nil
}

// optList reads a list of one-key mappings: the order matters.
func (l *loader) optList(n node) ([]Opt, error) {
	return pairList(l, n, "a list of socket options", "a socket option (NAME: value)", l.opt)
}

// opt reads one socket option, as its entry in the option table
// (names.go) says.
func (l *loader) opt(e entry) (Opt, error) {
	o := Opt{Name: OptName(e.key)}
	if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
		o.Line = tk.Position.Line
	}
	spec, ok := optSpecOf(o.Name)
	if !ok {
		return o, l.unknown(e, optNames())
	}
	var v int64
	var err error
	switch spec.kind {
	case argInt:
		v, err = l.integer(e.val, spec.lo, spec.hi)
	case argMode:
		var p PMTUDisc
		p, err = l.pmtudisc(e.val)
		v = int64(p)
	case argBytes:
		o.Bytes, err = l.hexBytes(e.val, int(spec.hi))
		if o.Bytes == nil {
			o.Bytes = []byte{}
		}
	}
	o.Int = int(v)
	return o, err
}

func (l *loader) steps(n node) error {
	items, err := l.sequence(n, "a list of steps")
	if err != nil {
		return err
	}
	if len(items) > MaxSteps {
		return l.errf(n, "%d steps; at most %d", len(items), MaxSteps)
	}
	for _, it := range items {
		ents, err := l.mapping(it, "a step (send:, recv:, setsockopt:, icmp: or getsockopt:)")
		if err != nil {
			return err
		}
		if len(ents) != 1 {
			return l.errf(it, "a step has exactly one of send, recv, setsockopt, icmp or getsockopt, found %d keys", len(ents))
		}
		e := ents[0]
		st := Step{}
		if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
			st.Line = tk.Position.Line
		}
		switch e.key {
		case "send":
			st.Send, err = l.send(e.val)
		case "setsockopt":
			st.Setsockopt, err = l.stepOpts(e.val)
		case "recv":
			st.Recv, err = l.recv(e.val)
		case "icmp":
			st.ICMP, err = l.icmp(e.val)
		case "getsockopt":
			st.Getsockopt, err = l.getsockopt(e.val)
		default:
			err = l.unknown(e, "send, recv, setsockopt, icmp, getsockopt")
		}
		if err != nil {
			return err
		}
		if st.ICMP != nil || st.Getsockopt != "" {
			l.pathSteps = append(l.pathSteps, pathRef{len(l.sc.Steps), it})
		}
		l.sc.Steps = append(l.sc.Steps, st)
	}
	return nil
}

// stepOpts accepts a mapping (applied in file order) or a list of one-key
// mappings, like socket.setsockopt.
func (l *loader) stepOpts(n node) ([]Opt, error) {
	d, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	if _, ok := d.n.(*ast.SequenceNode); ok {
		return l.optList(d)
	}
	ents, err := l.mapping(d, "socket options (NAME: value)")
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, l.errf(n, "setsockopt step names no option")
	}
	out := make([]Opt, len(ents))
	for i, e := range ents {
		if out[i], err = l.opt(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *loader) send(n node) (*Send, error) {
	ents, err := l.mapping(n, "a send")
	if err != nil {
		return nil, err
	}
	s := &Send{Index: l.sends}
	l.sends++
	haveLen, havePayload, haveFlow := false, false, false
	for _, e := range ents {
		switch e.key {
		case "len":
			var v int64
			if v, err = l.integer(e.val, 0, MaxPayload); err == nil {
				s.Payload = PatternView(s.Index, int(v))
				haveLen = true
			}
		case "payload":
			s.Payload, err = l.payload(e.val)
			havePayload = true
		case "flags":
			s.Flags, err = l.flags(e.val)
		case "cmsg":
			s.Cmsg, err = l.cmsgs(e.val)
		case "to":
			s.To, err = l.addrPort(e.val)
			if err == nil {
				err = l.checkUnicast(e.val, s.To.Addr(), "to")
			}
		case "flowinfo":
			var v int64
			v, err = l.integer(e.val, 0, math.MaxUint32)
			s.Flowinfo, haveFlow = uint32(v), true
		case "expect":
			s.Expect, err = l.expect(e.val)
		default:
			err = l.unknown(e, "len, payload, flags, cmsg, to, flowinfo, expect")
		}
		if err != nil {
			return nil, err
		}
	}
	if haveLen && havePayload {
		return nil, l.errf(n, "give len or payload, not both")
	}
	if haveFlow {
		l.flowSends = append(l.flowSends, flowSend{s, n})
	}
	if s.Payload == nil {
		s.Payload = []byte{}
	}
	return s, nil
}

func (l *loader) payload(n node) ([]byte, error) {
	s, err := l.str(n)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(s, "hex:"):
		h := strings.ReplaceAll(s[4:], " ", "")
		if len(h)%2 != 0 {
			return nil, l.errf(n, "hex payload has an odd number of digits (%d)", len(h))
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, l.errf(n, "bad hex payload: %v", err)
		}
		if len(b) > MaxPayload {
			return nil, l.errf(n, "payload of %d bytes; at most %d", len(b), MaxPayload)
		}
		return b, nil
	case strings.HasPrefix(s, "@"):
		return l.payloadFile(n, s[1:])
	}
	return nil, l.errf(n, `payload must be "hex:..." or "@file" (or use len: N for the pattern)`)
}

func (l *loader) flags(n node) (int, error) {
	items, err := l.sequence(n, "a list of MSG_* flags")
	if err != nil {
		return 0, err
	}
	f := 0
	for _, it := range items {
		s, err := l.str(it)
		if err != nil {
			return 0, err
		}
		v, ok := flagBit(s)
		if !ok {
			return 0, l.errf(it, "unknown flag %q (%s)", s, flagList())
		}
		f |= v
	}
	return f, nil
}

func (l *loader) cmsgs(n node) ([]Cmsg, error) {
	return pairList(l, n, "a list of control messages", "a control message (NAME: value)", l.cmsg)
}

// cmsg reads one control message, as its entry in the table (names.go)
// says.
func (l *loader) cmsg(e entry) (Cmsg, error) {
	c := Cmsg{Type: CmsgType(e.key)}
	spec, ok := cmsgSpecOf(c.Type)
	var v int64
	var err error
	switch {
	case !ok:
		err = l.unknown(e, cmsgNames())
	case spec.kind == argBytes:
		c.Bytes, err = l.hexBytes(e.val, int(spec.hi))
		if c.Bytes == nil {
			c.Bytes = []byte{}
		}
	case spec.kind == argAddr:
		c.Addr, err = l.addr6(e.val)
		c.Size = spec.size
	case c.Type == CmsgIPTOS:
		c.Int, c.Size, err = l.tosCmsg(e.val, spec)
	case spec.noun != "":
		// Any C int is read, then held to the value's range.
		v, err = l.integer(e.val, math.MinInt32, math.MaxInt32)
		c.Int, c.Size = int(v), spec.size
		if err == nil && (v < spec.lo || v > spec.hi) {
			err = l.errf(e.val, "%d is out of range %d..%d for %s", v, spec.lo, spec.hi, spec.noun)
		}
	default:
		v, err = l.integer(e.val, spec.lo, spec.hi)
		c.Int, c.Size = int(v), spec.size
	}
	return c, err
}

// tosCmsg reads IP_TOS as an int (4-byte form) or [value, u8] (1-byte form).
func (l *loader) tosCmsg(n node, spec cmsgSpec) (val, size int, err error) {
	d, err := l.deref(n)
	if err != nil {
		return 0, 0, err
	}
	if _, ok := d.n.(*ast.SequenceNode); ok {
		items, _ := l.sequence(d, "")
		if len(items) != 2 {
			return 0, 0, l.errf(n, "the sized form of IP_TOS is [value, u8] or [value, int]")
		}
		v, err := l.integer(items[0], spec.lo, spec.hi)
		if err != nil {
			return 0, 0, err
		}
		s, err := l.str(items[1])
		if err != nil {
			return 0, 0, err
		}
		switch s {
		case "u8":
			return int(v), 1, nil
		case "int":
			return int(v), spec.size, nil
		}
		return 0, 0, l.errf(items[1], "size %q: write u8 or int", s)
	}
	v, err := l.integer(n, spec.lo, spec.hi)
	return int(v), spec.size, err
}

func (l *loader) expect(n node) (*Expect, error) {
	d, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	if _, ok := d.n.(*ast.IntegerNode); ok {
		v, err := l.integer(d, 0, MaxPayload)
		return &Expect{Ret: int(v)}, err
	}
	s, err := l.str(d)
	if err != nil {
		return nil, l.errf(n, "expect is a byte count or an errno name such as EMSGSIZE")
	}
	if v, perr := strconv.Atoi(s); perr == nil && v >= 0 {
		return &Expect{Ret: v}, nil
	}
	e, ok := errno.Parse(s)
	if !ok {
		return nil, l.errf(n, "%q is not an errno name (EMSGSIZE, EINVAL, ...)", s)
	}
	return &Expect{Err: e}, nil
}

// crossCheck validates what depends on more than one key: a destination
// that is one of the sender's own addresses would be delivered locally,
// never reaching the link.
func (l *loader) crossCheck() error {
	if err := l.crossCheckPeer(l.familyNode); err != nil {
		return err
	}
	for _, p := range l.pathSteps {
		if err := l.sc.checkPath(p.i); err != nil {
			return l.errf(p.n, "%v", err)
		}
	}
	so := l.sc.Socket
	// sin6_flowinfo travels in msg_name: a send that gives flowinfo but
	// names no destination sends to the socket's dst, by name.
	for _, f := range l.flowSends {
		if !f.s.To.IsValid() {
			f.s.To = so.Dst
		}
		switch to := f.s.To; {
		case !to.IsValid():
			return l.errf(f.n, "flowinfo travels in msg_name (sin6_flowinfo): give a to, or a socket dst")
		case !to.Addr().Is6():
			return l.errf(f.n, "flowinfo is sin6_flowinfo, but %s is sent as a sockaddr_in; write the destination as \"[::ffff:%s]:%d\"", to.Addr(), to.Addr(), to.Port())
		}
	}
	if so.Dst.IsValid() && so.isLocal(so.Dst.Addr()) {
		return &Error{File: l.file, Path: "socket.dst", Msg: fmt.Sprintf("dst %s is the sender's own address: Linux delivers it locally, not over the link", so.Dst.Addr())}
	}
	for i, st := range l.sc.Steps {
		if st.Send != nil && st.Send.To.IsValid() && so.isLocal(st.Send.To.Addr()) {
			return &Error{File: l.file, Line: st.Line, Path: fmt.Sprintf("steps[%d].send.to", i), Msg: fmt.Sprintf("%s is the sender's own address: Linux delivers it locally, not over the link", st.Send.To.Addr())}
		}
	}
	return nil
}

// isLocal reports whether a is an address of the sender: its bound
// address, or for a wildcard-bound IPv6 socket, the link's defaults.
func (so Socket) isLocal(a netip.Addr) bool {
	src := so.Src.Addr()
	if src.Is6() && src.IsUnspecified() {
		return a.Unmap() == DefaultSrc.Addr() || a == DefaultSrc6.Addr()
	}
	return a.Unmap() == src.Unmap()
}
