package scenario_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/scenario"
)

func TestPathEventsParse(t *testing.T) {
	sc, err := scenario.Parse([]byte(`socket: {setsockopt: [{IP_RECVERR: 1}]}
steps:
  - send: {len: 1400}
  - icmp: {type: frag-needed, mtu: 1280}
  - icmp: {type: frag-needed, mtu: 1000, from: 192.0.2.1}
  - icmp: {type: parameter-problem, pointer: 5}
  - getsockopt: IP_MTU
  - icmp: {type: port-unreachable}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	ic := sc.Steps[2].ICMP
	if ic == nil || ic.Type != scenario.ICMPFragNeeded || ic.MTU != 1000 || ic.From != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("icmp = %+v", ic)
	}
	if sc.Steps[3].ICMP.Pointer != 5 || sc.Steps[4].Getsockopt != scenario.OptIPMTU || sc.Steps[4].Op() != "getsockopt" || sc.Steps[5].Op() != "icmp" {
		t.Fatalf("steps = %+v", sc.Steps)
	}
	b := roundTrip(t, sc)
	if !strings.Contains(string(b), `- icmp: {type: frag-needed, mtu: 1000, from: "192.0.2.1"}`) || !strings.Contains(string(b), "- getsockopt: IP_MTU") {
		t.Fatalf("marshal:\n%s", b)
	}
	for _, c := range []struct {
		typ  scenario.ICMPType
		v6   bool
		t, c int
	}{{"frag-needed", false, 3, 4}, {"packet-too-big", true, 2, 0}, {"port-unreachable", false, 3, 3}, {"port-unreachable", true, 1, 4}, {"admin-prohibited", true, 1, 1}, {"time-exceeded", true, 3, 0}} {
		if ty, co, ok := c.typ.Codes(c.v6); !ok || ty != c.t || co != c.c {
			t.Errorf("%s v6=%v: %d/%d %v", c.typ, c.v6, ty, co, ok)
		}
	}
}

func TestPathEventsIPv6AndMapped(t *testing.T) {
	sc, err := scenario.Parse([]byte(`socket: {src: "[::]:40000", dst: "[fd00::2]:9000"}
steps:
  - send: {len: 100}
  - icmp: {type: packet-too-big, mtu: 1280, from: "fd00::99"}
  - send: {len: 100, to: "[::ffff:10.0.0.2]:9000"}
  - icmp: {type: frag-needed, mtu: 1000}
  - getsockopt: IPV6_MTU
`), "")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, sc)
}

func TestPathEventsErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"steps: [{icmp: {type: frag-needed, mtu: 1280}}]", "no send comes before it"},
		{"steps: [{send: {len: 1}}, {icmp: {type: packet-too-big, mtu: 1280}}]", "packet-too-big is an IPv6 message, but the datagram it quotes is IPv4; IPv4's is frag-needed"},
		{"socket: {src: \"[::]:1\", dst: \"[fd00::2]:9\"}\nsteps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1280}}]", "frag-needed is an IPv4 message, but the datagram it quotes is IPv6"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed}}]", "frag-needed carries an MTU: give mtu"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 65536}}]", "16 bits"},
		{"steps: [{send: {len: 1}}, {icmp: {type: port-unreachable, mtu: 5}}]", "mtu belongs to frag-needed and packet-too-big"},
		{"steps: [{send: {len: 1}}, {icmp: {type: port-unreachable, pointer: 5}}]", "pointer belongs to parameter-problem"},
		{"steps: [{send: {len: 1}}, {icmp: {type: parameter-problem, pointer: 256}}]", "8 bits"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1, from: \"fd00::9\"}}]", "not an IPv4 address"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1, from: 10.0.0.1}}]", "the sender's own address"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1, from: 224.0.0.1}}]", "unicast"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1, from: bogus}}]", "not an IP address"},
		{"steps: [{send: {len: 1}}, {icmp: {type: echo}}]", `unknown icmp type "echo"`},
		{"steps: [{send: {len: 1}}, {icmp: {mtu: 1}}]", "an icmp needs a type"},
		{"steps: [{send: {len: 1}}, {icmp: {type: frag-needed, mtu: 1, ttl: 3}}]", `unknown key "ttl"`},
		{"steps: [{getsockopt: IPV6_MTU}]", "IPV6_MTU is an AF_INET6 socket's"},
		{"socket: {src: \"[::]:1\", dst: \"[fd00::2]:9\"}\nsteps: [{getsockopt: IP_MTU}]", "IP_MTU is an AF_INET socket's"},
		{"steps: [{getsockopt: SO_ERROR}]", "getsockopt reads IP_MTU or IPV6_MTU"},
	} {
		_, err := scenario.Parse([]byte(c.yaml), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}

func TestPathEventsMarshalRefuses(t *testing.T) {
	sc := &scenario.Scenario{Link: scenario.Link{MTU: 1500}, Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst},
		Steps: []scenario.Step{{ICMP: &scenario.ICMP{Type: scenario.ICMPFragNeeded, MTU: 1280}}}}
	if _, err := scenario.Marshal(sc); err == nil || !strings.Contains(err.Error(), "no send comes before it") {
		t.Fatalf("Marshal: %v", err)
	}
	sc.Steps = []scenario.Step{{Send: &scenario.Send{Payload: []byte{}}}, {Send: &scenario.Send{Payload: []byte{}, Index: 1}, ICMP: &scenario.ICMP{Type: scenario.ICMPPortUnreachable}}}
	if _, err := scenario.Marshal(sc); err == nil || !strings.Contains(err.Error(), "not several") {
		t.Fatalf("Marshal: %v", err)
	}
}
