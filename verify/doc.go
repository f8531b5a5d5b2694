// Package verify checks frames from the outside, as a second pair of eyes on
// the send-path model and on real captures.
//
// Two questions are answered here:
//
//   - Frames: are the frames a udpbuild run emitted self-consistent? Headers,
//     lengths, checksums, fragment layout, GSO segments and payload bytes are
//     cross-checked against each other and against what the sender meant to
//     send. This is the sender's view and knows each frame's provenance
//     (report.Frame).
//   - Judge: what would a Linux receiver do with a capture? Frames are decoded
//     with gopacket, IPv4 headers are checked as ip_rcv_core and
//     ip_options_compile would, fragments are reassembled the way
//     ip_defrag/ip_frag_queue/inet_frag_queue_insert do, and each datagram is
//     judged as __udp4_lib_rcv and udplite_checksum_init would judge it.
//     ReadCapture reads pcap and pcapng files for it with pcapgo.
//
// Frame and datagram numbers are 0-based indexes into the slices given.
//
// # Reassembly rules
//
// The defragmenter is our own. gopacket's ip4defrag (v1.7.7) comes close but
// differs where it matters here: it refuses at once a fragment that reaches
// past 65535 bytes (Linux queues it and fails the reassembly), it treats
// bytes covered by any mix of queued fragments as a duplicate (Linux only
// within one run of fragments, see below), and it knows neither
// ip_frag_too_far nor the ECN rule. As in Linux since the RFC 5722 style
// change to inet_frag_queue_insert: a fragment that overlaps queued data
// discards the whole datagram, unless it lies wholly inside one run of
// queued fragments, in which case it is a duplicate and only it is ignored
// (a run grows only at the tail: a fragment that fills a hole starts a run
// of its own even next to its neighbours);
// a final fragment that ends before queued data or disagrees with an earlier
// final fragment discards the datagram, as does data beyond the final end or
// a fragment with no data; a non-final fragment whose data is not a multiple
// of 8 is trimmed to one (not dropped); a datagram whose header plus data
// exceeds 65535 bytes, or that mixes Not-ECT with ECT/CE fragments, fails in
// ip_frag_reasm; a queue that waits while more than ipfrag_max_dist (64)
// fragments arrive from the same source is emptied (ip_frag_too_far). A
// discarded queue is forgotten: later fragments with the same key start a
// new one, which is why one damaged datagram can give two verdicts.
//
// Each of these rules, and the UDP and UDP-Lite rules in udpRcv, is checked
// against the running kernel by TestKernelAgrees (as root; in CI it must run):
// the same frames are written into a veth in a scratch network namespace and
// what the kernel's sockets receive must match the verdicts.
//
// # What Judge does not see
//
// A capture does not show the receiver's configuration, so Judge assumes the
// defaults: a socket listens on every port (Delivered stops at the socket
// lookup), accept_source_route is off (a source-route option drops),
// ipfrag_max_dist is 64, no UDPLITE_RECV_CSCOV minimum is set, and routing,
// rp_filter, the destination MAC and the fragment memory limit
// (ipfrag_high_thresh) never interfere. Fragments that never complete are
// reported when the capture ends, not after ipfrag_time.
//
// # Partial checksums
//
// One deliberate departure from the receiver: a UDP checksum that holds the
// folded pseudo-header sum is reported as "partial (offload)" and the datagram
// as delivered, with a note, not as corrupt. Such a value is what
// udp4_hwcsum leaves for the NIC (CHECKSUM_PARTIAL) and what a capture taken
// on the sending host (an AF_PACKET tap, tcpdump on the sender) shows; the
// checksum on the wire is filled in later by the device. A real receiver fed
// these exact bytes would drop them, so a consumer that wants the strict
// answer reads Verdict.Checksum.
package verify
