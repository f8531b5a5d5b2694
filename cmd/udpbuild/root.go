package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "udpbuild",
		Short: "Build the frames Linux sends for UDP over IPv4 and IPv6, and check them against the kernel",
		Long: `udpbuild re-tells the Linux IPv4 and IPv6 UDP send paths (udp_sendmsg /
udpv6_sendmsg -> ip_append_data / ip6_append_data -> udp_send_skb -> IP header
and extension headers -> fragmentation / GSO) in Go. Give it a
scenario file (a socket's set-up and a sequence of sendmsg/setsockopt calls) and it
writes the frames the kernel would emit as pcap or pcapng, with a JSON report of
every call's result and every frame's provenance.

'udpbuild kernel' runs the same scenario through the real running kernel, in
private network namespaces, and captures what leaves the device: the ground truth
the model is measured against ('udpbuild diff').

Exit status: 0 the scenario ran and every expect held; 1 an expect did not hold
(or diff/verify found a difference); 2 the scenario or command line is invalid;
130 stopped by SIGINT, 143 stopped by SIGTERM. A signal leaves no partial file:
the file being written is not renamed into place (what already went to
standard output, a device or a FIFO stays written).

Scenarios are untrusted input: "@file" payloads must lie inside the scenario's
directory unless --payload-dir names another. docs/threat-model.md says what
each command trusts and what it bounds.`,
		Example: `  udpbuild run examples/fragmented.yaml -o out.pcap
  udpbuild run examples/gso.yaml -o - --view wire | tshark -r -
  sudo udpbuild kernel examples/fragmented.yaml -o kernel.pcap --report kernel.json
  sudo udpbuild diff examples/cork.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newRunCmd(), newSendCmd(), newExplainCmd(), newVerifyCmd(), newKernelCmd(), newDiffCmd(), newFuzzCmd(), newManCmd())
	return root
}
