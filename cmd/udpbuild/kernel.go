package main

import (
	"errors"
	"fmt"
	"io"
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
destination addresses and its sockets (peer.sockets, or a UDP and a UDP-Lite
socket on every destination port), its GRO (peer.features) and sysctls,
then opens the scenario's socket (socket.type), applies IP_MTU_DISCOVER and every setsockopt in order,
connects if asked, and performs each step with sendmsg and its control
messages (a recv step with recvmsg on the peer's socket, or on the sender's
error queue), the whole list 'repeat' times; after each call the link goes
quiet (every frame delivered and answered) before the next. A scenario that uses IPv6 anywhere
(an IPv6 socket, dst or to) gets a dual-stack link (10.0.0.1/24 and
fd00::1/64 on the sender; no DAD, router solicitations or link-local
address; permanent neighbours); an IPv6 socket is given its options before
bind (IPV6_V6ONLY needs that) and IPV6_MTU_DISCOVER from socket.pmtudisc. Every frame the sender's veth
transmits is captured with AF_PACKET (the 'tap' view) and filed under the
call that made it, with the peer's ICMP errors ("dir": "peer"); the sender's
ICMPv6 (neighbour discovery, MLD reports) is not the scenario's and is left
out. The namespaces are removed afterwards, also on error or
interrupt; namespaces that a udpbuild process killed outright (SIGKILL) left
behind are removed by the next run, which names each on standard error. The
report records each call's result (a recv step's every recvmsg: bytes,
msg_flags, source, control messages, digest), the peer sockets' set-up, the
kernel release, the features the kernel actually enabled and the SNMP
counters that changed. Without --report, frames stream to the output, in
constant memory however many repeats.

A key the kernel cannot honour is an error (exit status 2), never ignored:
socket.inet_id (connect() draws a real socket's inet_id at random; 'udpbuild
diff' accepts it, as it compares IDs by their rule) and a multicast or zero
link.src_mac or link.dst_mac.

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
			if of.report == "" {
				return streamKernel(cmd, sc, of.out, f)
			}
			rep, err := runKernel(cmd, sc, kernel.Options{})
			if err != nil {
				return err
			}
			if err := writeOutputs(cmd.Context(), of, f, rep, sc); err != nil {
				return err
			}
			if bad := sc.CheckExpect(rep); len(bad) > 0 {
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
// (not root, tools missing, a key the kernel cannot honour) are
// usage-level failures, exit status 2. Leftovers of dead runs that the run
// removes are named on standard error.
func runKernel(cmd *cobra.Command, sc *scenario.Scenario, opts kernel.Options) (*report.Report, error) {
	if err := kernel.Check(sc, opts); err != nil {
		return nil, invalid("%s: %v", sc.Path, err)
	}
	if _, err := runKernelCheck(); err != nil {
		return nil, err
	}
	opts.Stale = staleReporter(cmd.ErrOrStderr())
	rep, err := kernel.Run(cmd.Context(), sc, opts)
	if err != nil {
		if errors.Is(err, kernel.ErrNotRoot) {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		return nil, fmt.Errorf("kernel run of %s: %w", sc.Path, err)
	}
	return rep, nil
}

// staleReporter says, one line each, which namespaces of dead udpbuild
// processes a kernel run removed (kernel.Options.Stale).
func staleReporter(w io.Writer) func(kernel.Stale) {
	return func(s kernel.Stale) { fmt.Fprintln(w, "udpbuild: "+s.String()) }
}

// streamKernel runs sc through the kernel writing each frame as it is
// captured and checking expects as steps complete, keeping nothing:
// memory stays constant however many repeats. Used when no report is
// asked for.
func streamKernel(cmd *cobra.Command, sc *scenario.Scenario, path string, f capture.Format) error {
	out, err := capture.Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	w, err := capture.NewWriter(out.Writer(), f)
	if err != nil {
		return err
	}
	tally := newExpectTally(cmd, sc, 1024)
	opts := kernel.Options{
		Frame: func(fr report.Frame) error {
			c := ""
			if f == capture.PCAPNG {
				c = frameComment(fr, sc)
			}
			return w.WriteFrame(fr.Data, c)
		},
		Step: tally.step,
	}
	_, err = runKernel(cmd, sc, opts)
	tally.done()
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	return tally.err()
}

// compareOpts are the kernel options of a run compared with the model:
// IP IDs are judged by their rule, so a scenario's inet_id, which only the
// model can take, does not stop the run.
func compareOpts() kernel.Options { return kernel.Options{AnyInetID: true} }

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
connected socket's inet_id, or the per-destination ip_idents counter within
one datagram, as it jumps at random between calls jiffies apart), since the
kernel starts both at random. Timestamps inside IP timestamp
options are the kernel's clock and are not compared.

Exit status 0 when they agree, 1 on any difference.`,
		Example: `  sudo udpbuild diff examples/cork.yaml
  sudo udpbuild diff --all testdata/kernel/072-features-hw-gso.yaml
  sudo udpbuild diff --view wire examples/gso.yaml`,
		Args: exactArgs(1, "a scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := report.ParseView(view)
			if err != nil {
				return invalid("--view: %v", err)
			}
			sc, err := lf.load(args[0])
			if err != nil {
				return err
			}
			var krep, mrep *report.Report
			var note string
			if v == report.Wire {
				krep, mrep, note, err = wireReports(cmd, sc, seed)
			} else {
				krep, err = runKernel(cmd, sc, compareOpts())
				if err == nil {
					mrep, note, err = builder.RunAgainst(sc, krep, builder.Options{View: report.Tap, Seed: seed, Context: cmd.Context()})
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
// view with the scenario's own features (builder.RunWireAgainst).
func wireReports(cmd *cobra.Command, sc *scenario.Scenario, seed uint64) (krep, mrep *report.Report, note string, err error) {
	krep, err = runKernel(cmd, builder.WithoutOffloads(sc), compareOpts())
	if err != nil {
		return nil, nil, "", err
	}
	mrep, err = builder.RunWireAgainst(sc, krep, builder.Options{Seed: seed, Context: cmd.Context()})
	if err := stopped(cmd.Context()); err != nil {
		return nil, nil, "", err
	}
	if err != nil {
		return nil, nil, "", invalid("%s: %v", sc.Path, err)
	}
	return krep, mrep, "the kernel ran with every offload off; the model's wire view keeps the scenario's features", nil
}
