package scenario_test

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
)

const peerYAML = `name: receiving side
socket:
  type: "SOCK_DGRAM|SOCK_NONBLOCK"
  setsockopt:
    - IP_RECVERR: 1
peer:
  features: [gro]
  sysctl: {icmp_ratelimit: 0, rp_filter: 0, ipv6.icmp.ratelimit: 5}
  sockets:
    - bind: "0.0.0.0:9000"
      proto: udp
      connect: "10.0.0.1:40000"
      rcvbuf: 4096
      setsockopt:
        - UDP_GRO: 1
        - IP_PKTINFO: 1
        - SO_REUSEPORT: 1
    - bind: "[::]:9000"
      proto: udplite
      setsockopt:
        - UDPLITE_RECV_CSCOV: 20
steps:
  - send: {len: 1000}
  - recv:
      socket: 0
      len: 2048
      cmsg_len: 16
      flags: [MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT]
      expect: 1000
  - recv: {socket: 1, count: all}
  - recv: {errqueue: true, len: 512, expect: EAGAIN}
`

func TestPeerParse(t *testing.T) {
	sc, err := scenario.Parse([]byte(peerYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	p := sc.Peer
	if p == nil || !p.Has(scenario.GRO) || len(p.Sysctl) != 3 || p.Sysctl[2].Name != "ipv6.icmp.ratelimit" || p.Sysctl[2].Value != 5 {
		t.Fatalf("peer = %+v", p)
	}
	if len(p.Sockets) != 2 || *p.Sockets[0].Rcvbuf != 4096 || p.Sockets[0].Connect != netip.MustParseAddrPort("10.0.0.1:40000") ||
		p.Sockets[1].Proto != scenario.UDPLite || !p.Sockets[1].IPv6() || len(p.Sockets[0].Setsockopt) != 3 {
		t.Fatalf("sockets = %+v", p.Sockets)
	}
	if sc.Socket.Type.Value() != unix.SOCK_DGRAM|unix.SOCK_NONBLOCK {
		t.Fatalf("type = %#x", sc.Socket.Type)
	}
	r := sc.Steps[1].Recv
	if sc.Steps[1].Op() != "recv" || r.Len != 2048 || r.CmsgLen != 16 || r.Flags != unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT || r.Count != 1 || r.Expect.Ret != 1000 {
		t.Fatalf("recv = %+v", r)
	}
	if r := sc.Steps[2].Recv; r.Socket != 1 || r.Count != scenario.RecvAll || r.Len != scenario.DefaultRecvLen || r.CmsgLen != scenario.DefaultCmsgLen {
		t.Fatalf("recv all = %+v", r)
	}
	if r := sc.Steps[3].Recv; !r.ErrQueue || r.Expect.Err != errno.EAGAIN {
		t.Fatalf("errqueue recv = %+v", r)
	}
	roundTrip(t, sc)
}

func TestPeerDefaults(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{"steps: []", []string{"udp 0.0.0.0:9000", "udplite 0.0.0.0:9000"}},
		{"socket: {dst: \"10.0.0.2:53\"}\nsteps: [{send: {len: 1, to: \"10.0.0.2:7\"}}, {send: {len: 1, to: \"10.0.0.2:53\"}}]",
			[]string{"udp 0.0.0.0:53", "udplite 0.0.0.0:53", "udp 0.0.0.0:7", "udplite 0.0.0.0:7"}},
		{"socket: {src: \"[fd00::1]:40000\"}\npeer: {features: [gro]}\nsteps: []", []string{"udp [::]:9000", "udplite [::]:9000"}},
		{"peer: {sockets: []}\nsteps: []", nil},
	} {
		sc, err := scenario.Parse([]byte(c.yaml), "")
		if err != nil {
			t.Fatalf("%s: %v", c.yaml, err)
		}
		var got []string
		for _, s := range sc.PeerSockets() {
			got = append(got, string(s.Proto)+" "+s.Bind.String())
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: sockets %v, want %v", c.yaml, got, c.want)
		}
		roundTrip(t, sc)
	}
}

func TestPeerErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"peer: {sockets: []}\nsteps: [{recv: {socket: 0}}]", "steps[0].recv.socket: recv from peer socket 0, but the peer has no sockets"},
		{"steps: [{recv: {socket: 2}}]", "recv from peer socket 2, but the peer has 2 (0..1)"},
		{"steps: [{recv: {socket: 0, errqueue: true}}]", "errqueue: true reads the sender's socket"},
		{"steps: [{recv: {flags: [MSG_ERRQUEUE]}}]", `unknown recv flag "MSG_ERRQUEUE"`},
		{"steps: [{recv: {count: 0}}]", "0 is out of range 1..100000"},
		{"steps: [{recv: {count: some}}]", `count is a number of calls`},
		{"steps: [{recv: {bogus: 1}}]", `unknown key "bogus"`},
		{"peer: {bogus: 1}", `peer.bogus: unknown key "bogus" (allowed: features, sysctl, sockets)`},
		{"peer: {features: [lro]}", `unknown peer feature "lro"`},
		{"peer: {sysctl: {ip_forward: 1}}", `peer.sysctl.ip_forward: unknown key "ip_forward"`},
		{"peer: {sysctl: {rp_filter: 3}}", "3 is out of range 0..2"},
		{"peer: {sockets: [{proto: udp}]}", "a peer socket needs bind"},
		{"peer: {sockets: [{bind: \"0.0.0.0:0\"}]}", "port 0"},
		{"peer: {sockets: [{bind: \"224.0.0.1:9000\"}]}", "multicast and broadcast delivery are out of scope"},
		{"peer: {sockets: [{bind: \"0.0.0.0:9000\", connect: \"[fd00::1]:4\"}]}", "different families"},
		{"peer: {sockets: [{bind: \"0.0.0.0:9000\", setsockopt: [{UDP_CORK: 1}]}]}", `peer.sockets[0].setsockopt[0].UDP_CORK: unknown key "UDP_CORK"`},
		{"peer: {sockets: [{bind: \"0.0.0.0:9000\", proto: tcp}]}", `unknown proto "tcp"`},
		{"socket: {type: SOCK_RAW}", "raw or packet socket"},
		{"socket: {type: \"SOCK_PACKET|SOCK_CLOEXEC\"}", "raw or packet socket"},
		{"socket: {type: SOCK_FOO}", `"SOCK_FOO" is not a socket type`},
		{"socket: {type: 0}", "type 0 is ambiguous"},
		{"socket: {family: 1}", "family 1 is a family Linux may implement"},
		{"socket: {family: AF_INET6}", "family 10 does not match src"},
	} {
		_, err := scenario.Parse([]byte(c.yaml), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}

func TestSockTypeFamilyRoundTrip(t *testing.T) {
	for _, y := range []string{
		"socket: {type: SOCK_STREAM}", "socket: {type: \"SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK\"}",
		"socket: {type: \"SOCK_DGRAM|0x10\"}", "socket: {type: 11}", "socket: {type: -1}", "socket: {type: SOCK_NONBLOCK}",
		"socket: {family: AF_UNSPEC}", "socket: {family: 46}", "socket: {family: -3}", "socket: {family: AF_INET}",
	} {
		sc, err := scenario.Parse([]byte(y), "")
		if err != nil {
			t.Fatalf("%s: %v", y, err)
		}
		roundTrip(t, sc)
	}
}
