package main

import (
	"fmt"
	"strings"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/verify"
)

// selfCheck verifies the model's own output with gopacket (verify.Frames)
// one datagram at a time, as the frames are written: every frame decodes,
// headers agree with each other, fragments and GSO segments reassemble,
// checksums hold and the payload is the one the model built the datagram
// from. A datagram's frames are checked together, so they are copied as
// they pass into one buffer reused from datagram to datagram; nothing is
// cloned or kept per frame, and a long run stays in bounded memory.
type selfCheck struct {
	view report.View
	mtu  int
	// The current datagram: its run-wide number, its payload and frames
	// (their bytes in arena; a slice handed out stays valid when an
	// append moves arena, whose old array nothing writes to).
	dgram   int
	payload []byte
	frames  []report.Frame
	arena   []byte
	first   int // run-wide index of frames[0]
	next    int // run-wide index of the next frame

	// checker keeps verify's working memory from datagram to datagram,
	// sent the one payload a flush compares with.
	checker verify.Checker
	sent    [1][]byte

	problems []verify.Problem
	total    int
}

const maxShownProblems = 5

func newSelfCheck(v report.View, mtu int) *selfCheck {
	return &selfCheck{view: v, mtu: mtu, dgram: -1}
}

// datagram checks the datagram before and starts the next, whose UDP
// payload is p.
func (c *selfCheck) datagram(p []byte) {
	c.flush()
	c.dgram++
	c.arena = append(c.arena[:0], p...)
	c.payload = c.arena[:len(p):len(p)]
}

// frame takes a copy of one frame of the current datagram, numbered as
// datagram 0 for verify.Frames. The peer's side's frames (its ICMP
// errors, a path event's) are not the send path's: they are not checked.
func (c *selfCheck) frame(fi *builder.FrameInfo, head, data []byte) {
	if fi.Dir == report.DirPeer {
		return
	}
	f := fi.Record(len(head) + len(data))
	start := len(c.arena)
	c.arena = append(append(c.arena, head...), data...)
	f.Data = c.arena[start:len(c.arena):len(c.arena)]
	f.Datagram = 0
	c.frames = append(c.frames, f)
	c.next++
}

// flush verifies the current datagram's frames, naming frames and the
// datagram by their numbers in the run.
func (c *selfCheck) flush() {
	if len(c.frames) == 0 {
		return
	}
	c.sent[0] = c.payload
	for _, p := range c.checker.Frames(c.frames, c.view, c.mtu, c.sent[:]) {
		c.total++
		if len(c.problems) < maxShownProblems {
			if p.Frame >= 0 {
				p.Frame += c.first
			}
			if p.Datagram == 0 {
				p.Datagram = c.dgram
			}
			c.problems = append(c.problems, p)
		}
	}
	c.frames = c.frames[:0]
	c.first = c.next
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
