package cmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
)

// This file is the IPv6 half of the control-message step:
// ip6_datagram_send_ctl (net/ipv6/datagram.c) as udpv6_sendmsg runs it,
// after udp_cmsg_send, on an AF_INET6 socket's send to an IPv6
// destination. (A v4-mapped destination goes through udp_sendmsg and
// ip_cmsg_send with allow_ipv6 set: Cookie.AllowIPv6.)

// KernelMIP6 is CONFIG_IPV6_MIP6 of the kernel udpbuild re-tells (6.18 as
// measured: not set). Without it ip6_datagram_send_ctl refuses every
// IPV6_RTHDR control message (its only accepted type, 2, is a MIP6 one);
// a routing header can then only come from the sticky IPV6_RTHDR option,
// as a segment routing header.
const KernelMIP6 = false

// IPv6 option-header layout: struct ipv6_opt_hdr is {nexthdr, hdrlen},
// struct ipv6_rt_hdr {nexthdr, hdrlen, type, segments_left}.
const (
	optHdrLen = 2 // sizeof(struct ipv6_opt_hdr)
	rtHdrLen  = 4 // sizeof(struct ipv6_rt_hdr)
)

// flowinfoMask is IPV6_FLOWINFO_MASK in host order: the traffic class and
// flow label bits of sin6_flowinfo.
const flowinfoMask = 0x0FFFFFFF

// Cookie6 is what control messages change for one IPv6 send: the fields
// of struct ipcm6_cookie, of the flow (struct flowi6) and of the per-call
// struct ipv6_txoptions that udpv6_sendmsg hands ip6_datagram_send_ctl.
//
// The caller fills the start value as udpv6_sendmsg does (ipcm6_init_sk:
// HopLimit -1, TClass and DontFrag from the socket; FlowLabel from
// msg_name or the connected socket; GSOSize the socket's UDP_SEGMENT).
// Apply6 only overwrites what a message sets.
type Cookie6 struct {
	// HopLimit is ipc6.hlimit: -1 means the socket's or the route's.
	HopLimit int
	// TClass is ipc6.tclass, an int: an IPV6_TCLASS message may set -1,
	// which the cork's u8 then sends as 0xff.
	TClass int
	// DontFrag is ipc6.dontfrag (0 or 1).
	DontFrag int
	// FlowLabel is fl6->flowlabel: flow info bits (IPV6_FLOWINFO_MASK),
	// traffic class included, in host order.
	FlowLabel uint32
	// OIF is fl6->flowi6_oif, set by an IPV6_PKTINFO ifindex.
	OIF int
	// Saddr is fl6->saddr when HasSaddr: an IPV6_PKTINFO source address.
	Saddr    netip.Addr
	HasSaddr bool
	// The per-call extension headers (struct ipv6_txoptions): each the
	// message's bytes up to the header's own length, and the byte
	// counts ip6_datagram_send_ctl keeps. NFLen counts hop-by-hop,
	// IPV6_RTHDRDSTOPTS and the routing header (before the fragment
	// header), FLen IPV6_DSTOPTS. A repeated IPV6_DSTOPTS or
	// IPV6_RTHDRDSTOPTS replaces the earlier header and its length, as
	// the running 6.18 kernel does.
	HopOpt, Dst0Opt, Dst1Opt, Srcrt []byte
	NFLen, FLen                     int
	// GSOSize and HasGSOSize are as in Cookie (udp_cmsg_send).
	GSOSize    uint16
	HasGSOSize bool
	// NeedIP6 reports that a message of another level than SOL_UDP made
	// ip6_datagram_send_ctl run (udpv6_sendmsg then clears `connected`).
	NeedIP6 bool
}

// Local reports whether an address is one of the host's (ipv6_chk_addr,
// for an IPV6_PKTINFO source).
type Local func(netip.Addr) bool

// Apply6 mirrors udpv6_sendmsg's control-message step: udp_cmsg_send over
// all messages, then, when it reports another level, ip6_datagram_send_ctl
// over all of them. It returns the cookie, or the kernel's errno as an
// error errno.From recognises; on error the returned cookie is start.
// local decides which IPV6_PKTINFO source addresses are the host's; nil
// accepts none but "::".
//
// ip6_datagram_send_ctl, per message (CMSG_OK was Parse's):
//
//   - SOL_SOCKET: __sock_cmsg_send, as on the IPv4 path;
//   - any level but SOL_IPV6: skipped (so SOL_IP messages do nothing);
//   - IPV6_PKTINFO: shorter than struct in6_pktinfo is EINVAL; a
//     non-zero ifindex different from one already set is EINVAL; a
//     link-local source without an interface is EINVAL; a source that is
//     not the host's is EINVAL; otherwise it sets fl6->saddr;
//   - IPV6_FLOWINFO: shorter than 4 bytes is EINVAL; when flow info is
//     already set, a value that differs outside IPV6_FLOWINFO_MASK is
//     EINVAL; it sets the flow info (without IPV6_FLOWINFO_SEND);
//   - IPV6_HOPOPTS: a second one, one shorter than 2 bytes or shorter
//     than its own length is EINVAL (CAP_NET_RAW is assumed: udpbuild
//     runs as root);
//   - IPV6_DSTOPTS, IPV6_RTHDRDSTOPTS: the same length rules; a repeat
//     replaces the header and its length;
//   - IPV6_RTHDR: shorter than 4 bytes is EINVAL; only the MIP6 type 2
//     exists (KernelMIP6), every other type is EINVAL;
//   - IPV6_HOPLIMIT, IPV6_TCLASS: exactly an int, -1..255, else EINVAL;
//   - IPV6_DONTFRAG: exactly an int, 0 or 1, else EINVAL;
//   - any other SOL_IPV6 type: EINVAL.
func Apply6(msgs []Msg, start Cookie6, local Local) (Cookie6, error) {
	c := start
	var ck Cookie
	ck.GSOSize, ck.HasGSOSize = c.GSOSize, c.HasGSOSize
	needIP, err := udpCmsgSend(msgs, &ck)
	if err != nil {
		return start, err
	}
	c.GSOSize, c.HasGSOSize = ck.GSOSize, ck.HasGSOSize
	if !needIP {
		return c, nil
	}
	c.NeedIP6 = true
	if err := ip6DatagramSendCtl(msgs, &c, local); err != nil {
		return start, err
	}
	return c, nil
}

// ip6DatagramSendCtl mirrors ip6_datagram_send_ctl (see Apply6).
func ip6DatagramSendCtl(msgs []Msg, c *Cookie6, local Local) error {
	for i, m := range msgs {
		if m.Level == SolSocket {
			if err := sockCmsgSend(m); err != nil {
				return fmt.Errorf("cmsg %d: %w", i, err)
			}
			continue
		}
		if m.Level != SolIPv6 {
			continue
		}
		switch m.Type {
		case IPv6PktInfo:
			if err := pktinfo6(m, i, c, local); err != nil {
				return err
			}
		case IPv6FlowInfo:
			if len(m.Data) < 4 {
				return fmt.Errorf("cmsg %d: IPV6_FLOWINFO with %d data bytes, want 4: %w", i, len(m.Data), errno.EINVAL)
			}
			v := binary.BigEndian.Uint32(m.Data)
			if c.FlowLabel&flowinfoMask != 0 && (c.FlowLabel^v)&^flowinfoMask != 0 {
				return fmt.Errorf("cmsg %d: IPV6_FLOWINFO %#x conflicts with the flow info %#x: %w", i, v, c.FlowLabel, errno.EINVAL)
			}
			c.FlowLabel = v & flowinfoMask
		case IPv6HopOpts:
			if c.HopOpt != nil {
				return fmt.Errorf("cmsg %d: a second IPV6_HOPOPTS: %w", i, errno.EINVAL)
			}
			h, err := optHdr(m, i, "IPV6_HOPOPTS")
			if err != nil {
				return err
			}
			c.HopOpt = h
			c.NFLen += len(h)
		case IPv6DstOpts, IPv6RthdrDstOpts:
			name := "IPV6_DSTOPTS"
			if m.Type == IPv6RthdrDstOpts {
				name = "IPV6_RTHDRDSTOPTS"
			}
			h, err := optHdr(m, i, name)
			if err != nil {
				return err
			}
			// A repeat replaces the earlier header, and on 6.18 its
			// length replaces the earlier one's too: measured live
			// (DSTOPTS 8 then 24 counts 24, 24 then 8 counts 8; two
			// RTHDRDSTOPTS without a routing header count nothing once
			// ipv6_fixup_options drops the one kept). Older sources add
			// every length (found by kernel-differential fuzzing, seed
			// 802).
			if m.Type == IPv6DstOpts {
				c.FLen += len(h) - len(c.Dst1Opt)
				c.Dst1Opt = h
			} else {
				c.NFLen += len(h) - len(c.Dst0Opt)
				c.Dst0Opt = h
			}
		case IPv6Rthdr:
			if len(m.Data) < rtHdrLen {
				return fmt.Errorf("cmsg %d: IPV6_RTHDR with %d data bytes, shorter than struct ipv6_rt_hdr: %w", i, len(m.Data), errno.EINVAL)
			}
			hdrlen, typ, segs := int(m.Data[1]), m.Data[2], int(m.Data[3])
			if !KernelMIP6 || typ != 2 || hdrlen != 2 || segs != 1 {
				return fmt.Errorf("cmsg %d: IPV6_RTHDR type %d: only type 2 (Mobile IPv6, CONFIG_IPV6_MIP6 %v) is accepted: %w", i, typ, KernelMIP6, errno.EINVAL)
			}
			n := (hdrlen + 1) * 8
			if len(m.Data) < n || hdrlen>>1 != segs {
				return fmt.Errorf("cmsg %d: IPV6_RTHDR length %d or segments_left %d inconsistent: %w", i, n, segs, errno.EINVAL)
			}
			c.Srcrt = m.Data[:n:n]
			c.NFLen += n
		case IPv6HopLimit:
			v, err := intData(m, i, "IPV6_HOPLIMIT")
			if err != nil {
				return err
			}
			if v < -1 || v > 255 {
				return fmt.Errorf("cmsg %d: IPV6_HOPLIMIT %d outside -1..255: %w", i, v, errno.EINVAL)
			}
			c.HopLimit = int(v)
		case IPv6TClass:
			v, err := intData(m, i, "IPV6_TCLASS")
			if err != nil {
				return err
			}
			if v < -1 || v > 255 {
				return fmt.Errorf("cmsg %d: IPV6_TCLASS %d outside -1..255: %w", i, v, errno.EINVAL)
			}
			c.TClass = int(v)
		case IPv6DontFrag:
			v, err := intData(m, i, "IPV6_DONTFRAG")
			if err != nil {
				return err
			}
			if v < 0 || v > 1 {
				return fmt.Errorf("cmsg %d: IPV6_DONTFRAG %d outside 0..1: %w", i, v, errno.EINVAL)
			}
			c.DontFrag = int(v)
		default:
			return fmt.Errorf("cmsg %d: unknown SOL_IPV6 type %d: %w", i, m.Type, errno.EINVAL)
		}
	}
	return nil
}

// pktinfo6 is ip6_datagram_send_ctl's IPV6_PKTINFO case.
func pktinfo6(m Msg, i int, c *Cookie6, local Local) error {
	if len(m.Data) < 20 {
		return fmt.Errorf("cmsg %d: IPV6_PKTINFO with %d data bytes, want 20 (struct in6_pktinfo): %w", i, len(m.Data), errno.EINVAL)
	}
	addr := netip.AddrFrom16([16]byte(m.Data[:16]))
	if idx := int(int32(binary.NativeEndian.Uint32(m.Data[16:]))); idx != 0 {
		if c.OIF != 0 && idx != c.OIF {
			return fmt.Errorf("cmsg %d: IPV6_PKTINFO ifindex %d, the send's interface is %d: %w", i, idx, c.OIF, errno.EINVAL)
		}
		c.OIF = idx
	}
	if c.OIF == 0 && addr.IsLinkLocalUnicast() {
		return fmt.Errorf("cmsg %d: IPV6_PKTINFO link-local source %s without an interface: %w", i, addr, errno.EINVAL)
	}
	if addr.IsUnspecified() {
		return nil // the route chooses the source
	}
	if local == nil || !local(addr) {
		return fmt.Errorf("cmsg %d: IPV6_PKTINFO source %s is not an address of this host: %w", i, addr, errno.EINVAL)
	}
	c.Saddr, c.HasSaddr = addr, true
	return nil
}

// optHdr checks an extension-header message as ip6_datagram_send_ctl
// does (at least struct ipv6_opt_hdr, at least the header's own length)
// and returns the header: the message's first (hdrlen+1)*8 bytes.
func optHdr(m Msg, i int, name string) ([]byte, error) {
	if len(m.Data) < optHdrLen {
		return nil, fmt.Errorf("cmsg %d: %s with %d data bytes, shorter than struct ipv6_opt_hdr: %w", i, name, len(m.Data), errno.EINVAL)
	}
	n := (int(m.Data[1]) + 1) * 8
	if len(m.Data) < n {
		return nil, fmt.Errorf("cmsg %d: %s states %d bytes but carries %d: %w", i, name, n, len(m.Data), errno.EINVAL)
	}
	return m.Data[:n:n], nil
}
