package fuzz

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/scenario"
)

// pathConfigs are the configurations path events are drawn under.
var pathConfigs = []GenConfig{
	{Path: true},
	{Path: true, KernelOnly: true},
	{Path: true, Family: FamilyIPv6, KernelOnly: true},
	{Path: true, Family: FamilyMixed, Peer: true, KernelOnly: true},
}

// TestGeneratePathRoundTrips: every draw with path events parses back to
// itself (an icmp always after a send of its family), is deterministic,
// and the model runs it.
func TestGeneratePathRoundTrips(t *testing.T) {
	var rn builder.Runner
	for _, cfg := range pathConfigs {
		for i := range uint64(800) {
			sc := Generate(rand.New(rand.NewPCG(21, i)), cfg)
			b := marshal(t, sc)
			back, err := scenario.Parse(b, "")
			if err != nil {
				t.Fatalf("draw %d (%+v) does not parse: %v\n%s", i, cfg, err, b)
			}
			if !scenario.Equal(sc, back) {
				t.Fatalf("draw %d (%+v) changed in the round trip:\n%s", i, cfg, b)
			}
			if again := marshal(t, Generate(rand.New(rand.NewPCG(21, i)), cfg)); !bytes.Equal(b, again) {
				t.Fatalf("draw %d (%+v) is not deterministic", i, cfg)
			}
			if _, err := rn.Run(back, builder.Options{Seed: 1}); err != nil {
				t.Fatalf("draw %d (%+v): model: %v\n%s", i, cfg, err, b)
			}
		}
	}
}

// TestGeneratePathCovers counts what the path events reach over 2000
// draws: both MTU messages, the other codes, clamping below min_pmtu,
// getsockopt of both families, a router as offender, the error queue.
func TestGeneratePathCovers(t *testing.T) {
	seen := map[string]int{}
	for i := range uint64(2000) {
		sc := Generate(rand.New(rand.NewPCG(22, i)), pathConfigs[i%uint64(len(pathConfigs))])
		for _, st := range sc.Steps {
			switch {
			case st.ICMP != nil:
				seen[string(st.ICMP.Type)]++
				if st.ICMP.Type == scenario.ICMPFragNeeded && st.ICMP.MTU < 552 {
					seen["below min_pmtu"]++
				}
				if st.ICMP.From.IsValid() {
					seen["from a router"]++
				}
			case st.Getsockopt != "":
				seen[string(st.Getsockopt)]++
			case st.Recv != nil && st.Recv.ErrQueue:
				seen["errqueue"]++
			}
		}
	}
	for _, want := range []string{"frag-needed", "packet-too-big", "port-unreachable", "time-exceeded", "parameter-problem",
		"below min_pmtu", "from a router", "IP_MTU", "IPV6_MTU", "errqueue"} {
		if seen[want] == 0 {
			t.Errorf("2000 draws never produced %s (saw %v)", want, seen)
		}
	}
}

// TestGenerateWithoutPathUnchanged: Path off draws no path event.
func TestGenerateWithoutPathUnchanged(t *testing.T) {
	for i := range uint64(300) {
		for _, st := range Generate(rand.New(rand.NewPCG(23, i)), GenConfig{Peer: true}).Steps {
			if st.ICMP != nil || st.Getsockopt != "" {
				t.Fatalf("draw %d: a path event without GenConfig.Path", i)
			}
		}
	}
}

// TestMinimisePathCandidates: the path reductions are offered, and a
// candidate whose icmp lost its send does not reparse.
func TestMinimisePathCandidates(t *testing.T) {
	sc, err := scenario.Parse([]byte(`socket: {setsockopt: [{IP_RECVERR: 1}]}
steps:
  - send: {len: 1400}
  - icmp: {type: frag-needed, mtu: 500, from: 192.0.2.1}
  - icmp: {type: parameter-problem, pointer: 5}
  - getsockopt: IP_MTU
`), "")
	if err != nil {
		t.Fatal(err)
	}
	var fromCleared, mtu1280, portUnreach, orphan bool
	for _, c := range candidates(sc) {
		r, err := reparse(c)
		if len(c.Steps) == 3 && c.Steps[0].ICMP != nil {
			orphan = err != nil
			continue
		}
		if err != nil {
			continue
		}
		if len(r.Steps) == 4 {
			ic := r.Steps[1].ICMP
			fromCleared = fromCleared || (ic != nil && !ic.From.IsValid() && ic.MTU == 500)
			mtu1280 = mtu1280 || (ic != nil && ic.MTU == 1280)
			portUnreach = portUnreach || (r.Steps[2].ICMP != nil && r.Steps[2].ICMP.Type == scenario.ICMPPortUnreachable)
		}
	}
	if !fromCleared || !mtu1280 || !portUnreach || !orphan {
		t.Errorf("from cleared %v, mtu 1280 %v, port unreachable %v, orphan icmp refused %v", fromCleared, mtu1280, portUnreach, orphan)
	}
}
