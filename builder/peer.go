package builder

import (
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/receive"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
	"golang.org/x/sys/unix"
)

// This file is udpbuild's own: the link's far end. A run whose scenario
// has a receiving side (a peer, or recv steps) carries every frame the
// device sends to the peer's model (package receive) as the veth would
// hand it over, plays the recv steps on the peer's sockets, and brings the
// peer's ICMP errors back to the sender's socket between steps.

// HasReceiver reports whether a run of sc models the peer: the scenario
// describes one, or reads from it. Other runs never pay for it.
func HasReceiver(sc *scenario.Scenario) bool {
	if sc.Peer != nil {
		return true
	}
	for _, st := range sc.Steps {
		if st.Recv != nil {
			return true
		}
	}
	return false
}

// peerLink is the peer and the FrameSink that feeds it: every datagram and
// frame goes first to the run's own sink (inner), then to the peer.
type peerLink struct {
	host  *receive.Host
	inner FrameSink
	dev   *Device
	// d is the datagram whose frames are passing; whole is set when the
	// peer took it whole at Datagram (a GSO skb the device was to
	// segment: veth passes it on unsegmented).
	d     *Datagram
	whole bool
	buf   []byte
	// gro is the peer device's GRO: the frames of one datagram are one
	// NAPI poll (batch) then.
	gro   bool
	batch []receive.Skb
	// frames counts the peer's frames (report.Frame.Datagram).
	frames int
	step   int
	trace  func(Event)
}

// newPeer builds the peer of scenario sc: its addresses (every
// destination the sender may send to, as the kernel runner gives them),
// its device, and its sockets, created and set up in the kernel runner's
// order: SO_RCVBUF, the setsockopt list, bind, connect. Each call's result
// goes to setup.
func newPeer(sc *scenario.Scenario, dev *Device, o Options, setup *[]report.Step) *peerLink {
	src, dst := sc.Link.MACs()
	// The peer holds what the kernel runner gives its device
	// (Scenario.PeerAddrs); its primary IPv4 address is the first.
	addrs := sc.PeerAddrs()
	addr4 := scenario.DefaultDst.Addr()
	for _, a := range addrs {
		if a.Is4() {
			addr4 = a
			break
		}
	}
	// veth_xmit takes the NAPI (GRO) path only for an skb
	// veth_skb_is_eligible_for_gro passes: the sender's device must have
	// no TSO feature, and a veth keeps TSO on whenever scatter-gather
	// (with a checksum feature) is on; the kernel runner toggles only the
	// spec's features [live: an sg sender's segments are not merged].
	p := &peerLink{dev: dev, trace: o.Trace, gro: sc.Peer.Has(scenario.GRO) && !dev.Features.Has(FeatSG)}
	cfg := receive.Config{Addrs: addrs, Addr4: addr4, Ifindex: 2, MTU: sc.Link.MTU,
		MAC: dst, PeerMAC: src, GRO: sc.Peer.Has(scenario.GRO), Seed: o.Seed}
	if o.Trace != nil {
		cfg.Trace = func(e receive.Event) {
			p.trace(Event{Step: p.step, Func: e.Func, Var: e.Var, Value: e.Value, Why: e.Why})
		}
	}
	// A scenario without a peer key has a silent peer: the kernel runner
	// stops its ICMP errors with these sysctls (kernel/link.go).
	cfg.Sysctl = map[string]int64{}
	if sc.Peer == nil {
		cfg.Sysctl = map[string]int64{"icmp_msgs_per_sec": 0, "icmp_msgs_burst": 0, "icmp_ratelimit": 1000000, "ipv6.icmp.ratelimit": 1000000}
	} else {
		for _, s := range sc.Peer.Sysctl {
			cfg.Sysctl[s.Name] = s.Value
		}
	}
	p.host = receive.NewHost(cfg)
	for i, ps := range sc.PeerSockets() {
		idx := i
		sk := p.host.NewSocket(ps.Proto == scenario.UDPLite, ps.IPv6())
		if ps.Rcvbuf != nil {
			e := sk.Setsockopt(receive.SoRcvbuf, *ps.Rcvbuf)
			*setup = append(*setup, report.Step{Op: "setsockopt", Socket: &idx, Opt: string(scenario.OptSORcvBuf), Err: errno.Errno(e)})
		}
		for _, opt := range ps.Setsockopt {
			e := sk.Setsockopt(receive.Option(opt.Name), opt.Int)
			*setup = append(*setup, report.Step{Op: "setsockopt", Socket: &idx, Opt: string(opt.Name), Err: errno.Errno(e)})
		}
		*setup = append(*setup, report.Step{Op: "bind", Socket: &idx, Err: errno.Errno(sk.Bind(ps.Bind))})
		if ps.Connect.IsValid() {
			*setup = append(*setup, report.Step{Op: "connect", Socket: &idx, Err: errno.Errno(sk.Connect(ps.Connect))})
		}
	}
	return p
}

// Datagram tells the run's sink, then keeps d for its frames; a GSO skb
// the device was to segment reaches the peer whole, as veth passes it.
func (p *peerLink) Datagram(d *Datagram) error {
	err := p.inner.Datagram(d)
	p.poll()
	p.d, p.whole = d, false
	if d.GSOSize > 0 && p.dev.bufs.out.path == pathGSODevice {
		p.whole = true
		b := append(append(append(p.buf[:0], d.IP...), d.UDP...), d.Payload...)
		if !d.IPv6 {
			header.IPv4(b).SetChecksum()
		}
		p.buf = b
		p.host.Receive(receive.Skb{Data: b, Truesize: sum(d.SkbTruesize), Partial: true, GSOSize: d.GSOSize, Paged: d.L4Len() - udpHdrLen, Cloned: true})
	}
	return err
}

// Frame tells the run's sink, then hands the frame to the peer as the skb
// that carried it: its truesize is the sender's allocation (the frag
// list's skb for a fast-path fragment, ip_frag_next's for a slow-path
// one, skb_segment's for a software GSO segment; measured in
// docs/receive-study.md section 5).
func (p *peerLink) Frame(fi *FrameInfo, head, data []byte) error {
	err := p.inner.Frame(fi, head, data)
	if p.whole || p.d == nil {
		return err
	}
	b := append(append(p.buf[:0], head...), data...)
	p.buf = b
	pkt := b[header.EthernetLen:]
	d := p.d
	// The kernel runner's capture on the sender's device holds a clone of
	// every frame the sender transmits.
	skb := receive.Skb{Data: pkt, Partial: fi.Partial, Cloned: true}
	hlen := len(d.IP)
	switch fi.Kind {
	case report.Fragment:
		if fi.SlowPath || fi.Index >= len(d.SkbTruesize) {
			// ip_frag_next (ip6_frag_next): alloc_skb(len + hlen (+ the
			// fragment header) + ll_rs), reserve ll_rs: the frame's
			// packet after the reserve.
			obj := skbHeadSize(len(pkt) + hhLen)
			skb.Truesize, skb.Tailroom = obj+skbOverhead, obj-skbSharedInfo-hhLen-len(pkt)
		} else {
			skb.Truesize, skb.Tailroom = d.SkbTruesize[fi.Index], d.SkbRoom[fi.Index]
			if d.IPv6 {
				// __ip6_append_data reserves the fragment header's 8
				// bytes too: they are not tailroom.
				skb.Tailroom -= 8
			}
		}
	case report.Segment:
		// skb_segment: a head for the headers after the sender skb's
		// headroom (hh_len - ETH_HLEN, and for IPv6 the fragment
		// header's reserve); without scatter-gather the payload copied
		// in, with it shared as page fragments [live: 212 bytes of
		// payload still fit a 576-byte small head, 216 do not].
		n := len(pkt) - hlen - udpHdrLen
		macOff := hhLen - header.EthernetLen
		if d.IPv6 {
			macOff += 8
		}
		alloc := macOff + header.EthernetLen + hlen + udpHdrLen
		if p.dev.Features.Has(FeatSG) {
			obj := skbHeadSize(alloc)
			skb.Truesize, skb.Paged, skb.Tailroom = obj+skbOverhead+n, n, obj-skbSharedInfo-alloc
		} else {
			obj := skbHeadSize(alloc + n)
			skb.Truesize, skb.Tailroom = obj+skbOverhead, obj-skbSharedInfo-alloc-n
		}
	default:
		skb.Truesize = sum(d.SkbTruesize)
		if len(d.SkbRoom) > 0 {
			skb.Tailroom = d.SkbRoom[len(d.SkbRoom)-1]
		}
	}
	if !p.gro {
		p.host.Receive(skb)
		return err
	}
	skb.Data = append([]byte(nil), skb.Data...)
	p.batch = append(p.batch, skb)
	if fi.Index == fi.Count-1 {
		p.poll()
	}
	return err
}

// poll is the peer's NAPI poll of what one transmission put on the veth.
func (p *peerLink) poll() {
	if len(p.batch) > 0 {
		p.host.NapiGROReceive(p.batch)
		p.batch = p.batch[:0]
	}
}

func sum(v []int) int {
	t := 0
	for _, x := range v {
		t += x
	}
	return t
}

// quiet lets the link go quiet after step i: the peer's frames (its ICMP
// errors) go to the run's sink, under step i, and reach the sender's
// socket (icmp_rcv -> __udp4_lib_err).
func (p *peerLink) quiet(i int, s *Socket) error {
	p.poll()
	for _, f := range p.host.TakeOut() {
		fi := FrameInfo{Step: i, Dir: report.DirPeer, Datagram: p.frames, Kind: report.ICMP, Count: 1,
			IDSource: report.IDIdents, IDWhy: "IP ID from the peer's ip_idents bucket (the ICMP socket's IP_PMTUDISC_DONT: no DF)"}
		if len(f) > header.EthernetLen && f[header.EthernetLen]>>4 == 6 {
			// icmp6_send's automatic flow label: a hash keyed per boot,
			// compared as a pattern.
			fi.FlowLabel, fi.IDSource, fi.IDWhy, fi.ipv6 = report.LabelAuto, "", "an automatic flow label (ip6_make_flowlabel)", true
		}
		p.frames++
		if err := p.inner.Frame(&fi, f, nil); err != nil {
			return err
		}
		s.icmpRcv(f)
	}
	return nil
}

// recv plays a recv step: Count recvmsg() calls (or until EAGAIN) on a
// peer socket, or on the sender's error queue.
func (p *peerLink) recv(st *scenario.Recv, s *Socket) report.Step {
	r := report.Step{Op: "recv"}
	if !st.ErrQueue {
		idx := st.Socket
		r.Socket = &idx
	}
	calls := st.Count
	if calls == scenario.RecvAll {
		calls = scenario.MaxRecvCalls
	}
	calls = max(calls, 1)
	for n := 0; n < calls; n++ {
		var one report.Recv
		if st.ErrQueue {
			one = s.RecvErr(st.Len, st.CmsgLen)
		} else {
			one = p.recvPeer(st)
		}
		r.Recv = append(r.Recv, one)
		r.Ret, r.Err = one.Ret, one.Err
		if one.Err != 0 && st.Count == scenario.RecvAll {
			break
		}
	}
	return r
}

// recvPeer is one recvmsg() on a peer socket, rendered for the report.
func (p *peerLink) recvPeer(st *scenario.Recv) report.Recv {
	sk := p.host.Socket(st.Socket)
	if sk == nil {
		return report.Recv{Err: errno.Errno(unix.EBADF)}
	}
	res := p.host.Recvmsg(sk, receive.RecvReq{Len: st.Len, CmsgLen: st.CmsgLen, Flags: st.Flags})
	if res.Errno != 0 {
		return report.Recv{Err: errno.Errno(res.Errno)}
	}
	r := report.Recv{Ret: res.Ret, MsgFlags: report.MsgFlagNames(res.Flags), Len: len(res.Data), Digest: report.Digest(res.Data)}
	if res.From.IsValid() {
		r.From = res.From.String()
	}
	for _, c := range res.Cmsgs {
		r.Cmsgs = append(r.Cmsgs, report.RenderCmsg(c.Level, c.Type, c.Data))
	}
	return r
}

// counters are the run's SNMP counters, as the kernel runner reads them.
func (p *peerLink) counters(s *Socket) map[string]int64 {
	m := map[string]int64{}
	for k, v := range p.host.Counters.Map("peer.") {
		m[k] = int64(v)
	}
	s.mib.counters("sender.", m)
	return m
}
