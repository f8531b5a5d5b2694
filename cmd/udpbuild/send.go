package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// sendFlags are udpbuild send's flags: a scenario spelled on the command
// line.
type sendFlags struct {
	length   int
	hexData  string
	file     string
	lens     []int
	count    int
	src, dst string
	to       string
	connect  bool
	mtu      int
	features []string
	cork     bool
	flags    []string
	gso      int
	gsoCmsg  int
	options  string
	tos, ttl int
	pmtudisc string
	udplite  bool
	cscov    int
	noCheck  bool
	expect   string
	dump     bool
	// IPv6 sockets
	tclass, hopLimit int
	flowlabel        int64
	dontfrag         bool
	ipv6MTU          int
	extHdrs          []string
}

func newSendCmd() *cobra.Command {
	var sf sendFlags
	var mf modelFlags
	c := &cobra.Command{
		Use:   "send [flags] -o OUT.pcap",
		Short: "Build the frames of one send (or a short sequence) described by flags alone",
		Long: `Send writes a scenario from its flags and runs it through the model, as 'run'
does. The scenario is checked by the same strict loader, so a bad value gets
the same message; --dump-scenario prints the scenario instead of running it,
to keep it or to edit it into a longer one.

A sequence of lengths (--lens 600,600,300) is a MSG_MORE sequence: every send
but the last carries MSG_MORE, so the kernel corks them into one datagram.
--count repeats the whole sequence.

IPv6: an address in brackets ([fd00::2]:9000) for --src or --dst makes an
IPv6 (AF_INET6) socket; the other address then defaults to the IPv6 one of
the link (fd00::1 or fd00::2). A v4-mapped --dst ([::ffff:10.0.0.2]:9000)
goes out as IPv4, as the kernel sends it. --tclass, --hop-limit,
--flowlabel, --dontfrag, --ipv6-mtu and --ext-hdr set the IPv6 socket
options (see each flag); --tos, --ttl and --pmtudisc's IPv4 side apply to
an IPv6 socket's IPv4 (v4-mapped) sends, --pmtudisc to both.`,
		Example: `  udpbuild send --len 4000 -o frag.pcap
  udpbuild send --len 4000 --gso 1200 --features hw-csum,sg,gso-udp-l4 --view wire -o gso.pcap
  udpbuild send --lens 600,600,300 --ip-options 070b04000000000000000000 -o cork.pcap
  udpbuild send --hex 0badc0de --tos 0xb8 --ttl 3 --pmtudisc do -o - | tshark -r -
  udpbuild send --udplite --cscov 20 --len 100 --dump-scenario
  udpbuild send --dst '[fd00::2]:9000' --len 3000 --ext-hdr hop=8 -o frag6.pcap
  udpbuild send --dst '[fd00::2]:9000' --len 1453 --dontfrag --expect EMSGSIZE --report r.json
  udpbuild send --src '[::]:40000' --dst '[::ffff:10.0.0.2]:9000' --tos 0x28 --len 100 -o mapped.pcap`,
		Args: exactArgs(0, "no positional arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("tos") && (sf.tos < 0 || sf.tos > 255) {
				return invalid("--tos %d: 0..255", sf.tos)
			}
			var v report.View
			var f capture.Format
			if !sf.dump {
				var err error
				if v, f, err = mf.check("-o OUT.pcap (or -o -), --report R.json, or --dump-scenario"); err != nil {
					return err
				}
			}
			if sf.dump {
				y, err := sf.yaml(cmd, sf.file)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(y)
				return err
			}
			// --file names a file on the user's own command line: it is
			// trusted, wherever it is and however it is reached
			// (docs/threat-model.md). It is read by its resolved name,
			// from its own directory, which the loader then allows.
			var opts scenario.Options
			file := sf.file
			if file != "" {
				real, err := filepath.EvalSymlinks(file)
				if err == nil {
					real, err = filepath.Abs(real)
				}
				if err != nil {
					return invalid("--file %s: %v", file, unwrapPathErr(err))
				}
				file = real
				opts.PayloadDirs = []string{filepath.Dir(real)}
			}
			y, err := sf.yaml(cmd, file)
			if err != nil {
				return err
			}
			sc, err := scenario.ParseWith(y, "", opts)
			if err != nil {
				return invalid("the flags make an invalid scenario: %v (see --dump-scenario)", err)
			}
			sc.Path = "send"
			return runModel(cmd, sc, mf, v, f)
		},
	}
	fl := c.Flags()
	fl.IntVar(&sf.length, "len", 0, "payload length in pattern bytes")
	fl.StringVar(&sf.hexData, "hex", "", "payload as hex bytes")
	fl.StringVar(&sf.file, "file", "", "payload from a file")
	fl.IntSliceVar(&sf.lens, "lens", nil, "a MSG_MORE sequence of payload lengths (all but the last with MSG_MORE)")
	fl.IntVar(&sf.count, "count", 1, "repeat the send (or sequence) this many times")
	fl.StringVar(&sf.src, "src", scenario.DefaultSrc.String(), "source address:port, or [address]:port for an IPv6 socket (default [fd00::1]:40000 when --dst is IPv6)")
	fl.StringVar(&sf.dst, "dst", scenario.DefaultDst.String(), "destination address:port or [address]:port (default [fd00::2]:9000 when --src is IPv6)")
	fl.StringVar(&sf.to, "to", "", "pass this address:port (sockaddr_in) or [address]:port (sockaddr_in6) as msg_name instead")
	fl.BoolVar(&sf.connect, "connect", false, "connect() to --dst first (IP IDs then come from the socket's counter)")
	fl.IntVar(&sf.mtu, "mtu", scenario.DefaultMTU, "device MTU")
	fl.StringSliceVar(&sf.features, "features", nil, "NIC features: hw-csum, ip-csum, sg, gso-udp-l4")
	fl.BoolVar(&sf.cork, "cork", false, "set UDP_CORK before sending and clear it after (pushing the datagram)")
	fl.StringSliceVar(&sf.flags, "flags", nil, "msg_flags for every send: MSG_MORE, MSG_PROBE, MSG_OOB, MSG_CONFIRM, MSG_DONTWAIT, MSG_DONTROUTE")
	fl.IntVar(&sf.gso, "gso", 0, "UDP_SEGMENT socket option (gso_size)")
	fl.IntVar(&sf.gsoCmsg, "gso-cmsg", 0, "UDP_SEGMENT as a control message on each send")
	fl.StringVar(&sf.options, "ip-options", "", "IP_OPTIONS socket option, hex")
	fl.IntVar(&sf.tos, "tos", 0, "IP_TOS socket option")
	fl.IntVar(&sf.ttl, "ttl", -1, "IP_TTL socket option (-1: the default, 64)")
	fl.StringVar(&sf.pmtudisc, "pmtudisc", "want", "IP_MTU_DISCOVER: dont, want, do, probe, interface, omit")
	fl.BoolVar(&sf.udplite, "udplite", false, "a UDP-Lite socket")
	fl.IntVar(&sf.cscov, "cscov", -1, "UDPLITE_SEND_CSCOV (UDP-Lite checksum coverage)")
	fl.BoolVar(&sf.noCheck, "no-check", false, "SO_NO_CHECK: send UDP checksums as 0")
	fl.StringVar(&sf.expect, "expect", "", "expected result of the (last) send: a byte count or an errno name")
	fl.BoolVar(&sf.dump, "dump-scenario", false, "print the equivalent scenario YAML and exit")
	fl.IntVar(&sf.tclass, "tclass", -1, "IPV6_TCLASS socket option: the traffic class byte (IPv6 socket)")
	fl.IntVar(&sf.hopLimit, "hop-limit", -1, "IPV6_UNICAST_HOPS socket option (-1: the default, 64)")
	fl.Int64Var(&sf.flowlabel, "flowlabel", -1, "flow label 0..0xfffff, sent as sin6_flowinfo with IPV6_FLOWINFO_SEND (default: the kernel's automatic label)")
	fl.BoolVar(&sf.dontfrag, "dontfrag", false, "IPV6_DONTFRAG: refuse to fragment (EMSGSIZE), whatever --pmtudisc says")
	fl.IntVar(&sf.ipv6MTU, "ipv6-mtu", 0, "IPV6_MTU socket option: the fragment size (0 or >= 1280)")
	fl.StringArrayVar(&sf.extHdrs, "ext-hdr", nil, "a sticky IPv6 extension header KIND=BYTES, repeatable: KIND is hop (IPV6_HOPOPTS), dst (IPV6_DSTOPTS), rthdrdst (IPV6_RTHDRDSTOPTS) or rthdr (IPV6_RTHDR, a segment routing header); BYTES is the header in hex, or a decimal size (8..2040, a multiple of 8) for an options header a Linux receiver accepts (experimental options, at most 7 bytes of padding)")
	mf.add(c)
	return c
}

// yaml spells the flags as a scenario, reading the payload of --file from
// file. Every string goes in quoted (strconv.Quote is valid YAML), so no
// flag can change the document's structure; values are validated by the
// scenario loader.
func (sf *sendFlags) yaml(cmd *cobra.Command, file string) ([]byte, error) {
	var b strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&b, "name: %s\n", q("udpbuild send"))
	if sf.count > 1 {
		fmt.Fprintf(&b, "repeat: %d\n", sf.count)
	}
	fmt.Fprintf(&b, "link:\n  mtu: %d\n", sf.mtu)
	if len(sf.features) > 0 {
		b.WriteString("  features: [")
		for i, f := range sf.features {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(q(strings.TrimSpace(f)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("socket:\n")
	proto := "udp"
	if sf.udplite {
		proto = "udplite"
	}
	src, dst := sf.src, sf.dst
	if !cmd.Flags().Changed("src") && isIPv6AddrPort(dst) {
		src = scenario.DefaultSrc6.String()
	}
	if !cmd.Flags().Changed("dst") && isIPv6AddrPort(src) {
		dst = scenario.DefaultDst6.String()
	}
	fmt.Fprintf(&b, "  proto: %s\n  src: %s\n  dst: %s\n  connect: %v\n  pmtudisc: %s\n", proto, q(src), q(dst), sf.connect, q(sf.pmtudisc))
	if sf.flowlabel >= 0 {
		if sf.flowlabel > 0xfffff {
			return nil, invalid("--flowlabel %#x: 0..0xfffff", sf.flowlabel)
		}
		fmt.Fprintf(&b, "  flowinfo: %d\n", sf.flowlabel)
	}
	var opts []string
	if sf.cork {
		opts = append(opts, "UDP_CORK: 1")
	}
	if cmd.Flags().Changed("tos") {
		opts = append(opts, fmt.Sprintf("IP_TOS: %d", sf.tos))
	}
	if sf.ttl != -1 {
		opts = append(opts, fmt.Sprintf("IP_TTL: %d", sf.ttl))
	}
	if sf.options != "" {
		opts = append(opts, "IP_OPTIONS: "+q(sf.options))
	}
	if sf.noCheck {
		opts = append(opts, "SO_NO_CHECK: 1")
	}
	if sf.gso != 0 {
		opts = append(opts, fmt.Sprintf("UDP_SEGMENT: %d", sf.gso))
	}
	if sf.cscov >= 0 {
		opts = append(opts, fmt.Sprintf("UDPLITE_SEND_CSCOV: %d", sf.cscov))
	}
	v6opts, err := sf.ipv6Opts(cmd)
	if err != nil {
		return nil, err
	}
	opts = append(opts, v6opts...)
	if len(opts) > 0 {
		b.WriteString("  setsockopt:\n")
		for _, o := range opts {
			b.WriteString("    - " + o + "\n")
		}
	}
	payloads := 0
	for _, set := range []bool{cmd.Flags().Changed("len"), sf.hexData != "", sf.file != "", len(sf.lens) > 0} {
		if set {
			payloads++
		}
	}
	if payloads > 1 {
		return nil, invalid("give one of --len, --hex, --file and --lens")
	}
	type send struct {
		payload string
		more    bool
	}
	var sends []send
	switch {
	case sf.hexData != "":
		sends = []send{{payload: "payload: " + q("hex:"+sf.hexData)}}
	case sf.file != "":
		sends = []send{{payload: "payload: " + q("@"+file)}}
	case len(sf.lens) > 0:
		for i, n := range sf.lens {
			sends = append(sends, send{payload: fmt.Sprintf("len: %d", n), more: i < len(sf.lens)-1})
		}
	default:
		sends = []send{{payload: fmt.Sprintf("len: %d", sf.length)}}
	}
	b.WriteString("steps:\n")
	for i, s := range sends {
		fmt.Fprintf(&b, "  - send:\n      %s\n", s.payload)
		flags := append([]string(nil), sf.flags...)
		if s.more {
			flags = append(flags, "MSG_MORE")
		}
		if len(flags) > 0 {
			b.WriteString("      flags: [")
			for j, f := range flags {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(q(strings.TrimSpace(f)))
			}
			b.WriteString("]\n")
		}
		if sf.gsoCmsg != 0 {
			fmt.Fprintf(&b, "      cmsg:\n        - UDP_SEGMENT: %d\n", sf.gsoCmsg)
		}
		if sf.to != "" {
			fmt.Fprintf(&b, "      to: %s\n", q(sf.to))
		}
		if sf.expect != "" && i == len(sends)-1 {
			if n, err := strconv.Atoi(sf.expect); err == nil {
				fmt.Fprintf(&b, "      expect: %d\n", n)
			} else {
				fmt.Fprintf(&b, "      expect: %s\n", q(sf.expect))
			}
		}
	}
	if sf.cork {
		b.WriteString("  - setsockopt:\n      UDP_CORK: 0\n")
	}
	return []byte(b.String()), nil
}

// isIPv6AddrPort reports whether s is an [address]:port with an IPv6
// address (the loader validates it further).
func isIPv6AddrPort(s string) bool {
	ap, err := netip.ParseAddrPort(s)
	return err == nil && ap.Addr().Is6()
}

// ipv6Opts spells the IPv6 flags as socket options.
func (sf *sendFlags) ipv6Opts(cmd *cobra.Command) ([]string, error) {
	var opts []string
	if cmd.Flags().Changed("tclass") {
		opts = append(opts, fmt.Sprintf("IPV6_TCLASS: %d", sf.tclass))
	}
	if cmd.Flags().Changed("hop-limit") {
		opts = append(opts, fmt.Sprintf("IPV6_UNICAST_HOPS: %d", sf.hopLimit))
	}
	if sf.flowlabel >= 0 {
		opts = append(opts, "IPV6_FLOWINFO_SEND: 1")
	}
	if sf.dontfrag {
		opts = append(opts, "IPV6_DONTFRAG: 1")
	}
	if cmd.Flags().Changed("ipv6-mtu") {
		opts = append(opts, fmt.Sprintf("IPV6_MTU: %d", sf.ipv6MTU))
	}
	names := map[string]string{"hop": "IPV6_HOPOPTS", "dst": "IPV6_DSTOPTS", "rthdrdst": "IPV6_RTHDRDSTOPTS", "rthdr": "IPV6_RTHDR"}
	for _, e := range sf.extHdrs {
		kind, val, ok := strings.Cut(e, "=")
		name := names[kind]
		if !ok || name == "" {
			return nil, invalid("--ext-hdr %q: want KIND=BYTES with KIND hop, dst, rthdrdst or rthdr", e)
		}
		hexb := val
		if n, err := strconv.Atoi(val); err == nil && len(val) <= 4 {
			if kind == "rthdr" || n < 8 || n > 2040 || n%8 != 0 {
				return nil, invalid("--ext-hdr %q: a padding size is 8..2040, a multiple of 8, and only for option headers (give a routing header in hex)", e)
			}
			hexb = padOptHeader(n)
		}
		opts = append(opts, name+": "+strconv.Quote(hexb))
	}
	return opts, nil
}

// padOptHeader is an n-byte hop-by-hop or destination options header, in
// hex, that a Linux receiver accepts: next header 0 (the kernel overwrites
// it), hdrlen, then RFC 4727 experimental options (type 0x1e, skipped by a
// receiver that does not know it) of up to 255 bytes each, and at most 7
// bytes of padding, since ip6_parse_tlv drops a header with longer runs of
// Pad1/PadN. At 2040 bytes that is 8 options, the default
// max_dst_opts_number and max_hbh_opts_number.
func padOptHeader(n int) string {
	b := make([]byte, n)
	b[1] = byte(n/8 - 1)
	off, r := 2, n-2
	for r >= 8 {
		l := min(255, r-2-4)
		b[off], b[off+1] = 0x1e, byte(l)
		off, r = off+2+l, r-2-l
	}
	switch {
	case r == 1:
		b[off] = 0 // Pad1
	case r >= 2:
		b[off], b[off+1] = 1, byte(r-2) // PadN
	}
	return fmt.Sprintf("%x", b)
}

// unwrapPathErr drops the operation and path of an *os.PathError, which
// the message names already.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
