package builder

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/errno"
)

// This file re-tells net/ipv6/udp.c: udpv6_sendmsg with its hand-over to
// udp_sendmsg (v4-mapped and AF_INET destinations, pending IPv4 data), its
// corked and lockless paths, and udp_v6_push_pending_frames /
// udp_v6_flush_pending_frames. udp_v6_send_skb is udpSendSkb (udp.go),
// which both families share.

// udpv6Sendmsg mirrors udpv6_sendmsg, in the kernel's order:
//
//  1. ipcm6_init_sk; corkreq from UDP_CORK or MSG_MORE;
//  2. msg_name: a sockaddr_in goes to udp_sendmsg (do_udp_sendmsg); no
//     name and nothing pending needs a connected socket (EDESTADDRREQ);
//  3. a v4-mapped destination goes to udp_sendmsg as a sockaddr_in,
//     unless IPV6_V6ONLY (ENETUNREACH); so does an AF_INET name;
//  4. pending data: IPv4 data is appended by udp_sendmsg, IPv6 data by
//     do_append_data, with no route and no control messages;
//  5. the flow: port 0 is EINVAL; sin6_flowinfo with IPV6_FLOWINFO_SEND;
//     a connected send takes np->flow_label;
//  6. control messages (udp_cmsg_send, ip6_datagram_send_ctl): per-call
//     extension headers replace the socket's sticky ones;
//     ipv6_fixup_options drops RTHDRDSTOPTS without a routing header;
//  7. fl6_update_dst (a routing header's first hop), the route
//     (ip6_dst_lookup_flow: ENETUNREACH, EAFNOSUPPORT), the hop limit;
//  8. ip6_make_skb and udp_v6_send_skb, or ip6_append_data on the cork.
//
// MSG_OOB is not checked: an IPv6 send with it goes out.
func (s *Socket) udpv6Sendmsg(m *Msg) (int, errno.Errno) {
	const fn = "udpv6_sendmsg"
	length := len(m.Payload)
	corkreq := s.corkFlag || m.Flags&msgMore != 0
	ipc6 := s.ipcm6InitSk()
	if s.tracing() {
		s.tracef(fn, "len", length, "")
		s.tracef(fn, "corkreq", corkreq, "UDP_CORK or MSG_MORE")
	}
	named := m.Name.IsValid()
	var daddr netip.Addr
	var dport uint16
	switch {
	case named && m.Name.Addr().Is4():
		if s.tracing() {
			s.tracef(fn, "sin6->sin6_family", "AF_INET", "a sockaddr_in on an AF_INET6 socket: udp_sendmsg sends IPv4 (do_udp_sendmsg)")
		}
		return s.doUDPSendmsg(m, m.Name)
	case named:
		daddr, dport = m.Name.Addr(), m.Name.Port()
	case s.pending == 0:
		if !s.connected {
			if s.tracing() {
				s.tracef(fn, "return", "-EDESTADDRREQ", "no msg_name and the socket is not connected")
			}
			return 0, errno.EDESTADDRREQ
		}
		daddr, dport = s.np.daddr, s.dport
	}
	if daddr.IsValid() && daddr.Is4In6() {
		if s.tracing() {
			s.tracef(fn, "daddr", daddr, "v4-mapped: udp_sendmsg sends IPv4 to %s (do_udp_sendmsg), with the socket's IPv4 options", daddr.Unmap())
		}
		return s.doUDPSendmsg(m, netip.AddrPortFrom(daddr.Unmap(), dport))
	}
	if s.pending != 0 {
		if s.pending == afInet {
			if s.tracing() {
				s.tracef(fn, "up->pending", "AF_INET", "IPv4 data is corked: udp_sendmsg appends to it, whatever msg_name says")
			}
			return s.udpSendmsg(m)
		}
		if s.tracing() {
			s.tracef(fn, "up->pending", "AF_INET6", "data is already corked: append to it (do_append_data); msg_name and control messages of this call are ignored")
		}
		return s.doAppendData6(m, length, corkreq, &ipc6, nil, flow{})
	}

	var fl flow
	if named {
		if dport == 0 {
			if s.tracing() {
				s.tracef(fn, "return", "-EINVAL", "sin6_port 0")
			}
			return 0, errno.EINVAL
		}
		if s.np.sndflow {
			fl.flowlabel = m.Flowinfo & ipv6FlowinfoMask
		}
	} else {
		fl.flowlabel = s.np.flowLabel
	}
	fl.dport = dport
	if s.tracing() {
		why := "from msg_name"
		if !named {
			why = "no msg_name: the connected socket's destination and np->flow_label"
		} else if !s.np.sndflow && m.Flowinfo != 0 {
			why = "from msg_name; sin6_flowinfo ignored without IPV6_FLOWINFO_SEND"
		}
		s.tracef(fn, "daddr", daddr, why)
		s.tracef(fn, "fl6->flowlabel", fmt.Sprintf("%#07x", fl.flowlabel), "flow info before the control messages")
	}

	var opt *txOptions
	if len(m.Control) > 0 {
		o, e := s.ip6CmsgSend(m.Control, &ipc6, &fl)
		if e != 0 {
			return 0, e
		}
		opt = o
	}
	if opt == nil && s.np.opt.any() {
		opt = &s.np.opt // txopt_get: the sticky headers
	}
	if fixed := ipv6FixupOptions(&s.fixOpt, opt); fixed != opt {
		if s.tracing() {
			s.tracef("ipv6_fixup_options", "dst0opt", "dropped", "IPV6_RTHDRDSTOPTS without a routing header is not sent (RFC 3542)")
		}
		opt = fixed
	}
	if opt != nil && !opt.any() {
		opt = nil
	}
	fl.daddr = daddr
	if !fl.saddr.IsValid() && !s.np.saddr.IsUnspecified() {
		fl.saddr = s.np.saddr
	}
	fl.sport = s.sport
	if hop, ok := firstHop(opt); ok {
		if s.tracing() {
			s.tracef("fl6_update_dst", "fl6->daddr", netip.AddrFrom16(hop), "the routing header's first hop, for the route lookup; the final destination %s stays in fl6 for the header and the checksum", daddr)
		}
		// ip6_sk_dst_lookup_flow first tries the socket's cached
		// route (ip6_sk_dst_check): a connected socket's route
		// matches when the flow's destination, now the first hop, is
		// the address it cached at connect (np->daddr_cache). Then
		// ip6_dst_lookup_flow, which puts the final destination back
		// into fl6->daddr, is never called, and the final destination
		// is lost: the header, the routing header's segments[0] and
		// the checksum all take the first hop (found by kernel-
		// differential fuzzing, seed 602).
		if hop := netip.AddrFrom16(hop); s.connected && s.np.daddr == hop && daddr != hop {
			if s.tracing() {
				s.tracef("ip6_sk_dst_check", "fl6->daddr", hop, "the connected socket's cached route matches the first hop (daddr_cache): ip6_dst_lookup_flow is skipped and the final destination %s is lost", daddr)
			}
			fl.daddr = hop
		}
	}
	if e := s.ip6DstLookupFlow(&fl); e != 0 {
		return 0, e
	}
	if _, rh := firstHop(opt); !named && !hasIPCmsg(m.Control) && !rh {
		// ip6_sk_dst_lookup_flow with connected: the route is stored
		// (ip6_sk_dst_store_flow), as after connect.
		s.dstCached = true
	}
	if ipc6.hlimit < 0 {
		ipc6.hlimit = s.ip6SkDstHoplimit()
	}
	if m.Flags&msgConfirm != 0 && m.Flags&msgProbe != 0 && length == 0 {
		return 0, 0 // do_confirm: a pure neighbour confirmation
	}
	if !corkreq {
		d, c, e := s.ip6MakeSkb(m.Payload, &ipc6, opt, fl, m.Flags)
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
	s.pending = afInet6
	s.cork.fl = fl
	return s.doAppendData6(m, length+udpHdrLen, corkreq, &ipc6, opt, fl)
}

// doUDPSendmsg is udpv6_sendmsg's do_udp_sendmsg: an IPv4 destination
// (an AF_INET name, or a v4-mapped one as a sockaddr_in) is udp_sendmsg's,
// with the socket's IPv4 state, unless the socket is IPV6_V6ONLY.
func (s *Socket) doUDPSendmsg(m *Msg, to netip.AddrPort) (int, errno.Errno) {
	if s.np.v6only {
		if s.tracing() {
			s.tracef("udpv6_sendmsg", "return", "-ENETUNREACH", "IPV6_V6ONLY: no IPv4 destinations")
		}
		return 0, errno.ENETUNREACH
	}
	m4 := *m
	m4.Name = to
	return s.udpSendmsg(&m4)
}

// hasIPCmsg reports whether control holds a message other than SOL_UDP's:
// udp_cmsg_send's answer, after which udpv6_sendmsg runs
// ip6_datagram_send_ctl and clears `connected`.
func hasIPCmsg(control []byte) bool {
	if len(control) == 0 {
		return false
	}
	msgs, err := cmsg.Parse(control)
	if err != nil {
		return true
	}
	for _, m := range msgs {
		if m.Level != cmsg.SolUDP {
			return true
		}
	}
	return false
}

// ip6CmsgSend is udpv6_sendmsg's control-message step (udp_cmsg_send,
// then ip6_datagram_send_ctl in package cmsg): it updates the cookie and
// the flow, and returns the send's own extension headers (nil when the
// messages set none: then the sticky ones apply).
func (s *Socket) ip6CmsgSend(control []byte, ipc6 *ipcm6, fl *flow) (*txOptions, errno.Errno) {
	msgs, err := cmsg.Parse(control)
	if err != nil {
		return nil, errnoOf(err)
	}
	df := 0
	if ipc6.dontfrag {
		df = 1
	}
	start := cmsg.Cookie6{HopLimit: ipc6.hlimit, TClass: ipc6.tclass, DontFrag: df, FlowLabel: fl.flowlabel, GSOSize: uint16(ipc6.gsoSize)}
	c, err := cmsg.Apply6(msgs, start, s.localAddr6)
	if err != nil {
		if s.tracing() {
			s.tracef("ip6_datagram_send_ctl", "return", errnoOf(err), "%v", err)
		}
		return nil, errnoOf(err)
	}
	ipc6.hlimit, ipc6.tclass, ipc6.dontfrag, ipc6.gsoSize = c.HopLimit, c.TClass, c.DontFrag != 0, int(c.GSOSize)
	fl.flowlabel = c.FlowLabel
	if c.HasSaddr {
		fl.saddr = c.Saddr
	}
	if s.tracing() {
		s.tracef("udp_cmsg_send/ip6_datagram_send_ctl", "ipc6", fmt.Sprintf("hlimit=%d tclass=%d dontfrag=%d gso_size=%d", c.HopLimit, c.TClass, c.DontFrag, c.GSOSize), "after the control messages (hlimit -1: the default)")
	}
	if c.NFLen|c.FLen == 0 {
		return nil, 0 // no extension header: the per-call options are dropped
	}
	o := &s.callOpt
	*o = txOptions{hop: c.HopOpt, dst0: c.Dst0Opt, srcrt: c.Srcrt, dst1: c.Dst1Opt, nflen: c.NFLen, flen: c.FLen}
	if s.tracing() {
		s.tracef("ip6_datagram_send_ctl", "opt", fmt.Sprintf("opt_nflen=%d opt_flen=%d", o.nflen, o.flen), "the send's extension headers replace the socket's sticky ones")
	}
	return o, 0
}

// doAppendData6 is udpv6_sendmsg's do_append_data: ulen bytes (the UDP
// header counted for the first call of a corked datagram) go to the
// socket's write queue; an error flushes the whole pending datagram.
func (s *Socket) doAppendData6(m *Msg, ulen int, corkreq bool, ipc6 *ipcm6, opt *txOptions, fl flow) (int, errno.Errno) {
	s.upLen += ulen
	flags := m.Flags
	if corkreq {
		flags |= msgMore
	}
	e := s.ip6AppendData(m.Payload, ipc6, opt, fl, flags)
	switch {
	case e != 0:
		s.udpV6FlushPendingFrames()
	case !corkreq:
		e = s.udpV6PushPendingFrames()
	case s.queue.empty():
		s.pending = 0
	}
	if e != 0 {
		return 0, e
	}
	return len(m.Payload), 0
}

// udpV6PushPendingFrames mirrors udp_v6_push_pending_frames: pending IPv4
// data is udp_push_pending_frames'; otherwise ip6_finish_skb
// (__ip6_make_skb on the socket's queue), then udp_v6_send_skb with the
// socket's cork.
func (s *Socket) udpV6PushPendingFrames() errno.Errno {
	if s.pending == afInet {
		return s.udpPushPendingFrames()
	}
	var e errno.Errno
	if d := s.ip6MakeSkbCore(&s.queue, &s.cork); d != nil {
		e = s.udpSendSkb(d, &s.cork)
	}
	s.upLen = 0
	s.pending = 0
	return e
}

// udpV6FlushPendingFrames mirrors udp_v6_flush_pending_frames: the corked
// data is thrown away (udp_flush_pending_frames for IPv4 data).
func (s *Socket) udpV6FlushPendingFrames() {
	if s.pending == afInet {
		s.udpFlushPendingFrames()
		return
	}
	if s.pending != 0 {
		s.upLen = 0
		s.pending = 0
		s.queue.reset()
	}
}
