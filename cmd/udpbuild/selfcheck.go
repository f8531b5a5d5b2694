package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/verify"
)

// selfCheck verifies the model's own output with gopacket (verify.Frames),
// one datagram at a time so that a streaming run stays in bounded memory:
// every frame decodes, headers agree with each other, fragments and GSO
// segments reassemble, checksums hold and the payload is the one the model
// recorded for the datagram.
type selfCheck struct {
	view     report.View
	mtu      int
	frames   []report.Frame
	payload  []byte
	first    int // run-wide index of frames[0]
	next     int // run-wide index of the next frame
	problems []verify.Problem
	total    int
}

const maxShownProblems = 5

func newSelfCheck(v builder.View, mtu int) *selfCheck {
	return &selfCheck{view: report.View(v.String()), mtu: mtu}
}

// hook installs the checker on a run's options, chaining existing hooks.
func (c *selfCheck) hook(o *builder.Options) {
	prevFrame := o.Frame
	o.Datagram = func(p []byte) {
		c.flush()
		c.payload = append(c.payload[:0], p...)
	}
	if prevFrame != nil {
		o.Frame = func(f report.Frame) error {
			c.add(f)
			return prevFrame(f)
		}
	}
}

// add takes a copy of one frame of the current datagram.
func (c *selfCheck) add(f report.Frame) {
	f.Data = slices.Clone(f.Data)
	c.frames = append(c.frames, f)
	c.next++
}

// flush verifies the current datagram's frames.
func (c *selfCheck) flush() {
	if len(c.frames) == 0 {
		return
	}
	for i := range c.frames {
		c.frames[i].Datagram = 0
	}
	for _, p := range verify.Frames(c.frames, c.view, c.mtu, [][]byte{c.payload}) {
		c.total++
		if len(c.problems) < maxShownProblems {
			if p.Frame >= 0 {
				p.Frame += c.first
			}
			c.problems = append(c.problems, p)
		}
	}
	c.frames = c.frames[:0]
	c.first = c.next
}

// checkAll verifies a finished, collected report.
func (c *selfCheck) checkAll(frames []report.Frame, payloads [][]byte) {
	for _, p := range verify.Frames(frames, c.view, c.mtu, payloads) {
		c.total++
		if len(c.problems) < maxShownProblems {
			c.problems = append(c.problems, p)
		}
	}
}

// err is nil when every frame verified.
func (c *selfCheck) err() error {
	c.flush()
	if c.total == 0 {
		return nil
	}
	var msgs []string
	for _, p := range c.problems {
		msgs = append(msgs, p.String())
	}
	more := ""
	if c.total > len(c.problems) {
		more = fmt.Sprintf(" (and %d more)", c.total-len(c.problems))
	}
	return mismatch("the model wrote an inconsistent frame, a udpbuild bug worth reporting: %s%s", strings.Join(msgs, "; "), more)
}
