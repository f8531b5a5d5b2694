package fuzz

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/scenario"
)

// peerConfigs are the configurations the receiving side is drawn under.
var peerConfigs = []GenConfig{
	{Peer: true},
	{Peer: true, KernelOnly: true},
	{Peer: true, Family: FamilyIPv6},
	{Peer: true, Family: FamilyMixed, KernelOnly: true},
}

func TestGeneratePeerRoundTrips(t *testing.T) {
	for _, cfg := range peerConfigs {
		for i := range uint64(1500) {
			sc := Generate(rand.New(rand.NewPCG(11, i)), cfg)
			b := marshal(t, sc)
			back, err := scenario.Parse(b, "")
			if err != nil {
				t.Fatalf("draw %d (%+v) does not parse: %v\n%s", i, cfg, err, b)
			}
			if !scenario.Equal(sc, back) {
				t.Fatalf("draw %d (%+v) changed in the round trip:\n%s", i, cfg, b)
			}
			again := marshal(t, Generate(rand.New(rand.NewPCG(11, i)), cfg))
			if !bytes.Equal(b, again) {
				t.Fatalf("draw %d (%+v) is not deterministic", i, cfg)
			}
			for _, st := range sc.Steps {
				if r := st.Recv; r != nil && r.Count != 1 && r.Flags&unix.MSG_PEEK != 0 {
					t.Fatalf("draw %d: a repeated recv with MSG_PEEK reads one datagram until MaxRecvCalls:\n%s", i, b)
				}
			}
		}
	}
}

// TestGeneratePeerCovers counts, over 3000 draws, what the receiving side
// of the spec the generator should reach.
func TestGeneratePeerCovers(t *testing.T) {
	seen := map[string]int{}
	for i := range uint64(3000) {
		cfg := peerConfigs[i%uint64(len(peerConfigs))]
		sc := Generate(rand.New(rand.NewPCG(12, i)), cfg)
		p := sc.Peer
		if p == nil {
			t.Fatalf("draw %d: Peer set but no peer drawn", i)
		}
		switch {
		case p.Sockets == nil:
			seen["default sockets"]++
		case len(p.Sockets) == 0:
			seen["no sockets"]++
		}
		if p.Has(scenario.GRO) {
			seen["gro"]++
		}
		if len(p.Sysctl) > 0 {
			seen["sysctl"]++
		}
		for _, o := range sc.Socket.Setsockopt {
			if o.Name == scenario.OptIPRecvErr || o.Name == scenario.OptIPv6RecvErr {
				seen["sender "+string(o.Name)]++
			}
		}
		for _, ps := range p.Sockets {
			seen["proto "+string(ps.Proto)]++
			switch {
			case ps.Bind.Addr().IsUnspecified():
				seen["bind wildcard"]++
			default:
				seen["bind address"]++
			}
			if ps.IPv6() {
				seen["bind ipv6"]++
			}
			if ps.Connect.IsValid() {
				seen["connect"]++
			}
			if ps.Rcvbuf != nil {
				seen["rcvbuf"]++
			}
			for _, o := range ps.Setsockopt {
				seen["opt "+string(o.Name)]++
			}
		}
		for _, st := range sc.Steps {
			r := st.Recv
			if r == nil {
				continue
			}
			seen["recv"]++
			if r.ErrQueue {
				seen["errqueue"]++
			}
			for _, f := range scenario.RecvFlagNames(r.Flags) {
				seen["flag "+f]++
			}
			switch {
			case r.Count == scenario.RecvAll:
				seen["count all"]++
			case r.Count > 1:
				seen["count n"]++
			}
			if r.Len == 0 {
				seen["len 0"]++
			}
			if r.CmsgLen < scenario.DefaultCmsgLen {
				seen["short cmsg"]++
			}
		}
	}
	want := []string{"default sockets", "no sockets", "gro", "sysctl", "sender IP_RECVERR", "sender IPV6_RECVERR",
		"proto udp", "proto udplite", "bind wildcard", "bind address", "bind ipv6", "connect", "rcvbuf",
		"opt UDP_GRO", "opt IP_PKTINFO", "opt IP_RECVTOS", "opt IP_RECVTTL", "opt IP_RECVOPTS", "opt IP_RETOPTS",
		"opt IP_RECVERR", "opt UDPLITE_RECV_CSCOV", "opt IPV6_RECVPKTINFO", "opt IPV6_RECVTCLASS",
		"opt IPV6_RECVHOPLIMIT", "opt IPV6_RECVERR", "opt IPV6_V6ONLY",
		"recv", "errqueue", "flag MSG_PEEK", "flag MSG_TRUNC", "flag MSG_DONTWAIT", "count all", "count n", "len 0", "short cmsg"}
	for _, k := range want {
		if seen[k] < 10 {
			t.Errorf("%q drawn %d times in 3000 scenarios, want at least 10", k, seen[k])
		}
	}
}

// TestGenerateWithoutPeerIsUnchanged: the receiving side's draws happen
// only with Peer set, so that a seed's sender-only scenario is the same
// as before (TestIPv4DrawsUnchanged pins IPv4's by hash).
func TestGenerateWithoutPeerIsUnchanged(t *testing.T) {
	for i := range uint64(200) {
		sc := Generate(rand.New(rand.NewPCG(13, i)), GenConfig{Family: FamilyMixed})
		if sc.Peer != nil {
			t.Fatalf("draw %d has a peer without GenConfig.Peer", i)
		}
		for _, st := range sc.Steps {
			if st.Recv != nil {
				t.Fatalf("draw %d has a recv step without GenConfig.Peer", i)
			}
		}
	}
}
