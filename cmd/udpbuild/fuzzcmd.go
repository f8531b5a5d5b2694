package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/fuzz"
	"github.com/udpbuild/udpbuild/kernel"
)

func newFuzzCmd() *cobra.Command {
	var cfg fuzz.DiffConfig
	var useKernel bool
	c := &cobra.Command{
		Use:   "fuzz --kernel --n N --seed S --out DIR",
		Short: "Kernel-differential fuzzing: random scenarios through the model and the real kernel (needs root)",
		Long: `Fuzz draws random scenarios over the whole scenario format from udpbuild's
generator (scenario i of seed S is the same on every machine), runs each
through the real kernel (as 'udpbuild kernel' does) and through the model, and
compares them (as 'udpbuild diff' does). Every mismatch is confirmed by a second
kernel run, then minimised (steps, options, control messages, flags, features
and lengths are dropped or shrunk while the mismatch stays) and written to DIR:

  mismatch-S-I.yaml        the minimised scenario, with the first difference
  mismatch-S-I.diff.txt    every difference of the minimised scenario
  mismatch-S-I-orig.yaml   the scenario as drawn

A mismatch that does not reproduce is written as flaky-S-I.* and counted
apart: a sign of kernel nondeterminism the comparison does not excuse.

Namespaces that a killed udpbuild process left behind are removed as the runs
start, each named on standard error.

For coverage-guided fuzzing of the model alone, use the go test -fuzz targets
(docs/fuzzing.md).

Exit status: 0 when every scenario agreed, 1 when any mismatch was found, 2 for
a bad command line or a machine that cannot run the kernel.`,
		Example: `  sudo udpbuild fuzz --kernel --n 300 --seed 1 --out mismatches/
  sudo udpbuild diff mismatches/mismatch-1-42.yaml --all`,
		Args: exactArgs(0, "no positional arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !useKernel {
				return invalid("fuzz needs --kernel (model-only fuzzing is 'go test -fuzz', see docs/fuzzing.md)")
			}
			if cfg.N <= 0 {
				return invalid("--n %d: give a positive number of scenarios", cfg.N)
			}
			if cfg.OutDir == "" {
				return invalid("--out: name a directory for mismatch files")
			}
			if cfg.Parallel < 1 || cfg.Parallel > fuzz.MaxParallel {
				return invalid("--parallel %d: 1..%d", cfg.Parallel, fuzz.MaxParallel)
			}
			if _, err := runKernelCheck(); err != nil {
				return err
			}
			bar := newProgress(cmd.ErrOrStderr(), cfg.N, "scenarios")
			cfg.Progress = func(done, total, mismatches int) { bar.update(done) }
			say := staleReporter(cmd.ErrOrStderr())
			cfg.Stale = func(s kernel.Stale) {
				bar.clear()
				say(s)
			}
			sum, err := fuzz.Differential(cmd.Context(), cfg)
			bar.done()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%d scenarios compared (seed %d): %d mismatches, %d flaky, %d kernel failures, %d model failures\n",
				sum.Ran, cfg.Seed, sum.Mismatches, sum.Flaky, sum.InfraErrors, sum.ModelErrors)
			for _, e := range sum.Errors {
				fmt.Fprintln(out, "  "+e)
			}
			for _, f := range sum.Files {
				if strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, "-orig.yaml") {
					fmt.Fprintln(out, "  "+f)
				}
			}
			if sum.Mismatches > 0 || sum.Flaky > 0 || sum.ModelErrors > 0 {
				return mismatch("%d mismatches between the model and the kernel; minimised scenarios in %s", sum.Mismatches+sum.Flaky, cfg.OutDir)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&useKernel, "kernel", false, "compare with the real kernel (required)")
	c.Flags().IntVar(&cfg.N, "n", 100, "how many scenarios to draw")
	c.Flags().Uint64Var(&cfg.Seed, "seed", 1, "which scenarios: scenario i of a seed is the same everywhere")
	c.Flags().Var(familyFlag{&cfg.Family}, "family", "which sockets to draw: ipv4, ipv6 (AF_INET6, with v4-mapped peers) or mixed")
	c.Flags().BoolVar(&cfg.Peer, "peer", false, "draw the receiving side too: the peer's sockets (bind, connect, rcvbuf, options, GRO), recv steps, closed ports and the sender's IP_RECVERR")
	c.Flags().BoolVar(&cfg.Path, "path", false, "draw path events too: a router's ICMP errors (frag-needed, packet-too-big and the other codes) after sends, getsockopt IP_MTU/IPV6_MTU, the error queue")
	c.Flags().StringVar(&cfg.OutDir, "out", "", "directory for the minimised mismatch scenarios and their diffs")
	c.Flags().IntVar(&cfg.Parallel, "parallel", fuzz.DefaultParallel, "kernel runs at once")
	c.Flags().IntVar(&cfg.Budget, "budget", fuzz.DefaultBudget, "kernel runs spent minimising each mismatch")
	return c
}

// familyFlag is --family: a fuzz.Family by name.
type familyFlag struct{ f *fuzz.Family }

func (v familyFlag) String() string {
	if v.f == nil {
		return fuzz.FamilyIPv4.String()
	}
	return v.f.String()
}

func (v familyFlag) Set(s string) error {
	f, err := fuzz.ParseFamily(s)
	if err == nil {
		*v.f = f
	}
	return err
}

func (familyFlag) Type() string { return "family" }
