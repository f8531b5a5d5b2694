package builder

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/frag"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv6/ip6_output.c, in the order a datagram meets
// it: the route (ip6_dst_lookup_flow), ip6_setup_cork, ip6_append_data /
// ip6_make_skb and __ip6_append_data (the IPv6 limits; the skb geometry is
// appendSkbs, shared with IPv4), __ip6_make_skb (the IPv6 header and the
// extension headers), ip6_send_skb and __ip6_local_out, ip6_finish_output
// (one decision, as ip_finish_output's) and ip6_fragment with the fragment
// header.

// cork6 mirrors struct inet6_cork: what ip6_setup_cork keeps besides the
// shared struct inet_cork (cork): the datagram's own copy of its extension
// headers and the u8 hop limit and traffic class (an IPV6_TCLASS control
// message's -1 becomes 0xff here), and dontfrag.
type cork6 struct {
	opt      txOptions
	hopLimit uint8
	tclass   uint8
	dontfrag bool
}

// ip6DstLookupFlow mirrors ip6_dst_lookup_flow (ip6_dst_lookup_tail) for
// the model's one link: every destination routes out through the device,
// unless the device's MTU is below IPV6_MIN_MTU, which takes IPv6 (its
// addresses and routes) off the link: ENETUNREACH. The source is the
// flow's, or the link's address (ipv6_dev_get_saddr); a v4-mapped source
// towards an IPv6 destination is EAFNOSUPPORT.
func (s *Socket) ip6DstLookupFlow(fl *flow) errno.Errno {
	if s.rt.mtu() < header.IPv6MinMTU {
		if s.tracing() {
			s.tracef("ip6_dst_lookup_flow", "return", "-ENETUNREACH", "the link's MTU %d is below IPV6_MIN_MTU %d: addrconf took IPv6 off the device, no route", s.rt.mtu(), header.IPv6MinMTU)
		}
		return errno.ENETUNREACH
	}
	return s.ip6DstLookupTail(fl)
}

// ip6DstLookupTail is ip6_dst_lookup_tail's part of the lookup once a
// route is found: the source address, and the v4-mapped source that
// cannot send IPv6.
func (s *Socket) ip6DstLookupTail(fl *flow) errno.Errno {
	if !fl.saddr.IsValid() || fl.saddr.IsUnspecified() {
		fl.saddr = scenario.DefaultSrc6.Addr()
		if s.tracing() {
			s.tracef("ip6_dst_lookup_tail", "fl6->saddr", fl.saddr, "ipv6_dev_get_saddr: the link's address")
		}
	}
	if fl.saddr.Is4In6() && !fl.daddr.Is4In6() && !fl.daddr.IsUnspecified() {
		if s.tracing() {
			s.tracef("ip6_dst_lookup_tail", "return", "-EAFNOSUPPORT", "a v4-mapped source %s towards the IPv6 destination %s", fl.saddr, fl.daddr)
		}
		return errno.EAFNOSUPPORT
	}
	return 0
}

// ip6SetupCork mirrors ip6_setup_cork: the datagram's copy of its
// extension headers, hop limit, traffic class and dontfrag, and its MTU:
// the device's for PROBE and above (INTERFACE, OMIT), the route's
// otherwise (the same in udpbuild's world), lowered by IPV6_MTU in every
// mode. IPV6_MTU sizes the skbs and the limits only: whether the datagram
// is fragmented is decided against the route (ip6FinishOutput).
func (s *Socket) ip6SetupCork(c *cork, ipc6 *ipcm6, opt *txOptions, fl flow) errno.Errno {
	if opt != nil {
		opt.copyInto(&c.v6.opt)
	} else {
		c.v6.opt = txOptions{}
	}
	c.v6.hopLimit = uint8(ipc6.hlimit)
	c.v6.tclass = uint8(ipc6.tclass)
	c.v6.dontfrag = ipc6.dontfrag
	c.dstMTU, c.dstLocked = s.rt.dstMTU(fl.daddr)
	c.exc = s.rt.exception(fl.daddr) != nil && ipSkUsePmtu(s.np.pmtudisc)
	mtu := c.dstMTU
	why := "the route's MTU (dst6_mtu)"
	if mtu != s.rt.mtu() {
		why = fmt.Sprintf("the route's MTU (dst6_mtu): the route exception (RTF_CACHE) for %s", fl.daddr)
	}
	if !ipSkUsePmtu(s.np.pmtudisc) {
		mtu = s.rt.mtu()
		why = "the device's MTU (pmtudisc >= IPV6_PMTUDISC_PROBE)"
	}
	c.outMTU = mtu
	if s.np.fragSize != 0 && s.np.fragSize < mtu {
		mtu = s.np.fragSize
		why = "IPV6_MTU (np->frag_size), below the route's MTU"
	}
	if mtu < header.IPv6MinMTU {
		return errno.EINVAL
	}
	c.opt = nil
	c.fragsize = min(mtu, ip6MaxMTU)
	c.gsoSize = ipc6.gsoSize
	c.length = 0
	c.fl = fl
	if s.tracing() {
		s.tracef("ip6_setup_cork", "cork->fragsize", c.fragsize, why)
		s.tracef("ip6_setup_cork", "v6_cork->hop_limit", c.v6.hopLimit, "ipc6.hlimit")
		s.tracef("ip6_setup_cork", "v6_cork->tclass", fmt.Sprintf("%#02x", c.v6.tclass), "ipc6.tclass, a u8 (an IPV6_TCLASS control message's -1 is 0xff)")
		if c.gsoSize > 0 {
			s.tracef("ip6_setup_cork", "cork->gso_size", c.gsoSize, "UDP_SEGMENT")
		}
		if c.v6.opt.any() {
			s.tracef("ip6_setup_cork", "v6_cork->opt", fmt.Sprintf("opt_nflen=%d opt_flen=%d", c.v6.opt.nflen, c.v6.opt.flen), "extension headers of this datagram (deep-copied)")
		}
	}
	return 0
}

// ip6AppendData mirrors ip6_append_data, the corked path's append: the
// first call of a datagram sets up the socket's cork, and its length and
// transport header grow by the IPV6_DSTOPTS bytes (opt_flen), which are
// appended as if they were part of the transport header; later calls
// append without a transport header.
func (s *Socket) ip6AppendData(payload []byte, ipc6 *ipcm6, opt *txOptions, fl flow, flags int) errno.Errno {
	if flags&msgProbe != 0 {
		return 0
	}
	transhdrlen := 0
	if s.queue.empty() {
		if e := s.ip6SetupCork(&s.cork, ipc6, opt, fl); e != 0 {
			return e
		}
		transhdrlen = udpHdrLen + s.cork.v6.opt.flen
	}
	return s.ip6AppendDataCore(&s.queue, &s.cork, payload, transhdrlen, flags, false)
}

// ip6MakeSkb mirrors ip6_make_skb, the lockless path: a private queue and
// cork, __ip6_append_data with the IPV6_DSTOPTS bytes added to the length
// and the transport header, then __ip6_make_skb. MSG_PROBE makes no
// datagram (nil, no error).
func (s *Socket) ip6MakeSkb(payload []byte, ipc6 *ipcm6, opt *txOptions, fl flow, flags int) (*Datagram, *cork, errno.Errno) {
	if flags&msgProbe != 0 {
		if s.tracing() {
			s.tracef("ip6_make_skb", "return", "NULL", "MSG_PROBE: nothing is built or sent")
		}
		return nil, nil, 0
	}
	c, q := &s.fastCork, &s.fastQueue
	q.reset()
	if e := s.ip6SetupCork(c, ipc6, opt, fl); e != 0 {
		return nil, nil, e
	}
	if e := s.ip6AppendDataCore(q, c, payload, udpHdrLen+c.v6.opt.flen, flags, true); e != 0 {
		return nil, nil, e
	}
	return s.ip6MakeSkbCore(q, c), c, 0
}

// ip6AppendDataCore mirrors __ip6_append_data's variables and size checks
// (the skb geometry that follows is appendSkbs, shared with IPv4):
//
//   - mtu is cork->fragsize, or IP6_MAX_MTU for a GSO send;
//   - fragheaderlen is the IPv6 header and the headers before the
//     fragment header; maxfraglen keeps 8 bytes for the fragment header;
//   - headersize is every network header, IPV6_DSTOPTS included;
//   - EMSGSIZE, in order: a degenerate MTU; the header chain and the
//     transport header (which already counts IPV6_DSTOPTS: counted twice)
//     beyond mtu (RFC 7112); dontfrag and the datagram beyond mtu -
//     headersize (UDP only: the check names IPPROTO_UDP, so UDP-Lite is
//     not held to it); and beyond maxnonfragsize - headersize, where
//     maxnonfragsize is 40 + IPV6_MAXPLEN when local fragmentation is
//     allowed (ip6_sk_ignore_df) and mtu otherwise.
func (s *Socket) ip6AppendDataCore(q *skbQueue, c *cork, payload []byte, transhdrlen int, flags int, byRef bool) errno.Errno {
	const fn = "__ip6_append_data"
	length := len(payload) + transhdrlen
	opt := &c.v6.opt
	lim := appendLimits{fn: fn, v6: true, allocExtra: hhLen + header.IPv6FragmentLen}
	lim.mtu = c.fragsize
	if c.gsoSize > 0 {
		lim.mtu = ip6MaxMTU
	}
	mtu := lim.mtu
	lim.fragheaderlen = header.IPv6MinLen + opt.nflen
	fhl := lim.fragheaderlen
	lim.maxfraglen = (mtu-fhl)&^7 + fhl - header.IPv6FragmentLen
	headersize := header.IPv6MinLen + opt.nflen + opt.flen
	lim.maxnonfragsize = mtu
	if ip6SkIgnoreDF(s.np.pmtudisc) {
		lim.maxnonfragsize = header.IPv6MinLen + ipv6MaxPlen
	}
	if s.tracing() {
		if c.gsoSize > 0 {
			s.tracef(fn, "mtu", mtu, "IP6_MAX_MTU: a GSO send is built as one skb")
		} else {
			s.tracef(fn, "mtu", mtu, "cork->fragsize")
		}
		s.tracef(fn, "fragheaderlen", fhl, "40 + opt_nflen %d (hop-by-hop, dst0, routing: before the fragment header)", opt.nflen)
		s.tracef(fn, "headersize", headersize, "fragheaderlen + opt_flen %d (IPV6_DSTOPTS)", opt.flen)
		s.tracef(fn, "maxfraglen", lim.maxfraglen, "((mtu - fragheaderlen) & ~7) + fragheaderlen - 8: room for the fragment header")
		why := "pmtudisc do/probe/interface: never fragment locally"
		if lim.maxnonfragsize != mtu {
			why = "ip6_sk_ignore_df: local fragmentation allowed, 40 + IPV6_MAXPLEN"
		}
		s.tracef(fn, "maxnonfragsize", lim.maxnonfragsize, why)
	}
	emsgsize := func(why string, args ...any) errno.Errno {
		if s.tracing() {
			s.tracef(fn, "return", "-EMSGSIZE", why, args...)
		}
		s.ipv6LocalError(errno.EMSGSIZE, c.fl, max(mtu-headersize+header.IPv6MinLen, 0))
		return errno.EMSGSIZE
	}
	switch {
	case mtu <= fhl || (mtu-fhl)&^7+fhl <= header.IPv6FragmentLen:
		return emsgsize("mtu %d leaves no room after fragheaderlen %d", mtu, fhl)
	case headersize+transhdrlen > mtu:
		return emsgsize("headersize %d + transhdrlen %d > mtu %d: the header chain must fit the first fragment (RFC 7112; IPV6_DSTOPTS counted twice)", headersize, transhdrlen, mtu)
	case c.length+length > mtu-headersize && c.v6.dontfrag && s.proto == scenario.UDP:
		return emsgsize("dontfrag: cork->length %d + length %d > mtu %d - headersize %d", c.length, length, mtu, headersize)
	case c.length+length > lim.maxnonfragsize-headersize:
		return emsgsize("cork->length %d + length %d > maxnonfragsize %d - headersize %d", c.length, length, lim.maxnonfragsize, headersize)
	}
	lim.csumOK = s.proto == scenario.UDP && headersize == header.IPv6MinLen && s.rt.dev.Features.Has(FeatHWCsum)
	return s.appendSkbs(q, c, &lim, payload, transhdrlen, flags, byRef)
}

// ip6MakeSkbCore mirrors __ip6_make_skb: it joins the queue into one
// datagram and builds its network header, pushing from the UDP header
// back: ipv6_push_frag_opts (IPV6_DSTOPTS), ipv6_push_nfrag_opts (the
// routing header, the destination options before it, hop-by-hop), then
// the IPv6 header (ip6_flow_hdr: traffic class and flow label; the hop
// limit; the source; the first hop, or the final destination). The wire
// order is IPv6 | hop-by-hop | dst0 | routing | dst1 | UDP. As
// ipMakeSkbCore, the datagram is the socket's own, reused by the next
// call; an empty queue makes none (nil).
func (s *Socket) ip6MakeSkbCore(q *skbQueue, c *cork) *Datagram {
	if q.empty() {
		return nil
	}
	opt := &c.v6.opt
	fhl := header.IPv6MinLen + opt.nflen // __ip6_append_data's fragheaderlen
	d := &s.dg
	d.reset(s.step, true, s.proto.Number(), q.summed)
	s.refreshDst(c)
	d.mtu = c.outMTU
	d.SkbTruesize = append(d.SkbTruesize[:0], q.truesize...)
	d.SkbRoom = append(d.SkbRoom[:0], q.room...)
	d.buf, q.buf = q.buf, d.buf
	d.UDP = q.l4[:udpHdrLen]
	if q.ext != nil {
		d.Payload, d.contig = q.ext, false
	} else {
		d.Payload, d.contig = q.l4[udpHdrLen:], true
	}
	q.l4, q.ext = nil, nil
	for i, l := range q.lens {
		if i == 0 {
			l -= opt.flen // the first skb holds IPV6_DSTOPTS
		}
		d.SkbData = append(d.SkbData, l-fhl)
	}
	d.IgnoreDF = ip6SkIgnoreDF(s.np.pmtudisc)

	nfrag, fragOpt := opt.pushedLen()
	n := header.IPv6MinLen + nfrag + fragOpt
	if cap(d.IP) < n {
		d.IP = make([]byte, n, max(n, 2*header.IPv6MinLen))
	}
	d.IP = d.IP[:n]
	d.fhl = header.IPv6MinLen + nfrag
	proto := d.Proto
	final := c.fl.daddr.As16()
	dst := final
	off := ipv6PushFragOpts(d.IP, n, opt, &proto)
	off = ipv6PushNfragOpts(d.IP, off, opt, &proto, &dst)
	_ = off // == IPv6MinLen
	label, auto := s.ip6MakeFlowlabel(&c.fl, d.Proto)
	d.FlowLabel = ""
	if auto {
		d.FlowLabel = report.LabelAuto
	}
	header.IPv6(d.IP).Encode(&header.IPv6Fields{TrafficClass: c.v6.tclass, FlowLabel: label, NextHeader: proto,
		HopLimit: c.v6.hopLimit, Src: c.fl.saddr.As16(), Dst: dst})
	d.final = final
	d.IDSource, d.IDWhy = "", "no fragment header, no identification (IPv6)"
	if s.tracing() {
		s.traceHeader6(d, c, label)
	}
	q.reset()
	return d
}

func (s *Socket) traceHeader6(d *Datagram, c *cork, label uint32) {
	const fn = "__ip6_make_skb"
	ip := header.IPv6(d.IP)
	s.traceSkb(fn, "skb->len", d.Len(), fmt.Sprintf("%d skb(s) joined into one datagram (frag_list)", len(d.SkbData)),
		SkbEvent{Op: SkbJoin, Index: len(d.SkbData), Fragheaderlen: d.fhl})
	s.tracef(fn, "ignore_df", d.IgnoreDF, "ip6_sk_ignore_df: pmtudisc %s", s.np.pmtudisc)
	if len(d.IP) > header.IPv6MinLen {
		chain := ""
		w := header.WalkIPv6Ext(ip.NextHeader(), d.IP[header.IPv6MinLen:])
		for w.Next() {
			h := w.Header()
			chain += fmt.Sprintf("%s(%d) ", header.NextHdrName(h.Type), len(h.Bytes))
		}
		s.tracef(fn, "extension headers", chain+"UDP", "pushed from the UDP header back: ipv6_push_frag_opts (IPV6_DSTOPTS), then ipv6_push_nfrag_opts (routing, RTHDRDSTOPTS with it, hop-by-hop)")
	}
	if d.final != [16]byte(ip.Dst().As16()) {
		s.tracef(fn, "hdr->daddr", ip.Dst(), "the routing header's first hop; the final destination %s is in the routing header and in the UDP pseudo-header", netip.AddrFrom16(d.final))
	}
	labelWhy := "the flow's label (sin6_flowinfo with IPV6_FLOWINFO_SEND, np->flow_label, or IPV6_FLOWINFO)"
	switch {
	case c.fl.flowlabel&ipv6FlowlabelMask != 0:
	case s.np.autoflowlabel == 0:
		labelWhy = "IPV6_AUTOFLOWLABEL 0: no automatic label"
	case s.np.txhash != 0:
		labelWhy = "ip6_make_flowlabel: rol32(sk_txhash, 16), drawn at connect() (seeded)"
	default:
		labelWhy = "ip6_make_flowlabel: rol32 of the flow's hash (saddr, daddr, ports, proto; seeded), the same for every send of this 5-tuple"
	}
	s.tracef(fn, "flowlabel", fmt.Sprintf("%#05x", label), labelWhy)
	s.tracef(fn, "tclass", fmt.Sprintf("%#02x", ip.TrafficClass()), "v6_cork->tclass")
	s.tracef(fn, "hop_limit", ip.HopLimit(), "v6_cork->hop_limit: an IPV6_HOPLIMIT control message, IPV6_UNICAST_HOPS, or the route's 64")
}

// ip6SendSkb mirrors ip6_send_skb: ip6_local_out (__ip6_local_out, then
// ip6_output and ip6_finish_output). ip6_fragment's EMSGSIZE is the only
// errno the output path gives the caller.
func (s *Socket) ip6SendSkb(d *Datagram) errno.Errno {
	ip6LocalOut(d)
	dev := s.rt.dev
	out := ip6FinishOutput(d, dev, s.np.fragSize)
	if out.path == pathTooBig {
		if s.tracing() {
			s.tracef("ip6_finish_output", "path", out.path, out.why(d, dev))
		}
		return errno.EMSGSIZE
	}
	if out.path == pathFragment {
		out.id = s.ipv6SelectIdent()
		d.IDSource = report.IDRandom
		d.IDWhy = "identification drawn at random per datagram by ipv6_select_ident (get_random_u32_above(0); seeded)"
	}
	if s.tracing() {
		s.tracef("ip6_finish_output", "path", out.path, out.why(d, dev))
		if out.path == pathFragment {
			s.tracef("ip6_fragment", "hlen", out.hlen, "ip6_find_1stfragopt: the unfragmentable part, repeated in every fragment")
			s.tracef("ip6_fragment", "frag_id", fmt.Sprintf("%#08x", out.id), "ipv6_select_ident: random per datagram (seeded)")
		}
	}
	if err := ipOutput(dev, d, out); err != nil && s.outErr == nil {
		s.outErr = err
	}
	return 0
}

// ip6LocalOut mirrors __ip6_local_out: payload_len is final from here on.
func ip6LocalOut(d *Datagram) {
	header.IPv6(d.IP).SetPayloadLength(uint16(d.Len() - header.IPv6MinLen))
}

// ip6FinishOutput mirrors __ip6_finish_output's decision (with
// validate_xmit_skb's for a GSO skb), as ipFinishOutput does IPv4's, for
// datagram d leaving through dev; fragSize is the socket's IPV6_MTU:
//
//   - skb_is_gso: segmented by the device or in software;
//   - skb->len > mtu, the route's (ip6_skb_dst_mtu; not IPV6_MTU, so a
//     datagram that fits the route goes whole even above IPV6_MTU):
//     ip6_fragment, which refuses (EMSGSIZE) without ignore_df, then
//     fragments at IPV6_MTU if that is lower: the unfragmentable part
//     (ip6_find_1stfragopt) and a fragment header in every fragment, the
//     rest cut into 8-byte multiples; the fast path takes the frag list's
//     skbs as they are when they fit, which IPV6_DSTOPTS before the
//     fragment header (no routing header) never lets them (their
//     headroom is short);
//   - otherwise the datagram goes whole.
func ip6FinishOutput(d *Datagram, dev *Device, fragSize int) *output {
	out := &dev.bufs.out
	out.path = pathWhole
	switch {
	case d.GSOSize > 0:
		out.path = pathGSOSoftware
		if dev.segmentsGSO(d) {
			out.path = pathGSODevice
		}
	case d.Len() > d.outMTU(dev):
		mtu := d.outMTU(dev)
		if !d.IgnoreDF {
			out.path = pathTooBig
			break
		}
		if fragSize != 0 && fragSize < mtu {
			mtu = fragSize
		}
		hlen, prev, ok := ip6FindFirstFragOpt(d.IP)
		if !ok || mtu < hlen+header.IPv6FragmentLen+8 {
			out.path = pathTooBig
			break
		}
		out.path, out.hlen, out.prevhdr, out.mtu = pathFragment, hlen, prev, mtu
		space := mtu - hlen - header.IPv6FragmentLen
		length := d.Len() - hlen
		switch {
		case hlen > d.fhl:
			// IPV6_DSTOPTS stays before the fragment header: the frag
			// list's skbs lack the headroom for it (slow path).
			out.frags = frag.Plan{Sizes: frag.SlowPath(dev.bufs.sizes[:0], length, space)}
		case hlen == len(d.IP):
			out.frags = frag.Make(d.SkbData, length, space, dev.bufs.sizes)
		default:
			// IPV6_DSTOPTS after the fragment header belongs to the
			// first fragment's data.
			skbs := append(dev.bufs.skbs6[:0], d.SkbData...)
			skbs[0] += len(d.IP) - hlen
			dev.bufs.skbs6 = skbs
			out.frags = frag.Make(skbs, length, space, dev.bufs.sizes)
		}
		if !out.frags.Fast {
			dev.bufs.sizes = out.frags.Sizes
		}
	}
	return out
}

// ip6Fragment mirrors ip6_fragment carrying out the plan: every fragment
// is the unfragmentable part (its last next-header byte now
// NEXTHDR_FRAGMENT), a fragment header (the original next header, reserved
// 0, the offset and M flag, the datagram's identification) and its piece
// of the rest; payload_len is set per fragment. The first fragment's
// piece starts with whatever headers follow the fragment header
// (IPV6_DSTOPTS with a routing header).
func ip6Fragment(dev *Device, d *Datagram, out *output) error {
	if d.Summed == csumPartial {
		skbChecksumHelp(d)
	}
	hlen := out.hlen
	tail := d.IP[hlen:] // headers after the fragment header
	var fh [header.IPv6FragmentLen]byte
	h0 := append(dev.linkHead(0, d.IP[:hlen]), fh[:]...)
	h0 = append(h0, tail...)
	h1 := append(dev.linkHead(1, d.IP[:hlen]), fh[:]...)
	dev.bufs.hdr[0], dev.bufs.hdr[1] = h0, h1
	heads := [2][]byte{h0, h1}
	next := d.IP[out.prevhdr]
	for _, h := range heads {
		nh := h[header.EthernetLen:]
		nh[out.prevhdr] = header.NextHdrFragment
		header.IPv6Fragment(nh[hlen:]).Encode(next, 0, true, out.id)
	}
	plan := out.frags
	fi := dev.frame(d, report.Fragment, len(plan.Sizes))
	fi.SlowPath = !plan.Fast
	off := 0
	for i, n := range plan.Sizes {
		k := min(i, 1)
		nh := heads[k][header.EthernetLen:]
		header.IPv6Fragment(nh[hlen:]).SetFragWord(off, i < len(plan.Sizes)-1)
		header.IPv6(nh).SetPayloadLength(uint16(hlen - header.IPv6MinLen + header.IPv6FragmentLen + n))
		l4off, l4n := off-len(tail), n
		if i == 0 {
			l4off, l4n = 0, n-len(tail)
		}
		fi.Index, fi.Offset = i, off
		if err := dev.xmitOne(d, heads[k], l4off, l4n); err != nil {
			return err
		}
		off += n
	}
	return nil
}
