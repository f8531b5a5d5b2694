package main

import (
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/verify"
)

func newVerifyCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify CAPTURE.pcap",
		Short: "Judge every UDP datagram of any capture as a Linux receiver would",
		Long: `Verify reads a pcap or pcapng file (from tcpdump, tshark, the kernel or
udpbuild; gzip-compressed too), reassembles IPv4 fragments as Linux's ip_defrag
does (overlapping fragments drop the whole datagram) and judges each datagram as
__udp4_lib_rcv would: UDP length against IP length, checksum (0 allowed for UDP,
not for UDP-Lite), UDP-Lite coverage. It prints one row per datagram: delivered
or dropped, and why.

A checksum left partial by offload (the pseudo-header sum a capture on the
sending host shows) is recognised as such: the datagram is reported delivered
with a note, not called corrupt.

Frames that cannot be judged (truncated, cut by the snaplen, not IPv4, an
unknown link type) get one diagnostic each.

Exit status: 0 when every datagram would be delivered and every frame could be
read; 1 when any datagram would be dropped or any frame drew a diagnostic; 2
when the file cannot be read as a capture at all.`,
		Example: `  udpbuild verify kernel.pcap
  udpbuild run examples/gso.yaml -o - --view wire | udpbuild verify -
  udpbuild verify capture.pcapng --json | jq '.verdicts[] | select(.delivered == false)'`,
		Args: exactArgs(1, "a capture file (- for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			in := cmd.InOrStdin()
			if args[0] != "-" {
				f, err := openInput(ctx, args[0])
				if err != nil {
					if serr := stopped(ctx); serr != nil {
						return serr
					}
					return invalid("verify: %v", err)
				}
				defer f.Close()
				in = f
			}
			frames, lt, diags, err := verify.ReadCapture(&ctxReader{ctx: ctx, r: in})
			if err := stopped(ctx); err != nil {
				return err
			}
			if err != nil && len(frames) == 0 {
				return invalid("verify %s: %v", args[0], err)
			}
			sum := verify.Judge(frames, lt)
			// Keep an empty list empty, not null, in --json.
			sum.Diagnostics = append(append([]verify.Problem{}, diags...), sum.Diagnostics...)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else if err := verify.Render(cmd.OutOrStdout(), sum); err != nil {
				return err
			}
			dropped := 0
			for _, v := range sum.Verdicts {
				if !v.Delivered {
					dropped++
				}
			}
			if dropped > 0 || len(sum.Diagnostics) > 0 {
				return mismatch("%s: %d of %d datagrams would be dropped, %d frame diagnostics", args[0], dropped, len(sum.Verdicts), len(sum.Diagnostics))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return c
}

// openInput opens path for reading, giving up when ctx is cancelled: opening
// a FIFO waits for a writer, in a system call no signal interrupts, so the
// open runs on its own goroutine (left behind if abandoned: the process is
// about to exit).
func openInput(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	c := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		c <- opened{f, err}
	}()
	select {
	case o := <-c:
		return o.f, o.err
	case <-ctx.Done():
		go func() { // close the file should the open still succeed
			if o := <-c; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, context.Cause(ctx)
	}
}

// ctxReader reads r until ctx is cancelled. A read of a pipe or FIFO may
// wait for its writer indefinitely, so each read runs on its own
// goroutine, into a buffer of the reader's own: an abandoned read must not
// write into the caller's buffer later. (Once a read is abandoned no other
// starts, so buf is never shared.)
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	buf []byte
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := stopped(c.ctx); err != nil {
		return 0, err
	}
	type result struct {
		n   int
		err error
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	buf := c.buf[:len(p)]
	done := make(chan result, 1)
	go func() {
		n, err := c.r.Read(buf)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return copy(p, buf[:r.n]), r.err
	case <-c.ctx.Done():
		return 0, context.Cause(c.ctx)
	}
}
