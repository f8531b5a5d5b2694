package fuzz

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// DiffConfig tunes Differential.
type DiffConfig struct {
	// N is how many scenarios to draw.
	N int
	// Seed picks the scenarios: the i-th is Generate(rand.New(
	// rand.NewPCG(Seed, i)), GenConfig{KernelOnly: true, Family: Family}).
	Seed uint64
	// Family is which sockets to draw; the zero value is IPv4 only.
	Family Family
	// Peer draws the receiving side too: peer sockets and recv steps
	// (GenConfig.Peer).
	Peer bool
	// Path draws path events too: icmp and getsockopt steps
	// (GenConfig.Path).
	Path bool
	// OutDir receives the mismatch files; created when missing.
	OutDir string
	// Parallel is how many kernel runs go at once (default 2, at most 4).
	Parallel int
	// Progress, when set, is called after each scenario (from one
	// goroutine at a time).
	Progress func(done, total, mismatches int)
	// Budget bounds the kernel runs spent minimising one mismatch
	// (default 60).
	Budget int
	// Stale, when set, is told of every namespace a dead udpbuild process
	// left behind that a kernel run removed (kernel.Options.Stale); it is
	// called from one goroutine at a time.
	Stale func(kernel.Stale)
}

// Defaults of DiffConfig.
const (
	DefaultParallel = 2
	MaxParallel     = 4
	DefaultBudget   = 60
)

// Summary is what a differential run found.
type Summary struct {
	// Ran counts the scenarios that ran on both the kernel and the model
	// and were compared.
	Ran int
	// Mismatches counts the scenarios whose kernel and model reports
	// differed, twice in a row.
	Mismatches int
	// Flaky counts scenarios that differed once but not when run again:
	// a sign of kernel nondeterminism that compare does not excuse.
	Flaky int
	// Files are the files written, sorted.
	Files []string
	// InfraErrors counts scenarios whose kernel run failed without an
	// errno result (namespaces, capture, tools), and ModelErrors those the
	// model refused to run; neither is a mismatch.
	InfraErrors, ModelErrors int
	// Errors has one line per infrastructure or model failure.
	Errors []string
}

// outcome is one comparison of the kernel and the model on a scenario.
type outcome struct {
	diffs []compare.Difference
	note  string
	// infra and model are set when the kernel or the model could not run.
	infra, model error
}

func (o outcome) failed() bool { return o.infra != nil || o.model != nil }

// checker runs one scenario through both sides. Differential uses the real
// kernel; tests substitute their own.
type checker func(ctx context.Context, sc *scenario.Scenario) outcome

// kernelChecker compares the running kernel with the model on its actual
// features (builder.RunAgainst), in the tap view the kernel captures. IP IDs
// are compared by their rule, so a scenario's inet_id need not (and
// cannot) be given to the kernel.
func kernelChecker(stale func(kernel.Stale)) checker {
	return func(ctx context.Context, sc *scenario.Scenario) outcome {
		krep, err := kernel.Run(ctx, sc, kernel.Options{AnyInetID: true, Stale: stale})
		if err != nil {
			return outcome{infra: err}
		}
		mrep, note, err := builder.RunAgainst(sc, krep, builder.Options{View: report.Tap, Seed: 1})
		if err != nil {
			return outcome{model: err}
		}
		return outcome{diffs: compare.Reports(krep, mrep), note: note}
	}
}

// Differential draws cfg.N scenarios, runs each through the real kernel and
// the model, and for each mismatch minimises the scenario (re-running the
// kernel, within cfg.Budget runs) and writes to cfg.OutDir:
// mismatch-SEED-I.yaml (the minimised scenario, with a comment header),
// mismatch-SEED-I.diff.txt (its differences) and mismatch-SEED-I-orig.yaml.
// A mismatch that does not reproduce on a second run is written as
// flaky-SEED-I.yaml and .diff.txt instead. It needs root (kernel.Available).
func Differential(ctx context.Context, cfg DiffConfig) (Summary, error) {
	if ok, why := kernel.Available(); !ok {
		return Summary{}, fmt.Errorf("fuzz: differential needs the kernel runner: %s", why)
	}
	var stale func(kernel.Stale)
	if cfg.Stale != nil {
		var mu sync.Mutex
		stale = func(s kernel.Stale) {
			mu.Lock()
			defer mu.Unlock()
			cfg.Stale(s)
		}
	}
	return differential(ctx, cfg, kernelChecker(stale))
}

func differential(ctx context.Context, cfg DiffConfig, check checker) (Summary, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	cfg.Parallel = min(cfg.Parallel, MaxParallel)
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.OutDir == "" {
		return Summary{}, errors.New("fuzz: DiffConfig.OutDir is empty")
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("fuzz: creating output directory: %w", err)
	}

	var (
		mu   sync.Mutex
		sum  Summary
		done int
		werr error
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range cfg.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := runOne(ctx, cfg, check, i)
				mu.Lock()
				r.addTo(&sum)
				if r.err != nil && werr == nil {
					werr = r.err
				}
				done++
				if cfg.Progress != nil {
					cfg.Progress(done, cfg.N, sum.Mismatches)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range cfg.N {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	slices.Sort(sum.Files)
	slices.Sort(sum.Errors)
	if werr != nil {
		return sum, werr
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("fuzz: differential stopped after %d of %d scenarios: %w", done, cfg.N, err)
	}
	return sum, nil
}

// result is what one scenario contributed to the Summary.
type result struct {
	ran, mismatch, flaky bool
	infra, model         string
	files                []string
	err                  error // a failure to write files: ends the run
}

func (r result) addTo(s *Summary) {
	if r.ran {
		s.Ran++
	}
	if r.mismatch {
		s.Mismatches++
	}
	if r.flaky {
		s.Flaky++
	}
	if r.infra != "" {
		s.InfraErrors++
		s.Errors = append(s.Errors, r.infra)
	}
	if r.model != "" {
		s.ModelErrors++
		s.Errors = append(s.Errors, r.model)
	}
	s.Files = append(s.Files, r.files...)
}

// Scenario returns the i-th scenario of an IPv4 differential run with
// seed: the same draw Differential makes, named fuzz-SEED-I.
func Scenario(seed uint64, i int) *scenario.Scenario { return ScenarioOf(FamilyIPv4, seed, i) }

// ScenarioOf returns the i-th scenario of a differential run of family fam
// with seed, named fuzz-SEED-I (fuzz-FAMILY-SEED-I beyond IPv4).
func ScenarioOf(fam Family, seed uint64, i int) *scenario.Scenario {
	return DiffConfig{Family: fam, Seed: seed}.Scenario(i)
}

// Scenario returns the i-th scenario Differential draws for cfg, named
// fuzz-SEED-I, fuzz-FAMILY-SEED-I beyond IPv4, with "peer-" before the
// seed when it draws the receiving side.
func (cfg DiffConfig) Scenario(i int) *scenario.Scenario {
	sc := Generate(rand.New(rand.NewPCG(cfg.Seed, uint64(i))), GenConfig{KernelOnly: true, Family: cfg.Family, Peer: cfg.Peer, Path: cfg.Path})
	name := "fuzz-"
	if cfg.Family != FamilyIPv4 {
		name += cfg.Family.String() + "-"
	}
	if cfg.Peer {
		name += "peer-"
	}
	if cfg.Path {
		name += "path-"
	}
	sc.Name = fmt.Sprintf("%s%d-%d", name, cfg.Seed, i)
	return sc
}

func runOne(ctx context.Context, cfg DiffConfig, check checker, i int) result {
	if ctx.Err() != nil {
		return result{}
	}
	sc, err := reparse(cfg.Scenario(i))
	if err != nil {
		// The generator's promise is broken: say so loudly.
		return result{err: fmt.Errorf("fuzz: scenario %d of seed %d does not round-trip: %w", i, cfg.Seed, err)}
	}
	o := check(ctx, sc)
	switch {
	case o.infra != nil:
		if ctx.Err() != nil {
			return result{}
		}
		return result{infra: fmt.Sprintf("index %d: %v", i, o.infra)}
	case o.model != nil:
		return result{model: fmt.Sprintf("index %d: model: %v", i, o.model)}
	case len(o.diffs) == 0:
		return result{ran: true}
	}
	base := filepath.Join(cfg.OutDir, fmt.Sprintf("mismatch-%d-%d", cfg.Seed, i))
	again := check(ctx, sc)
	if !again.failed() && len(again.diffs) == 0 {
		base = filepath.Join(cfg.OutDir, fmt.Sprintf("flaky-%d-%d", cfg.Seed, i))
		header := fmt.Sprintf("seed %d, index %d: differed once, agreed when run again\nfirst difference: %s", cfg.Seed, i, o.diffs[0])
		files, err := writeCase(base, header, sc, o)
		return result{ran: true, flaky: true, files: files, err: err}
	}
	m := minimise(ctx, check, sc, o, cfg.Budget)
	header := fmt.Sprintf("seed %d, index %d: fuzz.DiffConfig{Family: %s, Peer: %v, Path: %v, Seed: %d}.Scenario(%d), minimised in %d kernel runs from %s-orig.yaml\nfirst difference: %s",
		cfg.Seed, i, cfg.Family, cfg.Peer, cfg.Path, cfg.Seed, i, m.runs, filepath.Base(base), m.out.diffs[0])
	files, err := writeCase(base, header, m.sc, m.out)
	if err == nil {
		var more []string
		more, err = writeOrig(base+"-orig.yaml", fmt.Sprintf("seed %d, index %d: the scenario as drawn\nfirst difference: %s", cfg.Seed, i, o.diffs[0]), sc)
		files = append(files, more...)
	}
	return result{ran: true, mismatch: true, files: files, err: err}
}

// reparse writes sc and reads it back, so that what runs is exactly what
// the files say.
func reparse(sc *scenario.Scenario) (*scenario.Scenario, error) {
	b, err := scenario.Marshal(sc)
	if err != nil {
		return nil, err
	}
	return scenario.Parse(b, "")
}

// writeCase writes BASE.yaml (the scenario with a comment header) and
// BASE.diff.txt (every difference, one a line).
func writeCase(base, header string, sc *scenario.Scenario, o outcome) ([]string, error) {
	files, err := writeOrig(base+".yaml", header, sc)
	if err != nil {
		return files, err
	}
	var b strings.Builder
	if o.note != "" {
		fmt.Fprintf(&b, "note: %s\n", o.note)
	}
	for _, d := range o.diffs {
		fmt.Fprintln(&b, d)
	}
	p := base + ".diff.txt"
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		return files, fmt.Errorf("fuzz: writing %s: %w", p, err)
	}
	return append(files, p), nil
}

func writeOrig(path, header string, sc *scenario.Scenario) ([]string, error) {
	body, err := scenario.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("fuzz: writing %s: %w", path, err)
	}
	var b strings.Builder
	for _, l := range strings.Split(header, "\n") {
		fmt.Fprintf(&b, "# %s\n", l)
	}
	b.Write(body)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("fuzz: writing %s: %w", path, err)
	}
	return []string{path}, nil
}
