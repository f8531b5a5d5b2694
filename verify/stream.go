package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/udpbuild/udpbuild/verify/internal/pcapread"
)

// NotCaptureError is Verify's error when the input is not a capture file
// at all (nothing could be read).
type NotCaptureError struct{ Err error }

func (e *NotCaptureError) Error() string { return e.Err.Error() }
func (e *NotCaptureError) Unwrap() error { return e.Err }

// deadliner is what an *os.File (a pipe, a FIFO, a socket) offers to end a
// read that waits.
type deadliner interface{ SetReadDeadline(time.Time) error }

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// asyncReader reads in a goroutine of its own so that a Read blocked in
// the kernel (standard input, a pipe without deadlines) cannot keep the
// caller from seeing its context end. After the end, the goroutine stays
// blocked until its Read returns, and the buffer it was given is written
// to no longer matters: the caller has given up the whole stream.
type asyncReader struct {
	ctx  context.Context
	req  chan []byte
	resp chan readResult
}

type readResult struct {
	n   int
	err error
}

func newAsyncReader(ctx context.Context, r io.Reader) *asyncReader {
	a := &asyncReader{ctx: ctx, req: make(chan []byte), resp: make(chan readResult, 1)}
	go func() {
		for {
			select {
			case p := <-a.req:
				n, err := r.Read(p)
				a.resp <- readResult{n, err} // buffered: never blocks
			case <-ctx.Done():
				return
			}
		}
	}()
	return a
}

func (a *asyncReader) Read(p []byte) (int, error) {
	if err := a.ctx.Err(); err != nil {
		return 0, err
	}
	select {
	case a.req <- p:
	case <-a.ctx.Done():
		return 0, a.ctx.Err()
	}
	select {
	case res := <-a.resp:
		return res.n, res.err
	case <-a.ctx.Done():
		return 0, a.ctx.Err()
	}
}

// Verify reads a pcap or pcapng capture from r (gzip-compressed too) and
// judges every frame as it is read, as Verifier does. Memory does not grow
// with the capture: nothing is kept per frame.
//
// It stops promptly when ctx is done and returns ctx's error: a read
// blocked on a pipe or FIFO is woken through SetReadDeadline when r has it;
// any other reader is read in a goroutine that is left behind, blocked,
// when ctx ends during a read.
// A file that is not a capture at all gives a *NotCaptureError; damage
// later in the file ends the reading with a diagnostic and Stats.Complete
// unset, not an error. The sink's first error ends the run and is
// returned.
func Verify(ctx context.Context, r io.Reader, opt Options, sink Sink) (Stats, error) {
	if d, ok := r.(deadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer stop()
		r = ctxReader{ctx, r}
	} else if ctx.Done() != nil {
		r = newAsyncReader(ctx, r)
	}
	rd, err := pcapread.NewReader(r)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return Stats{}, cerr
		}
		return Stats{}, &NotCaptureError{Err: err}
	}
	v := NewVerifier(opt, sink)
	for n := 0; ; n++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return v.stats, cerr
			}
			var pe *pcapread.Error
			if !errors.As(err, &pe) {
				return v.stats, err
			}
			what := "damaged"
			if pe.Truncated {
				what = "truncated"
			}
			v.frame, v.incomplete = 0, true
			v.diag("Capture", fmt.Sprintf("%s %s file, reading stopped after frame %d: %s", what, rd.Format(), v.stats.Frames, pe.Msg))
			break
		}
		if err := v.record(rec); err != nil {
			return v.stats, err
		}
		if n&1023 == 0 {
			if cerr := ctx.Err(); cerr != nil {
				return v.stats, cerr
			}
		}
	}
	return v.Finish()
}
