package receive

// This file will re-tell the IPv6 receive path (net/ipv6/ip6_input.c,
// reassembly.c, udp.c's __udp6_lib_rcv, icmp.c's icmpv6_send). It is not
// modelled yet: an IPv6 packet reaching the peer is dropped with a trace
// saying so, and no counter moves.

func (h *Host) ipv6Rcv(p Skb) {
	h.tracef("ipv6_rcv", "drop", "not modelled", "the model's IPv6 receive path is unfinished (issue 15)")
}

// csumOK6 would verify an IPv6 datagram's checksum; no IPv6 datagram is
// queued while ipv6Rcv drops them all.
func csumOK6(r *rskb, n int) bool { return false }
