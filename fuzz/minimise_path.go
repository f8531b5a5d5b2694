package fuzz

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/scenario"
)

// pathCandidates adds the path events' reductions (the steps themselves
// are dropped like any step): an icmp from the peer rather than a router,
// with pointer 0, with the plain MTU 1280, or a port unreachable instead.
// A candidate an icmp can no longer quote (its send dropped) fails to
// reparse and is skipped.
func pathCandidates(sc *scenario.Scenario, edit func(func(c *scenario.Scenario))) {
	for i, st := range sc.Steps {
		ic := st.ICMP
		if ic == nil {
			continue
		}
		if ic.From.IsValid() {
			edit(func(c *scenario.Scenario) { c.Steps[i].ICMP.From = netip.Addr{} })
		}
		if ic.Pointer != 0 {
			edit(func(c *scenario.Scenario) { c.Steps[i].ICMP.Pointer = 0 })
		}
		switch {
		case (ic.Type == scenario.ICMPFragNeeded || ic.Type == scenario.ICMPPacketTooBig) && ic.MTU != 1280:
			edit(func(c *scenario.Scenario) { c.Steps[i].ICMP.MTU = 1280 })
		case ic.Type != scenario.ICMPPortUnreachable && ic.Type != scenario.ICMPFragNeeded && ic.Type != scenario.ICMPPacketTooBig:
			edit(func(c *scenario.Scenario) {
				c.Steps[i].ICMP.Type, c.Steps[i].ICMP.Pointer = scenario.ICMPPortUnreachable, 0
			})
		}
	}
}
