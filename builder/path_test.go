package builder

import (
	"net/netip"

	"fmt"
	"github.com/udpbuild/udpbuild/scenario"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// pathSummary renders a run as the study's tables do: each step's result,
// then the sender's frames of that step as IP lengths ("DF" appended when
// set; "+" joins fragments of one datagram), and an icmp step's frame.
func pathSummary(rep *report.Report) string {
	var out []string
	for i, st := range rep.Steps {
		s := st.String()
		if st.Op == "recv" && len(st.Recv) > 0 && len(st.Recv[0].Cmsgs) > 0 {
			s += " [" + st.Recv[0].Cmsgs[0].Value + "]"
		}
		var fr []string
		for _, f := range rep.Frames {
			if f.Step != i || f.Dir == report.DirPeer {
				continue
			}
			pkt := f.Data[header.EthernetLen:]
			if pkt[0]>>4 == 4 {
				ip := header.IPv4(pkt)
				v := fmt.Sprint(ip.TotalLength())
				if ip.FragWord()&header.IPv4DF != 0 {
					v += "DF"
				}
				fr = append(fr, v)
			} else {
				fr = append(fr, fmt.Sprint(len(pkt)))
			}
		}
		if len(fr) > 0 {
			s += " " + strings.Join(fr, "+")
		}
		out = append(out, s)
	}
	return strings.Join(out, " | ")
}

// The study's cases (docs/pmtu-study.md), each with what the running kernel
// did [live].
func TestPathMTUMeasured(t *testing.T) {
	const v4conn = "socket: {connect: true, pmtudisc: %s}\n"
	const v4 = "socket: {pmtudisc: %s}\n"
	const v6conn = "socket: {src: \"[::]:40000\", dst: \"[fd00::2]:9000\", connect: true, pmtudisc: %s}\n"
	const after = `steps:
  - send: {len: 1000}
  - icmp: {type: %s, mtu: %d}
  - getsockopt: %s
  - send: {len: 1400}
  - send: {len: 1400}
  - send: {len: 1200}
`
	for _, c := range []struct {
		sock, mode, typ string
		mtu             int
		opt, want       string
	}{
		// section 2, connected, no IP_RECVERR
		{v4conn, "dont", "frag-needed", 1280, "IP_MTU", "1000 1028 | 576 | 1280 | 1400 1276+172 | 1400 1276+172 | 1200 1228"},
		{v4conn, "want", "frag-needed", 1280, "IP_MTU", "1000 1028DF | 576 | 1280 | -1 EMSGSIZE | 1400 1276+172 | 1200 1228DF"},
		{v4conn, "do", "frag-needed", 1280, "IP_MTU", "1000 1028DF | 576 | 1280 | -1 EMSGSIZE | -1 EMSGSIZE | -1 EMSGSIZE"},
		{v4conn, "probe", "frag-needed", 1280, "IP_MTU", "1000 1028DF | 576 | 1280 | -1 EMSGSIZE | 1400 1428DF | 1200 1228DF"},
		{v4conn, "interface", "frag-needed", 1280, "IP_MTU", "1000 1028 | 576 | 1500 | -1 EMSGSIZE | 1400 1428 | 1200 1228"},
		{v4conn, "omit", "frag-needed", 1280, "IP_MTU", "1000 1028 | 576 | 1500 | -1 EMSGSIZE | 1400 1428 | 1200 1228"},
		// unconnected: no sk_err, ENOTCONN
		{v4, "do", "frag-needed", 1280, "IP_MTU", "1000 1028DF | 576 | -1 ENOTCONN | -1 EMSGSIZE | -1 EMSGSIZE | 1200 1228DF"},
		{v4, "want", "frag-needed", 1280, "IP_MTU", "1000 1028DF | 576 | -1 ENOTCONN | 1400 1276+172 | 1400 1276+172 | 1200 1228DF"},
		// section 3: min_pmtu clamps and locks (no DF for want), 552 itself does not lock
		{v4conn, "want", "frag-needed", 500, "IP_MTU", "1000 1028DF | 576 | 552 | -1 EMSGSIZE | 1400 548+548+372 | 1200 548+548+172"},
		{v4conn, "want", "frag-needed", 9000, "IP_MTU", "1000 1028DF | 576 | 1500 | -1 EMSGSIZE | 1400 1428DF | 1200 1228DF"},
		// section 5, IPv6
		{v6conn, "want", "packet-too-big", 1280, "IPV6_MTU", "1000 1048 | 1096 | 1280 | -1 EMSGSIZE | 1400 1280+224 | 1200 1248"},
		{v6conn, "dont", "packet-too-big", 1280, "IPV6_MTU", "1000 1048 | 1096 | 1280 | 1400 1280+224 | 1400 1280+224 | 1200 1248"},
		{v6conn, "do", "packet-too-big", 1280, "IPV6_MTU", "1000 1048 | 1096 | 1280 | -1 EMSGSIZE | -1 EMSGSIZE | -1 EMSGSIZE"},
		{v6conn, "probe", "packet-too-big", 1280, "IPV6_MTU", "1000 1048 | 1096 | 1280 | -1 EMSGSIZE | 1400 1448 | 1200 1248"},
		{v6conn, "interface", "packet-too-big", 1280, "IPV6_MTU", "1000 1048 | 1096 | 1500 | 1400 1448 | 1400 1448 | 1200 1248"},
		{v6conn, "want", "packet-too-big", 1000, "IPV6_MTU", "1000 1048 | 1096 | 1500 | -1 EMSGSIZE | 1400 1448 | 1200 1248"},
	} {
		y := fmt.Sprintf(c.sock, c.mode) + fmt.Sprintf(after, c.typ, c.mtu, c.opt)
		if got := pathSummary(runYAML(t, y)); got != c.want {
			t.Errorf("%s %s %d:\n got %s\nwant %s", strings.TrimSpace(fmt.Sprintf(c.sock, c.mode)), c.typ, c.mtu, got, c.want)
		}
	}
}

// A larger MTU never raises the path MTU; a smaller one lowers it; below
// min_pmtu it locks at 552, and a locked MTU stays [live, section 3].
func TestPathMTUExceptionRules(t *testing.T) {
	for _, c := range []struct {
		mtus []int
		want int
	}{{[]int{1280, 1400}, 1280}, {[]int{1280, 1000}, 1000}, {[]int{500, 1000}, 552}, {[]int{1280, 400}, 552}, {[]int{0}, 552}, {[]int{1500}, 1500}} {
		y := "socket: {connect: true}\nsteps:\n  - send: {len: 100}\n"
		for _, m := range c.mtus {
			y += fmt.Sprintf("  - icmp: {type: frag-needed, mtu: %d}\n", m)
		}
		y += "  - getsockopt: IP_MTU\n"
		rep := runYAML(t, y)
		if got := rep.Steps[len(rep.Steps)-1]; got.Ret != c.want || got.Err != 0 {
			t.Errorf("%v: IP_MTU %v, want %d", c.mtus, got, c.want)
		}
	}
}

// A datagram in progress keeps its cork's route: it leaves at the old
// MTU; the connected socket's sk_err waits for the next datagram
// [live, section 4]. A GSO send whose segments no longer fit the path is
// EMSGSIZE (udp_send_skb), unless the mode sizes by the device.
func TestPathMTUInFlight(t *testing.T) {
	got := pathSummary(runYAML(t, `socket: {connect: true}
steps:
  - send: {len: 100}
  - send: {len: 1000, flags: [MSG_MORE]}
  - icmp: {type: frag-needed, mtu: 1280}
  - send: {len: 400}
  - send: {len: 1400}
  - send: {len: 1400}
`))
	if want := "100 128DF | 1000 | 156 | 400 1428DF | -1 EMSGSIZE | 1400 1276+172"; got != want {
		t.Errorf("cork:\n got %s\nwant %s", got, want)
	}
	for mode, want := range map[string]string{"want": "-1 EMSGSIZE", "probe": "4200 4228DF"} {
		rep := runYAML(t, fmt.Sprintf(`socket: {pmtudisc: %s, setsockopt: [{UDP_SEGMENT: 1400}]}
steps:
  - send: {len: 100}
  - icmp: {type: frag-needed, mtu: 1280}
  - send: {len: 4200}
`, mode))
		if got := rep.Steps[2].String(); !strings.HasPrefix(want, got) {
			t.Errorf("GSO %s: %s, want %s", mode, got, want)
		}
	}
}

// The error queue: the ICMP entry (the quote after the UDP header, the
// MTU as sent, the router as offender), then DO's local entry (no
// offender, the cork's fragsize, the connected port) [live, section 2].
func TestPathMTUErrorQueue(t *testing.T) {
	rep := runYAML(t, `socket: {connect: true, pmtudisc: do, setsockopt: [{IP_RECVERR: 1}]}
steps:
  - send: {len: 1000}
  - icmp: {type: frag-needed, mtu: 1280, from: 192.0.2.1}
  - send: {len: 1400}
  - recv: {errqueue: true, len: 2048}
  - recv: {errqueue: true, len: 2048}
`)
	want := []string{
		"520 MSG_ERRQUEUE 10.0.0.2:9000 ee_errno=EMSGSIZE origin=icmp type=3 code=4 info=1280 data=0 offender=192.0.2.1",
		"0 MSG_ERRQUEUE 10.0.0.2:9000 ee_errno=EMSGSIZE origin=local type=0 code=0 info=1280 data=0",
	}
	for i, w := range want {
		r := rep.Steps[3+i].Recv[0]
		if got := fmt.Sprintf("%d %s %s %s", r.Ret, strings.Join(r.MsgFlags, ","), r.From, r.Cmsgs[0].Value); got != w {
			t.Errorf("entry %d: %s, want %s", i, got, w)
		}
	}
}

// What each other code does: connected without IP_RECVERR, a hard error
// fails the next send; unconnected with IP_RECVERR every error does
// [live, section 6].
func TestPathICMPCodes(t *testing.T) {
	for _, c := range []struct{ typ, conn, recverr string }{
		{"net-unreachable", "100", "-1 ENETUNREACH"},
		{"host-unreachable", "100", "-1 EHOSTUNREACH"},
		{"protocol-unreachable", "-1 ENOPROTOOPT", "-1 ENOPROTOOPT"},
		{"host-unknown", "-1 EHOSTDOWN", "-1 EHOSTDOWN"},
		{"source-route-failed", "100", "-1 EOPNOTSUPP"},
		{"admin-prohibited", "-1 EHOSTUNREACH", "-1 EHOSTUNREACH"},
		{"time-exceeded", "100", "-1 EHOSTUNREACH"},
		{"reassembly-timeout", "100", "100"},
		{"parameter-problem", "-1 EPROTO", "-1 EPROTO"},
		{"source-quench", "100", "100"},
	} {
		for _, sock := range []string{"{connect: true}", "{setsockopt: [{IP_RECVERR: 1}]}"} {
			rep := runYAML(t, "socket: "+sock+"\nsteps:\n  - send: {len: 100}\n  - icmp: {type: "+c.typ+"}\n  - send: {len: 100}\n  - send: {len: 100}\n")
			want := c.conn
			if strings.Contains(sock, "RECVERR") {
				want = c.recverr
			}
			if got := rep.Steps[2].String(); got != want || rep.Steps[3].String() != "100" {
				t.Errorf("%s %s: %s, %s; want %s, 100", c.typ, sock, got, rep.Steps[3], want)
			}
		}
	}
	for _, c := range []struct{ typ, want string }{
		{"net-unreachable", "100"}, {"admin-prohibited", "-1 EACCES"}, {"port-unreachable", "-1 ECONNREFUSED"},
		{"beyond-scope", "100"}, {"reject-route", "-1 EACCES"}, {"parameter-problem", "-1 EPROTO"}, {"time-exceeded", "100"},
	} {
		rep := runYAML(t, "socket: {src: \"[::]:40000\", dst: \"[fd00::2]:9000\", connect: true}\nsteps:\n  - send: {len: 100}\n  - icmp: {type: "+c.typ+"}\n  - send: {len: 100}\n")
		if got := rep.Steps[2].String(); got != c.want {
			t.Errorf("IPv6 %s: %s, want %s", c.typ, got, c.want)
		}
	}
}

// An IPv6 socket connected before its link dropped below 1280 reads
// blackhole_netdev's MTU [live: 68, fuzz seed 1602 index 73].
func TestIPv6MTULinkLostIPv6(t *testing.T) {
	rep := runYAML(t, "link: {mtu: 576}\nsocket: {src: \"[fd00::1]:40000\", dst: \"[fd00::2]:9000\", connect: true}\nsteps:\n  - getsockopt: IPV6_MTU\n")
	if got := rep.Steps[0]; got.Ret != 68 || got.Err != 0 {
		t.Errorf("IPV6_MTU %v, want 68", got)
	}
}

// A new IP_TOS or IPV6_TCLASS, or a sticky extension header, drops the
// cached route: IP_MTU / IPV6_MTU is ENOTCONN until a connected send
// stores one again [live, fuzz seed 1603].
func TestMTUAfterDstReset(t *testing.T) {
	for _, c := range []struct{ sock, opt, get string }{
		{"{connect: true}", "IP_TOS: 16", "IP_MTU"},
		{"{src: \"[fd00::1]:40000\", dst: \"[fd00::2]:9000\", connect: true}", "IPV6_TCLASS: 16", "IPV6_MTU"},
		{"{src: \"[fd00::1]:40000\", dst: \"[fd00::2]:9000\", connect: true}", "IPV6_DSTOPTS: \"1100010400000000\"", "IPV6_MTU"},
	} {
		rep := runYAML(t, "socket: "+c.sock+"\nsteps:\n  - setsockopt: [{"+c.opt+"}]\n  - getsockopt: "+c.get+"\n  - send: {len: 10}\n  - getsockopt: "+c.get+"\n")
		if got := pathSummary(rep); got != "0 | -1 ENOTCONN | "+strings.SplitN(pathSummary(rep), " | ", 3)[2] || rep.Steps[3].Ret != 1500 {
			t.Errorf("%s then %s: %s", c.opt, c.get, got)
		}
	}
}

// A datagram corked on an existing exception sees its update; under DO it
// then fails at ip_fragment with a frag-needed to itself [live, fuzz seed
// 1604 indexes 101 and 119].
func TestCorkOnException(t *testing.T) {
	got := pathSummary(runYAML(t, `socket: {pmtudisc: want}
steps:
  - send: {len: 0}
  - icmp: {type: frag-needed, mtu: 1280}
  - send: {len: 1023, flags: [MSG_MORE]}
  - icmp: {type: frag-needed, mtu: 68}
  - setsockopt: [{UDP_CORK: 0}]
`))
	if want := "0 28DF | 56 | 1023 | 56 | 0 548+523"; got != want {
		t.Errorf("want: got %s, want %s", got, want)
	}
	rep := runYAML(t, `socket: {pmtudisc: do}
steps:
  - send: {len: 0}
  - icmp: {type: frag-needed, mtu: 1280}
  - send: {len: 0, flags: [MSG_MORE]}
  - icmp: {type: frag-needed, mtu: 576}
  - send: {len: 837}
  - recv: {errqueue: true}
`)
	if got := rep.Steps[4].String(); got != "-1 EMSGSIZE" || rep.Counters["sender.Icmp.OutDestUnreachs"] != 1 || rep.Counters["sender.Icmp.InDestUnreachs"] != 3 {
		t.Errorf("do: %s, counters %v", got, rep.Counters)
	}
}

// An icmp whose from is not of the last datagram's family (the loader
// checks it against the last send step, which may have failed) sends
// nothing, in the model as in the kernel runner (fuzz seed 1604 index 263).
func TestICMPFromOtherFamilySendsNothing(t *testing.T) {
	sc, err := scenario.Parse([]byte("socket: {src: \"[::]:40000\", dst: \"[fd00::2]:9000\"}\nsteps:\n  - send: {len: 10}\n  - icmp: {type: port-unreachable}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	sc.Steps[1].ICMP.From = netip.MustParseAddr("192.0.2.1")
	rep, err := Run(sc, Options{Seed: 1})
	if err != nil || rep.Steps[1].Ret != 0 || len(rep.Frames) != 1 {
		t.Fatalf("err %v, steps %v, %d frames", err, rep.Steps, len(rep.Frames))
	}
}
