package builder

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv4/udp.c: udp_sendmsg with its corked and
// lockless paths, udp_push_pending_frames, udp_send_skb (the UDP header,
// the GSO checks and the checksum) and the UDP-level socket options.

// Limits of the UDP send path (include/net/udp.h, include/linux/udp.h).
const (
	udpHdrLen      = header.UDPLen // sizeof(struct udphdr)
	udpMaxSegments = 128           // UDP_MAX_SEGMENTS (1 << 7) on 6.x
)

// msg_flags bits the send path reads.
const (
	msgOOB       = unix.MSG_OOB
	msgProbe     = scenario.MsgProbe
	msgConfirm   = unix.MSG_CONFIRM
	msgDontroute = unix.MSG_DONTROUTE
	msgMore      = unix.MSG_MORE
)

// Msg is one sendmsg() call.
type Msg struct {
	Payload []byte
	Flags   int
	// Name is msg_name; the zero AddrPort means none. An IPv4 address is
	// a struct sockaddr_in, an IPv6 one (v4-mapped included) a struct
	// sockaddr_in6.
	Name netip.AddrPort
	// Flowinfo is sin6_flowinfo of an IPv6 Name.
	Flowinfo uint32
	// Control is the raw msg_control buffer (cmsg.Build makes one).
	Control []byte
}

// Address families of up->pending (include/linux/socket.h).
const (
	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6
)

// Sendmsg is sendmsg() on the socket: udp_sendmsg for an AF_INET socket,
// udpv6_sendmsg (udpv6.go) for an AF_INET6 one. It returns the byte count
// or the errno the kernel would return.
func (s *Socket) Sendmsg(m *Msg) (int, errno.Errno) {
	if s.inet6 {
		return s.udpv6Sendmsg(m)
	}
	return s.udpSendmsg(m)
}

// udpSendmsg mirrors udp_sendmsg, for an AF_INET socket and for an
// AF_INET6 socket's sends to IPv4 (a v4-mapped or AF_INET msg_name,
// udpv6_sendmsg's do_udp_sendmsg).
func (s *Socket) udpSendmsg(m *Msg) (int, errno.Errno) {
	length := len(m.Payload)
	corkreq := s.corkFlag || m.Flags&msgMore != 0
	if s.tracing() {
		why := "neither UDP_CORK nor MSG_MORE: the lockless fast path (ip_make_skb)"
		switch {
		case s.corkFlag && m.Flags&msgMore != 0:
			why = "UDP_CORK is set and the call has MSG_MORE"
		case s.corkFlag:
			why = "UDP_CORK is set"
		case m.Flags&msgMore != 0:
			why = "the call has MSG_MORE"
		}
		s.tracef("udp_sendmsg", "len", length, "")
		s.tracef("udp_sendmsg", "corkreq", corkreq, why)
	}
	if length > 0xFFFF {
		return 0, errno.EMSGSIZE
	}
	if m.Flags&msgOOB != 0 {
		return 0, errno.EOPNOTSUPP
	}
	if s.pending != 0 {
		if s.pending != afInet {
			// An AF_INET6 socket's IPv6 datagram is pending: "udp
			// cork app bug 1".
			if s.tracing() {
				s.tracef("udp_sendmsg", "up->pending", "AF_INET6", "an IPv6 datagram is corked: this IPv4 send is refused (-EINVAL); the IPv6 datagram stays pending")
			}
			return 0, errno.EINVAL
		}
		// More data for a corked datagram: the destination, control
		// messages and options of this call are not looked at.
		if s.tracing() {
			s.tracef("udp_sendmsg", "up->pending", "AF_INET", "data is already corked: append to it (do_append_data); msg_name and control messages of this call are ignored")
		}
		return s.doAppendData(m, length, corkreq, nil, s.cork.fl)
	}

	var fl flow
	fl.saddr, fl.sport = s.saddr, s.sport
	connected := false
	if m.Name.IsValid() {
		if m.Name.Addr().Is6() {
			// A struct sockaddr_in6: sin_family is neither AF_INET nor
			// AF_UNSPEC.
			if s.tracing() {
				s.tracef("udp_sendmsg", "usin->sin_family", "AF_INET6", "an IPv6 msg_name on an AF_INET socket: -EAFNOSUPPORT")
			}
			return 0, errno.EAFNOSUPPORT
		}
		if m.Name.Port() == 0 {
			return 0, errno.EINVAL
		}
		fl.daddr, fl.dport = m.Name.Addr(), m.Name.Port()
	} else {
		if !s.connected {
			return 0, errno.EDESTADDRREQ
		}
		fl.daddr, fl.dport = s.daddr, s.dport
		connected = true // "Open fast path for connected socket"
	}

	if s.tracing() {
		if m.Name.IsValid() {
			s.tracef("udp_sendmsg", "daddr", fl.daddr, "from msg_name; connected = 0")
		} else {
			s.tracef("udp_sendmsg", "daddr", fl.daddr, "no msg_name: the connected socket's destination (connected = 1)")
		}
	}
	ipc := s.ipcmInitSk()
	if len(m.Control) > 0 {
		needIP, e := s.cmsgSend(m.Control, &ipc)
		if e != 0 {
			return 0, e
		}
		if needIP {
			connected = false // ip_cmsg_send ran
		}
	}
	if ipc.opt == nil && s.opt != nil {
		ipc.opt = s.opt
	}
	daddr, dport := fl.daddr, fl.dport
	ipc.addr = daddr
	if ipc.opt != nil && ipc.opt.Srr != 0 {
		if !daddr.IsValid() || daddr.IsUnspecified() {
			return 0, errno.EINVAL
		}
		// A source route is routed to its first hop; the final
		// destination goes into the option by ip_options_build.
		connected = false
		if hop, ok := ipopt.FirstHop(ipc.opt); ok {
			fl.daddr = hop
			if s.tracing() {
				s.tracef("udp_sendmsg", "faddr", hop, "the source route's first hop; %s goes into the option", daddr)
			}
		}
	}
	if m.Flags&msgDontroute != 0 || (ipc.opt != nil && ipc.opt.IsStrictroute) {
		connected = false // RT_SCOPE_LINK
	}
	// The route: a connected send reuses the socket's cached route, and
	// with it inet->cork.fl as its flow, which the last corked call may
	// have rewritten. Otherwise a fresh lookup on a flow of its own; a
	// connected send caches the route it found (but not the flow).
	if connected && s.dstCached {
		fl = s.corkFl
		if s.tracing() {
			s.tracef("udp_sendmsg", "fl4", fmt.Sprintf("%s:%d", fl.daddr, fl.dport), "sk_dst_check: the cached route, with inet->cork.fl as the flow")
		}
	} else {
		if !fl.saddr.IsValid() {
			// An AF_INET6 socket bound to an IPv6 address has
			// inet_saddr LOOPBACK4_IPV6 (127.0.0.6): no IPv4 route
			// from it.
			if s.tracing() {
				s.tracef("ip_route_output_flow", "fl4->saddr", "127.0.0.6", "an AF_INET6 socket bound to a non-mapped IPv6 address has no IPv4 source (LOOPBACK4_IPV6): -ENETUNREACH")
			}
			return 0, errno.ENETUNREACH
		}
		// ip_route_output_flow finds the subnet's broadcast route on a
		// dual-stack link (10.0.0.1/24): udp_sendmsg refuses it
		// without SO_BROADCAST (found by kernel-differential fuzzing,
		// seed 902).
		if s.dualStack && fl.daddr == broadcast4(scenario.DualStackPrefix4) {
			if s.tracing() {
				s.tracef("udp_sendmsg", "return", "-EACCES", "%s is the broadcast address of %s (RTCF_BROADCAST) and SO_BROADCAST is off", fl.daddr, scenario.DualStackPrefix4)
			}
			return 0, errno.EACCES
		}
		if connected {
			s.dstCached = true
		}
	}
	if m.Flags&msgConfirm != 0 && m.Flags&msgProbe != 0 && length == 0 {
		return 0, 0 // do_confirm: a pure neighbour confirmation
	}

	if !corkreq {
		// The lockless fast path: ip_make_skb builds the datagram on a
		// private queue and cork, and udp_send_skb sends it.
		d, c, e := s.ipMakeSkb(m.Payload, &ipc, fl, m.Flags)
		if e != 0 {
			return 0, e
		}
		if d != nil {
			if e := s.udpSendSkb(d, c); e != 0 {
				return 0, e
			}
		}
		return length, 0
	}
	// The corked path rewrites inet->cork.fl with the final destination:
	// a source route's first hop is lost here (the header then carries
	// the final destination), and a connected socket's later sends on the
	// cached route go wherever this call went.
	fl.daddr, fl.dport = daddr, dport
	s.corkFl = fl
	s.pending = afInet
	s.cork.fl = fl
	return s.doAppendData(m, length+udpHdrLen, corkreq, &ipc, fl)
}

// doAppendData is udp_sendmsg's do_append_data: ulen bytes (the UDP header
// counted for the first call of a corked datagram) go to the socket's
// write queue.
func (s *Socket) doAppendData(m *Msg, ulen int, corkreq bool, ipc *ipcm, fl flow) (int, errno.Errno) {
	s.upLen += ulen
	flags := m.Flags
	if corkreq {
		flags |= msgMore
	}
	e := s.ipAppendData(m.Payload, ipc, fl, flags)
	switch {
	case e != 0:
		s.udpFlushPendingFrames()
	case !corkreq:
		e = s.udpPushPendingFrames()
	case s.queue.empty():
		s.pending = 0
	}
	if e != 0 {
		return 0, e
	}
	return len(m.Payload), 0
}

// pushPendingFrames is the socket's push_pending_frames, as
// udp_lib_setsockopt calls it for UDP_CORK 0: udp_push_pending_frames, or
// udp_v6_push_pending_frames on an AF_INET6 socket.
func (s *Socket) pushPendingFrames() errno.Errno {
	if s.inet6 {
		return s.udpV6PushPendingFrames()
	}
	return s.udpPushPendingFrames()
}

// udpPushPendingFrames mirrors udp_push_pending_frames: ip_finish_skb
// (__ip_make_skb on the socket's queue), then udp_send_skb.
func (s *Socket) udpPushPendingFrames() errno.Errno {
	var e errno.Errno
	if d := s.ipMakeSkbCore(&s.queue, &s.cork); d != nil {
		e = s.udpSendSkb(d, &s.cork)
	}
	s.upLen = 0
	s.pending = 0
	return e
}

// udpFlushPendingFrames mirrors udp_flush_pending_frames: the corked data
// is thrown away.
func (s *Socket) udpFlushPendingFrames() {
	if s.pending != 0 {
		s.upLen = 0
		s.pending = 0
		s.queue.reset()
	}
}

// cmsgSend mirrors udp_cmsg_send followed by ip_cmsg_send (package cmsg
// walks the messages); needIP reports that a message of another level than
// SOL_UDP made ip_cmsg_send run. IP_RETOPTS data is compiled once, where
// ip_options_get compiles it, and the last compiled options are the send's.
func (s *Socket) cmsgSend(control []byte, ipc *ipcm) (needIP bool, e errno.Errno) {
	msgs, err := cmsg.Parse(control)
	if err != nil {
		return false, errnoOf(err)
	}
	env := s.optEnv()
	var last *ipopt.Options
	start := cmsg.Cookie{TTL: ipc.ttl, TOS: ipc.tos, GSOSize: uint16(ipc.gsoSize), AllowIPv6: s.inet6}
	ck, err := cmsg.ApplyChecked(msgs, start, func(raw []byte) error {
		opt, err := env.CompileCmsg(raw)
		last = opt
		return err
	})
	if err != nil {
		return false, errnoOf(err)
	}
	ipc.ttl, ipc.tos, ipc.gsoSize = ck.TTL, ck.TOS, int(ck.GSOSize)
	if s.tracing() {
		s.tracef("udp_cmsg_send/ip_cmsg_send", "ipc", fmt.Sprintf("ttl=%d tos=%d gso_size=%d", ipc.ttl, ipc.tos, ipc.gsoSize), "after the control messages (ttl 0: unset)")
	}
	if ck.HasOptions {
		if len(ck.Options) == 0 {
			// An empty IP_RETOPTS, last: no options for this send (the
			// check never sees it; nothing to compile).
			last, _ = env.CompileCmsg(nil)
		}
		ipc.opt = last
	}
	return ck.NeedIP, 0
}

func errnoOf(err error) errno.Errno {
	if e, ok := errno.From(err); ok {
		return e
	}
	return errno.EINVAL
}

// udpSendSkb mirrors udp_send_skb, and udp_v6_send_skb for an IPv6
// datagram: the UDP header, the GSO checks and marks, and the checksum,
// then ip_send_skb or ip6_send_skb. The two kernel functions are the same
// but for the pseudo-header (Datagram.pseudoSum), the option that turns
// the checksum off (SO_NO_CHECK for IPv4, UDP_NO_CHECK6_TX for IPv6) and
// the checksum offload helper (udp4_hwcsum, udp6_hwcsum_outgoing).
func (s *Socket) udpSendSkb(d *Datagram, c *cork) errno.Errno {
	uh := header.UDP(d.UDP)
	length := d.L4Len()
	datalen := length - udpHdrLen
	fn, noCheck := "udp_send_skb", s.noCheckTx
	if d.IPv6 {
		fn, noCheck = "udp_v6_send_skb", s.np.noCheck6Tx
	}
	uh.SetPorts(c.fl.sport, c.fl.dport)
	uh.SetLength(uint16(length))
	uh.SetChecksum(0)
	if c.gsoSize > 0 {
		hlen := len(d.IP) + udpHdrLen
		switch {
		case hlen+min(datalen, c.gsoSize) > c.fragsize:
			// 6.18 measures the first segment as it will really be: a
			// datagram shorter than gso_size only has to fit the MTU.
			// hlen counts every IPv6 extension header.
			if s.tracing() {
				s.tracef(fn, "return", "-EMSGSIZE", "hlen %d + min(datalen %d, gso_size %d) > fragsize %d", hlen, datalen, c.gsoSize, c.fragsize)
			}
			return errno.EMSGSIZE
		case datalen > c.gsoSize*udpMaxSegments:
			return errno.EINVAL
		case noCheck:
			return errno.EINVAL
		case s.proto == scenario.UDPLite:
			return errno.EIO
		}
		if s.tracing() {
			s.tracef(fn, "gso checks", "pass", "hlen %d + min(datalen %d, gso_size %d) <= fragsize %d; at most %d segments", hlen, datalen, c.gsoSize, c.fragsize, udpMaxSegments)
		}
		if datalen > c.gsoSize {
			// On the TX path CHECKSUM_NONE and CHECKSUM_UNNECESSARY
			// mean the same; the GSO stack wants the latter.
			if d.Summed == csumNone {
				d.Summed = csumUnnecessary
			}
			d.GSOSize = c.gsoSize
			d.GSOSegs = (datalen + c.gsoSize - 1) / c.gsoSize
			if s.tracing() {
				s.tracef(fn, "gso_segs", d.GSOSegs, "DIV_ROUND_UP(datalen %d, gso_size %d); checksum left to GSO (csum_partial)", datalen, c.gsoSize)
			}
			// Don't checksum the payload: the skb will be segmented.
			udpHwcsum(d)
			return s.sendSkb(d)
		}
	}
	switch {
	case s.proto == scenario.UDPLite:
		s.udpliteCsum(d)
	case noCheck:
		d.Summed = csumNone // checksum 0: none
	case d.Summed == csumPartial:
		udpHwcsum(d)
	default:
		uh.SetChecksum(udpCsum(d))
	}
	if s.tracing() {
		s.traceCsum(fn, d, noCheck)
	}
	return s.sendSkb(d)
}

// sendSkb is the family's send: ip_send_skb or ip6_send_skb, and the
// OutDatagrams count udp_send_skb keeps of the datagrams that left.
func (s *Socket) sendSkb(d *Datagram) errno.Errno {
	var e errno.Errno
	if d.IPv6 {
		e = s.ip6SendSkb(d)
	} else {
		e = s.ipSendSkb(d)
	}
	if e == 0 {
		s.mib.udp[b2i(d.IPv6)][b2i(s.proto == scenario.UDPLite)].outDatagrams++
	}
	return e
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// traceCsum explains udp_send_skb's (or udp_v6_send_skb's) checksum.
func (s *Socket) traceCsum(fn string, d *Datagram, noCheck bool) {
	uh := header.UDP(d.UDP)
	why := "software: udp_csum over the datagram, CSUM_MANGLED_0 for 0"
	hw, opt := "udp4_hwcsum", "SO_NO_CHECK"
	if d.IPv6 {
		why = "software: csum_ipv6_magic(saddr, final daddr) over udp_csum, CSUM_MANGLED_0 (0xffff) for 0"
		hw, opt = "udp6_hwcsum_outgoing", "UDP_NO_CHECK6_TX"
	}
	switch {
	case s.proto == scenario.UDPLite:
		why = "UDP-Lite: udplite_csum over the coverage"
	case noCheck:
		why = opt + ": checksum 0"
	case d.Summed == csumPartial && len(d.SkbData) == 1:
		why = "CHECKSUM_PARTIAL: " + hw + " stores the pseudo-header sum for the device"
	case d.Summed == csumPartial:
		why = "CHECKSUM_PARTIAL but a frag list: " + hw + " sums in software"
	}
	s.tracef(fn, "uh->check", fmt.Sprintf("%#04x", uh.Checksum()), why)
}

// udpHwcsum mirrors udp4_hwcsum (udp6_hwcsum_outgoing for IPv6): a single
// skb gets the pseudo-header sum for the device to finish; a frag list is
// summed in software.
func udpHwcsum(d *Datagram) {
	uh := header.UDP(d.UDP)
	if len(d.SkbData) == 1 {
		uh.SetChecksum(d.pseudoSum(uint16(d.L4Len())))
		return
	}
	d.Summed = csumNone
	uh.SetChecksum(udpCsum(d))
}

// udpliteCsum mirrors udplite_csum and the pseudo-header step of
// udp_send_skb: coverage pcslen when the sender set one (0 meaning the
// whole datagram), the UDP length field holding the coverage.
func (s *Socket) udpliteCsum(d *Datagram) {
	uh := header.UDP(d.UDP)
	length := d.L4Len()
	cov := length
	if s.pcflagSend && s.pcslen < length {
		if s.pcslen > 0 {
			cov = s.pcslen
		}
		uh.SetLength(uint16(s.pcslen))
	}
	d.Summed = csumNone
	c := ^d.l4Sum(cov, d.pseudoSum(uint16(length)))
	if c == 0 {
		c = header.CsumMangled0
	}
	uh.SetChecksum(c)
}

// udpCsum is udp_csum with the pseudo-header: the UDP checksum of d's UDP
// header (its checksum field zero) and payload, 0 sent as 0xffff
// (CSUM_MANGLED_0).
func udpCsum(d *Datagram) uint16 {
	length := d.L4Len()
	c := ^d.l4Sum(length, d.pseudoSum(uint16(length)))
	if c == 0 {
		return header.CsumMangled0
	}
	return c
}

// udpLibSetsockopt mirrors udp_lib_setsockopt for the SOL_UDP and
// SOL_UDPLITE options a scenario can set.
func (s *Socket) udpLibSetsockopt(o scenario.Opt) errno.Errno {
	v := o.Int
	switch o.Name {
	case scenario.OptUDPCork:
		if v != 0 {
			s.corkFlag = true
			return 0
		}
		s.corkFlag = false
		// udp_lib_setsockopt pushes pending frames and ignores the
		// result: setsockopt succeeds even when the push fails.
		if s.pending != 0 {
			_ = s.pushPendingFrames()
		}
	case scenario.OptUDPSegment:
		if v < 0 || v > 0xFFFF {
			return errno.EINVAL
		}
		s.gsoSize = uint16(v)
	case scenario.OptUDPNoCheck6TX:
		// udp_set_no_check6_tx: any socket takes it; only an IPv6
		// send reads it.
		s.np.noCheck6Tx = v != 0
	case scenario.OptUDPNoCheck6RX:
		s.np.noCheck6Rx = v != 0
	case scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov:
		if s.proto != scenario.UDPLite {
			return errno.ENOPROTOOPT // "Disable the option on UDP sockets"
		}
		// An illegal coverage (1..7) becomes the minimum, 8.
		if v != 0 && v < 8 {
			v = 8
		} else if v > 0xFFFF {
			v = 0xFFFF
		}
		if o.Name == scenario.OptUDPLiteSendCov {
			s.pcslen, s.pcflagSend = v, true
		} else {
			s.pcrlen, s.pcflagRecv = v, true
		}
	default:
		return errno.ENOPROTOOPT
	}
	return 0
}
