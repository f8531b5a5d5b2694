package fuzz

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/scenario"
)

// TestClonePeerIsDeep: a clone of a scenario with a receiving side equals
// it, and changing every part of the clone's peer and recv steps leaves
// the original as it was.
func TestClonePeerIsDeep(t *testing.T) {
	for i := range uint64(300) {
		sc := Generate(rand.New(rand.NewPCG(21, i)), GenConfig{Peer: true, Family: FamilyMixed})
		before := marshal(t, sc)
		c := cloneScenario(sc)
		if !scenario.Equal(c, sc) {
			t.Fatalf("draw %d: the clone differs:\n%s\n---\n%s", i, before, marshal(t, c))
		}
		if c.Peer != nil {
			c.Peer.Features = append(c.Peer.Features[:0], scenario.GRO, scenario.GRO)
			for k := range c.Peer.Sysctl {
				c.Peer.Sysctl[k].Value++
			}
			for k := range c.Peer.Sockets {
				ps := &c.Peer.Sockets[k]
				if ps.Rcvbuf != nil {
					*ps.Rcvbuf++
				}
				for j := range ps.Setsockopt {
					ps.Setsockopt[j].Int++
				}
			}
		}
		for _, st := range c.Steps {
			if st.Recv != nil {
				st.Recv.Len++
				st.Recv.Flags ^= unix.MSG_PEEK
			}
		}
		if after := marshal(t, sc); !bytes.Equal(before, after) {
			t.Fatalf("draw %d: changing the clone changed the original:\n%s\n---\n%s", i, before, after)
		}
	}
}

// recvChecker "disagrees" with the model exactly when a recv step with
// MSG_TRUNC reads peer socket 1 of a peer with at least two sockets of its
// own.
func recvChecker() checker {
	return func(_ context.Context, sc *scenario.Scenario) outcome {
		if sc.Peer == nil || len(sc.Peer.Sockets) < 2 {
			return outcome{}
		}
		for i, st := range sc.Steps {
			if r := st.Recv; r != nil && !r.ErrQueue && r.Socket == 1 && r.Flags&unix.MSG_TRUNC != 0 {
				return outcome{diffs: []compare.Difference{{Frame: -1, Step: i, Field: "recv result", Kernel: "1", Model: "2"}}}
			}
		}
		return outcome{}
	}
}

// TestMinimisePeer: the receiving side shrinks too: the later sockets,
// every socket's options, rcvbuf and proto, GRO, the other recv step and
// the other flags go; socket 0 stays, since dropping it would move the
// recv that shows the mismatch to another socket.
func TestMinimisePeer(t *testing.T) {
	rcv := 4096
	sc := &scenario.Scenario{
		Name:   "p",
		Link:   scenario.Link{MTU: 1500},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst, PMTUDisc: scenario.PMTUWant},
		Peer: &scenario.Peer{
			Features: []scenario.PeerFeature{scenario.GRO},
			Sockets: []scenario.PeerSocket{
				{Proto: scenario.UDP, Bind: netip.MustParseAddrPort("0.0.0.0:7000"), Setsockopt: []scenario.Opt{{Name: scenario.OptIPPktInfo, Int: 1}}},
				{Proto: scenario.UDP, Bind: netip.MustParseAddrPort("0.0.0.0:9000"), Rcvbuf: &rcv},
				{Proto: scenario.UDPLite, Bind: netip.MustParseAddrPort("0.0.0.0:9000")},
				{Proto: scenario.UDP, Bind: netip.MustParseAddrPort("10.0.0.2:9000"), Setsockopt: []scenario.Opt{{Name: scenario.OptUDPGRO, Int: 1}}},
			},
		},
		Steps: []scenario.Step{
			{Send: &scenario.Send{Index: 0, Payload: scenario.Pattern(0, 100)}},
			{Recv: &scenario.Recv{Socket: 0, Len: 10, CmsgLen: scenario.DefaultCmsgLen, Count: 1}},
			{Recv: &scenario.Recv{Socket: 2, Len: 100, CmsgLen: 16, Count: 1, Flags: unix.MSG_TRUNC | unix.MSG_DONTWAIT | unix.MSG_PEEK}},
		},
	}
	sc.Steps[2].Recv.Socket = 1
	check := recvChecker()
	o := check(context.Background(), sc)
	if len(o.diffs) == 0 {
		t.Fatal("the checker should fire")
	}
	m := minimise(context.Background(), check, sc, o, 300)
	got := m.sc
	if got.Peer == nil || len(got.Peer.Sockets) != 2 || len(got.Peer.Features) != 0 {
		t.Fatalf("peer not minimised: %s", marshal(t, got))
	}
	for _, ps := range got.Peer.Sockets {
		if len(ps.Setsockopt) != 0 || ps.Rcvbuf != nil || ps.Proto != scenario.UDP {
			t.Fatalf("peer socket not minimised: %s", marshal(t, got))
		}
	}
	var recvs []*scenario.Recv
	for _, st := range got.Steps {
		if st.Recv != nil {
			recvs = append(recvs, st.Recv)
		}
	}
	if len(recvs) != 1 || recvs[0].Socket != 1 || recvs[0].Flags != unix.MSG_TRUNC ||
		recvs[0].Len != scenario.DefaultRecvLen || recvs[0].CmsgLen != scenario.DefaultCmsgLen {
		t.Fatalf("recv steps not minimised: %s", marshal(t, got))
	}
}
