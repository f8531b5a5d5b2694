package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/verify"
)

// verifySink is a verify.Sink that ends with a summary.
type verifySink interface {
	verify.Sink
	Close(verify.Stats) error
}

func newVerifyCmd() *cobra.Command {
	var asJSON, quiet, strict, zero6 bool
	c := &cobra.Command{
		Use:   "verify CAPTURE.pcap",
		Short: "Judge every UDP datagram of any capture as a Linux receiver would",
		Long: `Verify reads a pcap or pcapng file (from tcpdump, tshark, the kernel or
udpbuild; gzip-compressed too) of any size, as it is read and in constant
memory, reassembles IPv4 fragments as Linux's ip_defrag does and IPv6
fragments as ipv6_frag_rcv does (overlapping fragments drop the whole
datagram; queues expire after ipfrag_time, 30 s, or ip6frag_time, 60 s, of
capture time, and hold at most ipfrag_high_thresh / ip6frag_high_thresh,
4 MiB each), walks IPv6 extension headers as ip6_rcv_core and
ip6_protocol_deliver_rcu do (hop-by-hop only first, options, routing
headers, atomic fragments, a first fragment holding the whole header chain)
and judges each UDP and UDP-Lite datagram as __udp4_lib_rcv or
__udp6_lib_rcv would: UDP length against IP length, checksum (0 allowed for
UDP over IPv4; over IPv6 only with --allow-zero-checksum6, a socket with
UDP_NO_CHECK6_RX; never for UDP-Lite), UDP-Lite coverage. It
prints one row per datagram as soon as its fate is known: delivered,
dropped and why, or "not captured" when the capture cut a frame the verdict
needs (a snaplen): that is never a receiver's verdict.

Frame numbers are Wireshark's (from 1). Every link type gopacket decodes is
read (Ethernet, Linux cooked v1 and v2, raw IP, loopback, PPP, 802.11 with
radiotap or Prism, FDDI, PFLog, ...) plus NFLOG, PKTAP and Cisco HDLC, and
pcapng files whose interfaces have different link types. VLAN and QinQ tags,
MPLS, PPPoE, GRE, IP-in-IP, IPv6-in-IP, VXLAN (UDP 4789), Geneve (6081) and
GTP-U (2152) are unwrapped: a tunnel's outer UDP datagram gets a verdict of its own, and
when it is delivered the datagrams inside are judged too, each saying where
it was found ("in VXLAN vni 42 in IPv4 ...").

A checksum left partial by offload (the pseudo-header sum a capture on the
sending host shows) is recognised as such: the datagram is reported delivered
with a note, not called corrupt.

Frames that hold no UDP (TCP, ICMPv6, ARP, ...) are counted in the closing
summary, not listed (--strict lists each as a
diagnostic). Frames that cannot be read or decoded get a diagnostic, a line
starting with "!".

Exit status: 0 when every datagram would be delivered and every frame could
be read; 1 when a datagram would be dropped or was not captured, or a frame
drew a diagnostic; 2 when the input is not a capture file at all.`,
		Example: `  udpbuild verify kernel.pcap
  udpbuild verify -q big.pcapng.gz          # only what is not delivered
  udpbuild run examples/gso.yaml -o - --view wire | udpbuild verify -
  udpbuild verify capture.pcapng --json | jq 'select(.type == "verdict" and .delivered == false)'`,
		Args: exactArgs(1, "a capture file (- for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			name := args[0]
			in := cmd.InOrStdin()
			if name != "-" {
				if fi, err := os.Stat(name); err == nil && fi.IsDir() {
					return invalid("verify %s: is a directory, not a capture file", name)
				}
				f, err := openInput(ctx, name)
				if err != nil {
					if serr := stopped(ctx); serr != nil {
						return serr
					}
					return invalid("verify: %v", err)
				}
				defer f.Close()
				in = f
			}
			var sink verifySink
			if asJSON {
				sink = verify.NewJSONWriter(cmd.OutOrStdout())
			} else {
				sink = verify.NewTextWriter(cmd.OutOrStdout(), quiet)
			}
			stats, err := verify.Verify(ctx, &ctxReader{ctx: ctx, r: in}, verify.Options{Strict: strict, AllowZeroChecksum6: zero6}, sink)
			if err := stopped(ctx); err != nil {
				return err
			}
			var nc *verify.NotCaptureError
			if errors.As(err, &nc) {
				return invalid("verify %s: %v", name, err)
			}
			if err != nil {
				return err
			}
			if err := sink.Close(stats); err != nil {
				return err
			}
			if !stats.Clean() {
				return mismatch("%s: %d of %d datagrams would be dropped, %d not captured, %d diagnostics",
					name, stats.Dropped, stats.Datagrams, stats.NotCaptured, stats.Diagnostics)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines for scripts: one object per verdict and diagnostic, then a summary")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "leave out delivered datagrams")
	c.Flags().BoolVar(&strict, "strict", false, "a diagnostic for every frame not judged (TCP, ICMPv6, ARP, ...)")
	c.Flags().BoolVar(&zero6, "allow-zero-checksum6", false, "judge for a receiver socket with UDP_NO_CHECK6_RX: a zero UDP checksum over IPv6 is accepted")
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
