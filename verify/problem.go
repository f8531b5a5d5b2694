package verify

import "fmt"

// Problem is one inconsistency Frames found in a run's own frames, naming
// the frame and the field: e.g. Frame 3, Field "IPv4.FragOffset", Msg "not
// a multiple of 8".
type Problem struct {
	// Frame is the 0-based index of the frame concerned in the slice
	// given to Frames, -1 if none.
	Frame int `json:"frame"`
	// Datagram is the datagram the frame belongs to, -1 if not applicable.
	Datagram int `json:"datagram"`
	// Field names the header field or aspect at fault, in gopacket's
	// Layer.Field spelling where there is one ("IPv4.Checksum").
	Field string `json:"field"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
}

// String renders the problem on one line: "frame 3 (datagram 1):
// IPv4.FragOffset: not a multiple of 8".
func (p Problem) String() string {
	where := "capture"
	switch {
	case p.Frame >= 0 && p.Datagram >= 0:
		where = fmt.Sprintf("frame %d (datagram %d)", p.Frame, p.Datagram)
	case p.Frame >= 0:
		where = fmt.Sprintf("frame %d", p.Frame)
	case p.Datagram >= 0:
		where = fmt.Sprintf("datagram %d", p.Datagram)
	}
	if p.Field == "" {
		return where + ": " + p.Msg
	}
	return where + ": " + p.Field + ": " + p.Msg
}

// Code names why a receiver drops a datagram. A Verdict carries both the code
// and a human reason; compare codes, never reason text.
type Code string

// Drop codes, each named after the kernel function whose check fails.
const (
	// CodeIPChecksum: ip_rcv_core, the header checksum does not verify.
	// Codes whose comment names only IPv4 functions are IPv4's; the
	// CodeIP6 codes and those naming an IPv6 function are IPv6's.
	CodeIPChecksum Code = "ip-checksum"
	// CodeIPTruncated: ip_rcv_core, tot_len is larger than the bytes
	// received; ip6_rcv_core, payload_len is (or a jumbo payload option's
	// length, ipv6_hop_jumbo).
	CodeIPTruncated Code = "ip-truncated"
	// CodeIPLength: ip_rcv_core, tot_len is smaller than the header.
	CodeIPLength Code = "ip-length"
	// CodeIPOptions: ip_options_compile rejects the options.
	CodeIPOptions Code = "ip-options"
	// CodeIPSourceRoute: ip_rcv_options drops source-routed packets unless
	// accept_source_route is on for "all" and the device (off by default).
	CodeIPSourceRoute Code = "ip-source-route"
	// CodeIPMartian: ip_route_input_slow, the source address can never be
	// a sender (multicast, limited broadcast, 0.0.0.0/8).
	CodeIPMartian Code = "ip-martian"
	// CodeIP6Address: ip6_rcv_core, an address no packet from another node
	// may carry: the loopback address (source or destination), a
	// multicast source, a multicast destination of scope 0 (reserved) or
	// 1 (interface-local).
	CodeIP6Address Code = "ip6-address"
	// CodeIP6ExtHeader: an IPv6 extension header reaches beyond the packet
	// (pskb_may_pull in ipv6_parse_hopopts, ipv6_destopt_rcv,
	// ipv6_rthdr_rcv, ipv6_frag_rcv), or ipv6_frag_rcv's fail_hdr: a
	// second fragment header, a fragment header with a jumbo payload.
	CodeIP6ExtHeader Code = "ip6-ext-header"
	// CodeIP6Options: ip6_parse_tlv refuses hop-by-hop or destination
	// options: padding over 7 bytes or not zero, an option past the
	// header's end, more than 8 options (max_hbh_opts_cnt,
	// max_dst_opts_cnt), an unknown option whose type says drop
	// (ip6_tlvopt_unknown), a bad router alert, jumbo or CALIPSO option.
	CodeIP6Options Code = "ip6-options"
	// CodeIP6HopByHop: a hop-by-hop header anywhere but first: no
	// protocol handles next header 0 (ip6_protocol_deliver_rcu, ICMPv6
	// unknown next header).
	CodeIP6HopByHop Code = "ip6-hop-by-hop"
	// CodeIP6Routing: ipv6_rthdr_rcv drops a routing header with
	// segments left of a type a host does not process (type 0 since
	// RFC 5095, type 2 without MIP6), any segment routing header while
	// seg6_enabled (type 4, ipv6_srh_rcv) or rpl_seg_enabled (type 3) is
	// off, as it is by default, and any routing header to a multicast
	// destination.
	CodeIP6Routing Code = "ip6-routing"
	// CodeFragOverlap: inet_frag_queue_insert found an overlap that is not
	// a pure duplicate; the whole datagram is discarded (RFC 5722 style).
	CodeFragOverlap Code = "frag-overlap"
	// CodeFragLength: ip_frag_queue, a fragment contradicts the datagram
	// length known from the final fragment.
	CodeFragLength Code = "frag-length"
	// CodeFragEmpty: ip_frag_queue, a fragment carries no data (after a
	// non-final fragment is trimmed to a multiple of 8).
	CodeFragEmpty Code = "frag-empty"
	// CodeFragOversize: ip_frag_reasm, header plus data exceeds 65535;
	// ip6_frag_reasm, the unfragmentable extension headers plus data
	// exceed 65535.
	CodeFragOversize Code = "frag-oversize"
	// CodeFragBeyond: ip6_frag_queue, an IPv6 fragment reaches past
	// 65535 (IPV6_MAXPLEN): it is dropped with an ICMPv6 parameter
	// problem, its queue left as it was.
	CodeFragBeyond Code = "frag-beyond"
	// CodeFragMisaligned: ip6_frag_queue, a non-final IPv6 fragment
	// whose end is not a multiple of 8 is dropped with an ICMPv6
	// parameter problem, its queue left as it was (IPv4 trims instead).
	CodeFragMisaligned Code = "frag-misaligned"
	// CodeFragChain: ipv6_frag_rcv (ipv6frag_thdr_truncated), an IPv6
	// first fragment does not hold the header chain through the
	// upper-layer header (RFC 8200 4.5, RFC 7112): dropped.
	CodeFragChain Code = "frag-chain"
	// CodeFragECN: ip_frag_reasm, fragments mix Not-ECT with ECT/CE.
	CodeFragECN Code = "frag-ecn"
	// CodeFragReset: ip_frag_too_far, more than ipfrag_max_dist fragments
	// from the same source arrived since this queue last grew; the queue
	// was emptied (ip_frag_reinit).
	CodeFragReset Code = "frag-reset"
	// CodeFragIncomplete: the capture ended with the queue still missing
	// data; the kernel would expire it after ipfrag_time (ip_expire).
	CodeFragIncomplete Code = "frag-incomplete"
	// CodeFragTimeout: ip_expire, ipfrag_time (30 s by default, counted
	// in capture time) passed with the queue still missing data.
	CodeFragTimeout Code = "frag-timeout"
	// CodeFragMemory: inet_frag_find, the fragment queues held more than
	// ipfrag_high_thresh bytes when the fragment arrived; it was dropped.
	CodeFragMemory Code = "frag-memory"
	// CodeGREChecksum: gre_parse_header, a GRE checksum that does not
	// verify drops the GRE packet and whatever it carries.
	CodeGREChecksum Code = "gre-checksum"
	// CodeUDPHeader: __udp4_lib_rcv, fewer than 8 bytes for the header.
	CodeUDPHeader Code = "udp-header"
	// CodeUDPShort: __udp4_lib_rcv, the UDP length field (or UDP-Lite
	// coverage) exceeds the datagram ("short packet").
	CodeUDPShort Code = "udp-short"
	// CodeUDPLength: __udp4_lib_rcv, UDP length below 8 ("short packet").
	CodeUDPLength Code = "udp-length"
	// CodeUDPChecksum: udp_lib_checksum_complete fails.
	CodeUDPChecksum Code = "udp-checksum"
	// CodeUDP6ZeroChecksum: __udp6_lib_rcv, a UDP checksum of 0 over
	// IPv6, which the socket refuses unless it set UDP_NO_CHECK6_RX
	// (Options.AllowZeroChecksum6).
	CodeUDP6ZeroChecksum Code = "udp6-zero-checksum"
	// CodeUDPLiteZero: udplite_checksum_init, UDP-Lite forbids checksum 0.
	CodeUDPLiteZero Code = "udplite-zero"
	// CodeUDPLiteCoverage: udplite_checksum_init, coverage 1..7.
	CodeUDPLiteCoverage Code = "udplite-coverage"
)

// Diagnostic is a remark about a frame (or the whole capture) that no
// verdict covers: a frame that could not be read or decoded, damage that
// stopped the reading, a frame not judged.
type Diagnostic struct {
	// Frame is the frame's number as Wireshark shows it (from 1); 0 when
	// the remark is about the capture as a whole.
	Frame int `json:"frame"`
	// Field names the layer or header field at fault, in gopacket's
	// Layer.Field spelling where there is one ("LinuxSLL"), or
	// "Capture" for the file itself.
	Field string `json:"field"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
}

// String renders the diagnostic on one line: "frame 3: LinuxSLL:
// undecodable (5 bytes)".
func (d Diagnostic) String() string {
	where := "capture"
	if d.Frame > 0 {
		where = fmt.Sprintf("frame %d", d.Frame)
	}
	if d.Field == "" {
		return where + ": " + d.Msg
	}
	return where + ": " + d.Field + ": " + d.Msg
}
