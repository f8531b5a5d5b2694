package scenario_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/scenario"
)

// TestIPv6Socket reads the spec's "IPv6 sockets" example whole and holds
// every value to what the file says.
func TestIPv6Socket(t *testing.T) {
	const file = `
socket:
  src: "[fd00::1]:40000"
  dst: "[fd00::2]:9000"
  pmtudisc: do
  flowinfo: 0x12345
  setsockopt:
    - IPV6_TCLASS: 0xb8
    - IPV6_UNICAST_HOPS: 9
    - IPV6_DONTFRAG: 1
    - IPV6_MTU: 1280
    - IPV6_FLOWINFO_SEND: 1
    - IPV6_AUTOFLOWLABEL: 0
    - IPV6_V6ONLY: 1
    - IPV6_HOPOPTS: "0000010400000000"
    - IPV6_DSTOPTS: "1100010400000000"
    - IPV6_RTHDRDSTOPTS: "1100010400000000"
    - IPV6_RTHDR: "11000400000000000000000000000000"
    - UDP_NO_CHECK6_TX: 1
    - IPV6_MTU_DISCOVER: probe
steps:
  - send:
      len: 3000
      flowinfo: 0x0beef
      cmsg:
        - IPV6_TCLASS: 3
        - IPV6_HOPLIMIT: -1
        - IPV6_DONTFRAG: 1
        - IPV6_PKTINFO: "fd00::1"
        - IPV6_HOPOPTS: "0000010400000000"
        - IPV6_DSTOPTS: "1100010400000000"
        - IPV6_RTHDR: "11000400000000000000000000000000"
        - IPV6_FLOWINFO: 0x12345
        - UDP_SEGMENT: 1200
  - send:
      len: 10
      to: "[::ffff:10.0.0.2]:9000"
  - send:
      len: 10
      to: "10.0.0.2:9000"
`
	sc, err := scenario.Parse([]byte(file), "v6.yaml")
	if err != nil {
		t.Fatal(err)
	}
	so := sc.Socket
	if !so.IPv6() || so.Src != netip.MustParseAddrPort("[fd00::1]:40000") || so.Dst != netip.MustParseAddrPort("[fd00::2]:9000") {
		t.Errorf("socket %v -> %v, IPv6 %t", so.Src, so.Dst, so.IPv6())
	}
	if so.Flowinfo != 0x12345 || so.PMTUDisc != scenario.PMTUDo {
		t.Errorf("flowinfo %#x pmtudisc %v", so.Flowinfo, so.PMTUDisc)
	}
	if o := so.Setsockopt; len(o) != 13 || o[0].Name != scenario.OptIPv6TClass || o[0].Int != 0xb8 || o[3].Int != 1280 {
		t.Errorf("setsockopt %+v", so.Setsockopt)
	}
	if o := so.Setsockopt[7]; o.Name != scenario.OptIPv6HopOpts || len(o.Bytes) != 8 {
		t.Errorf("HOPOPTS %+v", o)
	}
	if o := so.Setsockopt[12]; o.Name != scenario.OptIPv6MTUDiscover || o.Int != int(scenario.PMTUProbe) {
		t.Errorf("IPV6_MTU_DISCOVER %+v", o)
	}
	s0 := sc.Steps[0].Send
	if s0.Flowinfo != 0xbeef || s0.To != so.Dst {
		t.Errorf("a send's flowinfo without to goes to the socket's dst by name: to %v flowinfo %#x", s0.To, s0.Flowinfo)
	}
	want := []scenario.Cmsg{
		{Type: scenario.CmsgIPv6TClass, Int: 3, Size: 4},
		{Type: scenario.CmsgIPv6HopLimit, Int: -1, Size: 4},
		{Type: scenario.CmsgIPv6DontFrag, Int: 1, Size: 4},
		{Type: scenario.CmsgIPv6PktInfo, Addr: netip.MustParseAddr("fd00::1"), Size: 20},
	}
	for i, w := range want {
		if g := s0.Cmsg[i]; g.Type != w.Type || g.Int != w.Int || g.Size != w.Size || g.Addr != w.Addr {
			t.Errorf("cmsg[%d] = %+v, want %+v", i, g, w)
		}
	}
	if c := s0.Cmsg[7]; c.Type != scenario.CmsgIPv6FlowInfo || c.Int != 0x12345 {
		t.Errorf("IPV6_FLOWINFO %+v", c)
	}
	if to := sc.Steps[1].Send.To; !to.Addr().Is4In6() {
		t.Errorf("v4-mapped to %v", to)
	}
	if to := sc.Steps[2].Send.To; !to.Addr().Is4() {
		t.Errorf("an IPv4 to on an IPv6 socket is a sockaddr_in: %v", to)
	}
	roundTrip(t, sc)
}

// TestIPv6Defaults: the family follows src, and the other end gets the
// family's default.
func TestIPv6Defaults(t *testing.T) {
	for _, c := range []struct {
		file     string
		src, dst string
	}{
		{"socket: {src: \"[fd00::5]:1\"}\n", "[fd00::5]:1", "[fd00::2]:9000"},
		{"socket: {dst: \"[fd00::7]:53\"}\n", "[fd00::1]:40000", "[fd00::7]:53"},
		{"socket: {src: \"[::]:40000\"}\n", "[::]:40000", "[fd00::2]:9000"},
		{"socket: {src: \"[::]:40000\", dst: \"[::ffff:10.0.0.2]:9000\"}\n", "[::]:40000", "[::ffff:10.0.0.2]:9000"},
		{"socket: {src: \"[::ffff:10.0.0.1]:40000\"}\n", "[::ffff:10.0.0.1]:40000", "[fd00::2]:9000"},
		{"socket: {dst: \"[::ffff:10.0.0.9]:9000\"}\n", "10.0.0.1:40000", "[::ffff:10.0.0.9]:9000"},
		{"socket: {}\n", "10.0.0.1:40000", "10.0.0.2:9000"},
	} {
		sc, err := scenario.Parse([]byte(c.file), "")
		if c.dst == "[::ffff:10.0.0.9]:9000" {
			// A v4-mapped dst does not make the socket IPv6: src stays
			// IPv4, and an IPv4 socket cannot name an IPv6 dst.
			if err == nil || !strings.Contains(err.Error(), "is IPv6 but the socket is IPv4") {
				t.Errorf("%q: err %v", c.file, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.file, err)
			continue
		}
		if sc.Socket.Src.String() != c.src || sc.Socket.Dst.String() != c.dst {
			t.Errorf("%q: %v -> %v, want %s -> %s", c.file, sc.Socket.Src, sc.Socket.Dst, c.src, c.dst)
		}
		roundTrip(t, sc)
	}
}

// TestIPv6Refused: every IPv6 value udpbuild cannot play is a file error
// naming the key and saying why.
func TestIPv6Refused(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"socket: {dst: \"[::1]:9000\"}\n", "loopback"},
		{"socket: {src: \"[fd00::1]:1\", dst: \"[::]:9000\"}\n", "as to ::1"},
		{"socket: {dst: \"[ff02::1]:9000\"}\n", "multicast"},
		{"socket: {dst: \"[fe80::2]:9000\"}\n", "scope id"},
		{"socket: {dst: \"[fd00::2%eth0]:9000\"}\n", "scope ids"},
		{"socket: {src: \"[fd00::1]:0\"}\n", "port 0"},
		{"socket: {src: \"[fd00::1]:1\", dst: \"[fd00::1]:9\"}\n", "sender's own address"},
		{"socket: {src: \"[::]:1\", dst: \"[fd00::1]:9\"}\n", "sender's own address"},
		{"socket: {src: \"[::]:1\", dst: \"[::ffff:10.0.0.1]:9\"}\n", "sender's own address"},
		{"socket: {src: \"10.0.0.1:1\", dst: \"[fd00::2]:9\"}\n", "socket.dst"},
		{"socket: {flowinfo: 1}\n", "needs an IPv6 socket"},
		{"socket: {src: \"[::ffff:10.0.0.1]:1\", setsockopt: [{IPV6_V6ONLY: 1}]}\n", "bind() of an IPv6-only socket"},
		{"socket: {src: \"[fd00::1]:1\", dst: \"10.0.0.2:9\", flowinfo: 1}\n", "needs an IPv6 socket and an IPv6 dst"},
		{"socket: {src: \"[fd00::1]:1\", flowinfo: 0x100000000}\n", "out of range"},
		{"socket: {src: \"[fd00::1]:1\", dst: none}\nsteps: [{send: {len: 1, flowinfo: 1}}]\n", "give a to"},
		{"socket: {src: \"[fd00::1]:1\"}\nsteps: [{send: {len: 1, flowinfo: 1, to: \"10.0.0.2:9\"}}]\n", "sockaddr_in"},
		{"socket: {setsockopt: [{IPV6_TCLASS: 256}]}\n", "out of range"},
		{"socket: {setsockopt: [{IPV6_HOPOPTS: \"0\"}]}\n", "odd number"},
		{"socket: {setsockopt: [{IPV6_DSTOPTS: \"" + strings.Repeat("00", 2049) + "\"}]}\n", "at most 2048"},
		{"steps: [{send: {len: 1, cmsg: [{IPV6_HOPLIMIT: 256}]}}]\n", "a hop limit"},
		{"steps: [{send: {len: 1, cmsg: [{IPV6_PKTINFO: \"10.0.0.1\"}]}}]\n", "not an IPv6 address"},
		{"steps: [{send: {len: 1, cmsg: [{IPV6_FLOWINFO: -1}]}}]\n", "out of range"},
	} {
		_, err := scenario.Parse([]byte(c.file), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one containing %q", c.file, err, c.want)
		}
	}
}

// TestMarshalIPv6Refuses: what no file could say is refused by Marshal too.
func TestMarshalIPv6Refuses(t *testing.T) {
	v6 := func(f func(sc *scenario.Scenario)) *scenario.Scenario {
		sc := defaults()
		sc.Socket.Src, sc.Socket.Dst = scenario.DefaultSrc6, scenario.DefaultDst6
		sc.Steps = []scenario.Step{{Send: &scenario.Send{Payload: []byte{1}}}}
		f(&sc)
		return &sc
	}
	for name, sc := range map[string]*scenario.Scenario{
		"flowinfo on IPv4": v6(func(sc *scenario.Scenario) {
			sc.Socket.Src, sc.Socket.Dst, sc.Socket.Flowinfo = scenario.DefaultSrc, scenario.DefaultDst, 1
		}),
		"send flowinfo, no to": v6(func(sc *scenario.Scenario) { sc.Steps[0].Send.Flowinfo = 1 }),
		"pktinfo IPv4": v6(func(sc *scenario.Scenario) {
			sc.Steps[0].Send.Cmsg = []scenario.Cmsg{{Type: scenario.CmsgIPv6PktInfo, Addr: netip.MustParseAddr("10.0.0.1"), Size: 20}}
		}),
		"ext header too long": v6(func(sc *scenario.Scenario) {
			sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPv6Rthdr, Bytes: make([]byte, 2056)}}
		}),
		"zone": v6(func(sc *scenario.Scenario) { sc.Socket.Dst = netip.MustParseAddrPort("[fd00::2%x]:1") }),
	} {
		if b, err := scenario.Marshal(sc); err == nil {
			t.Errorf("%s: Marshal accepted it:\n%s", name, b)
		}
	}
}
