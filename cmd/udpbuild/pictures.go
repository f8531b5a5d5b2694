package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/picture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// pictureFlags are --svg and --html: where to draw a run.
type pictureFlags struct {
	svg, html string
}

func (pf pictureFlags) any() bool { return pf.svg != "" || pf.html != "" }

// drawRun plays sc's steps once more through the model, tracing every
// decision and keeping every frame, and writes the pictures pf asks for.
// A scenario that repeats is drawn for its first repetition (the note
// says so): the pictures are for reading, a long run's frames are in its
// capture.
func drawRun(ctx context.Context, path string, sc *scenario.Scenario, v report.View, seed uint64, clock func() uint32, pf pictureFlags) error {
	once := *sc
	once.Repeat = 1
	var events []builder.Event
	var steps []report.Step
	opts := builder.Options{View: v, Seed: seed, Clock: clock, Context: ctx,
		Trace: func(e builder.Event) { events = append(events, e) },
		Steps: func(n int, r report.Step) error {
			steps = append(steps, r)
			if len(events) > maxExplainEvents {
				return invalid("%s: the steps make more than %d decisions (at step %d); too many to draw", path, maxExplainEvents, n)
			}
			return nil
		},
	}
	rep, err := builder.Run(&once, opts)
	if err := stopped(ctx); err != nil {
		return err
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	if err != nil {
		return invalid("%s: %v", path, err)
	}
	rep.Steps = steps
	set := picture.Collect(&once, rep, events)
	if pf.svg != "" {
		if err := writeAtomic(ctx, pf.svg, "picture", func(w io.Writer) error { return picture.SVG(w, sc.Name, set) }); err != nil {
			return err
		}
	}
	if pf.html != "" {
		yaml, err := scenario.Marshal(sc)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		p := picture.Page{Title: path, Scenario: string(yaml), Report: rep, Set: set, Events: events}
		if sc.Repeat > 1 {
			p.Note = fmt.Sprintf("The scenario repeats its steps %d times; this report shows the first repetition.", sc.Repeat)
		}
		if err := writeAtomic(ctx, pf.html, "report", func(w io.Writer) error { return picture.HTML(w, p) }); err != nil {
			return err
		}
	}
	return nil
}
