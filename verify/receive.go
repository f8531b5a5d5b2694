package verify

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Protocols, besides UDP and UDP-Lite, whose packets are followed inside.
const (
	protoIPIP   = 4
	protoGRE    = 47
	protoIPv6in = 41
)

// UDP ports of the tunnels unwrapped (IANA's).
const (
	portVXLAN  = 4789
	portGeneve = 6081
	portGTPU   = 2152
)

// verdict returns the verdict slot of the current depth, cleared. A
// verdict is written before anything inside its datagram is judged, one
// depth further in, so one slot a depth serves; reusing it keeps the
// Verdict (which a Sink call would otherwise move to the heap) from costing
// an allocation per datagram.
func (v *Verifier) verdict() *Verdict {
	vd := &v.slots[v.depth]
	*vd = Verdict{}
	return vd
}

// verdictFor starts a verdict for a datagram with header h.
func (v *Verifier) verdictFor(h ipv4Header, p *pkt) *Verdict {
	vd := v.verdict()
	*vd = Verdict{
		Frames: p.frames,
		Where:  v.where(),
		Src:    netip.AddrPortFrom(netip.AddrFrom4(h.src()), 0),
		Dst:    netip.AddrPortFrom(netip.AddrFrom4(h.dst()), 0),
		Proto:  h.proto(),
		ID:     uint32(h.id()),
	}
	return vd
}

// ipv4 takes an IPv4 packet through ip_rcv_core and ip_rcv_finish (header
// checks, options, the source-address check of the route lookup), then to
// ip_defrag or straight to the transport protocol.
func (v *Verifier) ipv4(ip []byte, p *pkt) {
	if len(ip) == 0 {
		if p.missing > 0 {
			v.notCapturedFrame("IPv4", "the capture cut the frame where the IPv4 header starts")
		} else {
			v.unjudged("IPv4", "no bytes where the IPv4 header should be")
		}
		return
	}
	h := ipv4Header(ip)
	if h.version() != 4 {
		v.unjudged("IPv4.Version", "version %d in an IPv4 packet (ip_rcv_core drops it)", h.version())
		return
	}
	if len(ip) < ipHeaderMin {
		if p.missing > 0 {
			v.notCapturedFrame("IPv4", "the capture kept %d bytes of the IPv4 header", len(ip))
		} else {
			v.unjudged("IPv4", "truncated: %d bytes, an IPv4 header needs 20 (ip_rcv_core drops it)", len(ip))
		}
		return
	}
	if h.ihl() < ipHeaderMin {
		v.unjudged("IPv4.IHL", "header length %d < 20 (ip_rcv_core drops it)", h.ihl())
		return
	}
	switch proto := h.proto(); proto {
	case protoUDP, protoUDPLite, protoIPIP, protoGRE, protoIPv6in:
	default:
		v.skip(&v.stats.NotUDP, "IPv4.Protocol", fmt.Sprintf("protocol %d (%v) is not UDP or UDP-Lite", proto, layers.IPProtocol(proto)))
		return
	}
	vd := v.verdictFor(h, p)
	ihl := h.ihl()
	if len(ip) < ihl {
		if p.missing > 0 {
			vd.Reason = fmt.Sprintf("the capture kept %d of the %d header bytes", len(ip), ihl)
			v.emit(vd)
			return
		}
		v.drop(vd, CodeIPTruncated, fmt.Sprintf("header length %d > %d bytes received (ip_rcv_core)", ihl, len(ip)))
		return
	}
	h = h[:ihl]
	tot := h.totalLen()
	after := ip[ihl:] // what the frame holds after the header, captured
	if !ipHeaderOK(h) {
		v.udpHint(vd, h, after)
		v.drop(vd, CodeIPChecksum, "IPv4 header checksum does not verify (ip_rcv_core)")
		return
	}
	if tot > len(ip) {
		v.udpHint(vd, h, after)
		if p.missing == 0 || tot > len(ip)+p.missing {
			v.drop(vd, CodeIPTruncated, fmt.Sprintf("total length %d > %d bytes received (ip_rcv_core)", tot, len(ip)+p.missing))
			return
		}
	} else if tot < ihl {
		v.drop(vd, CodeIPLength, fmt.Sprintf("total length %d < header length %d (ip_rcv_core)", tot, ihl))
		return
	}
	// pskb_trim_rcsum to tot_len: link-layer padding goes.
	data := ip[ihl:min(tot, len(ip))]
	full := tot - ihl
	if m := martian(h.src(), h.dst()); m != "" {
		v.udpHint(vd, h, data)
		v.drop(vd, CodeIPMartian, m+" (ip_route_input_slow)")
		return
	}
	if ihl > ipHeaderMin {
		srr, complaint := optionsCheck(h[ipHeaderMin:])
		if complaint != "" {
			v.udpHint(vd, h, data)
			v.drop(vd, CodeIPOptions, complaint+" (ip_options_compile)")
			return
		}
		if srr {
			v.udpHint(vd, h, data)
			v.drop(vd, CodeIPSourceRoute, "source-route option refused: accept_source_route is off by default (ip_rcv_options)")
			return
		}
	}
	if h.isFragment() {
		v.defrag.add(fragIn{
			key:    fragKey{src: vd.Src.Addr(), dst: vd.Dst.Addr(), id: uint32(h.id()), proto: h.proto()},
			offset: h.offset(), more: h.more(), ecn: h.tos() & 3, headLen: ihl,
			data: data, full: full, frames: p.frames, frameLen: v.frameLen, where: v.whereFn, now: v.now, scratch: &v.scratch[v.depth]})
		return
	}
	v.transport(vd, data, full, "", p.frames)
}

// udpHint fills in the ports and length of a verdict for a datagram dropped
// before UDP looked at it, from whatever UDP header the capture kept.
func (v *Verifier) udpHint(vd *Verdict, h ipv4Header, data []byte) {
	if (vd.Proto != protoUDP && vd.Proto != protoUDPLite) || h.offset() != 0 || len(data) < 4 {
		return
	}
	vd.Src = netip.AddrPortFrom(vd.Src.Addr(), binary.BigEndian.Uint16(data[0:2]))
	vd.Dst = netip.AddrPortFrom(vd.Dst.Addr(), binary.BigEndian.Uint16(data[2:4]))
	if len(data) >= 6 && vd.Proto == protoUDP {
		vd.Len = max(int(binary.BigEndian.Uint16(data[4:6]))-udpHeaderLen, 0)
	} else if vd.Proto == protoUDPLite {
		vd.Len = max(h.totalLen()-h.ihl()-udpHeaderLen, 0)
	}
}

// drop writes a verdict for a datagram dropped before UDP saw it.
func (v *Verifier) drop(vd *Verdict, code Code, reason string) {
	vd.Code, vd.Reason = code, reason
	v.emit(vd)
}

// transport hands a whole (reassembled) datagram to its protocol: data
// is the captured part of its full bytes after the IP header.
func (v *Verifier) transport(vd *Verdict, data []byte, full int, notes string, frames []int) {
	switch vd.Proto {
	case protoUDP, protoUDPLite:
		v.udp(vd, data, full, notes, frames)
	case protoIPIP:
		v.ipip(vd, data, full, frames)
	case protoIPv6in:
		v.ip6ip(vd, data, full, frames)
	case protoGRE:
		v.greRcv(vd, data, full, frames)
	}
}

// udp finishes a verdict with __udp4_lib_rcv's (__udp6_lib_rcv's)
// judgement and, when the datagram is delivered to a tunnel's port, judges
// what it carries.
func (v *Verifier) udp(vd *Verdict, data []byte, full int, notes string, frames []int) {
	o := udpRcv(vd.Src.Addr(), vd.Dst.Addr(), vd.Proto, data, full, v.opt.AllowZeroChecksum6)
	if o.ports {
		vd.Src = netip.AddrPortFrom(vd.Src.Addr(), o.sport)
		vd.Dst = netip.AddrPortFrom(vd.Dst.Addr(), o.dport)
	}
	vd.Len = o.plen
	vd.Checksum = o.checksum
	if o.note != "" {
		notes = appendNote(notes, o.note)
	}
	switch {
	case o.code != "":
		vd.Code, vd.Reason = o.code, o.reason
	case o.notCaptured:
		vd.Reason = appendNote(vd.Reason, o.reason)
	default:
		// A fragment the capture cut did not matter (a zero checksum
		// needs no payload): the datagram is delivered, and the cut is a
		// note, not a reason, which only drops and non-verdicts carry.
		if vd.Reason != "" {
			notes = appendNote(notes, vd.Reason)
			vd.Reason = ""
		}
		vd.Delivered = true
	}
	var t tunnel
	if vd.Delivered && vd.Proto == protoUDP {
		t = v.udpTunnel(o.dport, o.payload, vd)
		if t.note != "" {
			notes = appendNote(notes, t.note)
		}
	}
	vd.Note = notes
	if vd.Delivered && v.onDeliver != nil {
		v.onDeliver(vd, o.payload)
	}
	v.emit(vd)
	if t.kind != 0 {
		v.inner(t, pkt{frames: frames, missing: o.plen - len(o.payload)})
	}
}

// fragVerdict turns a reassembly queue's fate into a verdict.
func (v *Verifier) fragVerdict(ev *fragEvent) {
	vd := v.verdict()
	*vd = Verdict{
		Frames:     ev.frames,
		MoreFrames: ev.more,
		Where:      ev.where,
		Src:        netip.AddrPortFrom(ev.key.src, 0),
		Dst:        netip.AddrPortFrom(ev.key.dst, 0),
		Proto:      ev.key.proto,
		ID:         ev.key.id,
	}
	if ev.key.src.Is6() {
		v.fragVerdict6(vd, ev)
		return
	}
	if ev.done {
		if ev.notCaptured {
			vd.Reason = ev.reason
		}
		v.transport(vd, ev.payload, ev.full, ev.notes, vd.Frames)
		return
	}
	if len(ev.first) >= 4 && (vd.Proto == protoUDP || vd.Proto == protoUDPLite) {
		vd.Src = netip.AddrPortFrom(vd.Src.Addr(), binary.BigEndian.Uint16(ev.first[0:2]))
		vd.Dst = netip.AddrPortFrom(vd.Dst.Addr(), binary.BigEndian.Uint16(ev.first[2:4]))
		if len(ev.first) >= 6 && vd.Proto == protoUDP {
			vd.Len = max(int(binary.BigEndian.Uint16(ev.first[4:6]))-udpHeaderLen, 0)
		}
	}
	vd.Note = ev.notes
	v.drop(vd, ev.code, ev.reason)
}

// tunnel is a tunnel header found in a datagram: what it carries starts at
// payload and is of type next (an EtherType).
type tunnel struct {
	kind    hopKind
	hop     hop
	next    layers.EthernetType
	payload []byte
	note    string
}

// udpTunnel recognises VXLAN, Geneve and GTP-U by destination port, as
// the kernel's tunnel sockets (vxlan_rcv, geneve_udp_encap_recv,
// gtp_encap_recv) would receive them. The outer datagram gets its own
// verdict first: it is a UDP datagram like any other, judged by
// __udp4_lib_rcv (udp_queue_rcv_one_skb verifies the checksum before
// handing it to the tunnel).
func (v *Verifier) udpTunnel(dport uint16, payload []byte, vd *Verdict) tunnel {
	df := gopacket.NilDecodeFeedback
	h := hop{src: vd.Src.Addr(), dst: vd.Dst.Addr()}
	switch dport {
	case portVXLAN:
		x := &v.dec.vxlan
		if err := x.DecodeFromBytes(payload, df); err != nil {
			return tunnel{note: "VXLAN port, but " + err.Error()}
		}
		if !x.ValidIDFlag {
			return tunnel{note: "VXLAN header without the I flag: a VXLAN device drops it (vxlan_rcv)"}
		}
		h.kind, h.id = hopVXLAN, x.VNI
		return tunnel{kind: hopVXLAN, hop: h, next: layers.EthernetTypeTransparentEthernetBridging, payload: x.Payload}
	case portGeneve:
		g := &v.dec.geneve
		if err := g.DecodeFromBytes(payload, df); err != nil {
			return tunnel{note: "Geneve port, but " + err.Error()}
		}
		h.kind, h.id = hopGeneve, g.VNI
		return tunnel{kind: hopGeneve, hop: h, next: g.Protocol, payload: g.Payload}
	case portGTPU:
		g := &v.dec.gtp
		if err := g.DecodeFromBytes(payload, df); err != nil {
			return tunnel{note: "GTP-U port, but " + err.Error()}
		}
		if g.MessageType != 255 || len(g.Payload) == 0 {
			return tunnel{} // signalling (echo and the like): no user packet
		}
		h.kind, h.id = hopGTPU, g.TEID
		next := layers.EthernetTypeIPv4
		if g.Payload[0]>>4 == 6 {
			next = layers.EthernetTypeIPv6
		}
		return tunnel{kind: hopGTPU, hop: h, next: next, payload: g.Payload}
	}
	return tunnel{}
}

// inner judges what a tunnel carries, with the tunnel as a hop.
func (v *Verifier) inner(t tunnel, p pkt) {
	if v.depth >= maxDepth {
		v.unjudged("Tunnel", "tunnels nested more than %d deep: the innermost packet is not judged", maxDepth)
		return
	}
	n := v.push(t.hop)
	v.depth++
	switch t.next {
	case layers.EthernetTypeTransparentEthernetBridging:
		if len(t.payload) == 0 {
			v.notCapturedFrame("Tunnel", "the capture cut the frame before the tunnelled packet")
			break
		}
		v.ether(t.payload, &p)
	case layers.EthernetTypeIPv4:
		v.ipv4(t.payload, &p)
	case layers.EthernetTypeIPv6:
		v.ipv6(t.payload, &p)
	default:
		v.etherType(t.next, t.payload, &p)
	}
	v.depth--
	v.pop(n)
}

// ipip takes what an IP-in-IP packet carries (ipip_rcv, given a tunnel
// device for it).
func (v *Verifier) ipip(vd *Verdict, data []byte, full int, frames []int) {
	h := hop{kind: hopIPIP, src: vd.Src.Addr(), dst: vd.Dst.Addr()}
	v.inner(tunnel{kind: hopIPIP, hop: h, next: layers.EthernetTypeIPv4, payload: data}, pkt{frames: frames, missing: full - len(data)})
}

// ip6ip takes what an IPv6-in-IP packet carries (ipip6_rcv of a sit
// device, ip6ip6_rcv of an ip6tnl device, given one for it).
func (v *Verifier) ip6ip(vd *Verdict, data []byte, full int, frames []int) {
	h := hop{kind: hopIP6, src: vd.Src.Addr(), dst: vd.Dst.Addr()}
	v.inner(tunnel{kind: hopIP6, hop: h, next: layers.EthernetTypeIPv6, payload: data}, pkt{frames: frames, missing: full - len(data)})
}

// greRcv parses a GRE header as gre_parse_header does (a checksum, when
// present, must verify) and takes what it carries.
func (v *Verifier) greRcv(vd *Verdict, data []byte, full int, frames []int) {
	g := &v.dec.gre
	if err := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		if len(data) < full {
			vd.Reason = "the capture cut the GRE header: " + err.Error()
			v.emit(vd)
			return
		}
		v.unjudged("GRE", "undecodable GRE header: %v", err)
		return
	}
	if g.ChecksumPresent {
		if len(data) < full {
			vd.Reason = fmt.Sprintf("GRE checksum not verified: the capture kept %d of %d bytes", len(data), full)
			v.emit(vd)
			return
		}
		if fold16(sum16(0, data)) != 0xffff {
			v.drop(vd, CodeGREChecksum, "GRE checksum does not verify (gre_parse_header)")
			return
		}
	}
	h := hop{kind: hopGRE, id: g.Key, keyed: g.KeyPresent, src: vd.Src.Addr(), dst: vd.Dst.Addr()}
	next, payload := g.Protocol, g.Payload
	if next == layers.EthernetTypeERSPAN {
		// ERSPAN type II carries an 8-byte header before the mirrored
		// frame; type I (no sequence number) none.
		if g.SeqPresent {
			if len(payload) < 8 {
				v.unjudged("ERSPAN", "header of %d bytes", len(payload))
				return
			}
			payload = payload[8:]
		}
		next = layers.EthernetTypeTransparentEthernetBridging
	}
	v.inner(tunnel{kind: hopGRE, hop: h, next: next, payload: payload}, pkt{frames: frames, missing: full - len(data)})
}
