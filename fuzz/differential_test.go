package fuzz

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/scenario"
	"golang.org/x/sys/unix"
)

// oobChecker is a stand-in for the kernel: it "disagrees" with the model
// exactly when a send carries MSG_OOB, and counts its runs.
func oobChecker(runs *int) checker {
	return func(_ context.Context, sc *scenario.Scenario) outcome {
		*runs++
		for i, st := range sc.Steps {
			if st.Send != nil && st.Send.Flags&unix.MSG_OOB != 0 {
				return outcome{diffs: []compare.Difference{{Frame: -1, Step: i, Field: "send result", Kernel: "-1 EOPNOTSUPP", Model: "0"}}}
			}
		}
		return outcome{}
	}
}

func TestMinimiseKeepsOnlyTheCause(t *testing.T) {
	sc := &scenario.Scenario{
		Name: "m",
		Link: scenario.Link{MTU: 9000, Features: []scenario.Feature{scenario.HWCsum, scenario.SG}},
		Socket: scenario.Socket{Proto: scenario.UDPLite, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst,
			PMTUDisc: scenario.PMTUDo, Setsockopt: []scenario.Opt{{Name: scenario.OptIPTTL, Int: 9}, {Name: scenario.OptUDPCork, Int: 1}}},
		Steps: []scenario.Step{
			{Send: &scenario.Send{Index: 0, Payload: scenario.Pattern(0, 100), Flags: unix.MSG_MORE}},
			{Setsockopt: []scenario.Opt{{Name: scenario.OptUDPCork, Int: 0}}},
			{Send: &scenario.Send{Index: 1, Payload: scenario.Pattern(1, 3000), Flags: unix.MSG_OOB | unix.MSG_MORE,
				Cmsg: []scenario.Cmsg{{Type: scenario.CmsgIPTTL, Int: 3, Size: 4}}}},
			{Send: &scenario.Send{Index: 2, Payload: scenario.Pattern(2, 10)}},
		},
	}
	runs := 0
	check := oobChecker(&runs)
	o := check(context.Background(), sc)
	m := minimise(context.Background(), check, sc, o, 200)
	want := &scenario.Scenario{
		Name:   "m",
		Link:   scenario.Link{MTU: 1500},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst, PMTUDisc: scenario.PMTUWant},
		Steps:  []scenario.Step{{Send: &scenario.Send{Index: 0, Payload: []byte{}, Flags: unix.MSG_OOB}}},
	}
	if !scenario.Equal(m.sc, want) {
		got, _ := scenario.Marshal(m.sc)
		t.Fatalf("minimised to\n%s", got)
	}
	if m.runs != runs-1 || m.runs > 200 {
		t.Errorf("runs: minimise says %d, checker saw %d (one before minimising)", m.runs, runs)
	}
}

func TestMinimiseRespectsBudget(t *testing.T) {
	sc := Scenario(7, 3)
	sc.Steps = append(sc.Steps, scenario.Step{Send: &scenario.Send{Index: countSends(sc), Payload: []byte{1}, Flags: unix.MSG_OOB}})
	runs := 0
	check := oobChecker(&runs)
	o := check(context.Background(), sc)
	m := minimise(context.Background(), check, sc, o, 5)
	if m.runs != 5 || runs != 6 {
		t.Errorf("budget 5: minimise ran %d, checker saw %d", m.runs, runs)
	}
}

func countSends(sc *scenario.Scenario) int {
	n := 0
	for _, st := range sc.Steps {
		if st.Send != nil {
			n++
		}
	}
	return n
}

func TestSignature(t *testing.T) {
	for _, tc := range []struct{ field, want string }{
		{"payload byte 1473", "payload byte N"},
		{"setup 2", "setup N"},
		{"IPv4 TTL", "IPv4 TTL"},
	} {
		if got := signature(compare.Difference{Field: tc.field}); got != tc.want {
			t.Errorf("signature(%q) = %q, want %q", tc.field, got, tc.want)
		}
	}
}

// TestDifferentialWritesFiles runs the driver with the stand-in checker:
// scenarios with MSG_OOB are mismatches, and their files must parse.
func TestDifferentialWritesFiles(t *testing.T) {
	dir := t.TempDir()
	runs := 0
	var last [3]int
	sum, err := differential(context.Background(), DiffConfig{N: 60, Seed: 1, OutDir: dir, Parallel: 1, Budget: 10,
		Progress: func(d, n, m int) { last = [3]int{d, n, m} }}, oobChecker(&runs))
	if err != nil {
		t.Fatal(err)
	}
	wantMis := 0
	for i := range 60 {
		sc := Scenario(1, i)
		for _, st := range sc.Steps {
			if st.Send != nil && st.Send.Flags&unix.MSG_OOB != 0 {
				wantMis++
				break
			}
		}
	}
	if wantMis == 0 {
		t.Fatal("no scenario of seed 1 among 60 has MSG_OOB; pick another seed")
	}
	if sum.Ran != 60 || sum.Mismatches != wantMis || sum.InfraErrors != 0 {
		t.Errorf("summary %+v, want 60 ran, %d mismatches", sum, wantMis)
	}
	if last != [3]int{60, 60, wantMis} {
		t.Errorf("last progress %v", last)
	}
	if len(sum.Files) != 3*wantMis {
		t.Errorf("%d files for %d mismatches: %v", len(sum.Files), wantMis, sum.Files)
	}
	for _, f := range sum.Files {
		if !strings.HasSuffix(f, ".yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# seed 1, index ") {
			t.Errorf("%s: no header:\n%s", f, b)
		}
		if _, err := scenario.Parse(b, f); err != nil {
			t.Errorf("%s does not parse: %v", filepath.Base(f), err)
		}
	}
}

// TestDifferentialKernel runs the real differential: a handful of
// scenarios by default, UDPBUILD_DIFF_N of them when set (with
// UDPBUILD_DIFF_SEED, UDPBUILD_DIFF_OUT and UDPBUILD_DIFF_PARALLEL).
func TestDifferentialKernel(t *testing.T) {
	testenv.NeedKernel(t)
	if testing.Short() {
		t.Skip("kernel runs are slow")
	}
	n, seed, par := 4, uint64(1), 2
	out := t.TempDir()
	if v := os.Getenv("UDPBUILD_DIFF_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("UDPBUILD_DIFF_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	if v := os.Getenv("UDPBUILD_DIFF_PARALLEL"); v != "" {
		par, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("UDPBUILD_DIFF_OUT"); v != "" {
		out = v
	}
	sum, err := Differential(context.Background(), DiffConfig{N: n, Seed: seed, OutDir: out, Parallel: par,
		Progress: func(d, total, m int) {
			if d%10 == 0 || d == total {
				t.Logf("%d/%d done, %d mismatches", d, total, m)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ran %d, mismatches %d, flaky %d, infrastructure errors %d, model errors %d", sum.Ran, sum.Mismatches, sum.Flaky, sum.InfraErrors, sum.ModelErrors)
	for _, e := range sum.Errors {
		t.Logf("error: %s", e)
	}
	for _, f := range sum.Files {
		t.Logf("wrote %s", f)
	}
	if sum.Ran+sum.InfraErrors+sum.ModelErrors != n {
		t.Errorf("%d scenarios accounted for, want %d", sum.Ran+sum.InfraErrors+sum.ModelErrors, n)
	}
}

// TestKernelCheckerJudgesInetIDByRule: the generator draws inet_id for
// connected sockets, which no real socket can take; the differential
// compares IDs by their rule, so such a scenario runs and agrees, and a
// repeated one too.
func TestKernelCheckerJudgesInetIDByRule(t *testing.T) {
	testenv.NeedKernel(t)
	sc, err := scenario.Parse([]byte("repeat: 3\nsocket: {connect: true, inet_id: 65534}\nsteps:\n  - send: {len: 3000}\n  - send: {len: 10}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	o := kernelChecker(nil)(context.Background(), sc)
	if o.failed() || len(o.diffs) != 0 {
		t.Errorf("infra %v, model %v, differences %v", o.infra, o.model, o.diffs)
	}
}
