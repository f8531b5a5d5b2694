package fuzz

import (
	"bytes"
	"context"
	"net/netip"
	"regexp"
	"slices"

	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/scenario"
)

// minimised is a mismatch after minimisation.
type minimised struct {
	sc   *scenario.Scenario
	out  outcome
	runs int // kernel runs spent
}

var digits = regexp.MustCompile(`\b[0-9]+\b`)

// signature names what kind of difference d is, without the frame, step or
// byte numbers that shift as a scenario shrinks: "IPv4 TTL", "send result",
// "payload byte N".
func signature(d compare.Difference) string {
	return digits.ReplaceAllString(d.Field, "N")
}

// minimise shrinks sc greedily while the mismatch first seen (o.diffs[0],
// by its signature) still shows: it drops steps, socket options, step
// options, control messages, flags, destinations and features, turns
// socket settings back to their defaults and shrinks payload lengths (to 0,
// then by halving). Each try re-runs check; at most budget tries are made.
func minimise(ctx context.Context, check checker, sc *scenario.Scenario, o outcome, budget int) minimised {
	sig := signature(o.diffs[0])
	keeps := func(o outcome) bool {
		if o.failed() {
			return false
		}
		for _, d := range o.diffs {
			if signature(d) == sig {
				return true
			}
		}
		return false
	}
	m := minimised{sc: sc, out: o}
	pos, changed := 0, false
	for m.runs < budget && ctx.Err() == nil {
		cands := candidates(m.sc)
		if pos >= len(cands) {
			if !changed {
				break
			}
			pos, changed = 0, false
			continue
		}
		c, err := reparse(cands[pos])
		if err != nil || scenario.Equal(c, m.sc) {
			pos++
			continue
		}
		m.runs++
		if co := check(ctx, c); keeps(co) {
			// Stay at pos: the candidates are drawn afresh from the
			// smaller scenario, and the one now at pos is the next
			// reduction of the same kind (the next step, half again).
			m.sc, m.out, changed = c, co, true
			continue
		}
		pos++
	}
	return m
}

// candidates lists every one-move reduction of sc, biggest moves first.
// Each is a fresh copy; some may be invalid or equal to sc, which the
// caller skips without a kernel run.
func candidates(sc *scenario.Scenario) []*scenario.Scenario {
	var out []*scenario.Scenario
	edit := func(f func(c *scenario.Scenario)) {
		c := cloneScenario(sc)
		f(c)
		renumber(c)
		out = append(out, c)
	}
	for i := range sc.Steps {
		edit(func(c *scenario.Scenario) { c.Steps = slices.Delete(c.Steps, i, i+1) })
	}
	for i := range sc.Socket.Setsockopt {
		edit(func(c *scenario.Scenario) { c.Socket.Setsockopt = slices.Delete(c.Socket.Setsockopt, i, i+1) })
	}
	for i, st := range sc.Steps {
		if len(st.Setsockopt) < 2 {
			continue // dropping the only option is dropping the step
		}
		for j := range st.Setsockopt {
			edit(func(c *scenario.Scenario) { c.Steps[i].Setsockopt = slices.Delete(c.Steps[i].Setsockopt, j, j+1) })
		}
	}
	for i, st := range sc.Steps {
		if st.Send == nil {
			continue
		}
		for j := range st.Send.Cmsg {
			edit(func(c *scenario.Scenario) { c.Steps[i].Send.Cmsg = slices.Delete(c.Steps[i].Send.Cmsg, j, j+1) })
		}
		for bit := 1; bit <= st.Send.Flags; bit <<= 1 {
			if st.Send.Flags&bit != 0 {
				edit(func(c *scenario.Scenario) { c.Steps[i].Send.Flags &^= bit })
			}
		}
		if st.Send.To.IsValid() {
			edit(func(c *scenario.Scenario) { c.Steps[i].Send.To = netip.AddrPort{} })
			if st.Send.To != scenario.DefaultDst {
				edit(func(c *scenario.Scenario) { c.Steps[i].Send.To = scenario.DefaultDst })
			}
		}
	}
	for i := range sc.Link.Features {
		edit(func(c *scenario.Scenario) { c.Link.Features = slices.Delete(c.Link.Features, i, i+1) })
	}
	peerCandidates(sc, edit)
	pathCandidates(sc, edit)
	// Socket settings back to the spec's defaults.
	edit(func(c *scenario.Scenario) { c.Socket.InetID = nil })
	edit(func(c *scenario.Scenario) { c.Socket.PMTUDisc = scenario.PMTUWant })
	edit(func(c *scenario.Scenario) { c.Socket.Proto = scenario.UDP })
	edit(func(c *scenario.Scenario) { c.Socket.Connect, c.Socket.InetID = false, nil })
	edit(func(c *scenario.Scenario) { c.Socket.Dst = scenario.DefaultDst })
	edit(func(c *scenario.Scenario) { c.Socket.Src = scenario.DefaultSrc })
	edit(func(c *scenario.Scenario) { c.Link.MTU = scenario.DefaultMTU })
	// Payloads: empty, then half as long (again and again while the
	// mismatch holds).
	for i, st := range sc.Steps {
		if st.Send == nil || len(st.Send.Payload) == 0 {
			continue
		}
		n := len(st.Send.Payload)
		edit(func(c *scenario.Scenario) { resize(c.Steps[i].Send, 0) })
		edit(func(c *scenario.Scenario) { resize(c.Steps[i].Send, n/2) })
	}
	return out
}

// resize gives a send a payload of n bytes: the pattern payload when it
// had one, else a prefix of its own bytes.
func resize(s *scenario.Send, n int) {
	if bytes.Equal(s.Payload, scenario.PatternView(s.Index, len(s.Payload))) {
		s.Payload = scenario.PatternView(s.Index, n)
		return
	}
	s.Payload = s.Payload[:min(n, len(s.Payload))]
}

// renumber gives sends their index again after steps were dropped; a
// pattern payload follows its send's new index, as `len: N` means.
func renumber(sc *scenario.Scenario) {
	k := 0
	for _, st := range sc.Steps {
		if st.Send == nil {
			continue
		}
		if st.Send.Index != k && bytes.Equal(st.Send.Payload, scenario.PatternView(st.Send.Index, len(st.Send.Payload))) {
			st.Send.Payload = scenario.PatternView(k, len(st.Send.Payload))
		}
		st.Send.Index = k
		k++
	}
}

// cloneScenario is a deep copy, so that a candidate never shares a slice
// with the scenario it came from.
func cloneScenario(sc *scenario.Scenario) *scenario.Scenario {
	c := *sc
	c.Link.Features = slices.Clone(sc.Link.Features)
	c.Link.SrcMAC = slices.Clone(sc.Link.SrcMAC)
	c.Link.DstMAC = slices.Clone(sc.Link.DstMAC)
	if sc.Socket.InetID != nil {
		id := *sc.Socket.InetID
		c.Socket.InetID = &id
	}
	c.Socket.Setsockopt = cloneOpts(sc.Socket.Setsockopt)
	if sc.Socket.Family != nil {
		f := *sc.Socket.Family
		c.Socket.Family = &f
	}
	c.Peer = clonePeer(sc.Peer)
	c.Steps = make([]scenario.Step, len(sc.Steps))
	for i, st := range sc.Steps {
		c.Steps[i] = scenario.Step{Setsockopt: cloneOpts(st.Setsockopt), Getsockopt: st.Getsockopt, Line: st.Line}
		if st.ICMP != nil {
			ic := *st.ICMP
			c.Steps[i].ICMP = &ic
		}
		if st.Recv != nil {
			r := *st.Recv
			if st.Recv.Expect != nil {
				e := *st.Recv.Expect
				r.Expect = &e
			}
			c.Steps[i].Recv = &r
		}
		if st.Send != nil {
			s := *st.Send
			s.Payload = slices.Clone(st.Send.Payload)
			s.Cmsg = make([]scenario.Cmsg, len(st.Send.Cmsg))
			for j, m := range st.Send.Cmsg {
				m.Bytes = slices.Clone(m.Bytes)
				s.Cmsg[j] = m
			}
			if st.Send.Expect != nil {
				e := *st.Send.Expect
				s.Expect = &e
			}
			c.Steps[i].Send = &s
		}
	}
	return &c
}

func cloneOpts(opts []scenario.Opt) []scenario.Opt {
	if opts == nil {
		return nil
	}
	out := make([]scenario.Opt, len(opts))
	for i, o := range opts {
		o.Bytes = slices.Clone(o.Bytes)
		out[i] = o
	}
	return out
}

// clonePeer is a deep copy of the receiving side (nil stays nil, and an
// empty non-nil socket list stays empty and non-nil: `sockets: []`).
func clonePeer(p *scenario.Peer) *scenario.Peer {
	if p == nil {
		return nil
	}
	c := *p
	c.Features = slices.Clone(p.Features)
	c.Sysctl = slices.Clone(p.Sysctl)
	if p.Sockets != nil {
		c.Sockets = make([]scenario.PeerSocket, len(p.Sockets))
		for i, ps := range p.Sockets {
			if ps.Rcvbuf != nil {
				r := *ps.Rcvbuf
				ps.Rcvbuf = &r
			}
			ps.Setsockopt = cloneOpts(ps.Setsockopt)
			c.Sockets[i] = ps
		}
	}
	return &c
}

// peerCandidates adds the receiving side's reductions: the peer's own
// sockets dropped one at a time (recv steps that read a later socket
// follow it down; those that read the dropped one go), their options,
// connect and rcvbuf, GRO and the sysctls, then recv flags, counts and
// buffer sizes back to the defaults.
func peerCandidates(sc *scenario.Scenario, edit func(func(c *scenario.Scenario))) {
	if p := sc.Peer; p != nil {
		edit(func(c *scenario.Scenario) { c.Peer = nil })
		for i := range p.Sockets {
			edit(func(c *scenario.Scenario) {
				c.Peer.Sockets = slices.Delete(c.Peer.Sockets, i, i+1)
				c.Steps = slices.DeleteFunc(c.Steps, func(st scenario.Step) bool {
					return st.Recv != nil && !st.Recv.ErrQueue && st.Recv.Socket == i
				})
				for _, st := range c.Steps {
					if st.Recv != nil && !st.Recv.ErrQueue && st.Recv.Socket > i {
						st.Recv.Socket--
					}
				}
			})
		}
		for i, ps := range p.Sockets {
			for j := range ps.Setsockopt {
				edit(func(c *scenario.Scenario) {
					c.Peer.Sockets[i].Setsockopt = slices.Delete(c.Peer.Sockets[i].Setsockopt, j, j+1)
				})
			}
			if ps.Connect.IsValid() {
				edit(func(c *scenario.Scenario) { c.Peer.Sockets[i].Connect = netip.AddrPort{} })
			}
			if ps.Rcvbuf != nil {
				edit(func(c *scenario.Scenario) { c.Peer.Sockets[i].Rcvbuf = nil })
			}
			if ps.Proto != scenario.UDP {
				edit(func(c *scenario.Scenario) { c.Peer.Sockets[i].Proto = scenario.UDP })
			}
		}
		for i := range p.Features {
			edit(func(c *scenario.Scenario) { c.Peer.Features = slices.Delete(c.Peer.Features, i, i+1) })
		}
		for i := range p.Sysctl {
			edit(func(c *scenario.Scenario) { c.Peer.Sysctl = slices.Delete(c.Peer.Sysctl, i, i+1) })
		}
	}
	for i, st := range sc.Steps {
		r := st.Recv
		if r == nil {
			continue
		}
		for bit := 1; bit <= r.Flags; bit <<= 1 {
			if r.Flags&bit != 0 {
				edit(func(c *scenario.Scenario) { c.Steps[i].Recv.Flags &^= bit })
			}
		}
		if r.Count != 1 {
			edit(func(c *scenario.Scenario) { c.Steps[i].Recv.Count = 1 })
		}
		if r.Len != scenario.DefaultRecvLen {
			edit(func(c *scenario.Scenario) { c.Steps[i].Recv.Len = scenario.DefaultRecvLen })
		}
		if r.CmsgLen != scenario.DefaultCmsgLen {
			edit(func(c *scenario.Scenario) { c.Steps[i].Recv.CmsgLen = scenario.DefaultCmsgLen })
		}
	}
}
