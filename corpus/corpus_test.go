package corpus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// dir is the golden corpus, relative to this package.
const dir = "../testdata/kernel"

// dirIPv6 is the golden IPv6 corpus, with a KERNEL file of its own.
const dirIPv6 = "../testdata/kernel-ipv6"

// minCases and minCasesIPv6 are the least number of scenarios each corpus
// may hold.
const (
	minCases     = 70
	minCasesIPv6 = 100
)

// driftParallel is how many kernel runs TestKernelDrift has in flight:
// each builds its own pair of namespaces, so runs do not interfere, and
// most of a run is building them (ip and ethtool).
const driftParallel = 4

func loadCorpus(t *testing.T) []Case {
	t.Helper()
	return loadDir(t, dir)
}

func loadDir(t *testing.T, dir string) []Case {
	t.Helper()
	cases, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestModelMatchesGolden runs the model on every golden scenario, with the
// features the kernel's device actually had, and requires it to agree with
// the kernel field by field (IP IDs by the rules of ip_select_ident_segs,
// IP timestamps excused). No root needed.
func TestModelMatchesGolden(t *testing.T) { modelMatchesGoldens(t, loadCorpus(t)) }

// TestModelMatchesGoldenIPv6 does the same for the IPv6 corpus and the
// IPv6 half of the udpgso.c table: fragment identifications and automatic
// flow labels, which the kernel draws at random, are held to their
// pattern (the same where the kernel's are the same, different where they
// differ), every other field exactly.
func TestModelMatchesGoldenIPv6(t *testing.T) {
	modelMatchesGoldens(t, loadDir(t, dirIPv6))
	modelMatchesGoldens(t, loadDir(t, "../testdata/gso-selftest-ipv6"))
}

// dirRecv is the golden receiving-side corpus (issue 15): scenarios with
// peers and recv steps, with a KERNEL file of its own.
const dirRecv = "../testdata/kernel-recv"

// TestModelMatchesGoldenRecv holds the receive model (package receive,
// wired into builder.Run) to the kernel's receiving side: every recv
// call's result, flags, source, control messages and bytes, the peer's
// set-up, its ICMP frames and both ends' counters.
func TestModelMatchesGoldenRecv(t *testing.T) {
	modelMatchesGoldens(t, loadDir(t, dirRecv))
}

func modelMatchesGoldens(t *testing.T, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			model, note, err := builder.RunAgainst(c.Scenario, c.Golden, builder.Options{View: report.Tap, Seed: 1})
			if err != nil {
				t.Fatalf("%s: model run: %v", c.Scenario.Path, err)
			}
			diffs := compare.Reports(c.Golden, model)
			if len(diffs) == 0 {
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s (%q): the model disagrees with kernel %s in %d places:", c.Scenario.Path, c.Scenario.Name, c.Release, len(diffs))
			for _, d := range diffs {
				b.WriteString("\n\t" + d.String())
			}
			if note != "" {
				b.WriteString("\n\tnote: " + note)
			}
			t.Error(b.String())
		})
	}
}

// TestKernelDrift re-runs every golden scenario on the live kernel and
// requires the same results and frames, modulo the kernel's randomness
// (IP IDs are compared by their rule, timestamps are excused). A failure
// means the running kernel no longer does what the goldens recorded: read
// the drift before regenerating anything (README.md).
func TestKernelDrift(t *testing.T) {
	testenv.NeedKernel(t)
	checkDrift(t, dir)
}

// TestKernelDriftIPv6 does the same for the IPv6 corpus, whose fragment
// identifications and automatic flow labels are compared as patterns
// (compare.MarkIPv6Random).
func TestKernelDriftIPv6(t *testing.T) {
	testenv.NeedKernel(t)
	checkDrift(t, dirIPv6)
}

func checkDrift(t *testing.T, dir string) {
	cases := loadDir(t, dir)
	live := unameRelease()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	type result struct {
		rep *report.Report
		err error
	}
	results := make([]result, len(cases))
	sem := make(chan struct{}, driftParallel)
	var wg sync.WaitGroup
	for i := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep, err := kernel.Run(ctx, cases[i].Scenario, kernel.Options{})
			results[i] = result{rep, err}
		}()
	}
	wg.Wait()

	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatalf("%s: kernel run: %v", c.Scenario.Path, r.err)
			}
			diffs := compare.Reports(r.rep, withIDRules(c))
			if len(diffs) == 0 {
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s (%q): the live kernel %s drifted from the golden in %d places:", c.Scenario.Path, c.Scenario.Name, r.rep.Kernel, len(diffs))
			if r.rep.Kernel != c.Release || live != c.Release {
				fmt.Fprintf(&b, "\n\tthe goldens were captured on kernel %s (%s/KERNEL), this is %s: the kernel changed, so the drift may be real", c.Release, dir, r.rep.Kernel)
			}
			for _, d := range diffs {
				b.WriteString("\n\t" + d.Labelled("live", "golden"))
			}
			t.Error(b.String())
		})
	}
}

func unameRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// withIDRules returns a copy of the golden whose frames say which rule of
// ip_select_ident_segs chose their IP ID, so that compare.Reports compares
// a live run's IDs with the golden's by rule rather than by value. The
// labels come from the golden itself and the kernel's rule, not from the
// model: a model bug must not show up as kernel drift.
//   - a connected socket (inet_daddr set) takes IDs from its inet_id,
//     whatever DF says;
//   - otherwise DF without ignore_df (pmtudisc do, probe, interface) gives
//     ID 0, and GSO segments count up from it: nothing random, so those
//     IDs must match exactly;
//   - otherwise the per-destination ip_idents counter.
//
// IPv6 frames get compare.MarkIPv6Random's marks: their fragment
// identifications and flow labels are compared as patterns.
func withIDRules(c Case) *report.Report {
	g := compare.MarkIPv6Random(c.Golden)
	modes := pmtuByStep(c)
	for i := range g.Frames {
		f := &g.Frames[i]
		if len(f.Data) < header.EthernetLen+header.IPv4MinLen || f.Data[header.EthernetLen]>>4 != 4 {
			continue
		}
		ip := header.IPv4(f.Data[header.EthernetLen:])
		mode := c.Scenario.Socket.PMTUDisc
		if f.Step >= 0 && f.Step < len(modes) {
			mode = modes[f.Step]
		}
		ignoreDF := mode < scenario.PMTUDo || mode == scenario.PMTUOmit
		switch {
		case f.Dir == report.DirPeer:
			f.IDSource = report.IDIdents // the peer's ICMP socket: no DF, not connected
		case c.Scenario.Socket.Connect:
			f.IDSource = report.IDInetID
		case ip.FragWord()&header.IPv4DF != 0 && !ignoreDF && ip.ID() == 0:
			f.IDSource = report.IDZero
		case ip.FragWord()&header.IPv4DF != 0 && !ignoreDF:
			f.IDSource = "" // a GSO segment counting from 0: exact
		default:
			f.IDSource = report.IDIdents
		}
	}
	return g
}

// pmtuByStep returns the IP_MTU_DISCOVER mode in force during each step.
// On an IPv6 socket socket.pmtudisc is IPV6_MTU_DISCOVER; the IPv4 mode of
// its v4-mapped sends starts at the default, want.
func pmtuByStep(c Case) []scenario.PMTUDisc {
	mode := c.Scenario.Socket.PMTUDisc
	if c.Scenario.Socket.IPv6() {
		mode = scenario.PMTUWant
	}
	for i, o := range c.Scenario.Socket.Setsockopt {
		if o.Name == scenario.OptIPMTUDiscover && i < len(c.Golden.Setup) && c.Golden.Setup[i].OK() {
			mode = scenario.PMTUDisc(o.Int)
		}
	}
	out := make([]scenario.PMTUDisc, len(c.Scenario.Steps))
	for i, st := range c.Scenario.Steps {
		if i < len(c.Golden.Steps) && c.Golden.Steps[i].OK() {
			for _, o := range st.Setsockopt {
				if o.Name == scenario.OptIPMTUDiscover {
					mode = scenario.PMTUDisc(o.Int)
				}
			}
		}
		out[i] = mode
	}
	return out
}

// TestWithIDRules pins the labelling the drift test relies on.
func TestWithIDRules(t *testing.T) {
	frame := func(step int, df bool, id uint16) report.Frame {
		b := make([]byte, header.EthernetLen+header.IPv4MinLen)
		var frag uint16
		if df {
			frag = header.IPv4DF
		}
		header.IPv4(b[header.EthernetLen:]).Init(20, 0, 20, id, frag, 64, 17, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
		return report.Frame{Step: step, Data: b}
	}
	sc := &scenario.Scenario{
		Socket: scenario.Socket{PMTUDisc: scenario.PMTUWant},
		Steps: []scenario.Step{
			{Send: &scenario.Send{}},
			{Setsockopt: []scenario.Opt{{Name: scenario.OptIPMTUDiscover, Int: int(scenario.PMTUDo)}}},
			{Send: &scenario.Send{}},
			{Setsockopt: []scenario.Opt{{Name: scenario.OptIPMTUDiscover, Int: int(scenario.PMTUOmit)}}},
			{Send: &scenario.Send{}},
		},
	}
	ok := report.Step{}
	golden := &report.Report{
		Steps:  []report.Step{ok, ok, ok, ok, ok},
		Frames: []report.Frame{frame(0, true, 4711), frame(0, false, 4712), frame(2, true, 0), frame(2, true, 1), frame(4, true, 999)},
	}
	got := withIDRules(Case{Scenario: sc, Golden: golden})
	want := []report.IDSource{report.IDIdents, report.IDIdents, report.IDZero, "", report.IDIdents}
	for i, f := range got.Frames {
		if f.IDSource != want[i] {
			t.Errorf("unconnected frame %d: IDSource %q, want %q", i, f.IDSource, want[i])
		}
	}
	if golden.Frames[0].IDSource != "" {
		t.Error("withIDRules changed the golden it was given")
	}
	sc.Socket.Connect = true
	for i, f := range withIDRules(Case{Scenario: sc, Golden: golden}).Frames {
		if f.IDSource != report.IDInetID {
			t.Errorf("connected frame %d: IDSource %q, want inet_id", i, f.IDSource)
		}
	}
}

// TestCorpusFiles checks the corpus's own conventions: enough scenarios,
// each with a name and a "# tests:" line, an expect on every send, and
// goldens that satisfy those expects.
func TestCorpusFiles(t *testing.T) {
	checkCorpusFiles(t, dir, minCases)
}

// TestCorpusFilesIPv6 checks the same of the IPv6 corpus, and that every
// scenario in it uses IPv6 (an IPv6 socket, dst or to): an IPv4-only one
// belongs in testdata/kernel, whose link has no IPv6.
func TestCorpusFilesIPv6(t *testing.T) {
	for _, c := range checkCorpusFiles(t, dirIPv6, minCasesIPv6) {
		if !usesIPv6(c.Scenario) {
			t.Errorf("%s: uses no IPv6 address: it belongs in %s", c.Name, dir)
		}
	}
	v4, err := ReadRelease(dir)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := ReadRelease(dirIPv6)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("IPv4 goldens from kernel %s, IPv6 goldens from kernel %s", v4, v6)
}

// usesIPv6 reports whether sc has an IPv6 socket, dst or msg_name.
func usesIPv6(sc *scenario.Scenario) bool {
	if sc.Socket.IPv6() || sc.Socket.Dst.Addr().Is6() {
		return true
	}
	for _, st := range sc.Steps {
		if st.Send != nil && st.Send.To.Addr().Is6() {
			return true
		}
	}
	return false
}

func checkCorpusFiles(t *testing.T, dir string, minCases int) []Case {
	t.Helper()
	cases := loadDir(t, dir)
	if len(cases) < minCases {
		t.Errorf("%s holds %d scenarios; at least %d are required", dir, len(cases), minCases)
	}
	testsLine := regexp.MustCompile(`(?m)^# tests: \S`)
	for _, c := range cases {
		if c.Scenario.Name == "" {
			t.Errorf("%s: no name:", c.Name)
		}
		if !testsLine.Match(c.Source) {
			t.Errorf("%s: no \"# tests: ...\" comment line saying what it tests", c.Name)
		}
		for i, st := range c.Scenario.Steps {
			if st.Send != nil && st.Send.Expect == nil {
				t.Errorf("%s: step %d (line %d): send without expect", c.Name, i, st.Line)
			}
		}
		for _, bad := range c.Scenario.CheckExpect(c.Golden) {
			t.Errorf("%s: the golden breaks the scenario's expect: %s", c.Name, bad)
		}
	}
	rel, err := ReadRelease(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("the corpus needs its README.md: %v", err)
	}
	t.Logf("%s: %d scenarios captured on kernel %s", dir, len(cases), rel)
	return cases
}

// Coverage items that are not a plain option, flag or value.
const (
	covConnected     = "socket: connected"
	covUnconnected   = "socket: unconnected"
	covMsgName       = "send: msg_name (to:)"
	covDstNone       = "socket: dst: none"
	covHexPayload    = `payload: "hex:..."`
	covFilePayload   = `payload: "@file"`
	covTTLMinus1     = "setsockopt IP_TTL -1"
	covCscov0        = "setsockopt UDPLITE_SEND_CSCOV 0"
	covCscovClamp    = "setsockopt UDPLITE_SEND_CSCOV 1..7 (clamped to 8)"
	covStepPMTU      = "step setsockopt IP_MTU_DISCOVER"
	covTOSInt        = "cmsg IP_TOS int"
	covTOSU8         = "cmsg IP_TOS [v, u8]"
	covOptInvalidSo  = "IP options invalid: setsockopt EINVAL"
	covOptInvalidMsg = "IP options invalid: cmsg EINVAL"
	covMax65507      = "65507 bytes fit (no options)"
	covMax65508      = "65508 bytes: EMSGSIZE (no options)"
	covMaxOptsOK     = "with IP options: 0xFFFF-28-optlen fits"
	covMaxOptsOver   = "with IP options: one byte more is EMSGSIZE"
	covMaxDoOK       = "pmtudisc do: MTU-28-optlen fits"
	covMaxDoOver     = "pmtudisc do: one byte more is EMSGSIZE"
	covGSO128        = "GSO: 128 segments"
	covGSO129        = "GSO: 129 segments EINVAL"
	covGSOMTU        = "GSO: gso_size + headers > MTU EMSGSIZE"
	covGSONoCheck    = "GSO with SO_NO_CHECK: EINVAL"
	covGSOLite       = "GSO on UDP-Lite: EIO"
	covMoreSeq       = "cork: MSG_MORE appends then a final send"
	covFraggap       = "cork: fraggap (first append fits the MTU, passes maxfraglen, then another append)"
	covCorkFlush     = "cork: flushed by EMSGSIZE"
	covUncork        = "cork: setsockopt UDP_CORK 0 pushes the pending datagram"
	covProbeCorked   = "cork: MSG_PROBE while corked"
	covTOSTTLCorked  = "cork: TOS/TTL changed between appends"
	covEDESTADDRREQ  = "error: EDESTADDRREQ (no destination)"
	covPort0         = "error: EINVAL for port 0"
	covLenOver       = "error: EMSGSIZE for len > 65535"
	covOOB           = "error: EOPNOTSUPP for MSG_OOB"
)

// requiredCoverage lists everything the corpus must exercise.
func requiredCoverage() []string {
	req := []string{
		covConnected, covUnconnected, covMsgName, covDstNone, covHexPayload, covFilePayload,
		covTTLMinus1, covCscov0, covCscovClamp, covStepPMTU, covTOSInt, covTOSU8,
		covOptInvalidSo, covOptInvalidMsg,
		covMax65507, covMax65508, covMaxOptsOK, covMaxOptsOver, covMaxDoOK, covMaxDoOver,
		covGSO128, covGSO129, covGSOMTU, covGSONoCheck, covGSOLite,
		covMoreSeq, covFraggap, covCorkFlush, covUncork, covProbeCorked, covTOSTTLCorked,
		covEDESTADDRREQ, covPort0, covLenOver, covOOB,
	}
	for _, o := range []scenario.OptName{scenario.OptUDPCork, scenario.OptIPTOS, scenario.OptIPTTL, scenario.OptIPOptions, scenario.OptSONoCheck, scenario.OptUDPSegment, scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov} {
		req = append(req, "setsockopt "+string(o))
	}
	for _, c := range []scenario.CmsgType{scenario.CmsgUDPSegment, scenario.CmsgIPTTL, scenario.CmsgIPTOS, scenario.CmsgIPOptions} {
		req = append(req, "cmsg "+string(c))
	}
	for _, f := range []string{"MSG_MORE", "MSG_PROBE", "MSG_OOB", "MSG_CONFIRM", "MSG_DONTWAIT", "MSG_DONTROUTE"} {
		req = append(req, "flag "+f)
	}
	for m := scenario.PMTUDont; m <= scenario.PMTUOmit; m++ {
		req = append(req, "pmtudisc "+m.String())
	}
	req = append(req, "proto udp", "proto udplite")
	for set := 0; set < 1<<len(scenario.AllFeatures); set++ {
		var fs []scenario.Feature
		for i, f := range scenario.AllFeatures {
			if set&(1<<i) != 0 {
				fs = append(fs, f)
			}
		}
		req = append(req, featureKey(fs))
	}
	for _, mtu := range []int{68, 576, 1280, 1500, 4000, 9000, 65535} {
		req = append(req, fmt.Sprintf("mtu %d", mtu))
	}
	for _, o := range []string{"RR", "TS flag 0", "TS flag 1", "TS flag 3", "LSRR", "SSRR", "NOOP", "END"} {
		req = append(req, "IP option "+o)
	}
	return req
}

// featureKey names a set of requested NIC features in the spec's order.
func featureKey(fs []scenario.Feature) string {
	var names []string
	for _, f := range scenario.AllFeatures {
		if slices.Contains(fs, f) {
			names = append(names, string(f))
		}
	}
	return "features [" + strings.Join(names, " ") + "]"
}

// TestCorpusCoversSpec walks every scenario with its golden results and
// requires each option, control message, flag, pmtudisc mode, feature
// subset, MTU, IP option and boundary of the spec to be exercised, so
// that the corpus cannot shrink without someone noticing.
func TestCorpusCoversSpec(t *testing.T) {
	got := map[string][]string{}
	for _, c := range loadCorpus(t) {
		for _, k := range coverage(c) {
			if !slices.Contains(got[k], c.Name) {
				got[k] = append(got[k], c.Name)
			}
		}
	}
	for _, k := range requiredCoverage() {
		if len(got[k]) == 0 {
			t.Errorf("no scenario covers %s", k)
			continue
		}
		t.Logf("%-58s %3d scenarios, e.g. %s", k, len(got[k]), got[k][0])
	}
}

// TestCoverageWalker checks the walker on hand-made cases, so that the
// coverage test can fail.
func TestCoverageWalker(t *testing.T) {
	send := func(n, flags int, cm ...scenario.Cmsg) scenario.Step {
		return scenario.Step{Send: &scenario.Send{Payload: make([]byte, n), Flags: flags, Cmsg: cm}}
	}
	ok := func(n int) report.Step { return report.Step{Op: "send", Ret: n} }
	fail := func(e errno.Errno) report.Step { return report.Step{Op: "send", Err: e} }
	opts4 := []byte{1, 1, 1, 0}
	cases := []struct {
		name  string
		sc    scenario.Scenario
		steps []report.Step
		setup []report.Step
		want  []string
		not   []string
	}{{
		name: "fraggap with 4 bytes of options",
		sc: scenario.Scenario{Link: scenario.Link{MTU: 1500}, Socket: scenario.Socket{Setsockopt: []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: opts4}}},
			Steps: []scenario.Step{send(1466, unix.MSG_MORE), send(100, 0)}},
		setup: []report.Step{{Op: "setsockopt"}},
		steps: []report.Step{ok(1466), ok(100)},
		want:  []string{covFraggap, "IP option NOOP", "IP option END", "mtu 1500", "setsockopt IP_OPTIONS"},
		not:   []string{covMoreSeq},
	}, {
		name: "no fraggap without options at MTU 1500",
		sc: scenario.Scenario{Link: scenario.Link{MTU: 1500},
			Steps: []scenario.Step{send(1466, unix.MSG_MORE), send(100, 0)}},
		steps: []report.Step{ok(1466), ok(100)},
		not:   []string{covFraggap, "IP option NOOP"},
	}, {
		name: "flush by EMSGSIZE and 65508",
		sc: scenario.Scenario{Link: scenario.Link{MTU: 1500},
			Steps: []scenario.Step{send(60000, unix.MSG_MORE), send(6000, unix.MSG_MORE), send(65508, 0)}},
		steps: []report.Step{ok(60000), fail(errno.EMSGSIZE), fail(errno.EMSGSIZE)},
		want:  []string{covCorkFlush, covMax65508},
		not:   []string{covMax65507},
	}, {
		name: "GSO 129 and size over MTU",
		sc: scenario.Scenario{Link: scenario.Link{MTU: 1500},
			Steps: []scenario.Step{
				send(1290, 0, scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: 10, Size: 2}),
				send(3000, 0, scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: 1473, Size: 2}),
			}},
		steps: []report.Step{fail(errno.EINVAL), fail(errno.EMSGSIZE)},
		want:  []string{covGSO129, covGSOMTU, "cmsg UDP_SEGMENT"},
		not:   []string{covGSO128},
	}}
	for _, tc := range cases {
		c := Case{Name: tc.name, Scenario: &tc.sc, Golden: &report.Report{Steps: tc.steps, Setup: tc.setup}}
		got := coverage(c)
		for _, k := range tc.want {
			if !slices.Contains(got, k) {
				t.Errorf("%s: %q not found in %q", tc.name, k, got)
			}
		}
		for _, k := range tc.not {
			if slices.Contains(got, k) {
				t.Errorf("%s: %q found, but the case does not exercise it", tc.name, k)
			}
		}
	}
}

var (
	hexPayload  = regexp.MustCompile(`payload:\s*"?hex:`)
	filePayload = regexp.MustCompile(`payload:\s*"?@`)
)

// sockState is what the coverage walker tracks of the socket between
// steps: enough of udp_sendmsg's state to tell a boundary or a cork case
// from an ordinary send.
type sockState struct {
	mode    scenario.PMTUDisc
	optLen  int // the socket's IP options, padded to 4 as ip_options_get does
	gso     int
	noCheck bool
	cork    bool // UDP_CORK
	pending bool
	more    int  // MSG_MORE appends to the pending datagram
	gapOpen bool // the first append passed maxfraglen
}

// coverage lists what one case exercises, judged by the golden's results.
func coverage(c Case) []string {
	sc, g := c.Scenario, c.Golden
	var out []string
	add := func(k ...string) { out = append(out, k...) }
	if sc.Socket.Connect {
		add(covConnected)
	} else {
		add(covUnconnected)
	}
	if !sc.Socket.Dst.IsValid() {
		add(covDstNone)
	}
	if hexPayload.Match(c.Source) {
		add(covHexPayload)
	}
	if filePayload.Match(c.Source) {
		add(covFilePayload)
	}
	add("proto "+string(sc.Socket.Proto), fmt.Sprintf("mtu %d", sc.Link.MTU), featureKey(sc.Link.Features), "pmtudisc "+sc.Socket.PMTUDisc.String())

	s := &sockState{mode: sc.Socket.PMTUDisc}
	for i, o := range sc.Socket.Setsockopt {
		okResult := i < len(g.Setup) && g.Setup[i].OK()
		add(s.setsockopt(o, okResult)...)
	}
	for i, st := range sc.Steps {
		if i >= len(g.Steps) {
			break
		}
		res := g.Steps[i]
		if st.Send == nil {
			wasPending := s.pending
			for _, o := range st.Setsockopt {
				add(s.setsockopt(o, res.OK())...)
				if o.Name == scenario.OptIPMTUDiscover && res.OK() {
					add(covStepPMTU)
				}
				if wasPending && res.OK() && (o.Name == scenario.OptIPTOS || o.Name == scenario.OptIPTTL) {
					add(covTOSTTLCorked)
				}
			}
			if wasPending && !s.cork && emitted(g, i) {
				add(covUncork)
				s.endCork()
			}
			continue
		}
		add(s.send(sc, st.Send, res, emitted(g, i))...)
	}
	return out
}

// emitted reports whether step i emitted any frame.
func emitted(g *report.Report, i int) bool {
	return slices.ContainsFunc(g.Frames, func(f report.Frame) bool { return f.Step == i })
}

func (s *sockState) endCork() { s.pending, s.more, s.gapOpen = false, 0, false }

func (s *sockState) setsockopt(o scenario.Opt, ok bool) []string {
	keys := []string{"setsockopt " + string(o.Name)}
	if o.Name == scenario.OptIPOptions {
		if !ok {
			return append(keys, covOptInvalidSo)
		}
		keys = append(keys, ipOptionKeys(o.Bytes)...)
	}
	if !ok {
		return keys
	}
	switch o.Name {
	case scenario.OptIPTTL:
		if o.Int == -1 {
			keys = append(keys, covTTLMinus1)
		}
	case scenario.OptUDPLiteSendCov:
		if o.Int == 0 {
			keys = append(keys, covCscov0)
		} else if o.Int < 8 {
			keys = append(keys, covCscovClamp)
		}
	case scenario.OptIPMTUDiscover:
		s.mode = scenario.PMTUDisc(o.Int)
		keys = append(keys, "pmtudisc "+s.mode.String())
	case scenario.OptIPOptions:
		s.optLen = (len(o.Bytes) + 3) &^ 3
	case scenario.OptUDPSegment:
		s.gso = o.Int
	case scenario.OptSONoCheck:
		s.noCheck = o.Int != 0
	case scenario.OptUDPCork:
		s.cork = o.Int != 0
	}
	return keys
}

func (s *sockState) send(sc *scenario.Scenario, snd *scenario.Send, res report.Step, frames bool) []string {
	var keys []string
	add := func(k ...string) { keys = append(keys, k...) }
	n := len(snd.Payload)
	for _, f := range scenario.FlagNames(snd.Flags) {
		add("flag " + f)
	}
	if snd.To.IsValid() {
		add(covMsgName)
	}
	gso, optLen := s.gso, s.optLen
	badOpts := false
	for _, cm := range snd.Cmsg {
		add("cmsg " + string(cm.Type))
		switch cm.Type {
		case scenario.CmsgUDPSegment:
			gso = cm.Int
		case scenario.CmsgIPTOS:
			if cm.Size == 1 {
				add(covTOSU8)
			} else {
				add(covTOSInt)
			}
		case scenario.CmsgIPOptions:
			optLen = (len(cm.Bytes) + 3) &^ 3
			if res.Err == errno.EINVAL {
				badOpts = true
			} else {
				add(ipOptionKeys(cm.Bytes)...)
			}
		}
	}
	if badOpts {
		add(covOptInvalidMsg)
	}
	// A pending datagram keeps the options, size and destination of its
	// first append: udp_sendmsg goes straight to ip_append_data.
	if s.pending {
		gso, optLen = 0, s.optLen
	}
	probe := snd.Flags&scenario.MsgProbe != 0
	corkreq := s.cork || snd.Flags&unix.MSG_MORE != 0
	maxLen := 0xFFFF - header.IPv4MinLen - optLen - header.UDPLen
	mtuLen := sc.Link.MTU - header.IPv4MinLen - optLen - header.UDPLen
	plain := !s.pending && gso == 0 && !probe

	switch res.Err {
	case 0:
		if plain && !corkreq && n == maxLen {
			if optLen == 0 {
				add(covMax65507)
			} else {
				add(covMaxOptsOK)
			}
		}
		if plain && !corkreq && s.mode == scenario.PMTUDo && n == mtuLen {
			add(covMaxDoOK)
		}
		if gso > 0 && n > gso && (n+gso-1)/gso == 128 {
			add(covGSO128)
		}
	case errno.EMSGSIZE:
		switch {
		case n > 0xFFFF:
			add(covLenOver)
		case s.pending:
			add(covCorkFlush)
		case plain && n == maxLen+1 && optLen == 0:
			add(covMax65508)
		case plain && n == maxLen+1:
			add(covMaxOptsOver)
		case plain && s.mode == scenario.PMTUDo && n == mtuLen+1:
			add(covMaxDoOver)
		case gso > 0 && gso+header.IPv4MinLen+optLen+header.UDPLen > sc.Link.MTU:
			add(covGSOMTU)
		}
	case errno.EINVAL:
		switch {
		case snd.To.IsValid() && snd.To.Port() == 0:
			add(covPort0)
		case gso > 0 && s.noCheck && sc.Socket.Proto == scenario.UDP:
			add(covGSONoCheck)
		case gso > 0 && n > gso && (n+gso-1)/gso == 129:
			add(covGSO129)
		}
	case errno.EIO:
		if gso > 0 && sc.Socket.Proto == scenario.UDPLite {
			add(covGSOLite)
		}
	case errno.EDESTADDRREQ:
		add(covEDESTADDRREQ)
	case errno.EOPNOTSUPP:
		if snd.Flags&unix.MSG_OOB != 0 {
			add(covOOB)
		}
	}

	// Track the cork the way udp_sendmsg does.
	if probe && (s.pending || s.cork) {
		add(covProbeCorked)
	}
	if s.pending && res.OK() && !probe {
		for _, cm := range snd.Cmsg {
			if cm.Type == scenario.CmsgIPTTL || cm.Type == scenario.CmsgIPTOS {
				add(covTOSTTLCorked)
			}
		}
	}
	switch {
	case !res.OK():
		// An error from ip_append_data flushes the pending frames; the
		// early checks (length, MSG_OOB) leave them alone.
		if n <= 0xFFFF && snd.Flags&unix.MSG_OOB == 0 {
			s.endCork()
		}
	case probe:
		if s.pending && !corkreq {
			s.endCork()
		}
	case corkreq:
		if !s.pending && gso == 0 {
			// The first append of a corked datagram: does it fit the
			// MTU yet pass maxfraglen (ip_append_data's fraggap)?
			fh := header.IPv4MinLen + optLen
			total := fh + header.UDPLen + n
			maxfrag := ((sc.Link.MTU - fh) &^ 7) + fh
			s.gapOpen = total <= sc.Link.MTU && total > maxfrag
		} else if s.gapOpen {
			add(covFraggap)
			s.gapOpen = false
		}
		s.pending = true
		if snd.Flags&unix.MSG_MORE != 0 {
			s.more++
		}
	default:
		if s.pending {
			if s.gapOpen {
				add(covFraggap)
			}
			if s.more >= 2 && frames {
				add(covMoreSeq)
			}
		}
		s.endCork()
	}
	return keys
}

// ipOptionKeys names the IP options in b (as given to setsockopt or
// IP_RETOPTS). It stops at the first malformed option.
func ipOptionKeys(b []byte) []string {
	var keys []string
	for i := 0; i < len(b); {
		switch b[i] {
		case 0:
			return append(keys, "IP option END")
		case 1:
			keys = append(keys, "IP option NOOP")
			i++
			continue
		}
		if i+1 >= len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return keys
		}
		switch b[i] {
		case 7:
			keys = append(keys, "IP option RR")
		case 0x44:
			if b[i+1] >= 4 {
				keys = append(keys, fmt.Sprintf("IP option TS flag %d", b[i+3]&0x0f))
			}
		case 0x83:
			keys = append(keys, "IP option LSRR")
		case 0x89:
			keys = append(keys, "IP option SSRR")
		}
		i += int(b[i+1])
	}
	return keys
}

// minCasesRecv is the least number of scenarios the receiving-side corpus
// may hold.
const minCasesRecv = 80

// TestCorpusFilesRecv checks the receiving-side corpus's conventions (an
// expect on every send and recv), and that every scenario exercises the
// receiving side: a peer key, a recv step or a socket.type / family.
func TestCorpusFilesRecv(t *testing.T) {
	for _, c := range checkCorpusFiles(t, dirRecv, minCasesRecv) {
		recv := c.Scenario.Peer != nil || c.Scenario.Socket.Type != 0 || c.Scenario.Socket.Family != nil
		for i, st := range c.Scenario.Steps {
			if st.Recv != nil {
				recv = true
				if st.Recv.Expect == nil {
					t.Errorf("%s: step %d (line %d): recv without expect", c.Name, i, st.Line)
				}
			}
		}
		if !recv {
			t.Errorf("%s: has no peer, recv step or socket.type: it belongs in %s", c.Name, dir)
		}
	}
}

// TestKernelDriftRecv re-runs the receiving-side corpus on the live
// kernel: recv results, peer set-up, counters and the peer's ICMP errors
// as well as the sender's frames.
func TestKernelDriftRecv(t *testing.T) {
	testenv.NeedKernel(t)
	checkDrift(t, dirRecv)
}
