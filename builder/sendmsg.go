package builder

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/ipopt"
)

// msg_flags bits the send path reads.
const (
	msgOOB       = unix.MSG_OOB
	msgProbe     = 0x10 // MSG_PROBE
	msgConfirm   = unix.MSG_CONFIRM
	msgDontroute = unix.MSG_DONTROUTE
	msgMore      = unix.MSG_MORE
)

// Msg is one sendmsg() call.
type Msg struct {
	Payload []byte
	Flags   int
	// Name is msg_name; the zero AddrPort means none.
	Name netip.AddrPort
	// Control is the raw msg_control buffer (cmsg.Build makes one).
	Control []byte
}

// Sendmsg mirrors udp_sendmsg. It returns the byte count or the errno the
// kernel would return.
func (s *Socket) Sendmsg(m *Msg) (int, errno.Errno) {
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
	if s.pending {
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
	// ipcm_init_sk: on 6.x the cookie starts with the socket's TOS, so a
	// corked datagram keeps the TOS of its first call.
	ipc := ipcm{tos: int(s.tos), gsoSize: int(s.gsoSize)}
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
	} else if connected {
		s.dstCached = true
	}
	if m.Flags&msgConfirm != 0 && m.Flags&msgProbe != 0 && length == 0 {
		return 0, 0 // do_confirm: a pure neighbour confirmation
	}

	if !corkreq {
		// The lockless fast path: ip_make_skb builds the datagram on a
		// private queue and cork.
		if m.Flags&msgProbe != 0 {
			if s.tracing() {
				s.tracef("ip_make_skb", "skb", "NULL", "MSG_PROBE: nothing is built or sent")
			}
			return length, 0 // ip_make_skb returns NULL: nothing sent
		}
		c, q := &s.fastCork, &s.fastQueue
		q.reset()
		if e := s.setupCork(c, &ipc, fl); e != 0 {
			return 0, e
		}
		if e := s.appendData(q, c, m.Payload, udpHdrLen, m.Flags, true); e != 0 {
			return 0, e
		}
		d := s.makeSkb(q, c)
		if e := s.sendSkb(d, c); e != 0 {
			return 0, e
		}
		return length, 0
	}
	// The corked path rewrites inet->cork.fl with the final destination:
	// a source route's first hop is lost here (the header then carries
	// the final destination), and a connected socket's later sends on the
	// cached route go wherever this call went.
	fl.daddr, fl.dport = daddr, dport
	s.corkFl = fl
	s.pending = true
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
		s.flushPendingFrames()
	case !corkreq:
		e = s.pushPendingFrames()
	case s.queue.empty():
		s.pending = false
	}
	if e != 0 {
		return 0, e
	}
	return len(m.Payload), 0
}

// ipAppendData mirrors ip_append_data: the first call of a datagram sets up
// the cork; later ones append without a transport header.
func (s *Socket) ipAppendData(payload []byte, ipc *ipcm, fl flow, flags int) errno.Errno {
	if flags&msgProbe != 0 {
		return 0
	}
	transhdrlen := 0
	if s.queue.empty() {
		if ipc == nil {
			// Pending with an empty queue cannot happen: udp_sendmsg
			// clears pending whenever the queue is left empty.
			ipc = &ipcm{tos: int(s.tos), gsoSize: int(s.gsoSize)}
		}
		if e := s.setupCork(&s.cork, ipc, fl); e != 0 {
			return e
		}
		transhdrlen = udpHdrLen
	}
	return s.appendData(&s.queue, &s.cork, payload, transhdrlen, flags, false)
}

// pushPendingFrames mirrors udp_push_pending_frames.
func (s *Socket) pushPendingFrames() errno.Errno {
	var e errno.Errno
	if d := s.makeSkb(&s.queue, &s.cork); d != nil {
		e = s.sendSkb(d, &s.cork)
	}
	s.upLen = 0
	s.pending = false
	return e
}

// flushPendingFrames mirrors udp_flush_pending_frames: the corked data is
// thrown away.
func (s *Socket) flushPendingFrames() {
	if s.pending {
		s.upLen = 0
		s.pending = false
		s.queue.reset()
	}
}

// cmsgSend mirrors udp_cmsg_send followed by ip_cmsg_send; needIP reports
// that a message of another level than SOL_UDP made ip_cmsg_send run.
func (s *Socket) cmsgSend(control []byte, ipc *ipcm) (needIP bool, e errno.Errno) {
	msgs, err := cmsg.Parse(control)
	if err != nil {
		return false, errnoOf(err)
	}
	start := cmsg.Cookie{TTL: ipc.ttl, TOS: ipc.tos, GSOSize: uint16(ipc.gsoSize)}
	ck, err := cmsg.ApplyChecked(msgs, start, func(raw []byte) error {
		_, err := s.optEnv().CompileCmsg(raw)
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
		opt, err := s.optEnv().CompileCmsg(ck.Options)
		if err != nil {
			return false, errnoOf(err)
		}
		ipc.opt = opt
	}
	return ck.NeedIP, 0
}

func errnoOf(err error) errno.Errno {
	if e, ok := errno.From(err); ok {
		return e
	}
	return errno.EINVAL
}
