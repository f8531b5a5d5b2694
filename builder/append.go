package builder

import (
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// csumMode is skb->ip_summed as the send path uses it.
type csumMode uint8

const (
	csumNone        csumMode = iota // CHECKSUM_NONE: software computes it
	csumUnnecessary                 // CHECKSUM_UNNECESSARY: set on GSO skbs by udp_send_skb
	csumPartial                     // CHECKSUM_PARTIAL: the device finishes it
)

func (c csumMode) String() string {
	return [...]string{"CHECKSUM_NONE", "CHECKSUM_UNNECESSARY", "CHECKSUM_PARTIAL"}[c]
}

// flow is the part of struct flowi4 the send path keeps: the addresses the
// IP header gets (daddr is the first hop of a source route).
type flow struct {
	saddr, daddr netip.Addr
	sport, dport uint16
}

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
}

// skbQueue is a datagram under construction: the UDP header and payload
// (one contiguous byte slice, or the header alone with the payload held by
// reference in ext), plus the length (skb->len, network header included)
// of every skb __ip_append_data allocated. The skb boundaries are all that
// is visible later, through ip_do_fragment's fast path.
type skbQueue struct {
	// buf holds l4 at offset headroom: the room in front lets the output
	// path build each frame's headers right before its data, as the
	// kernel builds them in an skb's headroom, instead of copying data.
	buf []byte
	l4  []byte // UDP header (+ payload unless ext is set): buf[headroom:...]
	// ext, when set, is the payload of a datagram built by one call
	// (ip_make_skb), held by reference instead of copied into l4, which
	// then holds the UDP header alone. The kernel copies the caller's
	// bytes (getfrag); the model can skip the copy because a datagram
	// built by one call is sent before Sendmsg returns, and nothing
	// writes to the payload on the way.
	ext    []byte
	lens   []int // skb->len of each skb, fragheaderlen included
	room   []int // skb_tailroom of each skb: linear space left
	summed csumMode
	// charged is what the queue's skbs add to sk_wmem_alloc: truesize
	// of every skb plus the bytes copied into page fragments.
	charged int
}

func (q *skbQueue) empty() bool { return len(q.lens) == 0 }

// headroom is the space kept in front of a datagram's bytes: an Ethernet
// header, the largest IPv4 header and a UDP header fit in it.
const headroom = 128

// appendL4 appends p to the datagram's bytes, keeping the headroom.
func (q *skbQueue) appendL4(p []byte) {
	n := len(q.l4)
	if cap(q.buf) < headroom+n+len(p) {
		nb := make([]byte, headroom+max(2*(n+len(p)), 2048))
		copy(nb[headroom:], q.l4)
		q.buf = nb
	}
	q.buf = q.buf[:cap(q.buf)]
	q.l4 = q.buf[headroom : headroom+n+len(p)]
	copy(q.l4[n:], p)
}

func (q *skbQueue) reset() {
	q.l4 = q.l4[:0]
	q.ext = nil
	q.lens = q.lens[:0]
	q.room = q.room[:0]
	q.summed = csumNone
	q.charged = 0
}

// ipcm mirrors struct ipcm_cookie: per-call IP settings.
type ipcm struct {
	ttl     int // 0: unset
	tos     int // -1: unset
	opt     *ipopt.Options
	gsoSize int
	addr    netip.Addr
}

// setupCork mirrors ip_setup_cork. Path MTU equals device MTU in udpbuild,
// so ip_sk_use_pmtu's choice between them does not matter.
func (s *Socket) setupCork(c *cork, ipc *ipcm, fl flow) errno.Errno {
	c.opt = nil
	if ipc.opt != nil {
		c.opt = ipc.opt
		c.addr = ipc.addr
	}
	c.fragsize = s.dev.MTU
	if c.fragsize < ipv4MinMTU { // inetdev_valid_mtu
		return errno.ENETUNREACH
	}
	c.gsoSize = ipc.gsoSize
	c.length = 0
	c.ttl = ipc.ttl
	c.tos = ipc.tos
	c.fl = fl
	if s.tracing() {
		s.tracef("ip_setup_cork", "cork->fragsize", c.fragsize, "the device MTU (path MTU equals it)")
		if c.gsoSize > 0 {
			s.tracef("ip_setup_cork", "cork->gso_size", c.gsoSize, "UDP_SEGMENT")
		}
		if c.opt != nil {
			s.tracef("ip_setup_cork", "cork->opt", fmt.Sprintf("%d bytes", c.opt.Optlen), "IP options of this datagram")
		}
	}
	return 0
}

func optlen(o *ipopt.Options) int {
	if o == nil {
		return 0
	}
	return o.Optlen
}

// appendData mirrors __ip_append_data for a UDP socket: it appends payload
// (and, when transhdrlen is 8, room for the UDP header in front of it) to
// q, allocating skbs exactly where the kernel does. byRef keeps the payload
// by reference (see skbQueue.ext); only ip_make_skb's single append, on an
// empty private queue, may ask for it.
func (s *Socket) appendData(q *skbQueue, c *cork, payload []byte, transhdrlen int, flags int, byRef bool) errno.Errno {
	length := len(payload) + transhdrlen
	mtu := c.fragsize
	if c.gsoSize > 0 {
		mtu = ipMaxMTU
	}
	fragheaderlen := 20 + optlen(c.opt)
	maxfraglen := ((mtu-fragheaderlen)&^7 + fragheaderlen)
	maxnonfragsize := mtu
	if ignoreDF(s.pmtudisc) {
		maxnonfragsize = ipMaxMTU
	}
	if s.tracing() {
		if c.gsoSize > 0 {
			s.tracef("__ip_append_data", "mtu", mtu, "IP_MAX_MTU: a GSO send is built as one skb")
		} else {
			s.tracef("__ip_append_data", "mtu", mtu, "cork->fragsize")
		}
		s.tracef("__ip_append_data", "fragheaderlen", fragheaderlen, "20 + %d bytes of IP options", optlen(c.opt))
		s.tracef("__ip_append_data", "maxfraglen", maxfraglen, "((mtu - fragheaderlen) & ~7) + fragheaderlen: fragment payloads are multiples of 8")
		why := "pmtudisc do/probe/interface: never fragment locally"
		if maxnonfragsize == ipMaxMTU {
			why = "ip_sk_ignore_df: local fragmentation allowed"
		}
		s.tracef("__ip_append_data", "maxnonfragsize", maxnonfragsize, why)
	}
	if c.length+length > maxnonfragsize-fragheaderlen {
		if s.tracing() {
			s.tracef("__ip_append_data", "return", "-EMSGSIZE", "cork->length %d + length %d > maxnonfragsize - fragheaderlen = %d", c.length, length, maxnonfragsize-fragheaderlen)
		}
		return errno.EMSGSIZE
	}
	// transhdrlen > 0 means this is the first skb: it may be left for the
	// device to checksum when it is the whole datagram.
	csummode := csumNone
	if transhdrlen > 0 && length+fragheaderlen <= mtu && s.dev.Features.CanChecksum() &&
		(flags&msgMore == 0 || c.gsoSize > 0) {
		csummode = csumPartial
	}
	if s.tracing() && transhdrlen > 0 {
		why := "the device cannot checksum, or the datagram may grow or be fragmented: software checksum"
		switch {
		case csummode == csumPartial:
			why = "first skb, fits the MTU, the device can checksum, no MSG_MORE (or GSO)"
		case !s.dev.Features.CanChecksum():
			why = "the device has no checksum offload"
		case length+fragheaderlen > mtu:
			why = "the datagram will be fragmented"
		case flags&msgMore != 0:
			why = "MSG_MORE: more data may follow"
		}
		s.tracef("__ip_append_data", "csummode", csummode, why)
	}
	c.length += length

	if transhdrlen > 0 {
		var hdr [udpHdrLen]byte
		q.appendL4(hdr[:])
	}
	if byRef && len(q.l4) == udpHdrLen && q.ext == nil {
		q.ext = payload
	} else {
		q.appendL4(payload)
	}

	n := len(q.lens)
	for first := n == 0; first || length > 0; first = false {
		if !first {
			cur := q.lens[n-1]
			cp := mtu - cur
			if cp < length {
				cp = maxfraglen - cur
			}
			if cp > 0 {
				cp = min(cp, length)
				if s.tracing() {
					s.tracef("__ip_append_data", fmt.Sprintf("skb %d", n-1), fmt.Sprintf("+%d bytes", cp), "copied into the tail skb: room up to mtu if the rest fits, else up to maxfraglen")
				}
				q.copyInto(n-1, cp, s.dev.Features.Has(FeatSG))
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
		if datalen > mtu-fragheaderlen {
			datalen = maxfraglen - fragheaderlen
		}
		fraglen := datalen + fragheaderlen
		alloclen, pagedlen := s.allocLen(datalen, fraglen, fragheaderlen, transhdrlen, mtu, c.gsoSize > 0, flags)
		// Only the first skb of a call comes from sock_alloc_send_skb;
		// the others are refused once the socket's write memory passes
		// twice its send buffer.
		if transhdrlen == 0 && 1+q.charged > 2*sockSndbuf {
			c.length -= length
			if s.tracing() {
				s.tracef("__ip_append_data", "return", "-ENOBUFS", "sk_wmem_alloc %d > 2 * sk_sndbuf %d: no more skbs for this socket", 1+q.charged, 2*sockSndbuf)
			}
			return errno.ENOBUFS
		}
		obj := skbHeadSize(alloclen + hhLen + 15)
		q.charged += obj + skbOverhead
		if n > 0 && fraggap > 0 {
			q.lens[n-1] = maxfraglen
		}
		if n == 0 {
			q.summed = csummode
		}
		if s.tracing() {
			s.traceAlloc(len(q.lens), datalen, fraglen, fraggap, alloclen, pagedlen)
		}
		transhdrlen = 0
		q.lens = append(q.lens, fraglen)
		q.room = append(q.room, obj-skbSharedInfo-hhLen-(fraglen-pagedlen))
		if pagedlen > 0 {
			// The loop's next pass copies the paged part.
			q.copyInto(n, pagedlen, s.dev.Features.Has(FeatSG))
		}
		n++
		length -= datalen - fraggap
	}
	return 0
}

// allocLen mirrors __ip_append_data's choice of alloclen (without
// alloc_extra) and pagedlen: where an skb's bytes will live.
func (s *Socket) allocLen(datalen, fraglen, fragheaderlen, transhdrlen, mtu int, paged bool, flags int) (alloclen, pagedlen int) {
	sg := s.dev.Features.Has(FeatSG)
	switch {
	case flags&msgMore != 0 && !sg:
		return mtu, 0
	case !paged && (fraglen+hhLen+15 < skbMaxAlloc || !sg):
		return fraglen, 0
	}
	return fragheaderlen + transhdrlen, datalen - transhdrlen
}

// copyInto accounts for cp bytes copied into skb i after its allocation:
// linear when the device lacks scatter-gather and the skb has tailroom,
// otherwise into page fragments, which are charged to the socket.
func (q *skbQueue) copyInto(i, cp int, sg bool) {
	if !sg && q.room[i] >= cp {
		q.room[i] -= cp
		return
	}
	q.charged += cp
}

// traceAlloc explains one skb allocation of __ip_append_data: its sizes and
// whether the data goes in the linear area or in page fragments.
func (s *Socket) traceAlloc(i, datalen, fraglen, fraggap, alloclen, pagedlen int) {
	layout := "linear"
	switch {
	case pagedlen > 0:
		layout = "paged: headers linear, data in page fragments"
	case alloclen > fraglen:
		layout = "linear, room for a whole MTU (MSG_MORE without scatter-gather)"
	}
	s.tracef("__ip_append_data", fmt.Sprintf("skb %d", i), fmt.Sprintf("datalen=%d fraglen=%d fraggap=%d alloclen=%d", datalen, fraglen, fraggap, alloclen+hhLen+15), layout)
}

// Datagram is one skb handed to the IP output path: the IP header
// __ip_make_skb built, the UDP header udp_send_skb filled and the payload,
// with what the output path needs to cut it into frames.
type Datagram struct {
	// Step is the scenario step whose call emitted the datagram.
	Step int
	// IP is the IPv4 header, options included.
	IP []byte
	// UDP is the UDP (or UDP-Lite) header, Payload what follows it: the
	// socket's copy of corked data, or the caller's own bytes for a
	// datagram one call built (never written to).
	UDP, Payload []byte
	// SkbData is the data length (after the network header) of each skb
	// of the frag list, the first including the UDP header.
	SkbData []int
	// Summed is the skb's ip_summed when it reaches the device.
	Summed csumMode
	// IgnoreDF is skb->ignore_df.
	IgnoreDF bool
	// GSOSize and GSOSegs are set when the skb is a GSO super-packet.
	GSOSize, GSOSegs int
	// IDWhy says where the IP ID came from; IDSource names the rule.
	IDWhy    string
	IDSource report.IDSource
	// Proto is the IP protocol number.
	Proto uint8
	// buf holds UDP at offset headroom (see skbQueue.buf), and Payload
	// right after it when contig is set.
	buf    []byte
	contig bool
}

// L4Len is the length of the UDP header and payload.
func (d *Datagram) L4Len() int { return udpHdrLen + len(d.Payload) }

// l4Sum is the folded one's complement sum of the first n bytes of the
// UDP header and payload, added to initial. The header's 8 bytes keep the
// payload's words aligned, so the two sums chain.
func (d *Datagram) l4Sum(n int, initial uint16) uint16 {
	if n <= udpHdrLen {
		return header.Checksum(d.UDP[:n], initial)
	}
	return header.Checksum(d.Payload[:n-udpHdrLen], header.Checksum(d.UDP, initial))
}

// makeSkb mirrors __ip_make_skb: it joins the queue into one datagram and
// builds its IP header. The datagram is the socket's own, reused by the
// next call: an output function that keeps bytes must copy them.
func (s *Socket) makeSkb(q *skbQueue, c *cork) *Datagram {
	if q.empty() {
		return nil
	}
	fh := 20 + optlen(c.opt)
	d := &s.dg
	*d = Datagram{IP: d.IP[:0], SkbData: d.SkbData[:0], Proto: s.proto.Number(), Summed: q.summed, buf: d.buf}
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
	var frag uint16
	if s.pmtudisc == scenario.PMTUDo || s.pmtudisc == scenario.PMTUProbe || (total <= s.dev.MTU && dontFragment(s.pmtudisc)) {
		frag = 0x4000
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
	var hdr [60]byte
	d.IP = append(d.IP, hdr[:fh]...)
	src, dst := c.fl.saddr.As4(), c.fl.daddr.As4()
	header.IPv4(d.IP).Init(fh, uint8(tos), uint16(total), 0, frag, uint8(ttl), d.Proto, src, dst)
	s.selectIdent(d, frag)
	if s.tracing() {
		s.traceHeader(d, c, total, frag)
	}
	if c.opt != nil && c.opt.Optlen > 0 {
		// The options were compiled by ipopt; a build error would mean a
		// compile/build mismatch, which the ipopt tests rule out.
		_ = ipopt.Build(d.IP[20:fh], c.opt, c.addr, c.fl.saddr, s.clock)
	}
	q.reset()
	return d
}

func (s *Socket) traceHeader(d *Datagram, c *cork, total int, frag uint16) {
	const fn = "__ip_make_skb"
	s.tracef(fn, "tot_len", total, "%d skb(s) joined into one datagram (frag_list)", len(d.SkbData))
	dfWhy := "pmtudisc " + s.pmtudisc.String()
	switch {
	case s.pmtudisc == scenario.PMTUDo || s.pmtudisc == scenario.PMTUProbe:
		dfWhy += ": DF always"
	case frag != 0:
		dfWhy += ": the datagram fits the MTU, so DF (ip_dont_fragment)"
	case s.pmtudisc == scenario.PMTUWant:
		dfWhy += ": the datagram exceeds the MTU, so no DF"
	default:
		dfWhy += ": never DF"
	}
	s.tracef(fn, "DF", frag != 0, dfWhy)
	s.tracef(fn, "ignore_df", d.IgnoreDF, "ip_sk_ignore_df")
	ttlWhy := "IP_TTL control message (cork->ttl)"
	if c.ttl == 0 {
		ttlWhy = "the socket's IP_TTL"
		if s.ucTTL < 0 {
			ttlWhy = "no IP_TTL: the route's hop limit, net.ipv4.ip_default_ttl"
		}
	}
	s.tracef(fn, "ttl", d.IP[8], ttlWhy)
	s.tracef(fn, "tos", fmt.Sprintf("%#02x", d.IP[1]), "cork->tos: the socket's IP_TOS at the first call, or an IP_TOS control message")
	s.tracef(fn, "id", uint16(d.IP[4])<<8|uint16(d.IP[5]), d.IDWhy)
}

// selectIdent mirrors ip_select_ident_segs with segs = 1, as __ip_make_skb
// calls it (a GSO super-packet is not yet marked as such there).
func (s *Socket) selectIdent(d *Datagram, frag uint16) {
	const segs = 1
	switch {
	case s.daddr.IsValid():
		// A connected socket's private counter; UDP advances it
		// atomically and uses the new value.
		s.inetID += segs
		header.IPv4(d.IP).SetID(s.inetID)
		d.IDWhy, d.IDSource = "ID from the connected socket's inet_id counter", report.IDInetID
	case frag&0x4000 != 0 && !d.IgnoreDF:
		header.IPv4(d.IP).SetID(0)
		d.IDWhy, d.IDSource = "ID 0: DF set and fragmentation forbidden (pmtudisc do/probe)", report.IDZero
	default:
		k := identKey{src: [4]byte(d.IP[12:16]), dst: [4]byte(d.IP[16:20]), proto: d.Proto}
		header.IPv4(d.IP).SetID(s.idents.reserve(k, segs))
		d.IDWhy, d.IDSource = "ID from the per-destination ip_idents counter", report.IDIdents
	}
}
