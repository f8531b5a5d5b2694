package builder

import (
	"fmt"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file is udpbuild's own: the path's events (docs/scenario.md, "Path
// events"). A router between the hosts answers the last datagram the
// socket sent with an ICMP error (an icmp step), which the sender's
// kernel then handles (udp_err.go); a getsockopt step reads what the
// socket knows of the path (IP_MTU, IPV6_MTU).

// HasPathEvents reports whether sc has icmp steps: the run then keeps the
// last datagram's first frame, to quote it.
func HasPathEvents(sc *scenario.Scenario) bool {
	for _, st := range sc.Steps {
		if st.ICMP != nil {
			return true
		}
	}
	return false
}

// quoteSink passes everything on to inner and keeps the first frame of
// the last datagram (from its IP header on, as long as the longest quote),
// which the next icmp step quotes, as a router that received it would.
type quoteSink struct {
	inner FrameSink
	quote []byte
	fresh bool // the next frame is a datagram's first
}

func (q *quoteSink) Datagram(d *Datagram) error {
	q.fresh = true
	return q.inner.Datagram(d)
}

func (q *quoteSink) Frame(fi *FrameInfo, head, data []byte) error {
	if q.fresh {
		q.fresh = false
		q.quote = append(append(q.quote[:0], head...), data...)
		q.quote = q.quote[min(header.EthernetLen, len(q.quote)):]
		q.quote = q.quote[:min(len(q.quote), scenario.ICMPQuote6)]
	}
	return q.inner.Frame(fi, head, data)
}

// pathRouter plays icmp steps: it builds the router's message, hands it
// to the run's sink as a frame the peer's side sent, and to the sender's
// socket.
type pathRouter struct {
	quotes *quoteSink
	sink   FrameSink // the run's own sink (the peer model does not see it)
	frames *int      // the count of the peer's frames, which it joins
	macs   [2][6]byte
	mtu    int // the link's: the message crosses it
	buf    []byte
}

// icmp plays one icmp step on socket s.
func (p *pathRouter) icmp(ic *scenario.ICMP, step int, s *Socket) (report.Step, error) {
	r := report.Step{Op: "icmp"}
	e, why, ok := ic.Message(p.quotes.quote, p.mtu)
	if !ok {
		if s.tracing() {
			s.tracef("icmp", "sent", "nothing", "%s", why)
		}
		return r, nil
	}
	e.SrcMAC, e.DstMAC = p.macs[1], p.macs[0]
	typ, code := e.Type, e.Code
	p.buf = e.Build(p.buf[:0])
	r.Ret = len(p.buf) - header.EthernetLen
	fi := FrameInfo{Step: step, Dir: report.DirPeer, Datagram: *p.frames, Kind: report.ICMP, Count: 1,
		Event: fmt.Sprintf("path event: ICMP %d/%d (%s) from %s quoting %d bytes of the last datagram", typ, code, ic.Type, e.Src, len(e.Quote))}
	*p.frames++
	if s.tracing() {
		s.tracef("icmp", "sent", fmt.Sprintf("%d/%d", typ, code), "%s from %s to %s, info %d, quoting %d bytes", ic.Type, e.Src, e.Dst, e.Info, len(e.Quote))
	}
	if err := p.sink.Frame(&fi, p.buf, nil); err != nil {
		return r, err
	}
	s.icmpRcv(p.buf)
	return r, nil
}

// ethMinMTU is ETH_MIN_MTU, blackhole_netdev's MTU.
const ethMinMTU = 68

// Getsockopt mirrors do_ip_getsockopt (IP_MTU) and do_ipv6_getsockopt
// (IPV6_MTU): dst_mtu of the socket's cached route, which only a
// connected socket has: ENOTCONN otherwise.
func (s *Socket) Getsockopt(name scenario.OptName) (int, errno.Errno) {
	switch name {
	case scenario.OptIPMTU, scenario.OptIPv6MTU:
	default:
		return 0, errno.ENOPROTOOPT
	}
	if (name == scenario.OptIPv6MTU) != s.inet6 {
		return 0, errno.ENOPROTOOPT
	}
	fn := "do_ip_getsockopt"
	daddr := s.daddr
	if s.inet6 {
		fn, daddr = "do_ipv6_getsockopt", s.np.daddr
	}
	if !s.connected || !s.dstCached {
		if s.tracing() {
			why := "no cached route (sk_dst_get): the socket is not connected"
			if s.connected {
				why = "no cached route (sk_dst_get): a setsockopt dropped it (sk_dst_reset) and no connected send has stored one since"
			}
			s.tracef(fn, string(name), "-ENOTCONN", why)
		}
		return 0, errno.ENOTCONN
	}
	mtu, _ := s.rt.dstMTU(daddr)
	if daddr.Is6() && !daddr.Is4In6() && s.rt.mtu() < header.IPv6MinMTU {
		// [live: 68 on a 576-byte link] The link lost IPv6 after
		// connect (addrconf_ifdown at an MTU below 1280): the cached
		// route's device is then blackhole_netdev (dst_dev_put), whose
		// MTU is ETH_MIN_MTU.
		if s.tracing() {
			s.tracef(fn, string(name), ethMinMTU, "the device lost IPv6 (MTU %d < 1280) after connect: the cached route now points at blackhole_netdev, MTU ETH_MIN_MTU", s.rt.mtu())
		}
		return ethMinMTU, 0
	}
	if s.tracing() {
		why := "dst_mtu of the connected route: the device's MTU"
		if mtu != s.rt.mtu() {
			why = fmt.Sprintf("dst_mtu of the connected route: the route exception for %s", daddr.Unmap())
		}
		s.tracef(fn, string(name), mtu, why)
	}
	return mtu, 0
}
