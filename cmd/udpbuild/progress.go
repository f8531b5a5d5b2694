package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// progress draws a bar on standard error for long runs, only when standard
// error is a terminal (never in pipes, logs or CI).
type progress struct {
	w     io.Writer
	total int
	what  string
	last  time.Time
	shown bool
}

// newProgress returns nil (a no-op) unless w is a terminal.
func newProgress(w io.Writer, total int, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || total < 2 {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return &progress{w: w, total: total, what: what}
}

// update shows done of total, at most every 200 ms.
func (p *progress) update(done int) {
	if p == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.shown = true
	const width = 30
	n := done * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d %s", strings.Repeat("#", n), strings.Repeat(" ", width-n), done*100/p.total, done, p.total, p.what)
}

// done clears the bar.
func (p *progress) done() { p.clear() }

// clear wipes the bar, so that a line can be written in its place; the
// next update draws it again.
func (p *progress) clear() {
	if p != nil && p.shown {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 70))
		p.shown = false
		p.last = time.Time{}
	}
}
