package verify

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxVLANTags bounds how many 802.1Q/802.1ad tags are peeled off one frame.
const maxVLANTags = 8

// Link types gopacket does not decode that verify unwraps itself, and raw
// IP link types some platforms number differently from LINKTYPE_RAW (101):
// DLT_RAW is 12 on most BSDs and 14 on OpenBSD.
const (
	linkTypeRawBSD     layers.LinkType = 12
	linkTypeRawOpenBSD layers.LinkType = 14
	linkTypePPPHDLC    layers.LinkType = 50  // PPP in HDLC-like framing: gopacket's PPP decoder takes it
	linkTypeCHDLC      layers.LinkType = 104 // Cisco HDLC: address, control, EtherType
	linkTypeNFLOG      layers.LinkType = 239 // Linux NFLOG: TLVs, NFULA_PAYLOAD holds the packet
	linkTypePKTAP      layers.LinkType = 258 // Apple PKTAP: a header naming the inner link type
)

// ethertypeQinQOld is the pre-802.1ad QinQ tag some switches still send.
const ethertypeQinQOld layers.EthernetType = 0x9100

// decoders are gopacket layers reused from frame to frame (DecodeFromBytes
// allocates nothing). A caller copies what it needs out of one before
// decoding further down with the same layer.
type decoders struct {
	eth    layers.Ethernet
	dot1q  layers.Dot1Q
	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	lo     layers.Loopback
	gre    layers.GRE
	vxlan  layers.VXLAN
	geneve layers.Geneve
	gtp    layers.GTPv1U
	pktap  layers.PktapV1
	// radiotap allocates (it keeps its fields in slices); it only
	// serves 802.11 captures.
	radiotap layers.RadioTap
}

// pkt is what travels with a packet down the layers: the frames it came
// in and how many of its bytes, after those given, the capture did not
// keep.
type pkt struct {
	frames  []int
	missing int
}

// gopacketKnows reports whether gopacket has a decoder for link type lt.
func gopacketKnows(lt layers.LinkType) bool {
	return int(lt) < len(layers.LinkTypeMetadata) && layers.LinkTypeMetadata[lt].DecodeWith != nil
}

// link finds the IP packet in a frame of link type lt and judges it. The
// common link types are decoded with gopacket's DecodingLayers, without
// allocating; any other link type gopacket knows goes through
// gopacket.NewPacket (generic).
func (v *Verifier) link(data []byte, lt layers.LinkType, p *pkt) {
	df := gopacket.NilDecodeFeedback
	d := &v.dec
	switch lt {
	case layers.LinkTypeEthernet:
		v.ether(data, p)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, linkTypeRawBSD, linkTypeRawOpenBSD:
		v.rawIP(data, p)
	case layers.LinkTypeIPv6:
		v.ipv6(data, p)
	case layers.LinkTypeLinuxSLL:
		if err := d.sll.DecodeFromBytes(data, df); err != nil {
			v.linkErr("LinuxSLL", data, p, err)
			return
		}
		v.etherType(d.sll.EthernetType, d.sll.Payload, p)
	case layers.LinkTypeLinuxSLL2:
		if err := d.sll2.DecodeFromBytes(data, df); err != nil {
			v.linkErr("LinuxSLL2", data, p, err)
			return
		}
		v.etherType(d.sll2.ProtocolType, d.sll2.Payload, p)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if err := d.lo.DecodeFromBytes(data, df); err != nil {
			v.linkErr("Loopback", data, p, err)
			return
		}
		switch d.lo.Family {
		case layers.ProtocolFamilyIPv4:
			v.ipv4(d.lo.Payload, p)
		case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD, layers.ProtocolFamilyIPv6Darwin, layers.ProtocolFamilyIPv6Linux:
			v.ipv6(d.lo.Payload, p)
		default:
			v.skip(&v.stats.NotIP, "Loopback.Family", fmt.Sprintf("family %d (%v), not IP", int(d.lo.Family), d.lo.Family))
		}
	case layers.LinkTypeIEEE80211Radio:
		// RadioTap hands Dot11 a frame that ends in an FCS, computing one
		// (in a copy) when the capture has none, since gopacket's Dot11
		// always cuts four bytes off. Those four computed bytes are not
		// the frame's: they are left out of the IPv4 packet.
		rt := &d.radiotap
		if err := rt.DecodeFromBytes(data, df); err != nil {
			v.linkErr("RadioTap", data, p, err)
			return
		}
		fake := 0
		if len(rt.RadioTapValues) > 0 && !rt.RadioTapValues[0].Flags.FCS() && len(rt.Payload) >= 4 {
			fake = 4
		}
		v.genericTrail(rt.Payload, layers.LinkTypeIEEE802_11, fake, p)
	case linkTypePPPHDLC:
		v.generic(data, layers.LinkTypePPP, p)
	case linkTypeCHDLC:
		if len(data) < 4 {
			v.linkErr("CiscoHDLC", data, p, fmt.Errorf("%d bytes, the header needs 4", len(data)))
			return
		}
		v.etherType(layers.EthernetType(binary.BigEndian.Uint16(data[2:4])), data[4:], p)
	case linkTypeNFLOG:
		v.nflog(data, p)
	case linkTypePKTAP:
		if err := d.pktap.DecodeFromBytes(data, df); err != nil {
			v.linkErr("PKTAP", data, p, err)
			return
		}
		inner := layers.LinkType(d.pktap.DLT)
		if inner == linkTypePKTAP || v.depth >= maxDepth {
			v.unjudged("PKTAP", "PKTAP header inside PKTAP")
			return
		}
		v.depth++
		v.link(d.pktap.Payload, inner, p)
		v.depth--
	default:
		if gopacketKnows(lt) {
			v.generic(data, lt, p)
			return
		}
		v.stats.Unjudged++
		if !v.unknownLinks[lt] {
			v.unknownLinks[lt] = true
			v.diag("LinkType", fmt.Sprintf("link type %d (%v) is not decoded (gopacket has no decoder for it): no frame of this link type is judged", int(lt), lt))
		}
	}
}

// linkErr reports a link-layer header gopacket could not decode: not
// captured when the capture cut the frame, undecodable otherwise.
func (v *Verifier) linkErr(field string, data []byte, p *pkt, err error) {
	if p.missing > 0 {
		v.notCapturedFrame(field, "the capture kept %d bytes of the frame, %d were cut, and %s cannot be decoded from them (%v)", len(data), p.missing, field, err)
		return
	}
	v.unjudged(field, "undecodable (%d bytes): %v", len(data), err)
}

// ether decodes an Ethernet frame.
func (v *Verifier) ether(data []byte, p *pkt) {
	eth := &v.dec.eth
	if err := eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		v.linkErr("Ethernet", data, p, err)
		return
	}
	v.etherType(eth.EthernetType, eth.Payload, p)
}

// etherType follows VLAN tags to the payload of an EtherType-typed frame
// and judges it.
func (v *Verifier) etherType(t layers.EthernetType, payload []byte, p *pkt) {
	n := len(v.hops)
	defer v.pop(n)
	for tags := 0; t == layers.EthernetTypeDot1Q || t == layers.EthernetTypeQinQ || t == ethertypeQinQOld; tags++ {
		if tags == maxVLANTags {
			v.unjudged("Dot1Q", "more than %d VLAN tags", maxVLANTags)
			return
		}
		tag := &v.dec.dot1q
		if err := tag.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			v.linkErr("Dot1Q", payload, p, err)
			return
		}
		v.push(hop{kind: hopVLAN, id: uint32(tag.VLANIdentifier), qinq: t != layers.EthernetTypeDot1Q})
		t, payload = tag.Type, tag.Payload
	}
	switch t {
	case layers.EthernetTypeIPv4:
		v.ipv4(payload, p)
	case layers.EthernetTypeIPv6:
		v.ipv6(payload, p)
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast, layers.EthernetTypePPPoESession,
		layers.EthernetTypeLLC, layers.EthernetTypeTransparentEthernetBridging:
		v.generic(payload, t, p)
	default:
		v.skip(&v.stats.NotIP, "EthernetType", fmt.Sprintf("EtherType 0x%04x (%v), not IP", uint16(t), t))
	}
}

// rawIP judges a frame that starts with the IP header.
func (v *Verifier) rawIP(data []byte, p *pkt) {
	switch data[0] >> 4 {
	case 4:
		v.ipv4(data, p)
	case 6:
		v.ipv6(data, p)
	default:
		v.unjudged("IPv4.Version", "version %d: neither IPv4 nor IPv6", data[0]>>4)
	}
}

// nflog finds the packet in a Linux NFLOG frame: a 4-byte header (address
// family, version, resource ID), then TLVs in the capturing host's byte
// order (little-endian here), of which NFULA_PAYLOAD (9) holds the packet.
func (v *Verifier) nflog(data []byte, p *pkt) {
	if len(data) < 4 {
		v.linkErr("NFLOG", data, p, fmt.Errorf("%d bytes, the header needs 4", len(data)))
		return
	}
	family := data[0]
	for rest := data[4:]; len(rest) >= 4; {
		tlen, typ := int(binary.LittleEndian.Uint16(rest[0:2])), binary.LittleEndian.Uint16(rest[2:4])&0x7fff
		if tlen < 4 {
			v.unjudged("NFLOG", "TLV of length %d", tlen)
			return
		}
		if typ == 9 { // NFULA_PAYLOAD
			if tlen > len(rest) && p.missing == 0 {
				v.unjudged("NFLOG", "payload TLV of %d bytes, %d present", tlen, len(rest))
				return
			}
			payload := rest[4:min(tlen, len(rest))]
			switch family {
			case 2: // AF_INET
				if len(payload) == 0 {
					v.linkErr("NFLOG", data, p, fmt.Errorf("empty payload"))
					return
				}
				v.ipv4(payload, p)
			case 10: // AF_INET6
				if len(payload) == 0 {
					v.linkErr("NFLOG", data, p, fmt.Errorf("empty payload"))
					return
				}
				v.ipv6(payload, p)
			default:
				v.skip(&v.stats.NotIP, "NFLOG", fmt.Sprintf("address family %d, not IP", family))
			}
			return
		}
		rest = rest[min(len(rest), (tlen+3)&^3):]
	}
	if p.missing > 0 {
		v.notCapturedFrame("NFLOG", "the capture cut the frame before its payload TLV")
		return
	}
	v.skip(&v.stats.NotIP, "NFLOG", "no payload TLV")
}

// generic decodes data with gopacket.NewPacket, starting with dec, and
// judges the first IPv4 packet in it. It serves every link type and
// encapsulation (MPLS, PPPoE, LLC/SNAP, 802.11, ...) the DecodingLayer fast
// path does not take.
func (v *Verifier) generic(data []byte, dec gopacket.Decoder, p *pkt) {
	v.genericTrail(data, dec, 0, p)
}

// genericTrail is generic for data whose last trail bytes are not the
// frame's (an FCS gopacket computed).
func (v *Verifier) genericTrail(data []byte, dec gopacket.Decoder, trail int, p *pkt) {
	n := len(v.hops)
	defer v.pop(n)
	pk := gopacket.NewPacket(data, dec, gopacket.DecodeOptions{NoCopy: true})
	var prev gopacket.Layer
	for _, l := range pk.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			if off, ok := offsetIn(data, l.LayerContents()); ok && off <= len(data)-trail {
				v.ip(l.LayerType(), data[off:len(data)-trail], p)
				return
			}
		case gopacket.LayerTypeDecodeFailure:
			off, ok := offsetIn(data, l.LayerContents())
			if ok && prev != nil && off <= len(data)-trail {
				if t := nextIP(prev); t != gopacket.LayerTypeZero {
					v.ip(t, data[off:len(data)-trail], p)
					return
				}
			}
			field := fmt.Sprint(dec)
			if prev != nil {
				field = prev.LayerType().String() + " payload"
			}
			v.linkErr(field, data, p, l.(*gopacket.DecodeFailure).Error())
			return
		case layers.LayerTypeDot1Q:
			v.push(hop{kind: hopVLAN, id: uint32(l.(*layers.Dot1Q).VLANIdentifier)})
		case layers.LayerTypeMPLS:
			v.push(hop{kind: hopMPLS, id: l.(*layers.MPLS).Label})
		case layers.LayerTypePPPoE:
			v.push(hop{kind: hopPPPoE, id: uint32(l.(*layers.PPPoE).SessionId)})
		}
		prev = l
	}
	what := "no IP packet"
	if prev != nil {
		what = fmt.Sprintf("no IP packet after %v", prev.LayerType())
	}
	v.skip(&v.stats.NotIP, fmt.Sprint(dec), what)
}

// offsetIn finds where sub, a slice of data (gopacket decodes with NoCopy
// and so hands out slices of the frame), starts in data.
func offsetIn(data, sub []byte) (int, bool) {
	if len(sub) == 0 {
		return 0, false
	}
	off := cap(data) - cap(sub)
	if off < 0 || off >= len(data) || &data[off] != &sub[0] {
		return 0, false
	}
	return off, true
}

// ip judges an IPv4 or IPv6 packet (t its gopacket layer type).
func (v *Verifier) ip(t gopacket.LayerType, data []byte, p *pkt) {
	if t == layers.LayerTypeIPv6 {
		v.ipv6(data, p)
		return
	}
	v.ipv4(data, p)
}

// nextIP returns the IP layer type (IPv4 or IPv6) layer l says follows
// it, or LayerTypeZero, so that bytes gopacket failed to decode as IP (a
// malformed header) are still judged as ip_rcv_core (ip6_rcv_core) would
// judge them.
func nextIP(l gopacket.Layer) gopacket.LayerType {
	switch x := l.(type) {
	case *layers.PPP:
		switch x.PPPType {
		case layers.PPPTypeIPv4:
			return layers.LayerTypeIPv4
		case layers.PPPTypeIPv6:
			return layers.LayerTypeIPv6
		}
		return gopacket.LayerTypeZero
	case *layers.MPLS:
		if x.StackBottom && len(x.Payload) > 0 {
			switch x.Payload[0] >> 4 {
			case 4:
				return layers.LayerTypeIPv4
			case 6:
				return layers.LayerTypeIPv6
			}
		}
		return gopacket.LayerTypeZero
	}
	if d, ok := l.(interface{ NextLayerType() gopacket.LayerType }); ok {
		if t := d.NextLayerType(); t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			return t
		}
	}
	return gopacket.LayerTypeZero
}
