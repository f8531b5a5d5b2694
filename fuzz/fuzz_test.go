package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// FuzzScenario turns fuzzer bytes into a scenario (FromBytes) and checks
// the model's invariants on it (modelProblems), and that the scenario
// survives Marshal and Parse.
func FuzzScenario(f *testing.F) {
	f.Add([]byte{})
	var c modelChecker // one per fuzz process, whose inputs run one at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := FromBytes(data)
		if probs := c.problems(sc); len(probs) > 0 {
			b, err := scenario.Marshal(sc)
			t.Fatalf("%s\nscenario (%v):\n%s", strings.Join(probs, "\n"), err, b)
		}
	})
}

// FuzzScenarioIPv6 is FuzzScenario over the generator's IPv6 and mixed
// draws (FromBytesWith, FamilyMixed): a target of its own, so that
// FuzzScenario's corpus keeps meaning what it meant.
func FuzzScenarioIPv6(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 99})
	var c modelChecker
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := FromBytesWith(data, GenConfig{Family: FamilyMixed})
		if probs := c.problems(sc); len(probs) > 0 {
			b, err := scenario.Marshal(sc)
			t.Fatalf("%s\nscenario (%v):\n%s", strings.Join(probs, "\n"), err, b)
		}
	})
}

// FuzzScenarioYAML checks that every scenario the structure-aware
// generator can build survives the YAML round trip (Marshal, then the
// strict loader) unchanged. It is kept apart from FuzzScenario because the
// YAML parser costs more than the model.
func FuzzScenarioYAML(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := FromBytes(data)
		b, err := scenario.Marshal(sc)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := scenario.Parse(b, "")
		if err != nil || !scenario.Equal(sc, back) {
			t.Fatalf("round trip failed (%v):\n%s", err, b)
		}
	})
}

// FuzzLoad feeds arbitrary bytes to the scenario loader: it must answer
// with a scenario or an *scenario.Error, never panic, and a scenario it
// accepts must marshal and load back to itself.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("steps:\n  - send: {len: 10, flags: [MSG_MORE]}\n"))
	f.Add([]byte("link: {mtu: 1500, features: [sg]}\nsocket: {setsockopt: [{IP_OPTIONS: \"0701\"}]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("socket: {src: \"[::]:40000\", dst: \"[::ffff:10.0.0.2]:9000\", flowinfo: 0x12345, setsockopt: [{IPV6_HOPOPTS: \"0000010400000000\"}]}\nsteps:\n  - send: {len: 3000, flowinfo: 7, to: \"[fd00::2]:9000\", cmsg: [{IPV6_PKTINFO: \"fd00::1\"}, {IPV6_TCLASS: -1}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := scenario.Parse(data, "")
		if err != nil {
			var se *scenario.Error
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		b, err := scenario.Marshal(sc)
		if err != nil {
			return // e.g. a payload too large to inline; not a loader fault
		}
		back, err := scenario.Parse(b, "")
		if err != nil || !scenario.Equal(sc, back) {
			t.Fatalf("accepted scenario does not round-trip (%v):\n%s", err, b)
		}
	})
}

// BenchmarkFuzzScenario measures FuzzScenario's body on generated inputs.
func BenchmarkFuzzScenario(b *testing.B) {
	inputs := make([][]byte, 64)
	for i := range inputs {
		inputs[i] = generateBytes(rand.New(rand.NewPCG(8, uint64(i))))
	}
	var c modelChecker // as FuzzScenario keeps one
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc := FromBytes(inputs[i%len(inputs)])
		if probs := c.problems(sc); len(probs) > 0 {
			b.Fatal(probs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "execs/s")
}

// TestModelInvariantsOnGenerated checks the invariants on seeded draws, so
// that a plain `go test` covers what the fuzzer explores.
func TestModelInvariantsOnGenerated(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range uint64(n) {
		sc := Generate(rand.New(rand.NewPCG(9, i)), GenConfig{})
		if probs := modelProblems(sc); len(probs) > 0 {
			t.Errorf("draw %d:\n%s\n%s", i, strings.Join(probs, "\n"), marshal(t, sc))
		}
	}
}

// TestModelInvariantsOnGeneratedIPv6 is TestModelInvariantsOnGenerated
// over IPv6 and mixed draws.
func TestModelInvariantsOnGeneratedIPv6(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for _, fam := range []Family{FamilyIPv6, FamilyMixed} {
		for i := range uint64(n) {
			sc := Generate(rand.New(rand.NewPCG(19, i)), GenConfig{Family: fam})
			if probs := modelProblems(sc); len(probs) > 0 {
				t.Errorf("%v draw %d:\n%s\n%s", fam, i, strings.Join(probs, "\n"), marshal(t, sc))
			}
		}
	}
}

func send(k int, n int, flags int, cm ...scenario.Cmsg) scenario.Step {
	return scenario.Step{Send: &scenario.Send{Index: k, Payload: scenario.Pattern(k, n), Flags: flags, Cmsg: cm}}
}

func opt(name scenario.OptName, v int) scenario.Step {
	return scenario.Step{Setsockopt: []scenario.Opt{{Name: name, Int: v}}}
}

func baseScenario(steps ...scenario.Step) *scenario.Scenario {
	return &scenario.Scenario{
		Name:   "t",
		Link:   scenario.Link{MTU: 1500, Features: []scenario.Feature{scenario.HWCsum, scenario.SG}},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst, PMTUDisc: scenario.PMTUWant},
		Steps:  steps,
	}
}

func ok(n int) report.Step { return report.Step{Op: "send", Ret: n} }

func TestExpectedDatagrams(t *testing.T) {
	seg := scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: 100, Size: 2}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	p := scenario.Pattern
	for _, tc := range []struct {
		name    string
		steps   []scenario.Step
		results []report.Step
		want    []wantDatagram
		horizon int
	}{{
		name:    "MSG_MORE concatenates until a send without it",
		steps:   []scenario.Step{send(0, 10, unix.MSG_MORE, seg), send(1, 20, unix.MSG_MORE), send(2, 5, 0), send(3, 7, 0)},
		results: []report.Step{ok(10), ok(20), ok(5), ok(7)},
		want:    []wantDatagram{{step: 2, payload: cat(p(0, 10), p(1, 20), p(2, 5)), gso: 100}, {step: 3, payload: p(3, 7)}},
		horizon: 4,
	}, {
		name:    "UDP_CORK 0 pushes, optionally",
		steps:   []scenario.Step{opt(scenario.OptUDPCork, 1), send(0, 10, 0), send(1, 3, 0), opt(scenario.OptUDPCork, 0)},
		results: []report.Step{{Op: "setsockopt"}, ok(10), ok(3), {Op: "setsockopt"}},
		want:    []wantDatagram{{step: 3, payload: cat(p(0, 10), p(1, 3)), optional: true}},
		horizon: 4,
	}, {
		name:  "a failure in the append flushes the corked datagram; EMSGSIZE for > 0xFFFF does not",
		steps: []scenario.Step{send(0, 10, unix.MSG_MORE), send(1, 0x10000, 0), send(2, 60000, unix.MSG_MORE), send(3, 4, 0)},
		results: []report.Step{ok(10), {Op: "send", Err: errno.EMSGSIZE}, {Op: "send", Err: errno.EMSGSIZE},
			ok(4)},
		want:    []wantDatagram{{step: 3, payload: p(3, 4)}},
		horizon: 4,
	}, {
		name:    "MSG_PROBE appends nothing but pushes",
		steps:   []scenario.Step{send(0, 10, unix.MSG_MORE), send(1, 50, scenario.MsgProbe), send(2, 50, scenario.MsgProbe)},
		results: []report.Step{ok(10), ok(50), ok(50)},
		want:    []wantDatagram{{step: 1, payload: p(0, 10)}},
		horizon: 3,
	}, {
		name:    "a failed setsockopt naming UDP_CORK ends the prediction",
		steps:   []scenario.Step{send(0, 10, 0), {Setsockopt: []scenario.Opt{{Name: scenario.OptIPTTL, Int: 0}, {Name: scenario.OptUDPCork, Int: 1}}}, send(1, 5, 0)},
		results: []report.Step{ok(10), {Op: "setsockopt", Err: errno.EINVAL}, ok(5)},
		want:    []wantDatagram{{step: 0, payload: p(0, 10)}},
		horizon: 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sc := baseScenario(tc.steps...)
			got, horizon := expectedDatagrams(sc, &report.Report{Steps: tc.results})
			if horizon != tc.horizon || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v (horizon %d)\nwant %v (horizon %d)", summarise(got), horizon, summarise(tc.want), tc.horizon)
			}
		})
	}
}

func summarise(ws []wantDatagram) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "{step %d, %d bytes, gso %d, optional %t, %s} ", w.step, len(w.payload), w.gso, w.optional, family(w.v6))
	}
	return b.String()
}

// TestPayloadProblemsSeesTampering: the wire check is not vacuous. A byte
// changed in a fragment, a frame dropped or a segment resized is named.
func TestPayloadProblemsSeesTampering(t *testing.T) {
	seg := scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: 500, Size: 2}
	sc := baseScenario(send(0, 3000, 0), send(1, 1700, 0, seg), send(2, 100, 0))
	rep, err := builder.Run(sc, builder.Options{View: report.Wire, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if probs := payloadProblems(sc, rep); len(probs) != 0 {
		t.Fatalf("untouched run: %v", probs)
	}
	if len(rep.Frames) != 3+4+1 {
		t.Fatalf("%d frames, want 3 fragments, 4 segments, 1 datagram", len(rep.Frames))
	}
	clone := func() *report.Report {
		c := *rep
		c.Frames = nil
		for _, f := range rep.Frames {
			f.Data = bytes.Clone(f.Data)
			c.Frames = append(c.Frames, f)
		}
		return &c
	}
	flip := clone()
	flip.Frames[1].Data[60] ^= 1
	drop := clone()
	drop.Frames = append(drop.Frames[:7:7], drop.Frames[7+1:]...)
	for name, r := range map[string]*report.Report{"flipped byte": flip, "dropped datagram": drop} {
		if probs := payloadProblems(sc, r); len(probs) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
	wd := wantDatagram{payload: make([]byte, 1700), gso: 500}
	for _, tc := range []struct {
		segs []int
		bad  bool
	}{{[]int{500, 500, 500, 200}, false}, {[]int{500, 400, 600, 200}, true}, {nil, true}, {[]int{500, 500, 500, 500}, true}} {
		if got := segmentProblems(0, gotDatagram{segments: tc.segs}, wd); (len(got) > 0) != tc.bad {
			t.Errorf("segments %v: problems %v, want bad=%t", tc.segs, got, tc.bad)
		}
	}
}

// TestCheckerKeepsWhatRunCollects: modelChecker's streamed copies of a run
// (frames, steps, sent payloads) are what builder.Run collects, and its
// reused buffers carry nothing from one input to the next: a checker that
// has seen other inputs, and the wire check on reused buffers, answer as
// fresh ones do, here and on tampered frames.
func TestCheckerKeepsWhatRunCollects(t *testing.T) {
	var c modelChecker
	var j joiner
	for i := range uint64(60) {
		sc := Generate(rand.New(rand.NewPCG(12, i)), GenConfig{})
		if probs := c.problems(sc); len(probs) > 0 {
			t.Fatalf("draw %d: %v", i, probs)
		}
		for k, v := range []report.View{report.Tap, report.Wire} {
			rec := builder.Recorder{KeepSent: true}
			want, err := builder.Run(sc, builder.Options{View: v, Seed: 1, Frames: &rec})
			if err != nil {
				t.Fatal(err)
			}
			want.Frames = rec.Frames
			sent := rec.Sent
			got := &c.views[k]
			if !report.EqualSteps(got.steps, want.Steps) || !slices.EqualFunc(got.sent, sent, bytes.Equal) ||
				!slices.EqualFunc(got.frames, want.Frames, func(a, b report.Frame) bool {
					b.Why = "" // the checker leaves it unformatted
					return bytes.Equal(a.Data, b.Data) && a.Why == b.Why && len(a.Data) == cap(a.Data) &&
						fmt.Sprint(a.Step, a.Datagram, a.Kind, a.Index, a.Count, a.Offset, a.IDSource, a.Len) ==
							fmt.Sprint(b.Step, b.Datagram, b.Kind, b.Index, b.Count, b.Offset, b.IDSource, b.Len)
				}) {
				t.Fatalf("draw %d, %v view: the checker's copy differs from the collected report", i, v)
			}
			if v != report.Wire || len(want.Frames) == 0 {
				continue
			}
			flip := want.Frames[len(want.Frames)/2]
			flip.Data[len(flip.Data)-1] ^= 1
			fresh := payloadProblems(sc, want)
			if reused := j.payloadProblems(sc, want); !slices.Equal(reused, fresh) {
				t.Fatalf("draw %d, a tampered frame: reused buffers say %v, fresh ones %v", i, reused, fresh)
			}
		}
	}
}

// TestVerifyProblemsSeesTampering: the verify invariant is wired to the
// frames and to the payloads the model reports sending: a corrupted header
// or a payload that differs from the sent one is named.
func TestVerifyProblemsSeesTampering(t *testing.T) {
	sc := baseScenario(send(0, 3000, 0), send(1, 100, 0))
	rec := builder.Recorder{KeepSent: true}
	rep, err := builder.Run(sc, builder.Options{View: report.Wire, Seed: 1, Frames: &rec})
	if err != nil {
		t.Fatal(err)
	}
	rep.Frames = rec.Frames
	sent := rec.Sent
	if probs := verifyProblems(sc, rep, report.Wire, sent); len(probs) != 0 {
		t.Fatalf("untouched run: %v", probs)
	}
	if len(sent) != 2 || len(rep.Frames) != 3+1 {
		t.Fatalf("%d datagrams, %d frames; want 2 datagrams in 3 fragments and 1 frame", len(sent), len(rep.Frames))
	}
	rep.Frames[1].Data[header.EthernetLen+8]-- // the TTL: the header checksum no longer holds
	if probs := verifyProblems(sc, rep, report.Wire, sent); len(probs) == 0 {
		t.Error("changed TTL: no problem found")
	}
	rep.Frames[1].Data[header.EthernetLen+8]++
	sent[1][0] ^= 1
	if probs := verifyProblems(sc, rep, report.Wire, sent); len(probs) == 0 {
		t.Error("payload differing from the sent one: no problem found")
	}
}

// TestSeedCorpus: every seed corpus file is in the `go test fuzz v1`
// format and makes a scenario that passes. UDPBUILD_WRITE_CORPUS=1
// rewrites the files from seeded draws.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzScenario")
	if os.Getenv("UDPBUILD_WRITE_CORPUS") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range uint64(8) {
			data := generateBytes(rand.New(rand.NewPCG(10, i)))
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("generated-10-%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) < 4 {
		t.Fatalf("seed corpus: %d files (%v)", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		header, rest, _ := strings.Cut(string(b), "\n")
		lit := strings.TrimSuffix(strings.TrimSpace(rest), ")")
		if header != "go test fuzz v1" || !strings.HasPrefix(lit, "[]byte(") {
			t.Fatalf("%s: not a go test fuzz v1 []byte file", f)
		}
		data, err := strconv.Unquote(strings.TrimPrefix(lit, "[]byte("))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sc := FromBytes([]byte(data))
		var i uint64
		if _, err := fmt.Sscanf(filepath.Base(f), "generated-10-%d", &i); err == nil {
			want := Generate(rand.New(rand.NewPCG(10, i)), GenConfig{})
			want.Name = sc.Name
			if !scenario.Equal(sc, want) {
				t.Errorf("%s no longer decodes to draw (10, %d): rewrite the corpus", f, i)
			}
		}
		if probs := modelProblems(sc); len(probs) > 0 {
			t.Errorf("%s: %v", f, probs)
		}
	}
}
