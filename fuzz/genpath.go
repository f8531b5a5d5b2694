package fuzz

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/scenario"
)

// This file draws path events (docs/scenario.md, "Path events") when
// GenConfig.Path is set: a router's ICMP errors after sends, getsockopt
// IP_MTU / IPV6_MTU, reads of the sender's error queue and its
// IP_RECVERR. Without Path nothing here is drawn, so the scenarios of a
// seed stay what they always were.

// pathEvents threads path events through sc's steps: after a send, now
// and then an icmp quoting it (of the datagram's family), a getsockopt,
// a read of the error queue.
func (g *gen) pathEvents(sc *scenario.Scenario) {
	if g.percent(40) {
		sc.Socket.Setsockopt = append(sc.Socket.Setsockopt, g.recvErrOpt())
	}
	steps := make([]scenario.Step, 0, len(sc.Steps)+4)
	sent := false
	for _, st := range sc.Steps {
		steps = append(steps, st)
		if st.Send == nil {
			continue
		}
		sent = true
		if g.percent(45) {
			steps = append(steps, scenario.Step{ICMP: g.icmp(sc, st.Send)})
		}
		if g.percent(20) {
			steps = append(steps, g.getsockopt(sc))
		}
		if g.percent(15) {
			steps = append(steps, scenario.Step{Recv: g.errQueueRecv()})
		}
	}
	if !sent {
		// An icmp needs a datagram before it: give it one.
		s := g.pathSend(sc)
		steps = append(steps, scenario.Step{Send: s}, scenario.Step{ICMP: g.icmp(sc, s)})
	}
	if g.percent(30) {
		steps = append(steps, g.getsockopt(sc))
	}
	sc.Steps = steps
}

// pathSend is a send of a length that a path MTU below the link's would
// cut: the generator's usual lengths, or one just above 1280.
func (g *gen) pathSend(sc *scenario.Scenario) *scenario.Send {
	s := &scenario.Send{Index: g.sends}
	g.sends++
	s.Payload = scenario.PatternView(s.Index, []int{1000, 1300, 1400, 2000, 100}[g.intN(5)])
	return s
}

// icmp draws a router's message about the datagram s sends: of its family
// (a v4-mapped destination is IPv4), mostly the MTU messages at the MTUs
// that matter (1280, min_pmtu's 552 and below it, above the device, a
// larger one after a smaller), otherwise any other code.
func (g *gen) icmp(sc *scenario.Scenario, s *scenario.Send) *scenario.ICMP {
	to := s.To
	if !to.IsValid() {
		to = sc.Socket.Dst
	}
	v6 := sc.Socket.IPv6()
	if to.IsValid() {
		v6 = to.Addr().Is6() && !to.Addr().Is4In6()
	}
	ic := &scenario.ICMP{}
	if g.percent(70) {
		var m int
		if v6 {
			ic.Type = scenario.ICMPPacketTooBig
			m = []int{1280, 1280, 1300, 1400, 1000, 1500, 9000, g.mtu - 8, 0}[g.intN(9)]
		} else {
			ic.Type = scenario.ICMPFragNeeded
			m = []int{1280, 1280, 1000, 576, 552, 551, 500, 68, 0, 1400, 9000, g.mtu - 100}[g.intN(12)]
		}
		ic.MTU = uint32(min(max(m, 0), 65535))
	} else {
		var ok []scenario.ICMPType
		for _, t := range scenario.ICMPTypeNames() {
			if _, _, has := t.Codes(v6); has && t != scenario.ICMPFragNeeded && t != scenario.ICMPPacketTooBig {
				ok = append(ok, t)
			}
		}
		ic.Type = ok[g.intN(len(ok))]
		if ic.Type == scenario.ICMPParameterProblem {
			ic.Pointer = uint32(g.intN(64))
		}
	}
	if g.percent(15) {
		ic.From = netip.MustParseAddr("192.0.2.1")
		if v6 {
			ic.From = netip.MustParseAddr("fd00::99")
		}
	}
	return ic
}

// getsockopt reads the socket's path MTU by its family's option.
func (g *gen) getsockopt(sc *scenario.Scenario) scenario.Step {
	if sc.Socket.IPv6() {
		return scenario.Step{Getsockopt: scenario.OptIPv6MTU}
	}
	return scenario.Step{Getsockopt: scenario.OptIPMTU}
}

// errQueueRecv reads the sender's error queue without blocking, with a
// buffer that sometimes cuts the quoted payload short.
func (g *gen) errQueueRecv() *scenario.Recv {
	r := &scenario.Recv{ErrQueue: true, Flags: unix.MSG_DONTWAIT, Len: scenario.DefaultRecvLen, CmsgLen: scenario.DefaultCmsgLen, Count: 1}
	if g.percent(30) {
		r.Len = []int{0, 8, 64, 512}[g.intN(4)]
	}
	if g.percent(20) {
		r.Count = scenario.RecvAll
	}
	return r
}
