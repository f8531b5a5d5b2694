package corpus_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/corpus"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// gsoSelftestDir holds the IPv4 cases of the kernel's UDP GSO selftest
// (tools/testing/selftests/net/udpgso.c) as scenarios, one per case, mode
// (cmsg, setsockopt, connected, MSG_MORE) and link feature set.
const gsoSelftestDir = "../testdata/gso-selftest"

// gsoSelftestDirIPv6 holds the IPv6 cases (testcases_v6) in the same
// variants, with kernel goldens.
const gsoSelftestDirIPv6 = "../testdata/gso-selftest-ipv6"

// selftestMSS and selftestMSS6 are the selftest's CONST_MSS_V4 and
// CONST_MSS_V6: its 1500-byte MTU less the IP and UDP headers. They are the
// datagram size the receiver expects when a case sets no gso_len.
const (
	selftestMSS  = 1500 - 20 - 8
	selftestMSS6 = 1500 - 40 - 8
)

// selftestCase is what a scenario's "# selftest:" line says about the
// udpgso.c test case it reproduces.
type selftestCase struct {
	index    int  // position in testcases_v4
	tlen     int  // bytes passed to sendmsg in total
	gsoLen   int  // UDP_SEGMENT value, 0 for none
	tfail    bool // the send must fail
	rNumMSS  int  // datagrams of exactly mss bytes the peer receives
	rLenLast int  // size of a last, shorter datagram; 0 for none
	v6       bool // a testcases_v6 case
}

// mss is the size the selftest's run_one expects of every full datagram.
func (c selftestCase) mss() int {
	switch {
	case c.gsoLen != 0:
		return c.gsoLen
	case c.v6:
		return selftestMSS6
	}
	return selftestMSS
}

// parseSelftestLine reads the machine-readable comment line
// "# selftest: case=N tlen=N gso_len=N tfail=0|1 r_num_mss=N r_len_last=N".
func parseSelftestLine(data []byte) (selftestCase, error) {
	var line string
	found := 0
	for l := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(l, "# selftest:"); ok {
			line = rest
			found++
		}
	}
	if found != 1 {
		return selftestCase{}, fmt.Errorf("want exactly one \"# selftest:\" line, found %d", found)
	}
	vals := map[string]int{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return selftestCase{}, fmt.Errorf("selftest field %q: want key=value", f)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return selftestCase{}, fmt.Errorf("selftest field %q: want a non-negative integer", f)
		}
		if _, dup := vals[k]; dup {
			return selftestCase{}, fmt.Errorf("selftest field %q given twice", k)
		}
		vals[k] = n
	}
	keys := []string{"case", "tlen", "gso_len", "tfail", "r_num_mss", "r_len_last"}
	if len(vals) != len(keys) {
		return selftestCase{}, fmt.Errorf("selftest line has fields %v, want exactly %v", vals, keys)
	}
	for _, k := range keys {
		if _, ok := vals[k]; !ok {
			return selftestCase{}, fmt.Errorf("selftest line lacks %s", k)
		}
	}
	if vals["tfail"] > 1 {
		return selftestCase{}, fmt.Errorf("selftest tfail=%d: want 0 or 1", vals["tfail"])
	}
	return selftestCase{
		index: vals["case"], tlen: vals["tlen"], gsoLen: vals["gso_len"], tfail: vals["tfail"] == 1,
		rNumMSS: vals["r_num_mss"], rLenLast: vals["r_len_last"],
	}, nil
}

func TestParseSelftestLine(t *testing.T) {
	good := "# x\n# selftest: case=6 tlen=1473 gso_len=1472 tfail=0 r_num_mss=1 r_len_last=1\nname: x\n"
	c, err := parseSelftestLine([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := selftestCase{index: 6, tlen: 1473, gsoLen: 1472, rNumMSS: 1, rLenLast: 1}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if c.mss() != 1472 {
		t.Errorf("mss %d, want 1472", c.mss())
	}
	for _, bad := range []string{
		"name: x\n",
		"# selftest: case=1 tlen=1 gso_len=0 tfail=0 r_num_mss=0\n",
		"# selftest: case=1 tlen=1 gso_len=0 tfail=2 r_num_mss=0 r_len_last=1\n",
		"# selftest: case=1 tlen=x gso_len=0 tfail=0 r_num_mss=0 r_len_last=1\n",
		"# selftest: case=1 case=1 gso_len=0 tfail=0 r_num_mss=0 r_len_last=1\n",
		"# selftest: case=1 tlen=1 gso_len=0 tfail=0 r_num_mss=0 r_len_last=1 x=1\n",
		"# selftest: case=1 tlen=1 gso_len=0 tfail=0 r_num_mss=0 r_len_last=1\n# selftest: case=1 tlen=1 gso_len=0 tfail=0 r_num_mss=0 r_len_last=1\n",
	} {
		if _, err := parseSelftestLine([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// gsoSelftestScenario is one loaded scenario with its selftest case.
type gsoSelftestScenario struct {
	name string
	sc   *scenario.Scenario
	tc   selftestCase
}

func loadGSOSelftest(t *testing.T) []gsoSelftestScenario {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(gsoSelftestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// 17 IPv4 cases, each in nine mode/feature variants.
	if len(paths) != 17*9 {
		t.Fatalf("%s: %d scenarios, want %d", gsoSelftestDir, len(paths), 17*9)
	}
	var out []gsoSelftestScenario
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := parseSelftestLine(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		sc, err := scenario.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, gsoSelftestScenario{name: strings.TrimSuffix(filepath.Base(p), ".yaml"), sc: sc, tc: tc})
	}
	return out
}

// checkScenarioMatchesCase checks that the file sends what the selftest
// sends and expects what it expects, so that a passing run means something:
// every send has an expect, the sends add up to tlen, only the last may
// fail, and it fails exactly when tfail says so, with an errno the
// selftest's __send_one accepts as the expected failure.
func checkScenarioMatchesCase(t *testing.T, s gsoSelftestScenario) {
	t.Helper()
	total, sends := 0, 0
	for i, st := range s.sc.Steps {
		if st.Send == nil {
			t.Fatalf("step %d is not a send", i)
		}
		sends++
		if st.Send.Expect == nil {
			t.Fatalf("step %d has no expect", i)
		}
		total += len(st.Send.Payload)
		last := i == len(s.sc.Steps)-1
		e := st.Send.Expect
		switch {
		case last && s.tc.tfail:
			if !slices.Contains([]errno.Errno{errno.EMSGSIZE, errno.ENOMEM, errno.EINVAL}, e.Err) {
				t.Errorf("step %d expects %v; the selftest's failure is EMSGSIZE, ENOMEM or EINVAL", i, e.Err)
			}
		case e.Err != 0 || e.Ret != len(st.Send.Payload):
			t.Errorf("step %d expects %v/%d, want the whole %d bytes sent", i, e.Err, e.Ret, len(st.Send.Payload))
		}
	}
	if sends == 0 || total != s.tc.tlen {
		t.Fatalf("%d sends of %d bytes in all, want tlen %d", sends, total, s.tc.tlen)
	}
}

// wantPayload is what the peer must receive: every send's payload in
// order (the MSG_MORE variant splits one datagram over two calls).
func wantPayload(sc *scenario.Scenario) []byte {
	var b []byte
	for _, st := range sc.Steps {
		b = append(b, st.Send.Payload...)
	}
	return b
}

// udpPayload parses one Ethernet/IPv4/UDP frame and returns the UDP
// payload, failing on anything else: a fragment, a header inconsistent with
// the frame, or a packet without DF (the selftest sets IP_PMTUDISC_DO).
func udpPayload(f report.Frame) ([]byte, error) {
	d := f.Data
	if len(d) >= 14 && binary.BigEndian.Uint16(d[12:]) == 0x86dd {
		return udpPayload6(d)
	}
	if len(d) < 14+20 || binary.BigEndian.Uint16(d[12:]) != 0x0800 {
		return nil, fmt.Errorf("not an IPv4 frame (%d bytes)", len(d))
	}
	ip := d[14:]
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || tot < ihl+8 || tot > len(ip) {
		return nil, fmt.Errorf("bad IPv4 header: version/IHL %#02x, total length %d, %d bytes after Ethernet", ip[0], tot, len(ip))
	}
	if ip[9] != 17 {
		return nil, fmt.Errorf("IP protocol %d, want UDP", ip[9])
	}
	frag := binary.BigEndian.Uint16(ip[6:])
	if frag&0x3fff != 0 {
		return nil, fmt.Errorf("IP fragment (flags/offset %#04x): the selftest forbids fragmentation", frag)
	}
	if frag&0x4000 == 0 {
		return nil, fmt.Errorf("DF clear: the selftest sets IP_PMTUDISC_DO")
	}
	udp := ip[ihl:tot]
	if ulen := int(binary.BigEndian.Uint16(udp[4:])); ulen != len(udp) {
		return nil, fmt.Errorf("UDP length %d, IP payload %d", ulen, len(udp))
	}
	return udp[8:], nil
}

// udpPayload6 is udpPayload for an Ethernet/IPv6 frame: extension headers
// are stepped over, and a fragment header is refused (the selftest sets
// IPV6_PMTUDISC_DO, so only GSO may cut).
func udpPayload6(d []byte) ([]byte, error) {
	if len(d) < 14+header.IPv6MinLen {
		return nil, fmt.Errorf("IPv6 frame of %d bytes", len(d))
	}
	ip := header.IPv6(d[14:])
	plen := int(ip.PayloadLength())
	if ip.Version() != 6 || header.IPv6MinLen+plen != len(ip) {
		return nil, fmt.Errorf("bad IPv6 header: version %d, payload length %d, %d bytes after Ethernet", ip.Version(), plen, len(ip))
	}
	w := header.WalkIPv6Ext(ip.NextHeader(), ip[header.IPv6MinLen:])
	for w.Next() {
		if w.Header().Type == header.NextHdrFragment {
			return nil, fmt.Errorf("IPv6 fragment: the selftest forbids fragmentation")
		}
	}
	if err := w.Err(); err != nil {
		return nil, err
	}
	proto, off := w.Upper()
	if proto != header.ProtoUDP {
		return nil, fmt.Errorf("upper-layer protocol %d, want UDP", proto)
	}
	udp := ip[header.IPv6MinLen+off:]
	if len(udp) < 8 {
		return nil, fmt.Errorf("UDP header cut short")
	}
	if ulen := int(binary.BigEndian.Uint16(udp[4:])); ulen != len(udp) {
		return nil, fmt.Errorf("UDP length %d, IP payload %d", ulen, len(udp))
	}
	return udp[8:], nil
}

// checkSelftestFrames applies run_one's receive checks to the frames the
// peer gets: r_num_mss datagrams of mss bytes, then one of r_len_last if it
// is not 0, and nothing else; the data, put together, is what was sent.
// Every frame must also fit the 1500-byte MTU, since only GSO may cut.
func checkSelftestFrames(t *testing.T, s gsoSelftestScenario, frames []report.Frame) {
	t.Helper()
	if s.tc.tfail {
		if len(frames) != 0 {
			t.Errorf("failed send emitted %d frames", len(frames))
		}
		return
	}
	want := s.tc.rNumMSS
	if s.tc.rLenLast != 0 {
		want++
	}
	if len(frames) != want {
		t.Fatalf("%d frames, want r_num_mss %d + %d last", len(frames), s.tc.rNumMSS, want-s.tc.rNumMSS)
	}
	var got []byte
	lastStep := len(s.sc.Steps) - 1
	for i, f := range frames {
		if f.Step != lastStep {
			t.Errorf("frame %d emitted by step %d, want the last step %d", i, f.Step, lastStep)
		}
		p, err := udpPayload(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f.Data)-14 > 1500 {
			t.Errorf("frame %d: %d-byte IP packet exceeds MTU 1500", i, len(f.Data)-14)
		}
		size := s.tc.mss()
		if i == s.tc.rNumMSS {
			size = s.tc.rLenLast
		}
		if len(p) != size {
			t.Errorf("frame %d: UDP payload %d bytes, want %d", i, len(p), size)
		}
		got = append(got, p...)
	}
	if w := wantPayload(s.sc); !bytes.Equal(got, w) {
		t.Errorf("received %d bytes that differ from the %d sent", len(got), len(w))
	}
}

// TestGSOSelftestModel runs every udpgso.c IPv4 case through the model in
// the wire view (what the peer receives) and checks the selftest's own
// expectations: the send result, and the number and sizes of datagrams.
func TestGSOSelftestModel(t *testing.T) {
	for _, s := range loadGSOSelftest(t) {
		t.Run(s.name, func(t *testing.T) {
			checkScenarioMatchesCase(t, s)
			rep, err := builder.Run(s.sc, builder.Options{View: report.Wire, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range s.sc.CheckExpect(rep) {
				t.Error(m)
			}
			checkSelftestFrames(t, s, rep.Frames)
		})
	}
}

// TestGSOSelftestKernel runs every case on the live kernel (root only):
// the kernel must meet the selftest's expectations too, and the model's
// tap view must match the capture.
func TestGSOSelftestKernel(t *testing.T) {
	testenv.NeedKernel(t)
	for _, s := range loadGSOSelftest(t) {
		t.Run(s.name, func(t *testing.T) {
			krep, err := kernel.Run(context.Background(), s.sc, kernel.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range s.sc.CheckExpect(krep) {
				t.Errorf("kernel: %s", m)
			}
			// Without NETIF_F_GSO_UDP_L4 the kernel segments in
			// software before the capture, so the tap already shows
			// what the peer receives.
			if !slices.Contains(krep.Features.Enabled, string(scenario.GSOUDPL4)) {
				checkSelftestFrames(t, s, krep.Frames)
			}
			mrep, note, err := builder.RunAgainst(s.sc, krep, builder.Options{View: report.Tap, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if note != "" {
				t.Log(note)
			}
			for _, d := range compare.Reports(krep, mrep) {
				t.Error(d)
			}
		})
	}
}

// loadGSOSelftestIPv6 loads the IPv6 cases with their goldens: 18 cases
// (the IPv4 half's 17 with the IPv6 constants, and upstream's
// extension-header case) in the IPv4 half's nine variants.
func loadGSOSelftestIPv6(t *testing.T) ([]gsoSelftestScenario, []corpus.Case) {
	t.Helper()
	cases, err := corpus.Load(gsoSelftestDirIPv6)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 18*9 {
		t.Fatalf("%s: %d scenarios, want %d", gsoSelftestDirIPv6, len(cases), 18*9)
	}
	var out []gsoSelftestScenario
	for _, c := range cases {
		tc, err := parseSelftestLine(c.Source)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		tc.v6 = true
		if !c.Scenario.Socket.IPv6() {
			t.Fatalf("%s: not an IPv6 socket", c.Name)
		}
		out = append(out, gsoSelftestScenario{name: c.Name, sc: c.Scenario, tc: tc})
	}
	return out, cases
}

// TestGSOSelftestIPv6Goldens checks, without root, that every IPv6 case
// says what the selftest sends and expects, and that its golden meets the
// selftest's expectations (the send result, and without gso-udp-l4 the
// datagrams the peer gets).
func TestGSOSelftestIPv6Goldens(t *testing.T) {
	scs, cases := loadGSOSelftestIPv6(t)
	for i, s := range scs {
		t.Run(s.name, func(t *testing.T) {
			checkScenarioMatchesCase(t, s)
			g := cases[i].Golden
			for _, m := range s.sc.CheckExpect(g) {
				t.Errorf("golden: %s", m)
			}
			if !slices.Contains(g.Features.Enabled, string(scenario.GSOUDPL4)) {
				checkSelftestFrames(t, s, g.Frames)
			}
		})
	}
}

// TestGSOSelftestModelIPv6 runs every udpgso.c IPv6 case through the
// model in the wire view and checks the selftest's own expectations, as
// TestGSOSelftestModel does for IPv4 (TestModelMatchesGoldenIPv6 holds
// the tap view to the goldens).
func TestGSOSelftestModelIPv6(t *testing.T) {
	scs, _ := loadGSOSelftestIPv6(t)
	for _, s := range scs {
		t.Run(s.name, func(t *testing.T) {
			rep, err := builder.Run(s.sc, builder.Options{View: report.Wire, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range s.sc.CheckExpect(rep) {
				t.Error(m)
			}
			checkSelftestFrames(t, s, rep.Frames)
		})
	}
}

// TestGSOSelftestKernelIPv6 runs every IPv6 case on the live kernel (root
// only): the kernel must meet the selftest's expectations, and the run must
// match its golden (flow labels as patterns: the connected variants' label
// is drawn at connect).
func TestGSOSelftestKernelIPv6(t *testing.T) {
	testenv.NeedKernel(t)
	scs, cases := loadGSOSelftestIPv6(t)
	for i, s := range scs {
		t.Run(s.name, func(t *testing.T) {
			// Each run builds its own namespaces: runs do not interfere.
			t.Parallel()
			krep, err := kernel.Run(context.Background(), s.sc, kernel.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range s.sc.CheckExpect(krep) {
				t.Errorf("kernel: %s", m)
			}
			if !slices.Contains(krep.Features.Enabled, string(scenario.GSOUDPL4)) {
				checkSelftestFrames(t, s, krep.Frames)
			}
			for _, d := range compare.Reports(krep, compare.MarkIPv6Random(cases[i].Golden)) {
				t.Error(d.Labelled("live", "golden"))
			}
		})
	}
}
