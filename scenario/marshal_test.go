package scenario_test

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/fuzz"
	"github.com/udpbuild/udpbuild/scenario"
)

func roundTrip(t *testing.T, sc *scenario.Scenario) []byte {
	t.Helper()
	b, err := scenario.Marshal(sc)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := scenario.Parse(b, "")
	if err != nil {
		t.Fatalf("Parse of Marshal's output: %v\n%s", err, b)
	}
	if !scenario.Equal(sc, back) {
		t.Fatalf("round trip changed the scenario:\n%s", b)
	}
	return b
}

func defaults() scenario.Scenario {
	return scenario.Scenario{
		Name:   "x",
		Link:   scenario.Link{MTU: 1500},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst, PMTUDisc: scenario.PMTUWant},
	}
}

func TestMarshalExactText(t *testing.T) {
	id := uint16(4233)
	sc := defaults()
	sc.Name = `cork "then" gso`
	sc.Link = scenario.Link{MTU: 9000, Features: []scenario.Feature{scenario.SG, scenario.HWCsum},
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xaa}}
	sc.Socket.Proto = scenario.UDPLite
	sc.Socket.Connect = true
	sc.Socket.InetID = &id
	sc.Socket.PMTUDisc = scenario.PMTUProbe
	sc.Socket.Setsockopt = []scenario.Opt{
		{Name: scenario.OptUDPCork, Int: 1},
		{Name: scenario.OptIPOptions, Bytes: []byte{7, 7, 4, 0, 0, 0, 0}},
		{Name: scenario.OptIPTOS, Int: 0x10},
	}
	sc.Steps = []scenario.Step{
		{Send: &scenario.Send{Index: 0, Payload: scenario.Pattern(0, 1000), Flags: unix.MSG_MORE | scenario.MsgProbe,
			Cmsg: []scenario.Cmsg{
				{Type: scenario.CmsgUDPSegment, Int: 500, Size: 2},
				{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1},
				{Type: scenario.CmsgIPTOS, Int: 3, Size: 4},
				{Type: scenario.CmsgIPOptions, Bytes: []byte{1, 1, 1, 0}},
			},
			To:     netip.MustParseAddrPort("10.0.0.9:53"),
			Expect: &scenario.Expect{Err: errno.EMSGSIZE}}},
		{Setsockopt: []scenario.Opt{{Name: scenario.OptUDPCork, Int: 0}, {Name: scenario.OptIPMTUDiscover, Int: int(scenario.PMTUDo)}}},
		{Send: &scenario.Send{Index: 1, Payload: []byte{0xde, 0xad}, Expect: &scenario.Expect{Ret: 2}}},
	}
	want := `name: "cork \"then\" gso"
link:
  mtu: 9000
  features: [sg, hw-csum]
  src_mac: "02:00:00:00:00:aa"
socket:
  proto: udplite
  src: "10.0.0.1:40000"
  dst: "10.0.0.2:9000"
  connect: true
  pmtudisc: probe
  inet_id: 4233
  setsockopt:
    - UDP_CORK: 1
    - IP_OPTIONS: "07070400000000"
    - IP_TOS: 16
steps:
  - send:
      len: 1000
      flags: [MSG_PROBE, MSG_MORE]
      cmsg:
        - UDP_SEGMENT: 500
        - IP_TOS: [184, u8]
        - IP_TOS: 3
        - IP_OPTIONS: "01010100"
      to: "10.0.0.9:53"
      expect: EMSGSIZE
  - setsockopt:
      - UDP_CORK: 0
      - IP_MTU_DISCOVER: do
  - send:
      payload: "hex:dead"
      expect: 2
`
	if got := string(roundTrip(t, &sc)); got != want {
		t.Errorf("Marshal wrote\n%s\nwant\n%s", got, want)
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	ttl0 := defaults()
	ttl0.Steps = []scenario.Step{{Setsockopt: []scenario.Opt{{Name: scenario.OptIPTTL, Int: 0}, {Name: scenario.OptIPTTL, Int: -1}, {Name: scenario.OptUDPCork, Int: -7}}}}
	none := defaults()
	none.Socket.Dst = netip.AddrPort{}
	none.Steps = []scenario.Step{{Send: &scenario.Send{Payload: []byte{}}}, {Send: &scenario.Send{Index: 1, Payload: scenario.Pattern(1, 3), To: scenario.DefaultDst}}}
	empty := defaults()
	empty.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: []byte{}}}
	empty.Steps = []scenario.Step{{}}
	names := defaults()
	names.Name = "tab\there, newline\n, backslash \\, é, ☃, 😀, \x7f, \u2028"
	macs := defaults()
	macs.Link.SrcMAC = net.HardwareAddr{0xff, 0xee, 0, 1, 2, 3}
	macs.Link.DstMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	every := defaults()
	every.Link.MTU = 65535
	every.Socket.PMTUDisc = scenario.PMTUOmit
	for _, n := range []scenario.OptName{scenario.OptSONoCheck, scenario.OptUDPSegment, scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov, scenario.OptIPTTL} {
		every.Socket.Setsockopt = append(every.Socket.Setsockopt, scenario.Opt{Name: n, Int: 255})
	}
	// A payload that is the pattern of another index must not be written
	// as len: it would come back as this index's pattern.
	other := defaults()
	other.Steps = []scenario.Step{{Send: &scenario.Send{Index: 0, Payload: scenario.Pattern(1, 40), Flags: unix.MSG_OOB | unix.MSG_CONFIRM | unix.MSG_DONTWAIT | unix.MSG_DONTROUTE}}}
	big := defaults()
	big.Steps = []scenario.Step{{Send: &scenario.Send{Payload: scenario.Pattern(0, 70000)}}}
	for name, sc := range map[string]scenario.Scenario{"ttl 0 and -1": ttl0, "dst none": none, "empty options and step": empty,
		"odd name": names, "macs": macs, "every option": every, "foreign pattern": other, "over 64 KiB": big} {
		t.Run(name, func(t *testing.T) {
			b := roundTrip(t, &sc)
			if name == "foreign pattern" && !strings.Contains(string(b), `payload: "hex:1f`) {
				t.Errorf("expected a hex payload:\n%s", b)
			}
			if name == "dst none" && !strings.Contains(string(b), "dst: none\n") {
				t.Errorf("expected dst: none:\n%s", b)
			}
		})
	}
}

// TestMarshalParsedFile: a file in the spec's own style comes back the
// same after Parse, Marshal, Parse.
func TestMarshalParsedFile(t *testing.T) {
	src := `name: cork-then-gso
link:
  mtu: 1500
  features: [hw-csum, sg, gso-udp-l4]
  src_mac: "02:00:00:00:00:01"
socket:
  proto: udp
  src: 10.0.0.1:40000
  dst: 10.0.0.2:9000
  connect: false
  pmtudisc: want
  setsockopt:
    - UDP_CORK: 1
    - IP_TOS: 0x10
    - IP_TTL: 9
    - IP_OPTIONS: "070b04000000000000000000"
    - SO_NO_CHECK: 1
    - UDP_SEGMENT: 1400
    - UDPLITE_SEND_CSCOV: 20
steps:
  - send:
      len: 1000
      flags: [MSG_MORE]
      cmsg:
        - UDP_SEGMENT: 500
        - IP_TTL: 3
        - IP_TOS: 0xb8
        - IP_TOS: [0xb8, u8]
        - IP_OPTIONS: "01010100"
      to: 10.0.0.2:9000
      expect: 1000
  - setsockopt:
      UDP_CORK: 0
      IP_TTL: 5
`
	sc, err := scenario.Parse([]byte(src), "spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, sc)
}

func TestMarshalGenerated(t *testing.T) {
	for i := range uint64(500) {
		sc := fuzz.Generate(rand.New(rand.NewPCG(11, i)), fuzz.GenConfig{})
		roundTrip(t, sc)
	}
}

func TestMarshalRefuses(t *testing.T) {
	bad := func(f func(sc *scenario.Scenario)) *scenario.Scenario {
		sc := defaults()
		sc.Steps = []scenario.Step{{Send: &scenario.Send{Payload: []byte{1}}}}
		f(&sc)
		return &sc
	}
	for name, sc := range map[string]*scenario.Scenario{
		"nil":             nil,
		"mtu 0":           bad(func(sc *scenario.Scenario) { sc.Link.MTU = 0 }),
		"unknown feature": bad(func(sc *scenario.Scenario) { sc.Link.Features = []scenario.Feature{"tso"} }),
		"feature twice":   bad(func(sc *scenario.Scenario) { sc.Link.Features = []scenario.Feature{"sg", "sg"} }),
		"short MAC":       bad(func(sc *scenario.Scenario) { sc.Link.DstMAC = net.HardwareAddr{1, 2} }),
		"proto":           bad(func(sc *scenario.Scenario) { sc.Socket.Proto = "tcp" }),
		"src port 0":      bad(func(sc *scenario.Scenario) { sc.Socket.Src = netip.MustParseAddrPort("10.0.0.1:0") }),
		"IPv6 dst":        bad(func(sc *scenario.Scenario) { sc.Socket.Dst = netip.MustParseAddrPort("[::1]:5") }),
		"connect, no dst": bad(func(sc *scenario.Scenario) { sc.Socket.Dst, sc.Socket.Connect = netip.AddrPort{}, true }),
		"pmtudisc 6":      bad(func(sc *scenario.Scenario) { sc.Socket.PMTUDisc = 6 }),
		"unknown option":  bad(func(sc *scenario.Scenario) { sc.Socket.Setsockopt = []scenario.Opt{{Name: "SO_MARK"}} }),
		"TOS 256": bad(func(sc *scenario.Scenario) {
			sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPTOS, Int: 256}}
		}),
		"options too long": bad(func(sc *scenario.Scenario) {
			sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: make([]byte, 65)}}
		}),
		"send and opts": bad(func(sc *scenario.Scenario) { sc.Steps[0].Setsockopt = []scenario.Opt{{Name: scenario.OptUDPCork}} }),
		"index":         bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Index = 1 }),
		"unknown flag":  bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Flags = unix.MSG_PEEK }),
		"u16 size": bad(func(sc *scenario.Scenario) {
			sc.Steps[0].Send.Cmsg = []scenario.Cmsg{{Type: scenario.CmsgUDPSegment, Int: 1, Size: 4}}
		}),
		"TOS size 2": bad(func(sc *scenario.Scenario) {
			sc.Steps[0].Send.Cmsg = []scenario.Cmsg{{Type: scenario.CmsgIPTOS, Int: 1, Size: 2}}
		}),
		"unknown cmsg":       bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Cmsg = []scenario.Cmsg{{Type: "SO_MARK"}} }),
		"unnamed errno":      bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Expect = &scenario.Expect{Err: 4000} }),
		"negative expect":    bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Expect = &scenario.Expect{Ret: -1} }),
		"invalid UTF-8 name": bad(func(sc *scenario.Scenario) { sc.Name = "\xff" }),
		"payload too big":    bad(func(sc *scenario.Scenario) { sc.Steps[0].Send.Payload = make([]byte, scenario.MaxPayload+1) }),
	} {
		if b, err := scenario.Marshal(sc); err == nil {
			t.Errorf("%s: Marshal accepted it:\n%s", name, b)
		}
	}
}

func TestEqual(t *testing.T) {
	a, b := defaults(), defaults()
	a.Steps = []scenario.Step{{Send: &scenario.Send{Payload: nil}, Line: 3}}
	b.Steps = []scenario.Step{{Send: &scenario.Send{Payload: []byte{}}, Line: 9}}
	b.Path = "elsewhere.yaml"
	if !scenario.Equal(&a, &b) {
		t.Error("nil and empty payloads, lines and paths should not matter")
	}
	b.Steps[0].Send.Flags = unix.MSG_MORE
	if scenario.Equal(&a, &b) {
		t.Error("flags differ: not equal")
	}
	if !scenario.Equal(nil, nil) || scenario.Equal(&a, nil) {
		t.Error("nil handling")
	}
}

func TestMarshalRepeat(t *testing.T) {
	sc, err := scenario.Parse([]byte("repeat: 7\nsteps:\n  - send: {len: 3}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	y, err := scenario.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenario.Parse(y, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if back.Repeat != 7 || !scenario.Equal(sc, back) {
		t.Fatalf("repeat lost: %d\n%s", back.Repeat, y)
	}
}
