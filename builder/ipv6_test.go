package builder

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// The expectations in this file are the live measurements of
// docs/ipv6-study.md (Linux 6.18): each case names its section.

// run6 plays a scenario given as YAML through the model (tap view).
func run6(t *testing.T, y string) *report.Report {
	t.Helper()
	return run6View(t, y, report.Tap)
}

func run6View(t *testing.T, y string, v report.View) *report.Report {
	t.Helper()
	sc, err := scenario.Parse([]byte(y), "t.yaml")
	if err != nil {
		t.Fatalf("scenario: %v\n%s", err, y)
	}
	rep, err := Run(sc, Options{Seed: 1, View: v})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

// v6 is an IPv6 scenario on a link of mtu with the socket options opts
// (YAML list items) and the steps.
func v6(mtu int, opts, steps string) string {
	y := fmt.Sprintf("link: {mtu: %d}\nsocket:\n  src: \"[fd00::1]:40000\"\n  dst: \"[fd00::2]:9000\"\n", mtu)
	if opts != "" {
		y += "  setsockopt:\n" + indent(opts, "    ")
	}
	return y + "steps:\n" + indent(steps, "  ")
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(pre + strings.TrimSpace(l) + "\n")
	}
	return b.String()
}

// ip6Lens is every frame's IP packet length, frame by frame.
func ip6Lens(r *report.Report) []int {
	var out []int
	for _, f := range r.Frames {
		out = append(out, f.Len-header.EthernetLen)
	}
	return out
}

// chain names the extension headers of a frame's IPv6 header, in order.
func chain(t *testing.T, f report.Frame) string {
	t.Helper()
	ip := header.IPv6(f.Data[header.EthernetLen:])
	w := header.WalkIPv6Ext(ip.NextHeader(), ip.Payload())
	var names []string
	for w.Next() {
		h := w.Header()
		names = append(names, fmt.Sprintf("%s(%d)", header.NextHdrName(h.Type), len(h.Bytes)))
	}
	if err := w.Err(); err != nil {
		t.Fatalf("frame %d: %v", f.Index, err)
	}
	return strings.Join(names, " ")
}

func results(r *report.Report) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.String())
	}
	return out
}

// hop8, dst8 and dst16 are option headers with PadN padding.
const (
	hop8  = `"0000010400000000"`
	dst8  = `"0000010400000000"`
	dst16 = `"0001010c000000000000000000000000"`
	// srh24 is a segment routing header with one segment (fd00::9):
	// hdrlen 2, type 4, segments_left 0, first_segment 0.
	srh24 = `"00020400000000 00fd000000000000000000000000000009"`
)

func srh(t *testing.T) string { return strings.ReplaceAll(srh24, " ", "") }

// TestIPv6Fragmentation holds the model to the study's worked examples
// (10.3 and 6.6): the size of every packet and the chain in front of the
// fragment header.
func TestIPv6Fragmentation(t *testing.T) {
	cases := []struct {
		name        string
		mtu         int
		opts, steps string
		lens        []int
		chains      []string // of the first and a later fragment
	}{
		{"1452 fits", 1500, "", "- send: {len: 1452}", []int{1500}, []string{"", ""}},
		{"1453 two fragments, the last small", 1500, "", "- send: {len: 1453}", []int{1496, 61}, []string{"fragment(8)", "fragment(8)"}},
		{"plain 1500", 1500, "", "- send: {len: 3000}", []int{1496, 1496, 160}, []string{"fragment(8)", "fragment(8)"}},
		{"plain 1280", 1280, "", "- send: {len: 3000}", []int{1280, 1280, 592}, []string{"fragment(8)", "fragment(8)"}},
		{"hop-by-hop 1500", 1500, "- IPV6_HOPOPTS: " + hop8, "- send: {len: 3000}", []int{1496, 1496, 184}, []string{"hop-by-hop(8) fragment(8)", "hop-by-hop(8) fragment(8)"}},
		{"hop-by-hop 1280", 1280, "- IPV6_HOPOPTS: " + hop8, "- send: {len: 3000}", []int{1280, 1280, 616}, nil},
		{"DSTOPTS alone goes before the fragment header", 1500, "- IPV6_DSTOPTS: " + dst8, "- send: {len: 3000}", []int{1496, 1496, 184}, []string{"destination options(8) fragment(8)", "destination options(8) fragment(8)"}},
		{"DSTOPTS alone 1280", 1280, "- IPV6_DSTOPTS: " + dst8, "- send: {len: 3000}", []int{1280, 1280, 616}, nil},
		{"hop 8 + DSTOPTS 16", 1500, "- IPV6_HOPOPTS: " + hop8 + "\n- IPV6_DSTOPTS: " + dst16, "- send: {len: 3000}", []int{1496, 1496, 232}, []string{"hop-by-hop(8) destination options(16) fragment(8)", "hop-by-hop(8) destination options(16) fragment(8)"}},
		{"hop 8 + DSTOPTS 8 as control messages", 1500, "", "- send: {len: 3000, cmsg: [{IPV6_HOPOPTS: " + hop8 + "}, {IPV6_DSTOPTS: " + dst8 + "}]}", []int{1496, 1496, 208}, []string{"hop-by-hop(8) destination options(8) fragment(8)", "hop-by-hop(8) destination options(8) fragment(8)"}},
		{"RTHDRDSTOPTS without a routing header is dropped", 1500, "- IPV6_RTHDRDSTOPTS: " + dst8, "- send: {len: 3000}", []int{1496, 1496, 160}, []string{"fragment(8)", "fragment(8)"}},
		{"IPV6_MTU 1280 on a 1500 link fragments at 1280", 1500, "- IPV6_MTU: 1280", "- send: {len: 3000}", []int{1280, 1280, 592}, nil},
		{"IPV6_MTU 1280: 1232 whole", 1500, "- IPV6_MTU: 1280", "- send: {len: 1232}", []int{1280}, nil},
		{"IPV6_MTU 1280: 1300 whole, above IPV6_MTU", 1500, "- IPV6_MTU: 1280", "- send: {len: 1300}", []int{1348}, nil},
		{"IPV6_MTU 1280: 1452 whole", 1500, "- IPV6_MTU: 1280", "- send: {len: 1452}", []int{1500}, nil},
		{"IPV6_MTU 1280: 1453 at 1280", 1500, "- IPV6_MTU: 1280", "- send: {len: 1453}", []int{1280, 277}, nil},
		{"corked 1000 + 1000", 1500, "", "- send: {len: 1000, flags: [MSG_MORE]}\n- send: {len: 1000}", []int{1496, 608}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run6(t, v6(c.mtu, c.opts, c.steps))
			if got := ip6Lens(r); !slices.Equal(got, c.lens) {
				t.Fatalf("packets %v, want %v (steps %v)", got, c.lens, results(r))
			}
			if c.chains != nil {
				if got := chain(t, r.Frames[0]); got != c.chains[0] {
					t.Errorf("first frame's chain %q, want %q", got, c.chains[0])
				}
				if got := chain(t, r.Frames[len(r.Frames)-1]); got != c.chains[1] {
					t.Errorf("last frame's chain %q, want %q", got, c.chains[1])
				}
			}
			checkFragments(t, r)
		})
	}
}

// checkFragments holds every fragmented datagram of r to the fragment
// header's rules: one random non-zero ID per datagram, offsets that add up,
// M on all but the last, reserved 0, and the reassembled UDP checksum right.
func checkFragments(t *testing.T, r *report.Report) {
	t.Helper()
	type dg struct {
		id   uint32
		next int
	}
	seen := map[int]*dg{}
	for _, f := range r.Frames {
		if f.Kind != report.Fragment {
			continue
		}
		if f.IDSource != report.IDRandom {
			t.Errorf("fragment %d: id_source %q, want random", f.Index, f.IDSource)
		}
		ip := header.IPv6(f.Data[header.EthernetLen:])
		w := header.WalkIPv6Ext(ip.NextHeader(), ip.Payload())
		var fh header.IPv6Fragment
		fragEnd := 0
		for w.Next() {
			if h, ok := w.Header().Fragment(); ok {
				fh = h
				fragEnd = w.Header().Offset + len(h)
			}
		}
		if fh == nil {
			t.Fatalf("fragment %d has no fragment header", f.Index)
		}
		d := seen[f.Datagram]
		if d == nil {
			d = &dg{id: fh.ID()}
			seen[f.Datagram] = d
		}
		if fh.ID() != d.id || fh.ID() == 0 || fh.Reserved() != 0 {
			t.Errorf("fragment %d: id %#x reserved %d, datagram's id %#x", f.Index, fh.ID(), fh.Reserved(), d.id)
		}
		if fh.Offset() != d.next || fh.Offset() != f.Offset {
			t.Errorf("fragment %d: offset %d, want %d (report says %d)", f.Index, fh.Offset(), d.next, f.Offset)
		}
		d.next += len(ip.Payload()) - fragEnd
		if fh.More() != (f.Index < f.Count-1) {
			t.Errorf("fragment %d of %d: M %t", f.Index, f.Count, fh.More())
		}
	}
	ids := map[uint32]bool{}
	for _, d := range seen {
		if ids[d.id] {
			t.Errorf("two datagrams share the fragment ID %#x", d.id)
		}
		ids[d.id] = true
	}
}

// TestIPv6SRHFragments is the study's SRH + RTHDRDSTOPTS + DSTOPTS case:
// dst0 and the routing header before the fragment header, IPV6_DSTOPTS
// after it in the first fragment only, the final destination in
// segments[0] and the pseudo-header, the first hop in the IPv6 header.
func TestIPv6SRHFragments(t *testing.T) {
	opts := "- IPV6_RTHDR: " + srh(t) + "\n- IPV6_RTHDRDSTOPTS: " + dst8 + "\n- IPV6_DSTOPTS: " + dst16
	r := run6(t, v6(1500, opts, "- send: {len: 3000}"))
	if got, want := ip6Lens(r), []int{1496, 1496, 272}; !slices.Equal(got, want) {
		t.Fatalf("packets %v, want %v (%v)", got, want, results(r))
	}
	if got, want := chain(t, r.Frames[0]), "destination options(8) routing(24) fragment(8) destination options(16)"; got != want {
		t.Errorf("first fragment %q, want %q", got, want)
	}
	if got, want := chain(t, r.Frames[1]), "destination options(8) routing(24) fragment(8)"; got != want {
		t.Errorf("second fragment %q, want %q", got, want)
	}
	ip := header.IPv6(r.Frames[0].Data[header.EthernetLen:])
	if ip.Dst() != netip.MustParseAddr("fd00::9") {
		t.Errorf("header daddr %s, want the SRH's segments[segments_left] fd00::9", ip.Dst())
	}
	rt := ip.Payload()[8:32]
	if netip.AddrFrom16([16]byte(rt[8:24])) != netip.MustParseAddr("fd00::2") {
		t.Errorf("segments[0] %x, want the final destination fd00::2", rt[8:24])
	}
	checkFragments(t, r)
}

// TestIPv6SizeLimits is the study's 6.2 and 16: DONTFRAG and the modes
// that refuse to fragment, with the extension headers in the limits
// (IPV6_DSTOPTS counted twice).
func TestIPv6SizeLimits(t *testing.T) {
	type io struct {
		n    int
		want string
	}
	cases := []struct {
		name string
		mtu  int
		opts string
		pmtu string
		cmsg string
		io   []io
	}{
		{"DONTFRAG option", 1500, "- IPV6_DONTFRAG: 1", "", "", []io{{1452, "1452"}, {1453, "-1 EMSGSIZE"}}},
		{"DONTFRAG cmsg", 1500, "", "", "[{IPV6_DONTFRAG: 1}]", []io{{1452, "1452"}, {1453, "-1 EMSGSIZE"}}},
		{"DONTFRAG cmsg 0 overrides the option", 1500, "- IPV6_DONTFRAG: 1", "", "[{IPV6_DONTFRAG: 0}]", []io{{1453, "1453"}}},
		{"hop-by-hop 8 + DONTFRAG", 1500, "- IPV6_HOPOPTS: " + hop8 + "\n- IPV6_DONTFRAG: 1", "", "", []io{{1444, "1444"}, {1445, "-1 EMSGSIZE"}}},
		{"DSTOPTS 8 + DONTFRAG: counted twice", 1500, "- IPV6_DSTOPTS: " + dst8 + "\n- IPV6_DONTFRAG: 1", "", "", []io{{1436, "1436"}, {1437, "-1 EMSGSIZE"}, {1444, "-1 EMSGSIZE"}}},
		{"IPV6_MTU 1280 + DONTFRAG", 1500, "- IPV6_MTU: 1280\n- IPV6_DONTFRAG: 1", "", "", []io{{1232, "1232"}, {1233, "-1 EMSGSIZE"}}},
		{"IPV6_MTU 1280 + probe", 1500, "- IPV6_MTU: 1280", "probe", "", []io{{1232, "1232"}, {1233, "-1 EMSGSIZE"}}},
		{"dont", 1500, "", "dont", "", []io{{65527, "65527"}, {65528, "-1 EMSGSIZE"}}},
		{"want", 1500, "", "want", "", []io{{65527, "65527"}, {65528, "-1 EMSGSIZE"}}},
		{"omit", 1500, "", "omit", "", []io{{65527, "65527"}, {65528, "-1 EMSGSIZE"}}},
		{"do", 1500, "", "do", "", []io{{1452, "1452"}, {1453, "-1 EMSGSIZE"}}},
		{"probe", 1500, "", "probe", "", []io{{1452, "1452"}, {1453, "-1 EMSGSIZE"}}},
		{"interface", 1500, "", "interface", "", []io{{1452, "1452"}, {1453, "-1 EMSGSIZE"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var steps strings.Builder
			for _, x := range c.io {
				cm := ""
				if c.cmsg != "" {
					cm = ", cmsg: " + c.cmsg
				}
				fmt.Fprintf(&steps, "- send: {len: %d%s}\n", x.n, cm)
			}
			y := v6(c.mtu, c.opts, steps.String())
			if c.pmtu != "" {
				y = strings.Replace(y, "socket:\n", "socket:\n  pmtudisc: "+c.pmtu+"\n", 1)
			}
			r := run6(t, y)
			for i, x := range c.io {
				if got := r.Steps[i].String(); got != x.want {
					t.Errorf("send %d: %s, want %s", x.n, got, x.want)
				}
			}
		})
	}
	// 65527 bytes at MTU 1500: 45 fragments of 1496 and one of 423.
	r := run6(t, v6(1500, "", "- send: {len: 65527}"))
	lens := ip6Lens(r)
	if len(lens) != 46 || lens[0] != 1496 || lens[44] != 1496 || lens[45] != 423 {
		t.Errorf("65527 bytes: %d packets, first %d, last %d; want 46, 1496, 423", len(lens), lens[0], lens[len(lens)-1])
	}
	checkFragments(t, r)
}

// TestIPv6Header checks the header fields the study measured: traffic
// class and hop limit from options and control messages, explicit and
// automatic flow labels (17).
func TestIPv6Header(t *testing.T) {
	first := func(r *report.Report) header.IPv6 { return header.IPv6(r.Frames[0].Data[header.EthernetLen:]) }
	t.Run("defaults", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "", "- send: {len: 100}")))
		if ip.TrafficClass() != 0 || ip.HopLimit() != 64 || ip.NextHeader() != 17 || ip.FlowLabel() == 0 {
			t.Errorf("tclass %d hop limit %d next %d label %#x", ip.TrafficClass(), ip.HopLimit(), ip.NextHeader(), ip.FlowLabel())
		}
	})
	t.Run("options", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_TCLASS: 0x20\n- IPV6_UNICAST_HOPS: 9", "- send: {len: 100}")))
		if ip.TrafficClass() != 0x20 || ip.HopLimit() != 9 {
			t.Errorf("tclass %#x hop limit %d", ip.TrafficClass(), ip.HopLimit())
		}
	})
	t.Run("TCLASS option -1 is 0", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_TCLASS: 0x20\n- IPV6_TCLASS: -1", "- send: {len: 100}")))
		if ip.TrafficClass() != 0 {
			t.Errorf("tclass %#x", ip.TrafficClass())
		}
	})
	t.Run("cmsgs: TCLASS -1 is 0xff, HOPLIMIT 0 is 0", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_TCLASS: 0x20", "- send: {len: 100, cmsg: [{IPV6_TCLASS: -1}, {IPV6_HOPLIMIT: 0}]}")))
		if ip.TrafficClass() != 0xff || ip.HopLimit() != 0 {
			t.Errorf("tclass %#x hop limit %d", ip.TrafficClass(), ip.HopLimit())
		}
	})
	t.Run("HOPLIMIT cmsg -1 is the default", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_UNICAST_HOPS: 9", "- send: {len: 100, cmsg: [{IPV6_HOPLIMIT: -1}]}")))
		if ip.HopLimit() != 9 {
			t.Errorf("hop limit %d", ip.HopLimit())
		}
	})
	t.Run("sin6_flowinfo with FLOWINFO_SEND", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_FLOWINFO_SEND: 1\n- IPV6_TCLASS: 0x20", "- send: {len: 100, flowinfo: 0xb812345}")))
		if ip.FlowLabel() != 0x12345 || ip.TrafficClass() != 0x20 {
			t.Errorf("label %#x tclass %#x, want 0x12345 and IPV6_TCLASS's 0x20", ip.FlowLabel(), ip.TrafficClass())
		}
	})
	t.Run("sin6_flowinfo ignored without FLOWINFO_SEND", func(t *testing.T) {
		a := first(run6(t, v6(1500, "", "- send: {len: 100, flowinfo: 0x12345}")))
		b := first(run6(t, v6(1500, "", "- send: {len: 100}")))
		if a.FlowLabel() == 0x12345 || a.FlowLabel() != b.FlowLabel() {
			t.Errorf("label %#x, want the automatic one %#x", a.FlowLabel(), b.FlowLabel())
		}
	})
	t.Run("IPV6_FLOWINFO cmsg without FLOWINFO_SEND", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "", "- send: {len: 100, cmsg: [{IPV6_FLOWINFO: 0x54321}]}")))
		if ip.FlowLabel() != 0x54321 {
			t.Errorf("label %#x", ip.FlowLabel())
		}
	})
	t.Run("AUTOFLOWLABEL 0", func(t *testing.T) {
		ip := first(run6(t, v6(1500, "- IPV6_AUTOFLOWLABEL: 0", "- send: {len: 100}")))
		if ip.FlowLabel() != 0 {
			t.Errorf("label %#x", ip.FlowLabel())
		}
	})
	t.Run("automatic labels per 5-tuple", func(t *testing.T) {
		r := run6(t, v6(1500, "", `- send: {len: 10}
			- send: {len: 10}
			- send: {len: 10, to: "[fd00::2]:9001"}
			- send: {len: 3000}`))
		l := func(i int) uint32 { return header.IPv6(r.Frames[i].Data[header.EthernetLen:]).FlowLabel() }
		if l(0) != l(1) || l(0) == l(2) || l(3) != l(0) || l(5) != l(0) {
			t.Errorf("labels %#x %#x %#x %#x %#x: the same per 5-tuple, for every fragment, another for another port", l(0), l(1), l(2), l(3), l(5))
		}
	})
	t.Run("connected: one label per connect, also to another port", func(t *testing.T) {
		y := strings.Replace(v6(1500, "", `- send: {len: 10}
			- send: {len: 10, to: "[fd00::2]:9001"}`), "socket:\n", "socket:\n  connect: true\n", 1)
		r := run6(t, y)
		a := header.IPv6(r.Frames[0].Data[header.EthernetLen:]).FlowLabel()
		b := header.IPv6(r.Frames[1].Data[header.EthernetLen:]).FlowLabel()
		u := first(run6(t, v6(1500, "", "- send: {len: 10}"))).FlowLabel()
		if a != b || a == u {
			t.Errorf("connected labels %#x %#x, unconnected %#x", a, b, u)
		}
	})
}

// TestIPv6StickyAndCmsgHeaders: per-call extension headers replace the
// sticky set; a control message without one keeps it (3 step 10).
func TestIPv6StickyAndCmsgHeaders(t *testing.T) {
	r := run6(t, v6(1500, "- IPV6_HOPOPTS: "+hop8, `- send: {len: 100, cmsg: [{IPV6_DSTOPTS: `+dst8+`}]}
		- send: {len: 100, cmsg: [{IPV6_TCLASS: 4}]}
		- send: {len: 100}`))
	want := []string{"destination options(8)", "hop-by-hop(8)", "hop-by-hop(8)"}
	for i, w := range want {
		if got := chain(t, r.Frames[i]); got != w {
			t.Errorf("send %d: %q, want %q", i, got, w)
		}
	}
}

// TestIPv6Checksum: software sums with the IPv6 pseudo-header, 0 sent as
// 0xffff, UDP_NO_CHECK6_TX (also on fragments), SO_NO_CHECK ignored,
// UDP-Lite coverage, CHECKSUM_PARTIAL in the tap view (9, 14).
func TestIPv6Checksum(t *testing.T) {
	uh := func(f report.Frame) header.UDP {
		ip := header.IPv6(f.Data[header.EthernetLen:])
		w := header.WalkIPv6Ext(ip.NextHeader(), ip.Payload())
		for w.Next() {
		}
		_, off := w.Upper()
		return header.UDP(ip.Payload()[off:])
	}
	sum := func(f report.Frame, proto uint8) uint16 {
		ip := header.IPv6(f.Data[header.EthernetLen:])
		u := []byte(uh(f))
		return header.Checksum(u, header.PseudoHeaderSum6(ip.Src().As16(), ip.Dst().As16(), proto, uint32(len(u))))
	}
	t.Run("software", func(t *testing.T) {
		r := run6(t, v6(1500, "", "- send: {len: 100}"))
		if c := sum(r.Frames[0], 17); c != 0xffff {
			t.Errorf("checksum does not verify: %#x", c)
		}
	})
	t.Run("0 is sent as 0xffff", func(t *testing.T) {
		// A payload whose checksum computes to 0: find the two bytes
		// that cancel the rest.
		p := zeroSumPayload(t)
		r := run6(t, v6(1500, "", fmt.Sprintf("- send: {payload: \"hex:%x\"}", p)))
		if c := uh(r.Frames[0]).Checksum(); c != 0xffff {
			t.Errorf("checksum %#x, want 0xffff", c)
		}
	})
	t.Run("UDP_NO_CHECK6_TX", func(t *testing.T) {
		r := run6(t, v6(1500, "- UDP_NO_CHECK6_TX: 1", "- send: {len: 100}\n- send: {len: 3000}"))
		if c := uh(r.Frames[0]).Checksum(); c != 0 {
			t.Errorf("checksum %#x, want 0", c)
		}
		if c := uh(r.Frames[1]).Checksum(); c != 0 {
			t.Errorf("first fragment's checksum %#x, want 0", c)
		}
	})
	t.Run("SO_NO_CHECK does not apply", func(t *testing.T) {
		r := run6(t, v6(1500, "- SO_NO_CHECK: 1", "- send: {len: 100}"))
		if c := uh(r.Frames[0]).Checksum(); c == 0 {
			t.Error("checksum 0")
		}
	})
	t.Run("partial in the tap view", func(t *testing.T) {
		y := strings.Replace(v6(1500, "", "- send: {len: 100}"), "link: {mtu: 1500}", "link: {mtu: 1500, features: [hw-csum]}", 1)
		r := run6(t, y)
		ip := header.IPv6(r.Frames[0].Data[header.EthernetLen:])
		want := header.PseudoHeaderSum6(ip.Src().As16(), ip.Dst().As16(), 17, 108)
		if c := uh(r.Frames[0]).Checksum(); c != want {
			t.Errorf("checksum %#x, want the pseudo-header sum %#x", c, want)
		}
		if r := run6View(t, y, report.Wire); sum(r.Frames[0], 17) != 0xffff {
			t.Error("wire view: the checksum does not verify")
		}
	})
	t.Run("no partial sum with an extension header", func(t *testing.T) {
		y := strings.Replace(v6(1500, "- IPV6_HOPOPTS: "+hop8, "- send: {len: 100}"), "link: {mtu: 1500}", "link: {mtu: 1500, features: [hw-csum]}", 1)
		r := run6(t, y)
		if c := sum(r.Frames[0], 17); c != 0xffff {
			t.Errorf("checksum does not verify: %#x", c)
		}
	})
	udplite := func(opts, steps string) *report.Report {
		return run6(t, strings.Replace(v6(1500, opts, steps), "socket:\n", "socket:\n  proto: udplite\n", 1))
	}
	t.Run("UDP-Lite coverage 20", func(t *testing.T) {
		r := udplite("- UDPLITE_SEND_CSCOV: 20", "- send: {len: 100}")
		if n := uh(r.Frames[0]).Length(); n != 20 {
			t.Errorf("length field %d, want the coverage 20", n)
		}
		ip := header.IPv6(r.Frames[0].Data[header.EthernetLen:])
		if ip.NextHeader() != 136 {
			t.Errorf("next header %d", ip.NextHeader())
		}
		u := ip.Payload()
		if c := header.Checksum(u[:20], header.PseudoHeaderSum6(ip.Src().As16(), ip.Dst().As16(), 136, uint32(len(u)))); c != 0xffff {
			t.Errorf("coverage checksum does not verify: %#x", c)
		}
	})
	t.Run("UDP-Lite coverage 0", func(t *testing.T) {
		r := udplite("- UDPLITE_SEND_CSCOV: 0", "- send: {len: 100}")
		if n := uh(r.Frames[0]).Length(); n != 0 {
			t.Errorf("length field %d, want 0", n)
		}
	})
	t.Run("UDP-Lite ignores NO_CHECK6_TX", func(t *testing.T) {
		r := udplite("- UDP_NO_CHECK6_TX: 1", "- send: {len: 100}")
		if c := sum(r.Frames[0], 136); c != 0xffff {
			t.Errorf("checksum does not verify: %#x", c)
		}
	})
}

// zeroSumPayload is a payload whose UDP checksum from fd00::1:40000 to
// fd00::2:9000 computes to 0.
func zeroSumPayload(t *testing.T) []byte {
	p := make([]byte, 10)
	src, dst := scenario.DefaultSrc6.Addr().As16(), scenario.DefaultDst6.Addr().As16()
	u := make([]byte, 8+len(p))
	header.UDP(u).SetPorts(40000, 9000)
	header.UDP(u).SetLength(uint16(len(u)))
	s := header.Checksum(u, header.PseudoHeaderSum6(src, dst, 17, uint32(len(u))))
	// The sum must come to 0xffff (checksum 0): add the difference.
	need := 0xffff - uint32(s)
	if need == 0 {
		return p
	}
	// One's complement addition of the two bytes at an even offset.
	p[8], p[9] = byte(need>>8), byte(need)
	copy(u[8:], p)
	if c := ^header.Checksum(u, header.PseudoHeaderSum6(src, dst, 17, uint32(len(u)))); c != 0 {
		t.Fatalf("constructed payload sums to %#x", c)
	}
	return p
}

// TestIPv6GSO is the study's 11 and 9 step 2: the limits, the errors, the
// device taking a super-packet, and the software fallback with extension
// headers even on a device with USO.
func TestIPv6GSO(t *testing.T) {
	uso := "link: {mtu: 1500, features: [hw-csum, sg, gso-udp-l4]}"
	cases := []struct {
		name, link, opts, steps string
		want                    []string
		lens                    []int
		kind                    report.Kind
	}{
		{"tx off: software segments", "", "- UDP_SEGMENT: 1000", "- send: {len: 3000}", []string{"3000"}, []int{1048, 1048, 1048}, report.Segment},
		{"USO: the device's super-packet", uso, "- UDP_SEGMENT: 1000", "- send: {len: 3000}", []string{"3000"}, []int{3048}, report.Super},
		{"1452/3000", "", "- UDP_SEGMENT: 1452", "- send: {len: 3000}", []string{"3000"}, []int{1500, 1500, 144}, report.Segment},
		{"1453/3000 EMSGSIZE", "", "- UDP_SEGMENT: 1453", "- send: {len: 3000}", []string{"-1 EMSGSIZE"}, nil, ""},
		{"1453/1000 whole", "", "- UDP_SEGMENT: 1453", "- send: {len: 1000}", []string{"1000"}, []int{1048}, report.Datagram},
		{"100/12800", "", "- UDP_SEGMENT: 100", "- send: {len: 12800}", []string{"12800"}, nil, report.Segment},
		{"100/12801 EINVAL", "", "- UDP_SEGMENT: 100", "- send: {len: 12801}", []string{"-1 EINVAL"}, nil, ""},
		{"NO_CHECK6_TX EINVAL even unsegmented", "", "- UDP_SEGMENT: 1000\n- UDP_NO_CHECK6_TX: 1", "- send: {len: 500}", []string{"-1 EINVAL"}, nil, ""},
		{"hop-by-hop 8, gso 1440", "", "- UDP_SEGMENT: 1440\n- IPV6_HOPOPTS: " + hop8, "- send: {len: 3000}", []string{"3000"}, []int{1496, 1496, 176}, report.Segment},
		{"hop-by-hop 8, gso 1445 EMSGSIZE", "", "- UDP_SEGMENT: 1445\n- IPV6_HOPOPTS: " + hop8, "- send: {len: 3000}", []string{"-1 EMSGSIZE"}, nil, ""},
		{"hop-by-hop 8 on USO: software", uso, "- UDP_SEGMENT: 1000\n- IPV6_HOPOPTS: " + hop8, "- send: {len: 2500}", []string{"2500"}, []int{1056, 1056, 556}, report.Segment},
		{"DSTOPTS 8 on USO: software", uso, "- UDP_SEGMENT: 1000\n- IPV6_DSTOPTS: " + dst8, "- send: {len: 2500}", []string{"2500"}, []int{1056, 1056, 556}, report.Segment},
		{"DONTFRAG does not limit GSO", "", "- UDP_SEGMENT: 1000\n- IPV6_DONTFRAG: 1", "- send: {len: 3000}", []string{"3000"}, []int{1048, 1048, 1048}, report.Segment},
		{"as a cmsg", "", "", "- send: {len: 3000, cmsg: [{UDP_SEGMENT: 1000}]}", []string{"3000"}, []int{1048, 1048, 1048}, report.Segment},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := v6(1500, c.opts, c.steps)
			if c.link != "" {
				y = strings.Replace(y, "link: {mtu: 1500}", c.link, 1)
			}
			r := run6(t, y)
			if got := results(r); !slices.Equal(got, c.want) {
				t.Fatalf("results %v, want %v", got, c.want)
			}
			if c.lens != nil && !slices.Equal(ip6Lens(r), c.lens) {
				t.Errorf("packets %v, want %v", ip6Lens(r), c.lens)
			}
			for _, f := range r.Frames {
				if f.Kind != c.kind {
					t.Errorf("frame %d is a %s, want %s", f.Index, f.Kind, c.kind)
				}
			}
			if c.kind == report.Segment {
				// Every segment repeats the chain and carries a full sum.
				want := chain(t, r.Frames[0])
				for _, f := range r.Frames {
					ip := header.IPv6(f.Data[header.EthernetLen:])
					if chain(t, f) != want || int(ip.PayloadLength()) != len(ip)-header.IPv6MinLen {
						t.Errorf("segment %d: chain %q payload_len %d", f.Index, chain(t, f), ip.PayloadLength())
					}
				}
			}
		})
	}
	t.Run("UDP-Lite EIO", func(t *testing.T) {
		r := run6(t, strings.Replace(v6(1500, "- UDP_SEGMENT: 1000", "- send: {len: 3000}"), "socket:\n", "socket:\n  proto: udplite\n", 1))
		if got := results(r); !slices.Equal(got, []string{"-1 EIO"}) {
			t.Errorf("results %v", got)
		}
	})
}

// TestIPv6DualStack is the study's 18: v4-mapped and AF_INET destinations
// on an AF_INET6 socket go through the IPv4 path with the IPv4 options;
// mixed corking.
func TestIPv6DualStack(t *testing.T) {
	wild := func(src, opts, steps string) string {
		return strings.Replace(v6(1500, opts, steps), "[fd00::1]:40000", src, 1)
	}
	ip4 := func(f report.Frame) header.IPv4 { return header.IPv4(f.Data[header.EthernetLen:]) }
	t.Run("v4-mapped from the wildcard, IPv4 options apply, IPv6 ones do not", func(t *testing.T) {
		r := run6(t, wild("[::]:40000", "- IP_TOS: 0x28\n- IP_TTL: 7\n- IPV6_TCLASS: 0x20\n- IPV6_UNICAST_HOPS: 9\n- IPV6_MTU_DISCOVER: do\n- IPV6_DONTFRAG: 1",
			`- send: {len: 100, to: "[::ffff:10.0.0.2]:9000"}
			- send: {len: 3000, to: "[::ffff:10.0.0.2]:9000"}
			- send: {len: 100, to: "[::ffff:10.0.0.2]:9000", cmsg: [{IPV6_HOPLIMIT: 2}, {IPV6_TCLASS: 3}]}
			- send: {len: 100, to: "10.0.0.2:9000", cmsg: [{IP_TTL: 3}]}`))
		if got := results(r); !slices.Equal(got, []string{"100", "3000", "100", "100"}) {
			t.Fatalf("results %v", got)
		}
		f0 := ip4(r.Frames[0])
		if (f0[0]>>4) != 4 || f0.TOS() != 0x28 || f0.TTL() != 7 || f0.Src4() != [4]byte{10, 0, 0, 1} || f0.Dst4() != [4]byte{10, 0, 0, 2} {
			t.Errorf("first frame: version %d tos %#x ttl %d %v -> %v", (f0[0] >> 4), f0.TOS(), f0.TTL(), f0.Src4(), f0.Dst4())
		}
		if r.Frames[1].Kind != report.Fragment || r.Frames[1].Count != 3 {
			t.Errorf("3000 bytes: %s of %d, want IPv4 fragments (WANT, not IPV6_MTU_DISCOVER's do)", r.Frames[1].Kind, r.Frames[1].Count)
		}
		last := r.Frames[len(r.Frames)-2]
		if ip4(last).TTL() != 7 || ip4(last).TOS() != 0x28 {
			t.Errorf("SOL_IPV6 cmsgs on a mapped send: ttl %d tos %#x, want them ignored", ip4(last).TTL(), ip4(last).TOS())
		}
		if ip4(r.Frames[len(r.Frames)-1]).TTL() != 3 {
			t.Errorf("an IP_TTL cmsg on an AF_INET send: ttl %d", ip4(r.Frames[len(r.Frames)-1]).TTL())
		}
	})
	t.Run("bound to an IPv6 address: no IPv4 source", func(t *testing.T) {
		r := run6(t, wild("[fd00::1]:40000", "", `- send: {len: 10, to: "[::ffff:10.0.0.2]:9000"}`))
		if got := results(r); !slices.Equal(got, []string{"-1 ENETUNREACH"}) {
			t.Errorf("results %v", got)
		}
	})
	t.Run("bound to a mapped address, sending to IPv6", func(t *testing.T) {
		r := run6(t, wild("[::ffff:10.0.0.1]:40000", "", `- send: {len: 10}
			- send: {len: 10, to: "[::ffff:10.0.0.2]:9000"}`))
		if got := results(r); !slices.Equal(got, []string{"-1 EAFNOSUPPORT", "10"}) {
			t.Errorf("results %v", got)
		}
	})
	t.Run("IPv6 pending, then a mapped send", func(t *testing.T) {
		r := run6(t, wild("[::]:40000", "", `- send: {len: 100, flags: [MSG_MORE]}
			- send: {len: 10, to: "[::ffff:10.0.0.2]:9000"}
			- send: {len: 50}`))
		if got := results(r); !slices.Equal(got, []string{"100", "-1 EINVAL", "50"}) {
			t.Fatalf("results %v", got)
		}
		if len(r.Frames) != 1 || r.Frames[0].Len-header.EthernetLen != 40+158 {
			t.Errorf("frames %v, want one IPv6 datagram of UDP length 158", ip6Lens(r))
		}
	})
	t.Run("IPv4 pending, then an IPv6 send", func(t *testing.T) {
		r := run6(t, wild("[::]:40000", "", `- send: {len: 100, to: "[::ffff:10.0.0.2]:9000", flags: [MSG_MORE]}
			- send: {len: 100}`))
		if got := results(r); !slices.Equal(got, []string{"100", "100"}) {
			t.Fatalf("results %v", got)
		}
		if len(r.Frames) != 1 || ip4(r.Frames[0])[0]>>4 != 4 || ip4(r.Frames[0]).TotalLength() != 20+208 {
			t.Errorf("want one IPv4 datagram of UDP length 208")
		}
	})
	t.Run("IPV6_V6ONLY refuses IPv4 destinations", func(t *testing.T) {
		dev := &Device{MTU: 1500}
		s := NewSocket(dev, Config{Proto: scenario.UDP, Src: netip.MustParseAddrPort("[::]:40000"), Seed: 1})
		s.np.v6only = true // set before bind in a program
		for _, to := range []string{"[::ffff:10.0.0.2]:9000", "10.0.0.2:9000"} {
			if _, e := s.Sendmsg(&Msg{Payload: make([]byte, 10), Name: netip.MustParseAddrPort(to)}); e != errno.ENETUNREACH {
				t.Errorf("to %s: %v, want ENETUNREACH", to, e)
			}
		}
	})
	t.Run("IPV6_V6ONLY after bind is EINVAL", func(t *testing.T) {
		r := run6(t, v6(1500, "", "- setsockopt: {IPV6_V6ONLY: 1}"))
		if got := results(r); !slices.Equal(got, []string{"-1 EINVAL"}) {
			t.Errorf("results %v", got)
		}
	})
	t.Run("an AF_INET socket given an IPv6 destination", func(t *testing.T) {
		r := run6(t, `steps:
  - send: {len: 10, to: "[fd00::2]:9000"}
  - send: {len: 10, to: "[::ffff:10.0.0.2]:9000"}
  - setsockopt: {IPV6_TCLASS: 4}
  - setsockopt: {UDP_NO_CHECK6_TX: 1}
`)
		if got := results(r); !slices.Equal(got, []string{"-1 EAFNOSUPPORT", "-1 EAFNOSUPPORT", "-1 ENOPROTOOPT", "0"}) {
			t.Errorf("results %v", got)
		}
	})
}

// TestIPv6Errors is the study's errno table (15) as far as a scenario
// can reach it.
func TestIPv6Errors(t *testing.T) {
	cases := []struct {
		name string
		y    string
		want []string
	}{
		{"no destination", "socket: {src: \"[fd00::1]:40000\", dst: none}\nsteps:\n  - send: {len: 10}", []string{"-1 EDESTADDRREQ"}},
		{"port 0", v6(1500, "", `- send: {len: 10, to: "[fd00::2]:0"}`), []string{"-1 EINVAL"}},
		{"MSG_OOB is sent", v6(1500, "", "- send: {len: 10, flags: [MSG_OOB]}"), []string{"10"}},
		{"MSG_PROBE sends nothing", v6(1500, "", "- send: {len: 10, flags: [MSG_PROBE]}"), []string{"10"}},
		{"link below 1280", v6(1279, "", "- send: {len: 10}"), []string{"-1 ENETUNREACH"}},
		{"PKTINFO non-local", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_PKTINFO: "fd00::99"}]}`), []string{"-1 EINVAL"}},
		{"PKTINFO mapped", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_PKTINFO: "::ffff:10.0.0.1"}]}`), []string{"-1 EINVAL"}},
		{"PKTINFO local", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_PKTINFO: "fd00::1"}]}`), []string{"10"}},
		{"HOPOPTS twice", v6(1500, "", "- send: {len: 10, cmsg: [{IPV6_HOPOPTS: "+hop8+"}, {IPV6_HOPOPTS: "+hop8+"}]}"), []string{"-1 EINVAL"}},
		{"HOPOPTS shorter than its length", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_HOPOPTS: "0001010400000000"}]}`), []string{"-1 EINVAL"}},
		{"RTHDR cmsg type 0", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_RTHDR: "0002000100000000fd000000000000000000000000000009"}]}`), []string{"-1 EINVAL"}},
		{"RTHDR cmsg type 2", v6(1500, "", `- send: {len: 10, cmsg: [{IPV6_RTHDR: "0002020100000000fd000000000000000000000000000009"}]}`), []string{"-1 EINVAL"}},
		{"DONTFRAG cmsg 2", v6(1500, "", "- send: {len: 10, cmsg: [{IPV6_DONTFRAG: 2}]}"), []string{"-1 EINVAL"}},
		{"IPV6_MTU 1279 and 0", v6(1500, "", "- setsockopt: {IPV6_MTU: 1279}\n- setsockopt: {IPV6_MTU: 0}"), []string{"-1 EINVAL", "0"}},
		{"sticky header of 7 bytes", v6(1500, "", `- setsockopt: {IPV6_HOPOPTS: "00000104000000"}`), []string{"-1 EINVAL"}},
		{"sticky header longer than given", v6(1500, "", `- setsockopt: {IPV6_HOPOPTS: "0001010400000000"}`), []string{"-1 EINVAL"}},
		{"sticky RTHDR type 0", v6(1500, "", `- setsockopt: {IPV6_RTHDR: "0002000100000000fd000000000000000000000000000009"}`), []string{"-1 EINVAL"}},
		{"sticky SRH with one segment", v6(1500, "", "- setsockopt: {IPV6_RTHDR: "+strings.ReplaceAll(srh24, " ", "")+"}"), []string{"0"}},
		{"sticky header removed by no bytes", v6(1500, "- IPV6_HOPOPTS: "+hop8, `- setsockopt: {IPV6_HOPOPTS: ""}`+"\n- send: {len: 10}"), []string{"0", "10"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := scenario.Parse([]byte(c.y), "t.yaml")
			if err != nil {
				t.Fatalf("scenario: %v", err)
			}
			r, err := Run(sc, Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(results(r), c.want) {
				t.Errorf("results %v, want %v", results(r), c.want)
			}
			if c.name == "MSG_PROBE sends nothing" && len(r.Frames) != 0 {
				t.Errorf("%d frames", len(r.Frames))
			}
		})
	}
}

// TestIPv6FragmentIDsAreSeeded: the identification is drawn from the
// run's seed: reproducible for a seed, different for another.
func TestIPv6FragmentIDsAreSeeded(t *testing.T) {
	sc, err := scenario.Parse([]byte(v6(1500, "", "- send: {len: 3000}")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id := func(seed uint64) uint32 {
		r, err := Run(sc, Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return header.IPv6Fragment(r.Frames[0].Data[header.EthernetLen+header.IPv6MinLen:]).ID()
	}
	a, b, c := id(1), id(1), id(2)
	if a != b || a == c {
		t.Errorf("ids %#x %#x %#x: the same for a seed, another for another seed", a, b, c)
	}
}
