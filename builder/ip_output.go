package builder

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/frag"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv4/ip_output.c, in the order a datagram meets
// it: ip_setup_cork, ip_append_data / ip_make_skb and __ip_append_data
// (building skbs), __ip_make_skb (the IP header), ip_send_skb and
// __ip_local_out, ip_finish_output (one decision: whole, fragmented,
// segmented by the device or in software, or EMSGSIZE) and ip_do_fragment.

// cork mirrors struct inet_cork: what ip_setup_cork captures at the first
// append of a datagram.
type cork struct {
	fragsize int
	gsoSize  int
	opt      *ipopt.Options // nil: no IPCORK_OPT
	addr     netip.Addr     // the final destination (ipc->addr) for a source route
	ttl      int            // 0: unset
	tos      int            // -1: unset
	length   int            // cork->length: bytes appended so far
	fl       flow
	v6       cork6 // struct inet6_cork, for an IPv6 datagram
	// dstMTU and dstLocked are dst_mtu and ip_mtu_locked of the route the
	// cork holds (cork->dst), as it was when the datagram began: a later
	// route exception does not change a datagram in progress.
	dstMTU    int
	dstLocked bool
	// outMTU is what ip_skb_dst_mtu (ip6_skb_dst_mtu) will hold the
	// datagram to: dstMTU, or the device's MTU from PROBE up.
	outMTU int
	// exc is set when the route the cork holds is a route exception's
	// (fnhe_rth_output, an RTF_CACHE route): a later update of the
	// exception rewrites that very route (fill_route_from_fnhe,
	// rt6_do_update_pmtu), so the datagram in progress sees it [live,
	// fuzz seed 1604]. Without one the cork holds the nexthop's route,
	// which a new exception leaves alone.
	exc bool
}

// refreshDst reads the cork's route again when it is an exception's: the
// MTU and lock an ICMP error may have changed since the first append.
func (s *Socket) refreshDst(c *cork) {
	if !c.exc {
		return
	}
	m, locked := s.rt.dstMTU(c.fl.daddr)
	if m == c.dstMTU && locked == c.dstLocked {
		return
	}
	if s.tracing() {
		s.tracef("fill_route_from_fnhe", "dst_mtu", m, "the cork's route is the exception's, updated since the first append (was %d)", c.dstMTU)
	}
	if c.outMTU == c.dstMTU {
		c.outMTU = m
	}
	c.dstMTU, c.dstLocked = m, locked
}

// ipSetupCork mirrors ip_setup_cork: cork->fragsize is the path MTU of
// the route to the flow's destination (a route exception's, else the
// device's) or the device's MTU, as ip_sk_use_pmtu chooses.
func (s *Socket) ipSetupCork(c *cork, ipc *ipcm, fl flow) errno.Errno {
	c.opt = nil
	if ipc.opt != nil {
		c.opt = ipc.opt
		c.addr = ipc.addr
	}
	c.dstMTU, c.dstLocked = s.rt.dstMTU(fl.daddr)
	c.exc = s.rt.exception(fl.daddr) != nil
	c.fragsize = s.rt.mtu()
	if ipSkUsePmtu(s.pmtudisc) {
		c.fragsize = c.dstMTU
	}
	c.outMTU = c.fragsize
	if !ipSkUsePmtu(s.pmtudisc) {
		c.exc = false // the device's MTU: no exception reaches it
	}
	if c.fragsize < ipv4MinMTU { // inetdev_valid_mtu
		return errno.ENETUNREACH
	}
	c.gsoSize = ipc.gsoSize
	c.length = 0
	c.ttl = ipc.ttl
	c.tos = ipc.tos
	c.fl = fl
	if s.tracing() {
		// Built only when tracing: the strings cost a send two
		// allocations.
		fragWhy := "the device MTU (ip_sk_use_pmtu: pmtudisc " + s.pmtudisc.String() + " >= probe)"
		if ipSkUsePmtu(s.pmtudisc) {
			fragWhy = "dst_mtu, the path MTU (ip_sk_use_pmtu: pmtudisc " + s.pmtudisc.String() + ")"
			if c.dstMTU != s.rt.mtu() {
				fragWhy += fmt.Sprintf(": the route exception for %s", fl.daddr)
			}
		}
		s.tracef("ip_setup_cork", "cork->fragsize", c.fragsize, fragWhy)
		if c.gsoSize > 0 {
			s.tracef("ip_setup_cork", "cork->gso_size", c.gsoSize, "UDP_SEGMENT")
		}
		if c.opt != nil {
			s.tracef("ip_setup_cork", "cork->opt", fmt.Sprintf("%d bytes", c.opt.Optlen), "IP options of this datagram")
		}
	}
	return 0
}

// ipAppendData mirrors ip_append_data, the corked path's append: the first
// call of a datagram sets up the socket's cork; later ones append without
// a transport header.
func (s *Socket) ipAppendData(payload []byte, ipc *ipcm, fl flow, flags int) errno.Errno {
	if flags&msgProbe != 0 {
		return 0
	}
	transhdrlen := 0
	if s.queue.empty() {
		if ipc == nil {
			// Pending with an empty queue cannot happen: udp_sendmsg
			// clears pending whenever the queue is left empty.
			c := s.ipcmInitSk()
			ipc = &c
		}
		if e := s.ipSetupCork(&s.cork, ipc, fl); e != 0 {
			return e
		}
		transhdrlen = udpHdrLen
	}
	return s.ipAppendDataCore(&s.queue, &s.cork, payload, transhdrlen, flags, false)
}

// ipMakeSkb mirrors ip_make_skb, the lockless fast path of an uncorked
// send: the datagram is built on a private queue and cork and returned
// whole, with the cork it was built with. MSG_PROBE builds nothing (nil,
// no error).
func (s *Socket) ipMakeSkb(payload []byte, ipc *ipcm, fl flow, flags int) (*Datagram, *cork, errno.Errno) {
	if flags&msgProbe != 0 {
		if s.tracing() {
			s.tracef("ip_make_skb", "skb", "NULL", "MSG_PROBE: nothing is built or sent")
		}
		return nil, nil, 0
	}
	c, q := &s.fastCork, &s.fastQueue
	q.reset()
	if e := s.ipSetupCork(c, ipc, fl); e != 0 {
		return nil, nil, e
	}
	if e := s.ipAppendDataCore(q, c, payload, udpHdrLen, flags, true); e != 0 {
		return nil, nil, e
	}
	return s.ipMakeSkbCore(q, c), c, 0
}

// appendLimits are the sizes __ip_append_data works with. Each family
// computes its own from its headers and DF rules; the skb geometry that
// follows from them (appendSkbs) is shared.
type appendLimits struct {
	fn             string // the kernel function, for the trace
	mtu            int    // cork->fragsize, or IP_MAX_MTU for a GSO send
	fragheaderlen  int    // the network header every fragment repeats
	maxfraglen     int    // the longest skb that is a whole fragment
	maxnonfragsize int    // the longest datagram the DF rules allow
	// csumOK is the family's part of the CHECKSUM_PARTIAL rule: the
	// device can checksum (IPv4); for IPv6 also a UDP socket (not
	// UDP-Lite) and no extension header.
	csumOK bool
	// allocExtra is alloc_extra: the headroom each skb gets besides
	// its fraglen (hh_len + 15 for IPv4; hh_len + the fragment
	// header's 8 bytes for IPv6).
	allocExtra int
	// v6 selects __ip6_append_data's fill rule: an skb is filled up to
	// mtu only while the datagram so far fits it (cork->length <= mtu),
	// otherwise up to maxfraglen; IPv4 always tries mtu first.
	v6 bool
}

func optlen(o *ipopt.Options) int {
	if o == nil {
		return 0
	}
	return o.Optlen
}

// ipAppendDataCore mirrors __ip_append_data for a UDP socket: it appends
// payload (and, when transhdrlen is 8, room for the UDP header in front of
// it) to q, allocating skbs exactly where the kernel does. byRef keeps the
// payload by reference (see skbQueue.ext); only ip_make_skb's single
// append, on an empty private queue, may ask for it.
func (s *Socket) ipAppendDataCore(q *skbQueue, c *cork, payload []byte, transhdrlen int, flags int, byRef bool) errno.Errno {
	length := len(payload) + transhdrlen
	lim := appendLimits{fn: "__ip_append_data", csumOK: s.rt.dev.Features.CanChecksum(), allocExtra: hhLen + 15}
	lim.mtu = c.fragsize
	if c.gsoSize > 0 {
		lim.mtu = ipMaxMTU
	}
	lim.fragheaderlen = header.IPv4MinLen + optlen(c.opt)
	lim.maxfraglen = (lim.mtu-lim.fragheaderlen)&^7 + lim.fragheaderlen
	lim.maxnonfragsize = lim.mtu
	if ignoreDF(s.pmtudisc) {
		lim.maxnonfragsize = ipMaxMTU
	}
	if s.tracing() {
		if c.gsoSize > 0 {
			s.tracef("__ip_append_data", "mtu", lim.mtu, "IP_MAX_MTU: a GSO send is built as one skb")
		} else {
			s.tracef("__ip_append_data", "mtu", lim.mtu, "cork->fragsize")
		}
		s.tracef("__ip_append_data", "fragheaderlen", lim.fragheaderlen, "20 + %d bytes of IP options", optlen(c.opt))
		s.tracef("__ip_append_data", "maxfraglen", lim.maxfraglen, "((mtu - fragheaderlen) & ~7) + fragheaderlen: fragment payloads are multiples of 8")
		why := "pmtudisc do/probe/interface: never fragment locally"
		if lim.maxnonfragsize == ipMaxMTU {
			why = "ip_sk_ignore_df: local fragmentation allowed"
		}
		s.tracef("__ip_append_data", "maxnonfragsize", lim.maxnonfragsize, why)
	}
	if c.length+length > lim.maxnonfragsize-lim.fragheaderlen {
		if s.tracing() {
			s.tracef("__ip_append_data", "return", "-EMSGSIZE", "cork->length %d + length %d > maxnonfragsize - fragheaderlen = %d", c.length, length, lim.maxnonfragsize-lim.fragheaderlen)
		}
		s.ipLocalError(errno.EMSGSIZE, c.fl.daddr, s.dport, lim.mtu-optlen(c.opt))
		return errno.EMSGSIZE
	}
	return s.appendSkbs(q, c, &lim, payload, transhdrlen, flags, byRef)
}

// appendSkbs is the part of __ip_append_data both families share
// (__ip6_append_data has the same shape): the checksum mode of the first
// skb, then the loop that fills the tail skb and allocates new ones, each
// but the last a whole fragment.
func (s *Socket) appendSkbs(q *skbQueue, c *cork, lim *appendLimits, payload []byte, transhdrlen int, flags int, byRef bool) errno.Errno {
	length := len(payload) + transhdrlen
	mtu, fragheaderlen, maxfraglen := lim.mtu, lim.fragheaderlen, lim.maxfraglen
	feats := s.rt.dev.Features
	// transhdrlen > 0 means this is the first skb: it may be left for the
	// device to checksum when it is the whole datagram.
	csummode := csumNone
	if transhdrlen > 0 && length+fragheaderlen <= mtu && lim.csumOK &&
		(flags&msgMore == 0 || c.gsoSize > 0) {
		csummode = csumPartial
	}
	if s.tracing() && transhdrlen > 0 {
		why := "the device cannot checksum, or the datagram may grow or be fragmented: software checksum"
		switch {
		case csummode == csumPartial:
			why = "first skb, fits the MTU, the device can checksum, no MSG_MORE (or GSO)"
		case !lim.csumOK && lim.v6:
			why = "UDP-Lite, an extension header, or a device without NETIF_F_HW_CSUM/NETIF_F_IPV6_CSUM"
		case !lim.csumOK:
			why = "the device has no checksum offload"
		case length+fragheaderlen > mtu:
			why = "the datagram will be fragmented"
		case flags&msgMore != 0:
			why = "MSG_MORE: more data may follow"
		}
		s.tracef(lim.fn, "csummode", csummode, why)
	}
	c.length += length
	// How far a tail skb is filled before a new one is allocated.
	fill := mtu
	if lim.v6 && c.length > mtu {
		fill = maxfraglen
	}

	if transhdrlen > 0 {
		var hdr [udpHdrLen]byte
		q.appendL4(hdr[:])
	}
	if byRef && len(q.l4) == udpHdrLen && q.ext == nil {
		q.ext = payload
	} else {
		q.appendL4(payload)
	}

	sg := feats.Has(FeatSG)
	n := len(q.lens)
	for first := n == 0; first || length > 0; first = false {
		if !first {
			cur := q.lens[n-1]
			cp := fill - cur
			if cp < length {
				cp = maxfraglen - cur
			}
			if cp > 0 {
				cp = min(cp, length)
				if s.tracing() {
					s.traceSkb(lim.fn, fmt.Sprintf("skb %d", n-1), fmt.Sprintf("+%d bytes", cp), "copied into the tail skb: room up to mtu if the rest fits, else up to maxfraglen",
						SkbEvent{Op: SkbCopy, Index: n - 1, Bytes: cp, Paged: sg || q.room[n-1] < cp})
				}
				q.copyInto(n-1, cp, sg)
				q.lens[n-1] += cp
				length -= cp
				continue
			}
		}
		// alloc_new_skb: the tail of the previous skb beyond maxfraglen
		// (fraggap) moves to the new one, so that every skb but the last
		// is a whole fragment.
		fraggap := 0
		if n > 0 {
			fraggap = q.lens[n-1] - maxfraglen
		}
		datalen := length + fraggap
		if datalen > fill-fragheaderlen {
			datalen = maxfraglen - fragheaderlen
		}
		fraglen := datalen + fragheaderlen
		alloclen, pagedlen := allocLen(datalen, fraglen, fragheaderlen, transhdrlen, mtu, lim.allocExtra, c.gsoSize > 0, flags, sg)
		// Only the first skb of a call comes from sock_alloc_send_skb;
		// the others are refused once the socket's write memory passes
		// twice its send buffer.
		if transhdrlen > 0 && s.skErr != 0 {
			// sock_alloc_send_pskb: a pending sk_err fails the first
			// allocation of a datagram, and sock_error clears it.
			e := s.skErr
			s.skErr = 0
			c.length -= length
			if s.tracing() {
				s.tracef("sock_alloc_send_pskb", "return", "-"+e.Name(), "sk->sk_err set by an ICMP error (__udp4_lib_err): returned and cleared")
			}
			return e
		}
		if transhdrlen == 0 && 1+q.charged > 2*sockSndbuf {
			c.length -= length
			if s.tracing() {
				s.tracef(lim.fn, "return", "-ENOBUFS", "sk_wmem_alloc %d > 2 * sk_sndbuf %d: no more skbs for this socket", 1+q.charged, 2*sockSndbuf)
			}
			// udp_sendmsg (udpv6_sendmsg) counts it on the way out:
			// UDP_MIB_SNDBUFERRORS of the family the datagram is built in.
			s.mib.udp[b2i(lim.v6)][b2i(s.proto == scenario.UDPLite)].sndbufErrors++
			return errno.ENOBUFS
		}
		obj := skbHeadSize(alloclen + lim.allocExtra)
		q.charged += obj + skbOverhead
		if n > 0 && fraggap > 0 {
			q.lens[n-1] = maxfraglen
		}
		if n == 0 {
			q.summed = csummode
		}
		if s.tracing() {
			s.traceAlloc(lim.fn, SkbEvent{Op: SkbAlloc, Index: len(q.lens), Datalen: datalen, Fraglen: fraglen, Fraggap: fraggap,
				Alloclen: alloclen + lim.allocExtra, Pagedlen: pagedlen, Fragheaderlen: fragheaderlen}, alloclen)
		}
		transhdrlen = 0
		q.lens = append(q.lens, fraglen)
		q.room = append(q.room, obj-skbSharedInfo-hhLen-(fraglen-pagedlen))
		q.truesize = append(q.truesize, obj+skbOverhead)
		if pagedlen > 0 {
			// The loop's next pass copies the paged part.
			q.copyInto(n, pagedlen, sg)
		}
		n++
		length -= datalen - fraggap
	}
	return 0
}

// allocLen mirrors __ip_append_data's (and __ip6_append_data's) choice of
// alloclen (without alloc_extra) and pagedlen: where an skb's bytes will
// live. sg is the device's NETIF_F_SG.
func allocLen(datalen, fraglen, fragheaderlen, transhdrlen, mtu, allocExtra int, paged bool, flags int, sg bool) (alloclen, pagedlen int) {
	switch {
	case flags&msgMore != 0 && !sg:
		return mtu, 0
	case !paged && (fraglen+allocExtra < skbMaxAlloc || !sg):
		return fraglen, 0
	}
	return fragheaderlen + transhdrlen, datalen - transhdrlen
}

// traceAlloc explains one skb allocation of __ip_append_data: its sizes and
// whether the data goes in the linear area or in page fragments.
// alloclen is the head's size before alloc_extra.
func (s *Socket) traceAlloc(fn string, sk SkbEvent, alloclen int) {
	layout := "linear"
	switch {
	case sk.Pagedlen > 0:
		layout = "paged: headers linear, data in page fragments"
	case alloclen > sk.Fraglen:
		layout = "linear, room for a whole MTU (MSG_MORE without scatter-gather)"
	}
	s.traceSkb(fn, fmt.Sprintf("skb %d", sk.Index), fmt.Sprintf("datalen=%d fraglen=%d fraggap=%d alloclen=%d", sk.Datalen, sk.Fraglen, sk.Fraggap, sk.Alloclen), layout, sk)
}

// ipMakeSkbCore mirrors __ip_make_skb: it joins the queue into one
// datagram and builds its IP header. The datagram is the socket's own,
// reused by the next call: an output function that keeps bytes must copy
// them. An empty queue makes no datagram (nil).
func (s *Socket) ipMakeSkbCore(q *skbQueue, c *cork) *Datagram {
	if q.empty() {
		return nil
	}
	fh := header.IPv4MinLen + optlen(c.opt)
	d := &s.dg
	d.reset(s.step, false, s.proto.Number(), q.summed)
	s.refreshDst(c)
	d.mtu = c.outMTU
	d.SkbTruesize = append(d.SkbTruesize[:0], q.truesize...)
	d.SkbRoom = append(d.SkbRoom[:0], q.room...)
	// The queue's bytes become the datagram's; the datagram's old buffer
	// becomes the queue's, so neither is allocated again.
	d.buf, q.buf = q.buf, d.buf
	d.UDP = q.l4[:udpHdrLen]
	if q.ext != nil {
		d.Payload, d.contig = q.ext, false
	} else {
		d.Payload, d.contig = q.l4[udpHdrLen:], true
	}
	q.l4, q.ext = nil, nil
	total := fh
	for _, l := range q.lens {
		d.SkbData = append(d.SkbData, l-fh)
		total += l - fh
	}
	d.IgnoreDF = ignoreDF(s.pmtudisc)

	// DF: asked for outright (do, probe) or, for "want", when the datagram
	// fits the route MTU. A GSO super-packet is longer than the MTU, so
	// "want" leaves its DF clear.
	var fw uint16
	if s.pmtudisc == scenario.PMTUDo || s.pmtudisc == scenario.PMTUProbe || (total <= c.dstMTU && dontFragment(s.pmtudisc, c.dstLocked)) {
		fw = header.IPv4DF
	}
	ttl := c.ttl
	if ttl == 0 {
		ttl = s.ucTTL
		if ttl < 0 {
			ttl = defaultTTL // ip4_dst_hoplimit: the sysctl default
		}
	}
	tos := int(s.tos)
	if c.tos != -1 {
		tos = c.tos
	}
	var hdr [header.IPv4MaxLen]byte
	d.IP = append(d.IP, hdr[:fh]...)
	ip := header.IPv4(d.IP)
	ip.Init(fh, uint8(tos), uint16(total), 0, fw, uint8(ttl), d.Proto, c.fl.saddr.As4(), c.fl.daddr.As4())
	s.ipSelectIdent(d)
	if s.tracing() {
		s.traceHeader(d, c, total)
	}
	if c.opt != nil && c.opt.Optlen > 0 {
		// The options were compiled by ipopt; a build error would mean a
		// compile/build mismatch, which the ipopt tests rule out.
		_ = ipopt.Build(ip.Options(), c.opt, c.addr, c.fl.saddr, s.clock)
	}
	q.reset()
	return d
}

func (s *Socket) traceHeader(d *Datagram, c *cork, total int) {
	const fn = "__ip_make_skb"
	ip := header.IPv4(d.IP)
	df := ip.FragWord()&header.IPv4DF != 0
	s.traceSkb(fn, "tot_len", total, fmt.Sprintf("%d skb(s) joined into one datagram (frag_list)", len(d.SkbData)),
		SkbEvent{Op: SkbJoin, Index: len(d.SkbData), Fragheaderlen: len(d.IP)})
	dfWhy := "pmtudisc " + s.pmtudisc.String()
	switch {
	case s.pmtudisc == scenario.PMTUDo || s.pmtudisc == scenario.PMTUProbe:
		dfWhy += ": DF always"
	case df:
		dfWhy += fmt.Sprintf(": the datagram fits dst_mtu %d, so DF (ip_dont_fragment)", c.dstMTU)
	case s.pmtudisc == scenario.PMTUWant && c.dstLocked:
		dfWhy += fmt.Sprintf(": the route's MTU %d is locked (clamped to min_pmtu), so no DF (ip_dont_fragment)", c.dstMTU)
	case s.pmtudisc == scenario.PMTUWant:
		dfWhy += ": the datagram exceeds the MTU, so no DF"
	default:
		dfWhy += ": never DF"
	}
	s.tracef(fn, "DF", df, dfWhy)
	s.tracef(fn, "ignore_df", d.IgnoreDF, "ip_sk_ignore_df")
	ttlWhy := "IP_TTL control message (cork->ttl)"
	if c.ttl == 0 {
		ttlWhy = "the socket's IP_TTL"
		if s.ucTTL < 0 {
			ttlWhy = "no IP_TTL: the route's hop limit, net.ipv4.ip_default_ttl"
		}
	}
	s.tracef(fn, "ttl", ip.TTL(), ttlWhy)
	s.tracef(fn, "tos", fmt.Sprintf("%#02x", ip.TOS()), "cork->tos: the socket's IP_TOS at the first call, or an IP_TOS control message")
	s.tracef(fn, "id", ip.ID(), d.IDWhy)
}

// ipSendSkb mirrors ip_send_skb: ip_local_out (__ip_local_out, then
// dst_output to ip_output and ip_finish_output). The only errno the output
// path gives the caller is ip_fragment's EMSGSIZE.
func (s *Socket) ipSendSkb(d *Datagram) errno.Errno {
	ipLocalOut(d)
	dev := s.rt.dev
	out := ipFinishOutput(d, dev)
	if out.path == pathTooBig {
		// ip_fragment: ICMP_FRAG_NEEDED to ourselves, and EMSGSIZE.
		if s.tracing() {
			s.tracef("ip_finish_output", "path", out.path, out.why(d, dev))
		}
		s.icmpSendFragNeeded(d, d.outMTU(dev))
		return errno.EMSGSIZE
	}
	if s.tracing() {
		s.tracef("ip_finish_output", "path", out.path, out.why(d, dev))
	}
	if err := ipOutput(dev, d, out); err != nil && s.outErr == nil {
		s.outErr = err
	}
	return 0
}

// ipLocalOut mirrors __ip_local_out: tot_len and the header checksum
// (ip_send_check) are final from here on.
func ipLocalOut(d *Datagram) {
	ip := header.IPv4(d.IP)
	ip.SetTotalLength(uint16(d.Len()))
	ip.SetChecksum()
}

// outPath is ip_finish_output's decision for one datagram: how it leaves
// the host, or why it does not.
type outPath uint8

// The paths out. The two GSO paths are told apart further down, in
// validate_xmit_skb (netif_skb_features), but they are a property of the
// datagram and the device, decided once here.
const (
	// pathWhole: the datagram fits the MTU and goes down as one frame
	// (ip_finish_output2).
	pathWhole outPath = iota
	// pathFragment: longer than the MTU, fragmentation allowed:
	// ip_fragment -> ip_do_fragment.
	pathFragment
	// pathGSODevice: a GSO super-packet the device segments itself
	// (NETIF_F_GSO_UDP_L4).
	pathGSODevice
	// pathGSOSoftware: a GSO super-packet the device cannot take:
	// validate_xmit_skb segments it (__udp_gso_segment).
	pathGSOSoftware
	// pathTooBig: longer than the MTU with DF set and local fragmentation
	// forbidden (!ignore_df): ip_fragment fails with EMSGSIZE.
	pathTooBig
)

// String is the path as explain shows it.
func (p outPath) String() string {
	switch p {
	case pathFragment:
		return "fragment"
	case pathGSODevice, pathGSOSoftware:
		return "GSO"
	case pathTooBig:
		return "EMSGSIZE"
	}
	return "whole"
}

// output is ip_finish_output's typed outcome: the path, and for a
// fragmented datagram the fragmentation plan. The output path and the
// trace both read it; nothing decides again.
type output struct {
	path outPath
	// frags is where ip_do_fragment cuts the datagram (pathFragment).
	frags frag.Plan
	// IPv6 fragmentation (ip6_fragment): hlen is the unfragmentable
	// part (ip6_find_1stfragopt), prevhdr the offset of the next-header
	// byte that becomes NEXTHDR_FRAGMENT, mtu the fragmenting MTU
	// (IPV6_MTU applied), id the fragment identification.
	hlen, prevhdr, mtu int
	id                 uint32
}

// outMTU is the MTU d is held to on its way out (ip_skb_dst_mtu): the
// one its cork took, or the device's for a datagram made without one.
func (d *Datagram) outMTU(dev *Device) int {
	if d.mtu > 0 {
		return d.mtu
	}
	return dev.MTU
}

// ipFinishOutput mirrors __ip_finish_output's decision, together with the
// one validate_xmit_skb makes for a GSO skb (whether the device segments
// it), for datagram d leaving through dev:
//
//   - skb_is_gso: segmented by the device or in software (ip_finish_output_gso
//     lets UDP GSO skbs through whole);
//   - skb->len > mtu: ip_fragment, which refuses (EMSGSIZE) when DF is set
//     and ignore_df is not, and otherwise cuts as ip_do_fragment plans;
//   - otherwise the datagram goes whole.
//
// The outcome lives in dev's scratch space (it is the device's next
// transmission), and a fragment plan in dev's buffer for it: deciding
// copies nothing and allocates nothing.
func ipFinishOutput(d *Datagram, dev *Device) *output {
	out := &dev.bufs.out
	out.path = pathWhole
	switch {
	case d.GSOSize > 0:
		out.path = pathGSOSoftware
		if dev.segmentsGSO(d) {
			out.path = pathGSODevice
		}
	case d.Len() > d.outMTU(dev):
		if header.IPv4(d.IP).FragWord()&header.IPv4DF != 0 && !d.IgnoreDF {
			out.path = pathTooBig
			break
		}
		out.path = pathFragment
		out.frags = frag.Make(d.SkbData, d.L4Len(), d.outMTU(dev)-len(d.IP), dev.bufs.sizes)
		if !out.frags.Fast {
			dev.bufs.sizes = out.frags.Sizes // keep a grown buffer
		}
	}
	return out
}

// why explains the outcome for d on dev, in the kernel's terms.
func (o *output) why(d *Datagram, dev *Device) string {
	switch o.path {
	case pathGSODevice:
		why := "skb_is_gso and the device has NETIF_F_GSO_UDP_L4: it goes down whole"
		if dev.View == report.Wire {
			why += "; the wire view shows the device's segments"
		}
		return why
	case pathGSOSoftware:
		return "skb_is_gso but the device cannot segment it: validate_xmit_skb segments in software (__udp_gso_segment)"
	case pathFragment:
		why := fmt.Sprintf("tot_len %d > mtu %d: ip_fragment -> ip_do_fragment", d.Len(), d.outMTU(dev))
		if d.IPv6 {
			why = fmt.Sprintf("skb->len %d > mtu %d: ip6_fragment at mtu %d, %d bytes of data per fragment after %d unfragmentable bytes and the fragment header", d.Len(), d.outMTU(dev), o.mtu, (o.mtu-o.hlen-header.IPv6FragmentLen)&^7, o.hlen)
		}
		if o.frags.Fast {
			return why + " (fast path: the frag list's skbs are the fragments)"
		}
		return why + " (slow path)"
	case pathTooBig:
		if d.IPv6 {
			return fmt.Sprintf("skb->len %d > mtu %d and no local fragmentation (ignore_df clear): ip6_fragment returns -EMSGSIZE", d.Len(), d.outMTU(dev))
		}
		return fmt.Sprintf("tot_len %d > mtu %d with DF and no local fragmentation: ip_fragment returns -EMSGSIZE", d.Len(), d.outMTU(dev))
	}
	if d.IPv6 {
		return fmt.Sprintf("skb->len %d <= mtu %d (the route's; IPV6_MTU only sizes fragments)", d.Len(), d.outMTU(dev))
	}
	return fmt.Sprintf("tot_len %d <= mtu %d", d.Len(), d.outMTU(dev))
}

// ipOutput carries out ip_finish_output's decision: a fragmented datagram
// goes to ip_do_fragment, everything else to the device whole
// (dev_queue_xmit, where validate_xmit_skb does what is left: software
// GSO, the checksum). The device's sink hears of the datagram first.
func ipOutput(dev *Device, d *Datagram, out *output) error {
	if dev.Sink == nil {
		return nil // nothing watches the link
	}
	if err := dev.begin(d); err != nil {
		return err
	}
	if out.path == pathFragment {
		if d.IPv6 {
			return ip6Fragment(dev, d, out)
		}
		return ipDoFragment(dev, d, out.frags)
	}
	return dev.queueXmit(d, out.path)
}

// ipDoFragment mirrors ip_do_fragment: each fragment is the datagram's
// header with its own tot_len, frag_off and checksum (and, after the first,
// the options ip_options_fragment keeps), carrying the bytes plan gives
// it, handed to the device in turn. The fast path's fragments are the frag
// list's skbs; the slow path's are cut by ip_frag_next.
func ipDoFragment(dev *Device, d *Datagram, plan frag.Plan) error {
	if d.Summed == csumPartial {
		skbChecksumHelp(d) // ip_do_fragment: skb_checksum_help first
	}
	hlen := len(d.IP)
	// Two frame heads: the first fragment's, and every later one's.
	heads := [2][]byte{dev.linkHead(0, d.IP), dev.linkHead(1, d.IP)}
	ips := [2]header.IPv4{heads[0][header.EthernetLen:], heads[1][header.EthernetLen:]}
	if hlen > header.IPv4MinLen {
		// ip_options_fragment: options not marked "copied" become NOOPs
		// in every fragment after the first.
		copy(ips[1].Options(), ipopt.Fragment(header.IPv4(d.IP).Options()))
	}
	// ip_do_fragment rewrites tot_len and frag_off (and the checksum) in
	// each fragment; the rest of each header's sum is taken once.
	sums := [2]uint64{ips[0].SumExcept(), ips[1].SumExcept()}
	id := ips[0].ID()
	fi := dev.frame(d, report.Fragment, len(plan.Sizes))
	fi.SlowPath = !plan.Fast
	off := 0
	for i, n := range plan.Sizes {
		k := min(i, 1)
		w := uint16(off >> 3)
		if i < len(plan.Sizes)-1 {
			w |= header.IPv4MF
		}
		ips[k].SetFields(sums[k], uint16(hlen+n), id, w)
		fi.Index, fi.Offset = i, off
		if err := dev.xmitOne(d, heads[k], off, n); err != nil {
			return err
		}
		off += n
	}
	return nil
}
