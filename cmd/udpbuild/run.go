package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

type outputFlags struct {
	out    string
	format string
	report string
}

func (o *outputFlags) add(c *cobra.Command) {
	c.Flags().StringVarP(&o.out, "output", "o", "", "write frames to this file (- for standard output)")
	c.Flags().StringVar(&o.format, "format", "pcap", "capture format: pcap or pcapng (pcapng carries each frame's provenance as a comment)")
	c.Flags().StringVar(&o.report, "report", "", "write the JSON report (step results, frame provenance) to this file")
}

// modelFlags are the flags of every command that runs the model and writes
// its frames (run, send).
type modelFlags struct {
	of       outputFlags
	view     string
	seed     uint64
	tsClock  int64
	noVerify bool
}

func (mf *modelFlags) add(c *cobra.Command) {
	mf.of.add(c)
	c.Flags().StringVar(&mf.view, "view", "tap", "tap (what a capture on the sender sees) or wire (what the peer receives)")
	c.Flags().Uint64Var(&mf.seed, "seed", 1, "seed for the values the kernel draws at random (IP ID counters, inet_id)")
	c.Flags().Int64Var(&mf.tsClock, "ts-clock", builder.DefaultTimestamp, "clock for IP timestamp options, in ms since midnight UTC")
	c.Flags().BoolVar(&mf.noVerify, "no-verify", false, "skip verifying every frame with gopacket (faster for very long runs)")
}

// check validates the flags, naming the one at fault; what is the hint for
// "nothing to write".
func (mf *modelFlags) check(what string) (builder.View, capture.Format, error) {
	v, err := builder.ParseView(mf.view)
	if err != nil {
		return 0, 0, invalid("--view: %v", err)
	}
	f, err := capture.ParseFormat(mf.of.format)
	if err != nil {
		return 0, 0, invalid("--format: %v", err)
	}
	if mf.of.out == "" && mf.of.report == "" {
		return 0, 0, invalid("nothing to write: give %s", what)
	}
	if mf.tsClock < 0 || mf.tsClock >= 86400000 {
		return 0, 0, invalid("--ts-clock %d: milliseconds since midnight UTC, 0..86399999", mf.tsClock)
	}
	return v, f, nil
}

func newRunCmd() *cobra.Command {
	var mf modelFlags
	var lf loadFlags
	c := &cobra.Command{
		Use:   "run SCENARIO.yaml -o OUT.pcap",
		Short: "Run a scenario through the Go model of the kernel's send path",
		Long: `Run plays the scenario's socket calls through udpbuild's model of the Linux
IPv4 UDP send path and writes the frames that leave the device.

Views: 'tap' (default) is what a packet capture on the sending host shows:
checksums the NIC will fill are left as the pseudo-header sum, and GSO
super-packets stay whole when the device segments them. 'wire' is what a peer
receives: every offload done.

Every frame is verified with gopacket before it is written (--no-verify skips
that). IP IDs the kernel draws at random (per-destination counters, a connected
socket's inet_id) are drawn from --seed. Without --report, frames stream to the
output as they are made, in constant memory however long the scenario.`,
		Example: `  udpbuild run examples/basic.yaml -o out.pcap
  udpbuild run examples/gso.yaml -o out.pcapng --format pcapng --view wire --report out.json`,
		Args: exactArgs(1, "a scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, f, err := mf.check("-o OUT.pcap (or -o -) and/or --report R.json")
			if err != nil {
				return err
			}
			sc, err := lf.load(args[0])
			if err != nil {
				return err
			}
			return runModel(cmd, sc, mf, v, f)
		},
	}
	mf.add(c)
	lf.add(c)
	return c
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return invalid("%s needs %s (got %d arguments); see '%s --help'", cmd.Name(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// writeOutputs writes the capture and the report, each atomically.
func writeOutputs(ctx context.Context, of outputFlags, f capture.Format, rep *report.Report, sc *scenario.Scenario) error {
	if of.out != "" {
		if err := writeCapture(ctx, of.out, f, rep.Frames, sc); err != nil {
			return err
		}
	}
	if of.report != "" {
		if err := writeJSON(ctx, of.report, rep); err != nil {
			return err
		}
	}
	return nil
}

// writeCapture writes frames to path (atomically, see capture.Output),
// stopping at a signal with nothing written.
func writeCapture(ctx context.Context, path string, f capture.Format, frames []report.Frame, sc *scenario.Scenario) error {
	out, err := outputs(ctx).Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	w, err := capture.NewWriter(out.Writer(), f)
	if err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	for i, fr := range frames {
		if err := stopped(ctx); err != nil {
			return err
		}
		c := ""
		if f == capture.PCAPNG {
			c = frameComment(fr, sc)
		}
		if err := w.WriteFrame(fr.Data, c); err != nil {
			return fmt.Errorf("output %s: frame %d: %w", path, i, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	return out.Commit()
}

// frameComment is the pcapng packet comment: the frame's provenance, e.g.
// "step 2 sendmsg MSG_MORE: datagram 1, fragment 2 of 3 at offset 1480
// (...); ID from the connected socket's inet_id counter".
func frameComment(fr report.Frame, sc *scenario.Scenario) string {
	call := "set-up"
	if fr.Step >= 0 && fr.Step < len(sc.Steps) {
		st := sc.Steps[fr.Step]
		if st.Send != nil {
			call = strings.TrimSpace("sendmsg " + strings.Join(scenario.FlagNames(st.Send.Flags), "|"))
		} else {
			var names []string
			for _, o := range st.Setsockopt {
				names = append(names, fmt.Sprintf("%s=%d", o.Name, o.Int))
			}
			call = "setsockopt " + strings.Join(names, ",")
		}
	}
	why := fr.Why
	if why == "" {
		why = string(fr.Kind)
	}
	return fmt.Sprintf("step %d %s: datagram %d, %s", fr.Step, call, fr.Datagram, why)
}

// writeJSON writes v as indented JSON to path (atomically, see
// capture.Output), or to standard output for "-".
func writeJSON(ctx context.Context, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err := os.Stdout.Write(b)
		return err
	}
	out, err := outputs(ctx).Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := stopped(ctx); err != nil {
		return err
	}
	if _, err := out.Writer().Write(b); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return out.Commit()
}

// streamRun writes frames as the model produces them and checks expects as
// steps complete, keeping nothing: memory stays constant however many
// steps (or repeats) the scenario has. Used when no report is asked for.
func streamRun(cmd *cobra.Command, sc *scenario.Scenario, opts builder.Options, path string, f capture.Format, check *selfCheck) error {
	ctx := cmd.Context()
	out, err := outputs(ctx).Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	w, err := capture.NewWriter(out.Writer(), f)
	if err != nil {
		return err
	}
	total := len(sc.Steps) * max(sc.Repeat, 1)
	bar := newProgress(cmd.ErrOrStderr(), total, "steps")
	var bad []string
	nbad := 0
	opts.Explain = f == capture.PCAPNG // comments need the explanation
	opts.Frame = func(fr report.Frame) error {
		c := ""
		if f == capture.PCAPNG {
			c = frameComment(fr, sc)
		}
		return w.WriteFrame(fr.Data, c)
	}
	if check != nil {
		check.hook(&opts)
	}
	opts.Step = func(n int, r report.Step) error {
		if err := stopped(ctx); err != nil {
			return err
		}
		if msg := builder.CheckStep(sc, n, r); msg != "" {
			nbad++
			if len(bad) < 5 {
				bad = append(bad, msg)
			}
		}
		if n%4096 == 0 {
			bar.update(n)
		}
		return nil
	}
	_, err = builder.Run(sc, opts)
	bar.done()
	if err := stopped(ctx); err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if check != nil {
		if err := check.err(); err != nil {
			return err
		}
	}
	if nbad > 0 {
		more := ""
		if nbad > len(bad) {
			more = fmt.Sprintf(" (and %d more)", nbad-len(bad))
		}
		return mismatch("%s: %s%s", sc.Path, strings.Join(bad, "; "), more)
	}
	return nil
}

// runModel runs sc through the model and writes what mf asks for. Unless
// --no-verify, every frame is verified with gopacket first.
func runModel(cmd *cobra.Command, sc *scenario.Scenario, mf modelFlags, v builder.View, f capture.Format) error {
	of := mf.of
	opts := builder.Options{View: v, Seed: mf.seed, Clock: func() uint32 { return uint32(mf.tsClock) }}
	var check *selfCheck
	if !mf.noVerify {
		check = newSelfCheck(v, sc.Link.MTU)
	}
	if of.report == "" {
		return streamRun(cmd, sc, opts, of.out, f, check)
	}
	var payloads [][]byte
	if check != nil {
		opts.Datagram = func(p []byte) { payloads = append(payloads, slices.Clone(p)) }
	}
	ctx := cmd.Context()
	opts.Step = stepStop(ctx)
	rep, err := builder.Run(sc, opts)
	if err := stopped(ctx); err != nil {
		return err
	}
	if err != nil {
		return invalid("%s: %v", sc.Path, err)
	}
	if err := writeOutputs(ctx, of, f, rep, sc); err != nil {
		return err
	}
	if check != nil {
		check.checkAll(rep.Frames, payloads)
		if err := check.err(); err != nil {
			return err
		}
	}
	if bad := builder.CheckExpect(sc, rep); len(bad) > 0 {
		return mismatch("%s: %s", sc.Path, strings.Join(bad, "; "))
	}
	return nil
}
