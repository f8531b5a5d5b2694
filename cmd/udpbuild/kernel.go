package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

func newKernelCmd() *cobra.Command {
	var of outputFlags
	var lf loadFlags
	c := &cobra.Command{
		Use:   "kernel SCENARIO.yaml -o OUT.pcap [--report R.json]",
		Short: "Run a scenario through the real running kernel and capture what leaves the device (needs root)",
		Long: `Kernel builds two private network namespaces joined by a veth pair, sets the
sender's MTU and NIC features with ethtool (hw-csum -> tx-checksumming, sg ->
scatter-gather, gso-udp-l4 -> tx-udp-segmentation), gives the peer the
destination addresses and listening UDP and UDP-Lite sockets, then opens the
scenario's socket, applies IP_MTU_DISCOVER and every setsockopt in order,
connects if asked, and performs each step with sendmsg and its control
messages. Every frame the sender's veth transmits is captured with AF_PACKET
(the 'tap' view). The namespaces are removed afterwards, also on error or
interrupt. The report records each call's result, the kernel release and the
features the kernel actually enabled.

It needs root (CAP_NET_ADMIN), iproute2 and ethtool. No frame leaves the
machine, whatever addresses the scenario names.`,
		Example: `  sudo udpbuild kernel examples/fragmented.yaml -o kernel.pcap --report kernel.json`,
		Args:    exactArgs(1, "a scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := capture.ParseFormat(of.format)
			if err != nil {
				return invalid("--format: %v", err)
			}
			if of.out == "" && of.report == "" {
				return invalid("nothing to write: give -o OUT.pcap (or -o -) and/or --report R.json")
			}
			sc, err := lf.load(args[0])
			if err != nil {
				return err
			}
			rep, err := runKernel(cmd, sc)
			if err != nil {
				return err
			}
			if err := writeOutputs(cmd.Context(), of, f, rep, sc); err != nil {
				return err
			}
			if bad := builder.CheckExpect(sc, rep); len(bad) > 0 {
				return mismatch("%s: %s", args[0], strings.Join(bad, "; "))
			}
			return nil
		},
	}
	of.add(c)
	lf.add(c)
	return c
}

// runKernelCheck fails with exit status 2 when the kernel runner cannot
// work here (not root, ip or ethtool missing).
func runKernelCheck() (bool, error) {
	if ok, why := kernel.Available(); !ok {
		return false, &exitError{code: exitInvalid, err: fmt.Errorf("cannot run the kernel here: %s", why)}
	}
	return true, nil
}

// runKernel runs sc through the real kernel; failures to run it at all
// (not root, tools missing) are usage-level failures, exit status 2.
func runKernel(cmd *cobra.Command, sc *scenario.Scenario) (*report.Report, error) {
	if _, err := runKernelCheck(); err != nil {
		return nil, err
	}
	rep, err := kernel.Run(cmd.Context(), sc, kernel.Options{})
	if err != nil {
		if errors.Is(err, kernel.ErrNotRoot) {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		return nil, fmt.Errorf("kernel run of %s: %w", sc.Path, err)
	}
	return rep, nil
}

func newDiffCmd() *cobra.Command {
	var seed uint64
	var all bool
	var keep string
	var view string
	var lf loadFlags
	c := &cobra.Command{
		Use:   "diff SCENARIO.yaml",
		Short: "Run the model and the real kernel and print the differences as named fields (needs root)",
		Long: `Diff runs the scenario through the model and through the real kernel (as
'udpbuild kernel' does) and compares them in the tap view: every step's return
value or errno, then every frame from the Ethernet header on, field by field
("frame 3: IPv4 flags.DF: kernel 0, model 1").

IP IDs are compared by the kernel's rules, not by value: ID 0 where DF forbids
fragmentation; otherwise as offsets from the first ID of the same counter (a
connected socket's inet_id, or the per-destination ip_idents counter within a
step), since the kernel starts both at random. Timestamps inside IP timestamp
options are the kernel's clock and are not compared.

Exit status 0 when they agree, 1 on any difference.`,
		Example: `  sudo udpbuild diff examples/cork.yaml
  sudo udpbuild diff --all testdata/kernel/072-features-hw-gso.yaml
  sudo udpbuild diff --view wire examples/gso.yaml`,
		Args: exactArgs(1, "a scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := builder.ParseView(view)
			if err != nil {
				return invalid("--view: %v", err)
			}
			sc, err := lf.load(args[0])
			if err != nil {
				return err
			}
			var krep, mrep *report.Report
			var note string
			if v == builder.Wire {
				krep, mrep, note, err = wireReports(cmd, sc, seed)
			} else {
				krep, err = runKernel(cmd, sc)
				if err == nil {
					mrep, note, err = compare.ModelFor(sc, krep, builder.Options{View: builder.Tap, Seed: seed, Step: stepStop(cmd.Context())})
				}
			}
			if err := stopped(cmd.Context()); err != nil {
				return err
			}
			if err != nil {
				return err
			}
			if note != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: "+note)
			}
			if keep != "" {
				if err := writeJSON(cmd.Context(), keep+".kernel.json", krep); err != nil {
					return err
				}
				if err := writeJSON(cmd.Context(), keep+".model.json", mrep); err != nil {
					return err
				}
			}
			diffs := compare.Reports(krep, mrep)
			if len(diffs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: model and kernel %s agree: %d steps, %d frames\n", args[0], krep.Kernel, len(krep.Steps), len(krep.Frames))
				return nil
			}
			shown := diffs
			if !all && len(shown) > 1 {
				shown = shown[:1]
			}
			for _, d := range shown {
				fmt.Fprintln(cmd.OutOrStdout(), d)
			}
			if !all && len(diffs) > 1 {
				fmt.Fprintf(cmd.ErrOrStderr(), "(%d more differences; --all shows them)\n", len(diffs)-1)
			}
			return mismatch("%s: %d differences between model and kernel %s", args[0], len(diffs), krep.Kernel)
		},
	}
	c.Flags().Uint64Var(&seed, "seed", 1, "seed for the model's random draws")
	c.Flags().BoolVar(&all, "all", false, "print every difference, not only the first")
	c.Flags().StringVar(&view, "view", "tap", "tap: the model's tap view against the kernel's capture; wire: the model's wire view against the kernel run with every offload off")
	c.Flags().StringVar(&keep, "keep", "", "also write both reports to PREFIX.kernel.json and PREFIX.model.json")
	lf.add(c)
	return c
}

// wireReports runs the kernel with every offload off and the model's wire
// view with the scenario's own features (compare.WireModelFor).
func wireReports(cmd *cobra.Command, sc *scenario.Scenario, seed uint64) (krep, mrep *report.Report, note string, err error) {
	krep, err = runKernel(cmd, compare.WithoutOffloads(sc))
	if err != nil {
		return nil, nil, "", err
	}
	mrep, err = compare.WireModelFor(sc, krep, builder.Options{Seed: seed, Step: stepStop(cmd.Context())})
	if err := stopped(cmd.Context()); err != nil {
		return nil, nil, "", err
	}
	if err != nil {
		return nil, nil, "", invalid("%s: %v", sc.Path, err)
	}
	return krep, mrep, "the kernel ran with every offload off; the model's wire view keeps the scenario's features", nil
}

// stepStop is a builder.Options.Step that ends a model run once a signal
// has cancelled ctx.
func stepStop(ctx context.Context) func(int, report.Step) error {
	return func(int, report.Step) error { return stopped(ctx) }
}
