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
//     checked as ip_rcv_core and ip_options_compile would, IPv6 headers as
//     ip6_rcv_core would and their extension headers as
//     ip6_protocol_deliver_rcu hands them to each handler, fragments are
//     reassembled the way ip_defrag/ip_frag_queue (ipv6_frag_rcv/
//     ip6_frag_queue) and inet_frag_queue_insert do, and each UDP or
//     UDP-Lite datagram is judged as __udp4_lib_rcv (__udp6_lib_rcv) and
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
//     (sizeof(struct ipq), 200 bytes; IPv6's struct frag_queue, 184) and
//     every queued fragment (its skb truesize, see fragTruesize) is
//     charged, and while the charge exceeds ipfrag_high_thresh (4 MiB)
//     inet_frag_find refuses every fragment (CodeFragMemory); a queue lives
//     at most ipfrag_time (30 s) of capture time (CodeFragTimeout,
//     ip_expire). IPv6 queues are a table of their own, as ip6_frags is:
//     ip6frag_high_thresh (4 MiB, counted apart from IPv4's) and
//     ip6frag_time (60 s), so both tables together hold at most 8 MiB. A
//     verdict lists at most 16 frames beyond its queued fragments and keeps
//     at most 8 notes;
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
// packet (IPv4 or IPv6: EtherType 0x86DD, raw IPv6, every loopback family
// number of IPv6, NFLOG's AF_INET6), and so are tunnels: GRE (IPv4, IPv6 or
// Ethernet inside, ERSPAN; a GRE checksum must verify, as in
// gre_parse_header), IP-in-IP, IPv6-in-IP (protocol or next header 41,
// over IPv4 or IPv6), and, by UDP destination port, VXLAN (4789), Geneve
// (6081) and GTP-U (2152), over IPv4 or IPv6. The outer UDP datagram of a
// UDP tunnel is a datagram like any other (the tunnel's socket gets it
// through __udp4_lib_rcv or __udp6_lib_rcv, which verifies its checksum
// first), so it gets a verdict of its own; only when it is delivered is
// what it carries judged in turn. Every verdict says where it was found
// (Verdict.Where: "VXLAN vni 42 in IPv4 192.0.2.1 → 192.0.2.2 in VLAN 5").
// Fragments are reassembled in one table per family whatever they came in,
// as one network namespace's ip4_frags and ip6_frags tables hold the
// fragments of every device. A GRE, IP-in-IP or IPv6-in-IP packet that
// fails before its contents are reached gets a verdict too (proto 47, 4 or
// 41), since what it carried is lost with it.
//
// IP packets of other protocols (TCP, ICMP, ICMPv6, no next header, ESP,
// ...) and frames without IP are counted (Stats), unless Options.Strict
// asks for a diagnostic for each. Stats.IPv6 counts the IPv6 packets read.
//
// # IPv6 receive rules
//
// An IPv6 packet gets a verdict when its headers lead to UDP, UDP-Lite or a
// tunnelled packet, when it is a fragment (only the whole datagram shows
// what it carries; the queue of another protocol's fragments fails unseen,
// as IPv4's, which only UDP fragments enter), and when its header chain
// cannot be followed in the bytes captured. Then, as the kernel does:
//
//   - ip6_rcv_core: the loopback address from another node, a multicast
//     source, a multicast destination of scope 0 or 1 drop
//     (CodeIP6Address); a payload length beyond the bytes received drops
//     (CodeIPTruncated), and what follows it (link padding) is trimmed;
//     payload length 0 with a hop-by-hop header is a jumbogram, whose
//     length the jumbo option gives (ipv6_hop_jumbo).
//   - The hop-by-hop header only first (elsewhere no protocol takes next
//     header 0: CodeIP6HopByHop); hop-by-hop and destination options as
//     ip6_parse_tlv reads them (CodeIP6Options): at most 7 bytes of
//     padding in a row, PadN all zeros, at most 8 options, an unknown
//     option skipped or dropped as its two high bits say, router alert of
//     length 2, IOAM 4-aligned (ignored: ioam6_enabled is off), a
//     CALIPSO option dropped (no DOI is configured). A header that runs
//     past the packet drops (CodeIP6ExtHeader).
//   - Routing headers as ipv6_rthdr_rcv for a host: with no segment left
//     any type but segment routing (4) and RPL (3) is stepped over; with
//     segments left, type 0 (RFC 5095) or any other type drops with a
//     parameter problem, and SRH and RPL drop always while seg6_enabled
//     and rpl_seg_enabled are off, as they are by default; a routing
//     header to a multicast destination drops (CodeIP6Routing).
//   - ipv6_frag_rcv: an atomic fragment (offset 0, M clear) is taken as
//     if the fragment header were not there (noted); a second fragment
//     header, or one in a jumbogram, drops (CodeIP6ExtHeader); a first
//     fragment must hold the header chain through the upper-layer header
//     (8 bytes of UDP, 1 of anything else; ipv6frag_thdr_truncated, RFC
//     8200 4.5: CodeFragChain). Queues are keyed by identification and
//     addresses (fq_find; no protocol, unlike IPv4's; the ifindex it adds
//     for link-local and multicast destinations is the capture's one
//     device). ip6_frag_queue drops a fragment that reaches past 65535
//     (CodeFragBeyond) or a non-final fragment whose end is not a multiple
//     of 8 (CodeFragMisaligned), with a parameter problem, leaving its
//     queue as it was (IPv4 trims instead); there is no ipfrag_max_dist.
//     Overlaps, duplicates, the final fragment's rules, empty fragments
//     and the ECN mix are as IPv4's (inet_frag_queue_insert is shared);
//     ip6_frag_reasm refuses a payload (the first fragment's extension
//     headers before its fragment header, and the data) over 65535
//     (CodeFragOversize). A whole datagram resumes the walk at the first
//     fragment's next header, so destination options after the fragment
//     header are read then.
//   - __udp6_lib_rcv: as __udp4_lib_rcv, but a UDP length of 0 stands for
//     the whole datagram (a jumbogram's), and a checksum of 0 drops
//     (CodeUDP6ZeroChecksum) unless Options.AllowZeroChecksum6 says the
//     socket set UDP_NO_CHECK6_RX. The checksum covers the IPv6
//     pseudo-header (csum_ipv6_magic); UDP-Lite over IPv6 follows
//     udplite_checksum_init as over IPv4.
//
// TestKernelAgrees6 puts the same IPv6 cases through a veth into a real
// IPv6 socket (and with UDP_NO_CHECK6_RX set for the zero-checksum case)
// and compares what the socket receives, byte for byte, with the verdicts;
// it checks the IPv6 queue charge and ip6frag_high_thresh against
// /proc/net/sockstat6 too.
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
// (Delivered stops at the socket lookup) and, over IPv6, refuses a zero
// checksum (no UDP_NO_CHECK6_RX), a tunnel device exists for every
// tunnel packet, accept_source_route is off (a source-route option drops),
// ipfrag_max_dist is 64, ipfrag_high_thresh 4 MiB and ipfrag_time 30 s,
// ip6frag_high_thresh 4 MiB and ip6frag_time 60 s, seg6_enabled and
// rpl_seg_enabled are off, no UDPLITE_RECV_CSCOV minimum is set, and
// routing (the destination is one of the receiver's addresses, forwarding
// off), rp_filter and the destination MAC never interfere. The memory a fragment costs the kernel
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
