// Package verify checks frames from the outside, as a second pair of eyes on
// the send-path model and on real captures. It does not use the model:
// gopacket decodes, and the receive path is re-told here on its own.
//
// Two questions are answered here:
//
//   - Frames: are the frames a udpbuild run emitted self-consistent? Headers,
//     lengths, checksums, fragment layout, GSO segments and payload bytes are
//     cross-checked against each other and against what the sender meant to
//     send. This is the sender's view and knows each frame's provenance
//     (report.Frame). Its Problems number frames from 0, as indexes into the
//     slice given.
//   - Verify (and Judge, for frames in memory): what would a Linux receiver
//     do with a capture? Frames are decoded with gopacket, IPv4 headers are
//     checked as ip_rcv_core and ip_options_compile would, fragments are
//     reassembled the way ip_defrag/ip_frag_queue/inet_frag_queue_insert do,
//     and each UDP or UDP-Lite datagram is judged as __udp4_lib_rcv and
//     udplite_checksum_init would judge it.
//
// # Streaming
//
// Verify reads a pcap or pcapng file (gzip-compressed too; package
// internal/pcapread) one record at a time and writes each verdict to a Sink
// as soon as the datagram's fate is known: at its frame, at the fragment
// that completes or breaks its reassembly, when its queue expires, or at
// the end of the capture. Nothing is kept per frame, so memory does not
// grow with the capture; what is kept is bounded:
//
//   - the read buffer (1 MiB), which holds any record verify reads: records
//     over 262144 bytes (libpcap's MAXIMUM_SNAPLEN) are not read, whatever
//     length a file claims (a pcapng block is skipped with a diagnostic, a
//     pcap file ends there, as in Wireshark), and no length from the file
//     sizes an allocation before its bytes have arrived;
//   - the fragment queues, bounded as the kernel bounds them: every queue
//     (sizeof(struct ipq)) and every queued fragment (its skb truesize, see
//     fragTruesize) is charged, and while the charge exceeds
//     ipfrag_high_thresh (4 MiB) inet_frag_find refuses every fragment
//     (CodeFragMemory); a queue lives at most ipfrag_time (30 s) of capture
//     time (CodeFragTimeout, ip_expire); a verdict lists at most 16 frames
//     beyond its queued fragments and keeps at most 8 notes;
//   - the per-source counters of ip_frag_too_far, kept only while the source
//     has a live queue, and one table of interfaces per pcapng section (at
//     most 65536).
//
// Verify stops when its context is done, waking a read blocked on a pipe or
// FIFO through SetReadDeadline.
//
// Frame numbers are Wireshark's (from 1): every pcapng block Wireshark 4.0
// shows as a frame is counted, including systemd journal, custom and sysdig
// event blocks that hold no packet. Verdicts are numbered from 1 in the
// order they are written.
//
// # Link types and tunnels
//
// Every link type gopacket decodes is read: Ethernet, Linux cooked v1 and
// v2, raw IP and BSD loopback through DecodingLayers without allocating;
// PPP, 802.11 (with radiotap or Prism), FDDI, PFLog and the rest through
// gopacket.NewPacket. NFLOG, PKTAP, PPP in HDLC framing and Cisco HDLC,
// which gopacket does not know as link types, are unwrapped here. A
// pcapng file's interfaces may each have their own link type. A link type
// nobody decodes gets one diagnostic and its frames are not judged.
//
// VLAN and QinQ tags, MPLS, PPPoE and LLC/SNAP are followed to the IP
// packet, and so are tunnels: GRE (IPv4 or Ethernet inside, ERSPAN; a GRE
// checksum must verify, as in gre_parse_header), IP-in-IP, and, by UDP
// destination port, VXLAN (4789), Geneve (6081) and GTP-U (2152). The outer
// UDP datagram of a UDP tunnel is a datagram like any other (the tunnel's
// socket gets it through __udp4_lib_rcv, which verifies its checksum
// first), so it gets a verdict of its own; only when it is delivered is
// what it carries judged in turn. Every verdict says where it was found
// (Verdict.Where: "VXLAN vni 42 in IPv4 192.0.2.1 → 192.0.2.2 in VLAN 5").
// Fragments are reassembled in one table whatever they came in, as one
// network namespace's ip4_frags table holds the fragments of every device.
// A GRE or IP-in-IP packet that fails before its contents are reached gets
// a verdict too (proto 47 or 4), since what it carried is lost with it.
//
// IPv6 is counted and not judged yet; so are IPv4 packets of other
// protocols and frames without IP (Stats), unless Options.Strict asks for a
// diagnostic for each.
//
// # Frames the capture cut
//
// A frame whose record says it was longer on the wire than captured (a
// snaplen) was received whole: a check that needs bytes the capture did not
// keep is not made, and the datagram's Result is "not captured", never a
// drop. Checks the captured bytes do settle still count: a UDP length
// beyond the datagram is a drop, a UDP checksum of 0 needs no payload, a
// fragment's place comes from its IP header. Ports and lengths are shown
// from whatever header was captured, also for datagrams dropped at the IP
// layer. A frame with a bad length that the capture did not cut (its
// record is whole) is the receiver's drop (ip_rcv_core).
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
// what the kernel's sockets receive must match the verdicts. The same cases
// go through again inside VXLAN datagrams (to a vxlan device) and, where the
// kernel has 802.1Q, VLAN-tagged; ipfrag_time is checked with capture
// times, and the memory each queue charges, and the ipfrag_high_thresh cut,
// against the kernel's own count in /proc/net/sockstat.
//
// # What Verify does not see
//
// A capture does not show the receiver's configuration, so Verify assumes
// the defaults unless Options say otherwise: a socket listens on every port
// (Delivered stops at the socket lookup), a tunnel device exists for every
// tunnel packet, accept_source_route is off (a source-route option drops),
// ipfrag_max_dist is 64, ipfrag_high_thresh 4 MiB and ipfrag_time 30 s, no
// UDPLITE_RECV_CSCOV minimum is set, and routing, rp_filter and the
// destination MAC never interfere. The memory a fragment costs the kernel
// depends on the driver; fragTruesize charges what a linear skb from
// AF_PACKET through a veth costs (exact there, on Linux 6.18), so where
// ipfrag_high_thresh bites for a capture from a NIC is an estimate.
// Fragments still waiting when the capture ends are reported then
// (CodeFragIncomplete).
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
