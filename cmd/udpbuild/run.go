package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	html     string
}

func (mf *modelFlags) add(c *cobra.Command) {
	mf.of.add(c)
	c.Flags().StringVar(&mf.view, "view", "tap", "tap (what a capture on the sender sees) or wire (what the peer receives)")
	c.Flags().Uint64Var(&mf.seed, "seed", 1, "seed for the values the kernel draws at random (IP ID counters, inet_id)")
	c.Flags().Int64Var(&mf.tsClock, "ts-clock", builder.DefaultTimestamp, "clock for IP timestamp options, in ms since midnight UTC")
	c.Flags().BoolVar(&mf.noVerify, "no-verify", false, "skip verifying every frame with gopacket (faster for very long runs)")
	c.Flags().StringVar(&mf.html, "html", "", "also write a self-contained HTML report: the scenario, every step's result, the frames linked to their pictures, the explain trace (the first repetition of a repeat:)")
}

// clock is the IP timestamp option's clock --ts-clock sets.
func (mf *modelFlags) clock() func() uint32 { return func() uint32 { return uint32(mf.tsClock) } }

// check validates the flags, naming the one at fault; what is the hint for
// "nothing to write".
func (mf *modelFlags) check(what string) (report.View, capture.Format, error) {
	v, err := report.ParseView(mf.view)
	if err != nil {
		return "", 0, invalid("--view: %v", err)
	}
	f, err := capture.ParseFormat(mf.of.format)
	if err != nil {
		return "", 0, invalid("--format: %v", err)
	}
	if mf.of.out == "" && mf.of.report == "" && mf.html == "" {
		return "", 0, invalid("nothing to write: give %s", what)
	}
	if mf.tsClock < 0 || mf.tsClock >= 86400000 {
		return "", 0, invalid("--ts-clock %d: milliseconds since midnight UTC, 0..86399999", mf.tsClock)
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
IPv4 and IPv6 UDP send paths and writes the frames that leave the device.

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
		switch {
		case st.Send != nil:
			call = strings.TrimSpace("sendmsg " + strings.Join(scenario.FlagNames(st.Send.Flags), "|"))
		case st.Recv != nil:
			call = strings.TrimSpace("recvmsg " + strings.Join(scenario.RecvFlagNames(st.Recv.Flags), "|"))
		case st.ICMP != nil:
			call = "icmp " + string(st.ICMP.Type)
		case st.Getsockopt != "":
			call = "getsockopt " + string(st.Getsockopt)
		default:
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
	if fr.Dir == report.DirPeer {
		return fmt.Sprintf("step %d %s: the peer's packet %d, %s", fr.Step, call, fr.Datagram, why)
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
	return writeAtomic(ctx, path, "report", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeAtomic has write fill path (atomically, see capture.Output: the
// file appears whole or not at all), or standard output for "-"; what
// names the file in messages.
func writeAtomic(ctx context.Context, path, what string, write func(io.Writer) error) error {
	if path == "-" {
		return write(os.Stdout)
	}
	out, err := outputs(ctx).Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := stopped(ctx); err != nil {
		return err
	}
	if err := write(out.Writer()); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if err := stopped(ctx); err != nil {
		return err
	}
	return out.Commit()
}

// modelSink is where a model run's frames go, as the device hands them
// over in pieces: to the capture (pcap records laid out from the pieces,
// nothing joined), to the self-check, and with --report to the frames'
// records. Nothing is kept per frame unless the report asks for it, so a
// run without --report holds constant memory however many steps (or
// repeats) the scenario has.
type modelSink struct {
	sc      *scenario.Scenario
	w       *capture.Writer // nil: no capture asked for
	ng      bool            // pcapng: each frame's provenance as a comment
	check   *selfCheck      // nil: --no-verify
	keep    bool            // --report: keep every frame's record
	records []report.Frame
}

// Datagram starts the self-check of a new datagram.
func (s *modelSink) Datagram(d *builder.Datagram) error {
	if s.check != nil {
		s.check.datagram(d.Payload)
	}
	return nil
}

// Frame writes the frame, checks it and keeps its record.
func (s *modelSink) Frame(fi *builder.FrameInfo, head, data []byte) error {
	comment := ""
	if s.keep || (s.w != nil && s.ng) {
		rec := fi.Record(len(head) + len(data))
		rec.Why = fi.Why()
		if s.keep {
			s.records = append(s.records, rec)
		}
		if s.ng {
			comment = frameComment(rec, s.sc)
		}
	}
	if s.w != nil {
		if err := s.w.WriteFrameV(head, data, comment); err != nil {
			return err
		}
	}
	if s.check != nil && fi.Dir != report.DirPeer {
		// The self-check judges the sender's datagrams; the peer's ICMP
		// errors are not one of them.
		s.check.frame(fi, head, data)
	}
	return nil
}

// runModel runs sc through the model and writes what mf asks for, frames
// streamed to the capture as the model hands them over. Unless
// --no-verify, every frame is verified with gopacket as it passes, a
// datagram at a time. Without --report, expects are checked as steps
// complete and nothing is kept. A signal stops the run between steps, with
// nothing written.
func runModel(cmd *cobra.Command, sc *scenario.Scenario, mf modelFlags, v report.View, f capture.Format) error {
	ctx := cmd.Context()
	of := mf.of
	sink := &modelSink{sc: sc, ng: f == capture.PCAPNG, keep: of.report != ""}
	if !mf.noVerify {
		sink.check = newSelfCheck(v, sc.Link.MTU)
	}
	var out *capture.Output
	if of.out != "" {
		var err error
		if out, err = outputs(ctx).Create(of.out); err != nil {
			return err
		}
		defer out.Abort()
		if sink.w, err = capture.NewWriter(out.Writer(), f); err != nil {
			return err
		}
	}
	opts := builder.Options{View: v, Seed: mf.seed, Clock: mf.clock(), Frames: sink, Context: ctx}
	var tally *expectTally
	if of.report == "" {
		tally = newExpectTally(cmd, sc, 4096)
		opts.Steps = tally.step
	}
	rep, err := builder.Run(sc, opts)
	tally.done()
	if err := stopped(ctx); err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Path, err)
	}
	if out != nil {
		if err := sink.w.Flush(); err != nil {
			return fmt.Errorf("output %s: %w", of.out, err)
		}
		if err := out.Commit(); err != nil {
			return err
		}
	}
	if of.report != "" {
		rep.Frames = sink.records
		if err := writeJSON(ctx, of.report, rep); err != nil {
			return err
		}
		bad := sc.CheckExpect(rep)
		tally = &expectTally{sc: sc, bad: bad, n: len(bad)}
	}
	if sink.check != nil {
		if err := sink.check.err(); err != nil {
			return err
		}
	}
	if mf.html != "" {
		// Drawn even when an expect failed: the report is where to see why.
		if err := drawRun(ctx, sc.Path, sc, v, mf.seed, mf.clock(), pictureFlags{html: mf.html}); err != nil {
			return err
		}
	}
	return tally.err()
}

// expectTally checks each step's result against its expect as the steps
// complete, keeping a count and the first few messages, and draws the
// progress bar (every steps at the most) of a run that keeps nothing else.
type expectTally struct {
	sc    *scenario.Scenario
	bar   *progress
	every int
	bad   []string
	n     int
}

// maxShownExpects is how many failed expects a message names.
const maxShownExpects = 5

func newExpectTally(cmd *cobra.Command, sc *scenario.Scenario, every int) *expectTally {
	return &expectTally{sc: sc, every: every, bar: newProgress(cmd.ErrOrStderr(), len(sc.Steps)*max(sc.Repeat, 1), "steps")}
}

// step is the run's step callback.
func (t *expectTally) step(n int, r report.Step) error {
	if msg := t.sc.CheckStep(n, r); msg != "" {
		t.n++
		if len(t.bad) < maxShownExpects {
			t.bad = append(t.bad, msg)
		}
	}
	if n%t.every == 0 {
		t.bar.update(n)
	}
	return nil
}

// done clears the progress bar.
func (t *expectTally) done() {
	if t != nil {
		t.bar.done()
	}
}

// err is nil when every expect held, else the mismatch naming them.
func (t *expectTally) err() error {
	if t == nil || t.n == 0 {
		return nil
	}
	more := ""
	if t.n > len(t.bad) {
		more = fmt.Sprintf(" (and %d more)", t.n-len(t.bad))
	}
	return mismatch("%s: %s%s", t.sc.Path, strings.Join(t.bad, "; "), more)
}
