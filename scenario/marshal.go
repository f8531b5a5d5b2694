package scenario

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/udpbuild/udpbuild/errno"
)

// Marshal writes sc as scenario YAML that Parse reads back to an equal
// Scenario (Path and the Line fields aside, which describe a file rather
// than the scenario). A send's payload is written as `len: N` when it is the
// pattern payload of its send index, else as "hex:...". Option and control
// message order is kept, IP_TOS control messages keep their size ([v, u8]
// for the 1-byte form) and a socket without a destination gets `dst: none`.
//
// Marshal refuses, with an error, a Scenario no file could describe: a value
// outside the range the loader accepts, an unknown option, flag or control
// message, a step that is both a send and a setsockopt. It never panics.
func Marshal(sc *Scenario) ([]byte, error) {
	if sc == nil {
		return nil, fmt.Errorf("marshal scenario: nil scenario")
	}
	w := &yamlWriter{}
	if err := w.scenario(sc); err != nil {
		return nil, fmt.Errorf("marshal scenario %q: %w", sc.Name, err)
	}
	return w.buf.Bytes(), nil
}

// yamlWriter accumulates the YAML text. Every scalar that YAML could read
// as something other than a string (hex digits, addresses, MACs, names) is
// double-quoted.
type yamlWriter struct {
	buf bytes.Buffer
}

func (w *yamlWriter) line(indent int, format string, args ...any) {
	for range indent {
		w.buf.WriteString("  ")
	}
	fmt.Fprintf(&w.buf, format, args...)
	w.buf.WriteByte('\n')
}

func (w *yamlWriter) scenario(sc *Scenario) error {
	name, err := quote(sc.Name)
	if err != nil {
		return fmt.Errorf("name: %w", err)
	}
	w.line(0, "name: %s", name)
	switch {
	case sc.Repeat > MaxRepeat:
		return fmt.Errorf("repeat: %d; at most %d", sc.Repeat, MaxRepeat)
	case sc.Repeat > 1:
		w.line(0, "repeat: %d", sc.Repeat)
	}
	if err := w.link(sc.Link); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := w.socket(sc.Socket); err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := w.peer(sc.Peer); err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	if len(sc.Steps) > MaxSteps {
		return fmt.Errorf("steps: %d steps; at most %d", len(sc.Steps), MaxSteps)
	}
	if len(sc.Steps) == 0 {
		w.line(0, "steps: []")
		return nil
	}
	nsock := len(sc.PeerSockets())
	for i, st := range sc.Steps {
		if st.Recv != nil && !st.Recv.ErrQueue && st.Recv.Socket >= nsock {
			return fmt.Errorf("steps[%d]: recv from peer socket %d, but the peer has %d", i, st.Recv.Socket, nsock)
		}
		if err := sc.checkPath(i); err != nil {
			return fmt.Errorf("steps[%d]: %w", i, err)
		}
	}
	w.line(0, "steps:")
	sends := 0
	for i, st := range sc.Steps {
		if err := w.step(st, &sends); err != nil {
			return fmt.Errorf("steps[%d]: %w", i, err)
		}
	}
	return nil
}

func (w *yamlWriter) link(l Link) error {
	if l.MTU < MinMTU || l.MTU > MaxMTU {
		return fmt.Errorf("mtu %d is out of range %d..%d", l.MTU, MinMTU, MaxMTU)
	}
	w.line(0, "link:")
	w.line(1, "mtu: %d", l.MTU)
	if len(l.Features) > 0 {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, f := range l.Features {
			known := false
			for _, k := range AllFeatures {
				known = known || k == f
			}
			if !known {
				return fmt.Errorf("unknown feature %q", f)
			}
			for _, g := range l.Features[:i] {
				if g == f {
					return fmt.Errorf("feature %q listed twice", f)
				}
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(string(f))
		}
		b.WriteByte(']')
		w.line(1, "features: %s", b.String())
	}
	for _, m := range []struct {
		key string
		mac []byte
	}{{"src_mac", l.SrcMAC}, {"dst_mac", l.DstMAC}} {
		if m.mac == nil {
			continue
		}
		if len(m.mac) != 6 {
			return fmt.Errorf("%s has %d bytes; an Ethernet MAC has 6", m.key, len(m.mac))
		}
		w.line(1, "%s: %q", m.key, fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m.mac[0], m.mac[1], m.mac[2], m.mac[3], m.mac[4], m.mac[5]))
	}
	return nil
}

func (w *yamlWriter) socket(so Socket) error {
	if so.Proto != UDP && so.Proto != UDPLite {
		return fmt.Errorf("unknown proto %q", so.Proto)
	}
	if !so.Src.IsValid() || so.Src.Port() == 0 || so.Src.Addr().Zone() != "" {
		return fmt.Errorf("src %v is not an address with a nonzero port", so.Src)
	}
	pm, err := pmtuName(so.PMTUDisc)
	if err != nil {
		return fmt.Errorf("pmtudisc: %w", err)
	}
	w.line(0, "socket:")
	w.line(1, "proto: %s", so.Proto)
	w.line(1, "src: %q", so.Src.String())
	switch {
	case !so.Dst.IsValid():
		if so.Connect {
			return fmt.Errorf("connect: true needs a dst")
		}
		w.line(1, "dst: none")
	case so.Dst.Addr().Is6() && !so.IPv6():
		return fmt.Errorf("dst %v is IPv6 but the socket is IPv4", so.Dst)
	case so.Dst.Addr().Zone() != "":
		return fmt.Errorf("dst %v has a scope id", so.Dst)
	default:
		w.line(1, "dst: %q", so.Dst.String())
	}
	if so.Flowinfo != 0 {
		if !so.IPv6() || !so.Dst.Addr().Is6() {
			return fmt.Errorf("flowinfo needs an IPv6 socket and an IPv6 dst")
		}
		w.line(1, "flowinfo: %#x", so.Flowinfo)
	}
	w.line(1, "connect: %t", so.Connect)
	w.line(1, "pmtudisc: %s", pm)
	if so.InetID != nil {
		w.line(1, "inet_id: %d", *so.InetID)
	}
	if len(so.Setsockopt) > 0 {
		w.line(1, "setsockopt:")
		if err := w.optList(2, so.Setsockopt); err != nil {
			return fmt.Errorf("setsockopt%w", err)
		}
	}
	return w.sockTypeFamily(so)
}

// optList writes options as a list of one-key mappings, which keeps their
// order and admits the same option twice.
func (w *yamlWriter) optList(indent int, opts []Opt) error {
	for i, o := range opts {
		v, err := optValue(o)
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		w.line(indent, "- %s: %s", o.Name, v)
	}
	return nil
}

// optValue writes an option's argument, as its entry in the option table
// (names.go) says.
func optValue(o Opt) (string, error) {
	spec, ok := optSpecOf(o.Name)
	if !ok {
		return "", fmt.Errorf("unknown socket option %q", o.Name)
	}
	switch spec.kind {
	case argBytes:
		if int64(len(o.Bytes)) > spec.hi {
			return "", fmt.Errorf("%s: %d bytes; at most %d", o.Name, len(o.Bytes), spec.hi)
		}
		return strconv.Quote(hex.EncodeToString(o.Bytes)), nil
	case argMode:
		return pmtuName(PMTUDisc(o.Int))
	}
	if int64(o.Int) < spec.lo || int64(o.Int) > spec.hi {
		return "", fmt.Errorf("%s: %d is out of range %d..%d", o.Name, o.Int, spec.lo, spec.hi)
	}
	return strconv.Itoa(o.Int), nil
}

func pmtuName(p PMTUDisc) (string, error) {
	if p < PMTUDont || p > PMTUOmit {
		return "", fmt.Errorf("IP_MTU_DISCOVER mode %d is out of range %d..%d", int(p), PMTUDont, PMTUOmit)
	}
	return p.String(), nil
}

func (w *yamlWriter) step(st Step, sends *int) error {
	kinds := 0
	for _, b := range []bool{st.Send != nil, st.Recv != nil, len(st.Setsockopt) > 0, st.ICMP != nil, st.Getsockopt != ""} {
		if b {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return fmt.Errorf("a step is one of send, recv, setsockopt, icmp and getsockopt, not several")
	case st.ICMP != nil:
		w.icmp(st.ICMP)
		return nil
	case st.Getsockopt != "":
		w.line(1, "- getsockopt: %s", st.Getsockopt)
		return nil
	case st.Recv != nil && (st.Send != nil || len(st.Setsockopt) > 0):
		return fmt.Errorf("a step is a send, a recv or a setsockopt, not several")
	case st.Recv != nil:
		return w.recv(st.Recv)
	case st.Send != nil && len(st.Setsockopt) > 0:
		return fmt.Errorf("a step is a send or a setsockopt, not both")
	case st.Send == nil && len(st.Setsockopt) == 0:
		w.line(1, "- setsockopt: []")
		return nil
	case st.Send == nil:
		w.line(1, "- setsockopt:")
		return w.optList(3, st.Setsockopt)
	}
	s := st.Send
	if s.Index != *sends {
		return fmt.Errorf("send index %d, but it is send number %d of the scenario", s.Index, *sends)
	}
	*sends++
	w.line(1, "- send:")
	if len(s.Payload) > MaxPayload {
		return fmt.Errorf("payload of %d bytes; at most %d", len(s.Payload), MaxPayload)
	}
	if bytes.Equal(s.Payload, PatternView(s.Index, len(s.Payload))) {
		w.line(3, "len: %d", len(s.Payload))
	} else {
		w.line(3, "payload: \"hex:%s\"", hex.EncodeToString(s.Payload))
	}
	if s.Flags != 0 {
		names := FlagNames(s.Flags)
		f := 0
		for _, n := range names {
			b, _ := flagBit(n)
			f |= b
		}
		if f != s.Flags {
			return fmt.Errorf("flags %#x has bits no MSG_* name of the spec covers (%#x)", s.Flags, s.Flags&^f)
		}
		w.line(3, "flags: [%s]", joinComma(names))
	}
	if len(s.Cmsg) > 0 {
		w.line(3, "cmsg:")
		for i, c := range s.Cmsg {
			v, err := cmsgValue(c)
			if err != nil {
				return fmt.Errorf("cmsg[%d]: %w", i, err)
			}
			w.line(4, "- %s: %s", c.Type, v)
		}
	}
	if s.To.IsValid() {
		if s.To.Addr().Zone() != "" {
			return fmt.Errorf("to %v has a scope id", s.To)
		}
		w.line(3, "to: %q", s.To.String())
	}
	if s.Flowinfo != 0 {
		if !s.To.Addr().Is6() {
			return fmt.Errorf("flowinfo %#x needs an IPv6 to", s.Flowinfo)
		}
		w.line(3, "flowinfo: %#x", s.Flowinfo)
	}
	return w.expect(s.Expect)
}

func (w *yamlWriter) expect(e *Expect) error {
	if e == nil {
		return nil
	}
	switch {
	case e.Err != 0:
		if _, ok := errno.Parse(e.Err.Name()); !ok {
			return fmt.Errorf("expect: errno %d has no name the loader knows", int(e.Err))
		}
		w.line(3, "expect: %s", e.Err.Name())
	case e.Ret < 0 || e.Ret > MaxPayload:
		return fmt.Errorf("expect: %d is out of range 0..%d", e.Ret, MaxPayload)
	default:
		w.line(3, "expect: %d", e.Ret)
	}
	return nil
}

// cmsgValue writes a control message's value, as its entry in the table
// (names.go) says.
func cmsgValue(c Cmsg) (string, error) {
	spec, ok := cmsgSpecOf(c.Type)
	switch {
	case !ok:
		return "", fmt.Errorf("unknown control message %q", c.Type)
	case spec.kind == argBytes:
		if int64(len(c.Bytes)) > spec.hi {
			return "", fmt.Errorf("%s: %d bytes; at most %d", c.Type, len(c.Bytes), spec.hi)
		}
		return strconv.Quote(hex.EncodeToString(c.Bytes)), nil
	case spec.kind == argAddr:
		if !c.Addr.Is6() || c.Addr.Zone() != "" || c.Size != spec.size {
			return "", fmt.Errorf("%s is %s, not %v (size %d)", c.Type, spec.cType, c.Addr, c.Size)
		}
		return strconv.Quote(c.Addr.String()), nil
	case c.Type == CmsgIPTOS:
		if int64(c.Int) < spec.lo || int64(c.Int) > spec.hi {
			return "", fmt.Errorf("%s %d is out of range %d..%d", c.Type, c.Int, spec.lo, spec.hi)
		}
		switch c.Size {
		case 1:
			return fmt.Sprintf("[%d, u8]", c.Int), nil
		case spec.size:
			return strconv.Itoa(c.Int), nil
		}
		return "", fmt.Errorf("%s has size 1 or %d, not %d", c.Type, spec.size, c.Size)
	}
	if c.Size != spec.size || int64(c.Int) < spec.lo || int64(c.Int) > spec.hi {
		return "", fmt.Errorf("%s is %s (size %d, %d..%d), not size %d value %d", c.Type, spec.cType, spec.size, spec.lo, spec.hi, c.Size, c.Int)
	}
	return strconv.Itoa(c.Int), nil
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// quote writes s as a YAML double-quoted scalar. YAML escapes are not Go's
// (\x takes a code point, not a byte), so invalid UTF-8 is refused and every
// character that is not printable is written as \u or \U.
func quote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8", s)
	}
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x80 && unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// Equal reports whether a and b describe the same scenario: what Parse of
// Marshal's output must give back. Path and the Line fields (where a value
// sat in a file) are ignored, and a nil slice equals an empty one.
func Equal(a, b *Scenario) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(normalised(a), normalised(b))
}

// normalised returns a deep copy of sc in the form Equal compares.
func normalised(sc *Scenario) *Scenario {
	n := &Scenario{Name: sc.Name, Link: sc.Link, Socket: sc.Socket, Repeat: max(sc.Repeat, 1)}
	n.Link.Features = append([]Feature{}, sc.Link.Features...)
	n.Link.SrcMAC = append([]byte{}, sc.Link.SrcMAC...)
	n.Link.DstMAC = append([]byte{}, sc.Link.DstMAC...)
	n.Socket.Setsockopt = normalOpts(sc.Socket.Setsockopt)
	if sc.Socket.Family != nil {
		f := *sc.Socket.Family
		n.Socket.Family = &f
	}
	n.Peer = normalPeer(sc.Peer)
	n.Steps = []Step{}
	for _, st := range sc.Steps {
		s := Step{Setsockopt: normalOpts(st.Setsockopt), Getsockopt: st.Getsockopt}
		if st.ICMP != nil {
			ic := *st.ICMP
			s.ICMP = &ic
		}
		if st.Recv != nil {
			r := *st.Recv
			if r.Expect != nil {
				e := *r.Expect
				r.Expect = &e
			}
			s.Recv = &r
		}
		if st.Send != nil {
			c := *st.Send
			c.Payload = append([]byte{}, c.Payload...)
			c.Cmsg = []Cmsg{}
			for _, m := range st.Send.Cmsg {
				m.Bytes = append([]byte{}, m.Bytes...)
				c.Cmsg = append(c.Cmsg, m)
			}
			s.Send = &c
		}
		n.Steps = append(n.Steps, s)
	}
	return n
}

func normalOpts(opts []Opt) []Opt {
	out := []Opt{}
	for _, o := range opts {
		o.Line = 0
		o.Bytes = append([]byte{}, o.Bytes...)
		out = append(out, o)
	}
	return out
}

// normalPeer returns a deep copy of p in the form Equal compares: Lines
// zeroed, nil and empty lists alike except Sockets, whose nil (the
// defaults) differs from empty (no socket).
func normalPeer(p *Peer) *Peer {
	if p == nil {
		return nil
	}
	n := &Peer{Features: append([]PeerFeature{}, p.Features...), Sysctl: []Sysctl{}}
	for _, s := range p.Sysctl {
		s.Line = 0
		n.Sysctl = append(n.Sysctl, s)
	}
	if p.Sockets != nil {
		n.Sockets = []PeerSocket{}
		for _, ps := range p.Sockets {
			ps.Line = 0
			ps.Setsockopt = normalOpts(ps.Setsockopt)
			if ps.Rcvbuf != nil {
				r := *ps.Rcvbuf
				ps.Rcvbuf = &r
			}
			n.Sockets = append(n.Sockets, ps)
		}
	}
	return n
}
