package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// maxExplainEvents bounds the decisions explain keeps (every one is held
// until the run ends, then printed): about 100 MB, a quarter of a million
// lines of output, far beyond what anyone reads. A scenario with a large
// repeat: would otherwise hold gigabytes.
const maxExplainEvents = 1 << 18

func newExplainCmd() *cobra.Command {
	var asJSON bool
	var pf pictureFlags
	var view string
	var seed uint64
	var lf loadFlags
	c := &cobra.Command{
		Use:   "explain SCENARIO.yaml",
		Short: "Explain, step by step and in the kernel's own terms, why the frames are what they are",
		Long: `Explain runs the scenario through the model and prints, for every step, the
decisions of the send path in order, each under the kernel function and variable
that makes it: corkreq and why; the destination; fragsize and mtu; fragheaderlen,
maxfraglen and maxnonfragsize; csummode and the reason; every skb allocated
(datalen, fraglen, fraggap, alloclen, linear or paged); the udp_send_skb
checksum path and GSO checks; each IP header field and why (DF, TTL, TOS, ID);
the output path (whole, fragmented by the fast or slow path, GSO) and every frame.

--svg draws the same as pictures, step by step and to scale in bytes: the
payload, the skbs of the cork queue (header room, linear and paged data, the
fraggap moved between them), and every frame at its offset in the datagram,
cut into its headers (Ethernet, IPv4 and options or IPv6 and its extension
headers, the fragment header, UDP) with their fields on hover. --html writes
one self-contained page: the scenario, the results, the frames table linked to
the pictures, and this trace, filterable.

docs/explain.md walks through examples.`,
		Example: `  udpbuild explain examples/fragmented.yaml
  udpbuild explain examples/gso.yaml --view wire
  udpbuild explain examples/cork.yaml --json | jq '.steps[0].events'
  udpbuild explain examples/fragmented.yaml --svg frag.svg --html frag.html`,
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
			ctx := cmd.Context()
			var events []builder.Event
			var steps []report.Step // the first repetition's results
			opts := builder.Options{View: v, Seed: seed,
				Trace: func(e builder.Event) { events = append(events, e) },
				// Frames are told as events; the report need not keep
				// their bytes.
				Frames:  builder.FrameFunc(func(*builder.FrameInfo, []byte, []byte) error { return nil }),
				Context: ctx,
				Steps: func(n int, r report.Step) error {
					if n < len(sc.Steps) {
						steps = append(steps, r)
					}
					if len(events) > maxExplainEvents {
						return invalid("%s: the run makes more than %d decisions (at step %d); explain keeps them all, so it stops there: lower repeat: to explain the first repetitions", args[0], maxExplainEvents, n)
					}
					return nil
				},
			}
			rep, err := builder.Run(sc, opts)
			if err := stopped(ctx); err != nil {
				return err
			}
			var ee *exitError
			if errors.As(err, &ee) {
				return ee
			}
			if err != nil {
				return invalid("%s: %v", args[0], err)
			}
			rep.Steps = steps
			if pf.any() {
				if err := drawRun(ctx, args[0], sc, v, seed, nil, pf); err != nil {
					return err
				}
			}
			ex := explanation(sc, rep, events)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(ex)
			}
			return renderExplanation(ctx, cmd.OutOrStdout(), ex)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON for tools instead of text")
	c.Flags().StringVar(&view, "view", "tap", "tap or wire (which frames are listed)")
	c.Flags().StringVar(&pf.svg, "svg", "", "also draw the steps as one SVG picture in this file")
	c.Flags().StringVar(&pf.html, "html", "", "also write a self-contained HTML page: scenario, results, frames linked to pictures, the trace")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed for the model's random draws")
	lf.add(c)
	return c
}

// Explanation is explain's JSON output.
type Explanation struct {
	Scenario string         `json:"scenario"`
	Link     string         `json:"link"`
	Setup    []ExplainedRun `json:"setup,omitempty"`
	Steps    []ExplainedRun `json:"steps"`
}

// ExplainedRun is one step (or the set-up) with its decisions.
type ExplainedRun struct {
	Index  int             `json:"index"`
	Call   string          `json:"call"`
	Result string          `json:"result"`
	Events []builder.Event `json:"events"`
}

func explanation(sc *scenario.Scenario, rep *report.Report, events []builder.Event) Explanation {
	ex := Explanation{Scenario: sc.Name}
	ex.Link = fmt.Sprintf("mtu %d, features %v", sc.Link.MTU, rep.Features.Enabled)
	if len(rep.Features.Dropped) > 0 {
		ex.Link += fmt.Sprintf(" (dropped: %s)", strings.Join(rep.Features.Dropped, "; "))
	}
	byStep := map[int][]builder.Event{}
	for _, e := range events {
		byStep[e.Step] = append(byStep[e.Step], e)
	}
	family, pmtu := "", "IP_MTU_DISCOVER"
	if sc.Socket.IPv6() {
		family, pmtu = "AF_INET6, ", "IPV6_MTU_DISCOVER"
	}
	setup := ExplainedRun{Index: -1, Call: fmt.Sprintf("socket(%s%s), %s %s, %d setsockopt(s)", family, sc.Socket.Proto, pmtu, sc.Socket.PMTUDisc, len(sc.Socket.Setsockopt)), Events: byStep[-1]}
	var res []string
	for i, r := range rep.Setup {
		res = append(res, fmt.Sprintf("%s=%s", sc.Socket.Setsockopt[i].Name, r))
	}
	setup.Result = strings.Join(res, " ")
	if sc.Socket.Connect {
		setup.Call += fmt.Sprintf(", connect(%s)", sc.Socket.Dst)
	}
	ex.Setup = []ExplainedRun{setup}
	for i, st := range sc.Steps {
		er := ExplainedRun{Index: i, Call: describeStep(st), Events: byStep[i]}
		if er.Events == nil {
			er.Events = []builder.Event{}
		}
		if i < len(rep.Steps) {
			er.Result = rep.Steps[i].String()
		}
		ex.Steps = append(ex.Steps, er)
	}
	return ex
}

func describeStep(st scenario.Step) string {
	if ic := st.ICMP; ic != nil {
		s := "path event: ICMP " + string(ic.Type)
		switch ic.Type {
		case scenario.ICMPFragNeeded, scenario.ICMPPacketTooBig:
			s += fmt.Sprintf(" (mtu %d)", ic.MTU)
		case scenario.ICMPParameterProblem:
			s += fmt.Sprintf(" (pointer %d)", ic.Pointer)
		}
		if ic.From.IsValid() {
			s += " from " + ic.From.String()
		}
		return s + " quoting the last datagram"
	}
	if st.Getsockopt != "" {
		return "getsockopt(" + string(st.Getsockopt) + ")"
	}
	if r := st.Recv; r != nil {
		on := fmt.Sprintf("peer socket %d", r.Socket)
		if r.ErrQueue {
			on = "sender, MSG_ERRQUEUE"
		}
		s := fmt.Sprintf("recvmsg(%s, len=%d, cmsg_len=%d", on, r.Len, r.CmsgLen)
		if f := scenario.RecvFlagNames(r.Flags); len(f) > 0 {
			s += ", " + strings.Join(f, "|")
		}
		switch {
		case r.Count == scenario.RecvAll:
			s += ", until EAGAIN"
		case r.Count > 1:
			s += fmt.Sprintf(", %d times", r.Count)
		}
		return s + ")"
	}
	if st.Send == nil {
		var parts []string
		for _, o := range st.Setsockopt {
			if o.Name == scenario.OptIPOptions {
				parts = append(parts, fmt.Sprintf("%s=%x", o.Name, o.Bytes))
			} else {
				parts = append(parts, fmt.Sprintf("%s=%d", o.Name, o.Int))
			}
		}
		return "setsockopt(" + strings.Join(parts, ", ") + ")"
	}
	s := fmt.Sprintf("sendmsg(len=%d", len(st.Send.Payload))
	if f := scenario.FlagNames(st.Send.Flags); len(f) > 0 {
		s += ", " + strings.Join(f, "|")
	}
	if st.Send.To.IsValid() {
		s += ", to " + st.Send.To.String()
	}
	for _, c := range st.Send.Cmsg {
		if c.Type == scenario.CmsgIPOptions {
			s += fmt.Sprintf(", cmsg %s=%x", c.Type, c.Bytes)
		} else {
			s += fmt.Sprintf(", cmsg %s=%d", c.Type, c.Int)
		}
	}
	return s + ")"
}

// renderExplanation prints ex as text, stopping at a signal.
func renderExplanation(ctx context.Context, w io.Writer, ex Explanation) error {
	fmt.Fprintf(w, "scenario %q; link %s\n", ex.Scenario, ex.Link)
	for _, r := range append(ex.Setup, ex.Steps...) {
		if err := stopped(ctx); err != nil {
			return err
		}
		label := fmt.Sprintf("step %d", r.Index)
		if r.Index < 0 {
			label = "setup"
		}
		fmt.Fprintf(w, "\n%s: %s", label, r.Call)
		if r.Result != "" {
			fmt.Fprintf(w, " = %s", r.Result)
		}
		fmt.Fprintln(w)
		for _, e := range r.Events {
			fmt.Fprintf(w, "  %-28s %-16s = %-12s %s\n", e.Func, e.Var, e.Value, e.Why)
		}
	}
	return nil
}
