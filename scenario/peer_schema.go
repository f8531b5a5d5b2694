package scenario

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// This file is the loader's half of the receiving side: the peer key, the
// recv step, and socket.type / socket.family (docs/scenario.md, "The
// receiving side").

func (l *loader) peer(n node) error {
	ents, err := l.mapping(n, "peer settings")
	if err != nil {
		return err
	}
	p := &Peer{}
	l.sc.Peer = p
	for _, e := range ents {
		switch e.key {
		case "features":
			err = l.peerFeatures(e.val, p)
		case "sysctl":
			err = l.peerSysctls(e.val, p)
		case "sockets":
			err = l.peerSockets(e.val, p)
		default:
			err = l.unknown(e, "features, sysctl, sockets")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) peerFeatures(n node, p *Peer) error {
	items, err := l.sequence(n, "a list of peer device features")
	if err != nil {
		return err
	}
	for _, it := range items {
		s, err := l.str(it)
		if err != nil {
			return err
		}
		if PeerFeature(s) != GRO {
			return l.errf(it, "unknown peer feature %q (known: gro)", s)
		}
		if p.Has(GRO) {
			return l.errf(it, "feature %q listed twice", s)
		}
		p.Features = append(p.Features, GRO)
	}
	return nil
}

func (l *loader) peerSysctls(n node, p *Peer) error {
	ents, err := l.mapping(n, "peer sysctls (name: value)")
	if err != nil {
		return err
	}
	for _, e := range ents {
		spec, ok := PeerSysctlOf(e.key)
		if !ok {
			return l.unknown(e, peerSysctlNames())
		}
		v, err := l.integer(e.val, spec.Lo, spec.Hi)
		if err != nil {
			return err
		}
		s := Sysctl{Name: e.key, Value: v}
		if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
			s.Line = tk.Position.Line
		}
		p.Sysctl = append(p.Sysctl, s)
	}
	return nil
}

func (l *loader) peerSockets(n node, p *Peer) error {
	items, err := l.sequence(n, "a list of peer sockets")
	if err != nil {
		return err
	}
	p.Sockets = []PeerSocket{}
	if len(items) > MaxPeerSockets {
		return l.errf(n, "%d peer sockets; at most %d", len(items), MaxPeerSockets)
	}
	for _, it := range items {
		ps, err := l.peerSocket(it)
		if err != nil {
			return err
		}
		p.Sockets = append(p.Sockets, ps)
	}
	return nil
}

// MaxPeerSockets bounds peer.sockets.
const MaxPeerSockets = 64

func (l *loader) peerSocket(n node) (PeerSocket, error) {
	ps := PeerSocket{Proto: UDP}
	if d, err := l.deref(n); err == nil && d.n != nil {
		if tk := d.n.GetToken(); tk != nil && tk.Position != nil {
			ps.Line = tk.Position.Line
		}
	}
	ents, err := l.mapping(n, "a peer socket")
	if err != nil {
		return ps, err
	}
	haveBind := false
	for _, e := range ents {
		switch e.key {
		case "bind":
			if ps.Bind, err = l.addrPort(e.val); err == nil {
				haveBind = true
				err = l.checkPeerAddr(e.val, ps.Bind, true)
			}
		case "proto":
			var s string
			if s, err = l.str(e.val); err == nil {
				switch Proto(s) {
				case UDP, UDPLite:
					ps.Proto = Proto(s)
				default:
					err = l.errf(e.val, "unknown proto %q (udp or udplite)", s)
				}
			}
		case "connect":
			if ps.Connect, err = l.addrPort(e.val); err == nil {
				err = l.checkPeerAddr(e.val, ps.Connect, false)
			}
		case "rcvbuf":
			var v int64
			if v, err = l.integer(e.val, math.MinInt32, math.MaxInt32); err == nil {
				r := int(v)
				ps.Rcvbuf = &r
			}
		case "setsockopt":
			ps.Setsockopt, err = pairList(l, e.val, "a list of socket options", "a socket option (NAME: value)", l.peerOpt)
		default:
			err = l.unknown(e, "bind, proto, connect, rcvbuf, setsockopt")
		}
		if err != nil {
			return ps, err
		}
	}
	if !haveBind {
		return ps, l.errf(n, "a peer socket needs bind (an address:port such as \"0.0.0.0:9000\")")
	}
	if ps.Connect.IsValid() && ps.Connect.Addr().Is6() != ps.IPv6() {
		return ps, l.errf(n, "connect %s and bind %s are of different families; write an IPv4 peer as \"[::ffff:a.b.c.d]:port\" on an IPv6 socket", ps.Connect, ps.Bind)
	}
	return ps, nil
}

// checkPeerAddr refuses addresses the receiving side does not model:
// multicast and broadcast (out of scope), port 0 (a port the kernel would
// draw at random), scope ids. A bound address may be the wildcard.
func (l *loader) checkPeerAddr(n node, ap netip.AddrPort, bind bool) error {
	a := ap.Addr().Unmap()
	switch {
	case ap.Port() == 0 && bind:
		return l.errf(n, "port 0 would let the kernel pick a random port; name one")
	case ap.Port() == 0:
		return l.errf(n, "connect() to port 0 is refused by udp's connect (EINVAL isn't modelled here); name a port")
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return l.errf(n, "%s: multicast and broadcast delivery are out of scope", ap.Addr())
	case a.IsUnspecified() && !bind:
		return l.errf(n, "connect to %s: Linux treats it as loopback", ap.Addr())
	case a.IsLinkLocalUnicast():
		return l.errf(n, "%s: a link-local address needs a scope id, which udpbuild does not model", ap.Addr())
	}
	return nil
}

// peerOpt reads one peer socket option, by the peer table (names.go).
func (l *loader) peerOpt(e entry) (Opt, error) {
	o := Opt{Name: OptName(e.key)}
	if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
		o.Line = tk.Position.Line
	}
	spec, ok := peerOptSpecOf(o.Name)
	if !ok {
		return o, l.unknown(e, peerOptNames())
	}
	v, err := l.integer(e.val, spec.lo, spec.hi)
	o.Int = int(v)
	return o, err
}

func (l *loader) recv(n node) (*Recv, error) {
	ents, err := l.mapping(n, "a recv")
	if err != nil {
		return nil, err
	}
	r := &Recv{Len: DefaultRecvLen, CmsgLen: DefaultCmsgLen, Count: 1}
	var sockNode *node
	for _, e := range ents {
		switch e.key {
		case "socket":
			sockNode = &e.val
			var v int64
			v, err = l.integer(e.val, 0, MaxPeerSockets-1)
			r.Socket = int(v)
		case "len":
			var v int64
			v, err = l.integer(e.val, 0, MaxRecvLen)
			r.Len = int(v)
		case "cmsg_len":
			var v int64
			v, err = l.integer(e.val, 0, MaxCmsgLen)
			r.CmsgLen = int(v)
		case "flags":
			r.Flags, err = l.recvFlags(e.val)
		case "count":
			r.Count, err = l.recvCount(e.val)
		case "errqueue":
			r.ErrQueue, err = l.boolean(e.val)
		case "expect":
			r.Expect, err = l.expect(e.val)
		default:
			err = l.unknown(e, "socket, len, cmsg_len, flags, count, errqueue, expect")
		}
		if err != nil {
			return nil, err
		}
	}
	if r.ErrQueue && sockNode != nil {
		return nil, l.errf(*sockNode, "errqueue: true reads the sender's socket; socket indexes the peer's")
	}
	if sockNode != nil || !r.ErrQueue {
		l.recvs = append(l.recvs, recvRef{r, n, sockNode})
	}
	return r, nil
}

// recvRef is a recv step with its nodes: its socket index is checked once
// the peer's sockets are known (crossCheck).
type recvRef struct {
	r        *Recv
	n        node
	sockNode *node
}

func (l *loader) recvFlags(n node) (int, error) {
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
		v, ok := recvFlagBit(s)
		if !ok {
			return 0, l.errf(it, "unknown recv flag %q (%s; MSG_ERRQUEUE is errqueue: true)", s, recvFlagList())
		}
		f |= v
	}
	return f, nil
}

func (l *loader) recvCount(n node) (int, error) {
	d, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	if s, ok := scalarString(d.n); ok {
		if s == "all" {
			return RecvAll, nil
		}
		return 0, l.errf(n, "count is a number of calls (1..%d) or all (read until EAGAIN), not %q", MaxRecvCalls, s)
	}
	v, err := l.integer(d, 1, MaxRecvCalls)
	return int(v), err
}

// sockType reads socket.type: SOCK_* names and numbers joined by "|"
// ("SOCK_DGRAM|SOCK_NONBLOCK"). Types that would create a socket other
// than a datagram socket (SOCK_RAW and SOCK_PACKET succeed for root) are
// refused: udpbuild models only what a UDP socket does, and socket()'s
// failures.
func (l *loader) sockType(n node) (SockType, error) {
	d, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	var t uint32
	if _, ok := d.n.(*ast.IntegerNode); ok {
		v, err := l.integer(d, math.MinInt32, math.MaxInt32)
		if err != nil {
			return 0, err
		}
		t = uint32(v)
	} else {
		s, err := l.str(d)
		if err != nil {
			return 0, err
		}
		for _, part := range strings.Split(s, "|") {
			part = strings.TrimSpace(part)
			v, ok := sockTypeBits(part)
			if !ok {
				return 0, l.errf(n, "%q is not a socket type (SOCK_DGRAM, SOCK_STREAM, SOCK_RDM, SOCK_SEQPACKET, SOCK_DCCP, SOCK_NONBLOCK, SOCK_CLOEXEC, or a number, joined by |)", part)
			}
			t |= v
		}
	}
	st := SockType(int32(t))
	if err := checkSockType(st); err != nil {
		return 0, l.errf(n, "%v", err)
	}
	return st, nil
}

// checkSockType refuses the types a scenario may not name: 0 (the zero
// SockType means SOCK_DGRAM), and those with which socket() succeeds for
// root with something other than a datagram socket.
func checkSockType(st SockType) error {
	if st == 0 {
		return fmt.Errorf("type 0 is ambiguous here (0 means SOCK_DGRAM in udpbuild); SOCK_RDM also meets ESOCKTNOSUPPORT")
	}
	if st&^(SockTypeMask|SockNonblock|SockCloexec) == 0 {
		switch st & SockTypeMask {
		case SockRaw, SockPacket:
			return fmt.Errorf("type %s makes socket() succeed for root with a raw or packet socket, which udpbuild does not model", FormatSockType(st))
		}
	}
	return nil
}

// sockTypeBits reads one part of a socket.type: a name or a number.
func sockTypeBits(s string) (uint32, bool) {
	for _, tn := range sockTypeNames {
		if tn.name == s {
			return uint32(tn.bits), true
		}
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxUint32 {
		return 0, false
	}
	return uint32(v), true
}

// FormatSockType writes a socket type as socket.type reads it: the base
// type's name (or number), then each flag's name, then leftover bits as
// a hex number.
func FormatSockType(t SockType) string {
	v := SockType(t.Value())
	var parts []string
	base := v & SockTypeMask
	named := false
	for _, tn := range sockTypeNames[:7] {
		if tn.bits == base {
			parts = append(parts, tn.name)
			named = true
		}
	}
	if !named && base != 0 {
		parts = append(parts, strconv.Itoa(int(base)))
	}
	rest := v &^ SockTypeMask
	for _, tn := range sockTypeNames[7:] {
		if rest&tn.bits != 0 {
			parts = append(parts, tn.name)
			rest &^= tn.bits
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// family reads socket.family: AF_INET, AF_INET6 (as src says), or a
// family that makes socket() fail with EAFNOSUPPORT: AF_UNSPEC, or a
// number outside 1..AFMax-1. Other families would create a socket that
// udpbuild does not model.
func (l *loader) family(n node) (int, error) {
	d, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	if s, ok := scalarString(d.n); ok {
		switch s {
		case "AF_UNSPEC":
			return AFUnspec, nil
		case "AF_INET":
			return AFInet, nil
		case "AF_INET6":
			return AFInet6, nil
		}
		return 0, l.errf(n, "family %q: write AF_INET, AF_INET6, AF_UNSPEC or a number", s)
	}
	v, err := l.integer(d, math.MinInt32, math.MaxInt32)
	if err != nil {
		return 0, err
	}
	if v > 0 && v < AFMax && v != AFInet && v != AFInet6 {
		return 0, l.errf(n, "family %d is a family Linux may implement; udpbuild models AF_INET and AF_INET6 sockets, and EAFNOSUPPORT for AF_UNSPEC and numbers from %d", v, AFMax)
	}
	return int(v), nil
}

// crossCheckPeer validates what the receiving side's keys say together:
// a recv's socket index must name a peer socket, and socket.family must
// match src when it names a family udpbuild models.
func (l *loader) crossCheckPeer(familyNode *node) error {
	socks := l.sc.PeerSockets()
	for _, rr := range l.recvs {
		if rr.r.ErrQueue {
			continue
		}
		at := rr.n
		if rr.sockNode != nil {
			at = *rr.sockNode
		}
		if rr.r.Socket >= len(socks) {
			if len(socks) == 0 {
				return l.errf(at, "recv from peer socket %d, but the peer has no sockets (sockets: [])", rr.r.Socket)
			}
			return l.errf(at, "recv from peer socket %d, but the peer has %d (0..%d)", rr.r.Socket, len(socks), len(socks)-1)
		}
	}
	if f := l.sc.Socket.Family; f != nil && familyNode != nil {
		want := AFInet
		if l.sc.Socket.IPv6() {
			want = AFInet6
		}
		if (*f == AFInet || *f == AFInet6) && *f != want {
			return l.errf(*familyNode, "family %d does not match src %s (family %d)", *f, l.sc.Socket.Src, want)
		}
	}
	return nil
}
