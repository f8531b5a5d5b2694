package fuzz

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// The invariants' IPv6 half: the wire check's family, fragment and segment
// rules, and the IPV6_MTU limit, each shown to see tampering.

// parse6 reads a scenario written in YAML.
func parse6(t *testing.T, y string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse([]byte(y), "t.yaml")
	if err != nil {
		t.Fatalf("scenario: %v\n%s", err, y)
	}
	return sc
}

// runWire plays sc in the wire view.
func runWire(t *testing.T, sc *scenario.Scenario) *report.Report {
	t.Helper()
	rep, err := builder.Run(sc, builder.Options{View: report.Wire, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// cloneReport copies a report's frames, so that one can be tampered with.
func cloneReport(rep *report.Report) *report.Report {
	c := *rep
	c.Frames = nil
	for _, f := range rep.Frames {
		f.Data = bytes.Clone(f.Data)
		c.Frames = append(c.Frames, f)
	}
	return &c
}

// tamper6 has a sticky segment routing header (24 bytes, fd00::9) with
// RTHDRDSTOPTS before it and IPV6_DSTOPTS after it, so that a fragmented
// datagram repeats 40 + 8 + 24 bytes in every fragment and carries the
// 16-byte IPV6_DSTOPTS in its first piece, after the fragment header.
const tamper6 = `
link: {mtu: 1500}
socket:
  src: "[::]:40000"
  dst: "[fd00::2]:9000"
  setsockopt:
    - IPV6_RTHDR: "0002040000000000fd000000000000000000000000000009"
    - IPV6_RTHDRDSTOPTS: "0000010400000000"
    - IPV6_DSTOPTS: "0001010c000000000000000000000000"
steps:
  - send: {len: 3000}
  - send: {len: 1700, cmsg: [UDP_SEGMENT: 500]}
  - send: {len: 100}
  - send: {len: 200, to: "[::ffff:10.0.0.2]:9000"}
`

// TestPayloadProblemsSeesTampering6 is TestPayloadProblemsSeesTampering
// for IPv6: a byte flipped in a fragment, a fragment dropped, a segment
// resized (its bytes moved to the next one), an identification or an
// unfragmentable part that differs between fragments, and a datagram of
// the wrong family are each named. The socket is bound to the wildcard,
// so that it has an IPv4 source for its v4-mapped send.
func TestPayloadProblemsSeesTampering6(t *testing.T) {
	sc := parse6(t, tamper6)
	rep := runWire(t, sc)
	if probs := payloadProblems(sc, rep); len(probs) != 0 {
		t.Fatalf("untouched run: %v", probs)
	}
	var kinds []string
	for _, f := range rep.Frames {
		p, err := parseIP(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprintf("%s/%s", family(p.v6), f.Kind))
	}
	want := "IPv6/fragment IPv6/fragment IPv6/fragment IPv6/segment IPv6/segment IPv6/segment IPv6/segment IPv6/datagram IPv4/datagram"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("frames %s\nwant %s", got, want)
	}
	first, _ := parseIP(rep.Frames[0].Data)
	if first.hlen != header.IPv6MinLen+8+24 || first.proto != header.NextHdrDest {
		t.Fatalf("first fragment: unfragmentable part %d bytes, then %s; want 72 and destination options", first.hlen, header.NextHdrName(first.proto))
	}

	flip := cloneReport(rep)
	flip.Frames[1].Data[len(flip.Frames[1].Data)-10] ^= 1
	drop := cloneReport(rep)
	drop.Frames = append(drop.Frames[:1:1], drop.Frames[2:]...)
	id := cloneReport(rep)
	id.Frames[2].Data[header.EthernetLen+72+7] ^= 1 // the fragment header's identification
	unfrag := cloneReport(rep)
	unfrag.Frames[1].Data[header.EthernetLen+header.IPv6HopLimitOffset]--
	resize := cloneReport(rep)
	moveSegmentBytes(t, resize, 4, 5, 100)
	for name, r := range map[string]*report.Report{
		"flipped byte": flip, "dropped fragment": drop, "identification": id,
		"unfragmentable part": unfrag, "resized segment": resize,
	} {
		if probs := payloadProblems(sc, r); len(probs) == 0 {
			t.Errorf("%s: no problem found", name)
		} else {
			t.Logf("%s: %s", name, probs[0])
		}
	}

	// The v4-mapped send left as IPv4; the same payload to an IPv6
	// address must leave as IPv6.
	other := parse6(t, tamper6)
	other.Steps[3].Send.To = netip.MustParseAddrPort("[fd00::2]:9000")
	if probs := payloadProblems(other, rep); len(probs) != 1 || !strings.Contains(probs[0], "IPv4, want IPv6") {
		t.Errorf("IPv4 frames for an IPv6 send: %v", probs)
	}
}

// moveSegmentBytes moves the last n payload bytes of segment frame a to
// the front of frame b (the next segment), fixing payload_len and the UDP
// length of both: the datagram's bytes are unchanged, its segment sizes
// are not.
func moveSegmentBytes(t *testing.T, rep *report.Report, a, b, n int) {
	t.Helper()
	pa, err := parseIP(rep.Frames[a].Data)
	if err != nil {
		t.Fatal(err)
	}
	moved := bytes.Clone(pa.body[len(pa.body)-n:])
	rebuild := func(k int, body []byte) {
		p, err := parseIP(rep.Frames[k].Data)
		if err != nil {
			t.Fatal(err)
		}
		d := append(bytes.Clone(rep.Frames[k].Data[:header.EthernetLen+p.hlen]), body...)
		ip := header.IPv6(d[header.EthernetLen:])
		ip.SetPayloadLength(uint16(len(ip) - header.IPv6MinLen))
		binary.BigEndian.PutUint16(d[header.EthernetLen+p.hlen+4:], uint16(len(body)))
		rep.Frames[k].Data, rep.Frames[k].Len = d, len(d)
	}
	pb, err := parseIP(rep.Frames[b].Data)
	if err != nil {
		t.Fatal(err)
	}
	bodyB := append(append(bytes.Clone(pb.body[:header.UDPLen]), moved...), pb.body[header.UDPLen:]...)
	rebuild(a, pa.body[:len(pa.body)-n])
	rebuild(b, bodyB)
}

// TestFrameProblemsIPv6MTU: an IPv6 fragment must fit IPV6_MTU when the
// socket set one; a whole datagram only the link's MTU (ip6_finish_output
// fragments above the route's MTU, not IPV6_MTU's).
func TestFrameProblemsIPv6MTU(t *testing.T) {
	const y = `
link: {mtu: 1500}
socket:
  src: "[fd00::1]:40000"
  dst: "[fd00::2]:9000"
  setsockopt:
    - IPV6_MTU: %d
steps:
  - send: {len: 1400}
  - send: {len: 3000}
`
	sc1400 := parse6(t, fmt.Sprintf(y, 1400))
	rep := runWire(t, sc1400)
	if probs := frameProblems(sc1400, rep, report.Wire); len(probs) != 0 {
		t.Fatalf("untouched run: %v", probs)
	}
	if got := ip6Lens(rep); fmt.Sprint(got) != "[1448 1400 1400 352]" {
		t.Fatalf("packets %v: want a whole 1448-byte datagram above IPV6_MTU, then fragments of 1400", got)
	}
	// The same frames held to IPV6_MTU 1280: the fragments are too big,
	// the whole datagram is not.
	sc1280 := parse6(t, fmt.Sprintf(y, 1280))
	probs := frameProblems(sc1280, rep, report.Wire)
	if len(probs) != 2 || !strings.Contains(probs[0], "frame 1 (fragment): IP packet of 1400 bytes over IPV6_MTU 1280") {
		t.Errorf("fragments over IPV6_MTU: %v", probs)
	}
	// A whole datagram over the link's MTU is named too.
	small := *sc1400
	small.Link.MTU = 1400
	if probs := frameProblems(&small, rep, report.Wire); len(probs) != 1 || !strings.Contains(probs[0], "frame 0 (datagram): IP packet of 1448 bytes over MTU 1400") {
		t.Errorf("a datagram over the link MTU: %v", probs)
	}
}

func ip6Lens(r *report.Report) []int {
	var out []int
	for _, f := range r.Frames {
		out = append(out, f.Len-header.EthernetLen)
	}
	return out
}

// TestFragSizes: IPV6_MTU as ip6_fragment reads it, step by step.
func TestFragSizes(t *testing.T) {
	mtu := func(v int) scenario.Opt { return scenario.Opt{Name: scenario.OptIPv6MTU, Int: v} }
	cork0 := scenario.Opt{Name: scenario.OptUDPCork, Int: 0}
	sc := baseScenario(
		send(0, 1, 0),
		scenario.Step{Setsockopt: []scenario.Opt{mtu(1400)}},
		send(1, 1, 0),
		scenario.Step{Setsockopt: []scenario.Opt{mtu(100)}}, // fails alone: kept
		send(2, 1, 0),
		scenario.Step{Setsockopt: []scenario.Opt{cork0, mtu(1300)}},                             // pushed before the change
		scenario.Step{Setsockopt: []scenario.Opt{mtu(1290), {Name: scenario.OptIPTTL, Int: 0}}}, // fails among others: unknown
		send(3, 1, 0),
		scenario.Step{Setsockopt: []scenario.Opt{mtu(0)}},
		send(4, 1, 0),
	)
	sc.Socket.Setsockopt = []scenario.Opt{mtu(1350), mtu(10)}
	setup := []report.Step{{Op: "setsockopt"}, {Op: "setsockopt", Err: errno.EINVAL}}
	steps := []report.Step{ok(1), {Op: "setsockopt"}, ok(1), {Op: "setsockopt", Err: errno.EINVAL}, ok(1),
		{Op: "setsockopt"}, {Op: "setsockopt", Err: errno.EINVAL}, ok(1), {Op: "setsockopt"}, ok(1)}
	got := fragSizes(sc, &report.Report{Setup: setup, Steps: steps})
	if want := "[1350 1350 1400 1400 1400 1400 1300 -1 -1 0]"; fmt.Sprint(got) != want {
		t.Errorf("fragSizes %v, want %s", got, want)
	}
}

// TestExpectedDatagrams6: the families of the datagrams an IPv6 socket's
// steps make, and what its corked data survives.
func TestExpectedDatagrams6(t *testing.T) {
	p := scenario.Pattern
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	to := func(st scenario.Step, a string) scenario.Step {
		st.Send.To = netip.MustParseAddrPort(a)
		return st
	}
	const mapped, v4, v6 = "[::ffff:10.0.0.2]:9000", "10.0.0.2:9000", "[fd00::2]:9000"
	fail := func(e errno.Errno) report.Step { return report.Step{Op: "send", Err: e} }
	for _, tc := range []struct {
		name    string
		dst     string // the socket's; connected unless empty
		steps   []scenario.Step
		results []report.Step
		want    []wantDatagram
	}{{
		name:    "IPv6, v4-mapped and AF_INET destinations",
		steps:   []scenario.Step{send(0, 10, 0), to(send(1, 5, 0), mapped), to(send(2, 6, 0), v4), to(send(3, 7, 0), v6)},
		results: []report.Step{ok(10), ok(5), ok(6), ok(7)},
		want:    []wantDatagram{{step: 0, payload: p(0, 10), v6: true}, {step: 1, payload: p(1, 5)}, {step: 2, payload: p(2, 6)}, {step: 3, payload: p(3, 7), v6: true}},
	}, {
		name:    "a socket connected to a v4-mapped address sends IPv4",
		dst:     mapped,
		steps:   []scenario.Step{send(0, 10, 0), to(send(1, 5, 0), v6)},
		results: []report.Step{ok(10), ok(5)},
		want:    []wantDatagram{{step: 0, payload: p(0, 10)}, {step: 1, payload: p(1, 5), v6: true}},
	}, {
		name:  "corked IPv6 data survives a send to IPv4 (EINVAL), not another failure, even above 0xFFFF",
		steps: []scenario.Step{send(0, 10, unix.MSG_MORE), to(send(1, 5, 0), mapped), send(2, 6, 0), send(3, 10, unix.MSG_MORE), send(4, 0x10000, 0), send(5, 4, 0)},
		results: []report.Step{ok(10), fail(errno.EINVAL), ok(6), ok(10), fail(errno.EMSGSIZE),
			ok(4)},
		want: []wantDatagram{{step: 2, payload: cat(p(0, 10), p(2, 6)), v6: true}, {step: 5, payload: p(5, 4), v6: true}},
	}, {
		name:    "corked IPv4 data takes an IPv6 send, and keeps IPv4's rules",
		steps:   []scenario.Step{to(send(0, 10, unix.MSG_MORE), mapped), send(1, 0x10000, 0), to(send(2, 5, 0), v6)},
		results: []report.Step{ok(10), fail(errno.EMSGSIZE), ok(5)},
		want:    []wantDatagram{{step: 2, payload: cat(p(0, 10), p(2, 5))}},
	}, {
		name:    "UDP_CORK 0 pushes IPv6 data as IPv6",
		steps:   []scenario.Step{opt(scenario.OptUDPCork, 1), send(0, 10, 0), opt(scenario.OptUDPCork, 0)},
		results: []report.Step{{Op: "setsockopt"}, ok(10), {Op: "setsockopt"}},
		want:    []wantDatagram{{step: 2, payload: p(0, 10), optional: true, v6: true}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sc := baseScenario(tc.steps...)
			sc.Socket.Src, sc.Socket.Dst = scenario.DefaultSrc6, scenario.DefaultDst6
			if tc.dst != "" {
				sc.Socket.Dst, sc.Socket.Connect = netip.MustParseAddrPort(tc.dst), true
			}
			got, horizon := expectedDatagrams(sc, &report.Report{Steps: tc.results})
			if horizon != len(tc.steps) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v (horizon %d)\nwant %v", summarise(got), horizon, summarise(tc.want))
			}
		})
	}
}
