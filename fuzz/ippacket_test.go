package fuzz

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// ipPkt is the IP packet of one frame, IPv4 or IPv6, read as far as the
// invariants need: its length, whether it is a fragment and where, and
// where the bytes a fragment carries begin.
type ipPkt struct {
	v6 bool
	// ip is the packet, cut to its length (IPv4 total length; IPv6 the
	// fixed header and payload_len).
	ip []byte
	// frag says the packet is a fragment: IPv4 MF or a nonzero offset,
	// IPv6 a fragment header (the kernel never sends atomic fragments,
	// so every one it sends belongs to a datagram cut in pieces).
	frag, more bool
	// off is the fragment offset in bytes; id the identification (IPv4's
	// 16 bits, or the fragment header's 32).
	off int
	id  uint32
	// hlen is the length of the part before body: the IPv4 header; for
	// IPv6 the fixed header and the extension headers before the fragment
	// header (the unfragmentable part ip6_fragment repeats in every
	// fragment) or, in a packet that is no fragment, every extension
	// header.
	hlen int
	// proto is what body starts with: the upper-layer protocol, or for an
	// IPv6 fragment the fragment header's next header (what starts the
	// fragmentable part once put back together, perhaps IPV6_DSTOPTS).
	proto uint8
	// body is a fragment's piece (after the fragment header for IPv6),
	// else the transport header and payload.
	body []byte
}

// parseIP reads the IP packet of an Ethernet frame: IPv4 for EtherType
// 0x0800, IPv6 for 0x86DD, anything else is an error.
func parseIP(frame []byte) (ipPkt, error) {
	if len(frame) < header.EthernetLen {
		return ipPkt{}, fmt.Errorf("%d-byte frame", len(frame))
	}
	switch et := binary.BigEndian.Uint16(frame[12:]); et {
	case header.EtherTypeIPv4:
		ip, err := ipPacket(frame)
		if err != nil {
			return ipPkt{}, err
		}
		mf := ip.FragWord()&header.IPv4MF != 0
		return ipPkt{
			ip: ip, frag: mf || ip.FragOffset() != 0, more: mf, off: ip.FragOffset(), id: uint32(ip.ID()),
			hlen: ip.IHL(), proto: ip.Protocol(), body: ip[ip.IHL():],
		}, nil
	case header.EtherTypeIPv6:
		return ipv6Packet(frame[header.EthernetLen:])
	default:
		return ipPkt{}, fmt.Errorf("Ethernet type %#04x", et)
	}
}

// ipPacket returns the IPv4 packet of an Ethernet frame, cut to its total
// length.
func ipPacket(frame []byte) (header.IPv4, error) {
	if len(frame) < header.EthernetLen+header.IPv4MinLen {
		return nil, fmt.Errorf("%d-byte frame", len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != header.EtherTypeIPv4 {
		return nil, fmt.Errorf("Ethernet type %#04x", et)
	}
	ip := header.IPv4(frame[header.EthernetLen:])
	tl := int(ip.TotalLength())
	if ip[0]>>4 != 4 || ip.IHL() < header.IPv4MinLen || tl < ip.IHL() || tl > len(ip) {
		return nil, fmt.Errorf("bad IPv4 header (version/IHL %#02x, total length %d, %d bytes)", ip[0], tl, len(ip))
	}
	return ip[:tl], nil
}

// ipv6Packet reads an IPv6 packet: the fixed header, payload_len exactly
// the bytes that follow (an IPv6 frame is never short enough to be
// padded: 14 + 40 + 8 > 60), and the extension-header chain walked to the
// fragment header or the upper layer.
func ipv6Packet(b []byte) (ipPkt, error) {
	ip := header.IPv6(b)
	if len(ip) < header.IPv6MinLen || ip.Version() != 6 {
		return ipPkt{}, fmt.Errorf("bad IPv6 header (%d bytes)", len(ip))
	}
	if n := header.IPv6MinLen + int(ip.PayloadLength()); ip.PayloadLength() == 0 || n != len(ip) {
		return ipPkt{}, fmt.Errorf("IPv6 payload length %d in %d bytes", ip.PayloadLength(), len(ip))
	}
	p := ipPkt{v6: true, ip: ip}
	w := header.WalkIPv6Ext(ip.NextHeader(), ip[header.IPv6MinLen:])
	for w.Next() {
		h := w.Header()
		if f, ok := h.Fragment(); ok {
			p.frag, p.more, p.off, p.id = true, f.More(), f.Offset(), f.ID()
			p.hlen, p.proto = header.IPv6MinLen+h.Offset, f.NextHeader()
			p.body = ip[p.hlen+header.IPv6FragmentLen:]
			return p, nil
		}
	}
	if err := w.Err(); err != nil {
		return ipPkt{}, err
	}
	proto, off := w.Upper()
	p.hlen, p.proto = header.IPv6MinLen+off, proto
	p.body = ip[p.hlen:]
	return p, nil
}

// sameUnfragmentable reports whether two IPv6 fragments repeat the same
// unfragmentable part (fixed header and the extension headers before the
// fragment header), payload_len aside.
func sameUnfragmentable(a, b ipPkt) bool {
	const pl = header.IPv6PayloadLenOffset
	return a.hlen == b.hlen && bytes.Equal(a.ip[:pl], b.ip[:pl]) && bytes.Equal(a.ip[pl+2:a.hlen], b.ip[pl+2:b.hlen])
}

// upperV6 walks the extension headers that start a reassembled IPv6
// fragmentable part (IPV6_DSTOPTS after a routing header) from next
// header first, and returns the upper-layer protocol and its bytes.
func upperV6(first uint8, b []byte) (uint8, []byte, error) {
	w := header.WalkIPv6Ext(first, b)
	for w.Next() {
		if w.Header().Type == header.NextHdrFragment {
			return 0, nil, fmt.Errorf("a second fragment header at offset %d of the reassembled part", w.Header().Offset)
		}
	}
	if err := w.Err(); err != nil {
		return 0, nil, err
	}
	proto, off := w.Upper()
	return proto, b[off:], nil
}

// fragSizes gives, for each step, the IPv6 socket's IPV6_MTU
// (np->frag_size) when that step's frames were made: 0 for none, -1 when
// it is not known. ip6_fragment reads np->frag_size as it fragments, so a
// datagram corked under one value and pushed under another is cut at the
// second; a setsockopt step's push (UDP_CORK 0) sees the options before
// it in the list. After a failed set-up option or step the value is kept
// (a failed setsockopt changes nothing), but a failed step that sets
// IPV6_MTU among other options leaves it unknown, which option failed,
// until a step sets it again.
func fragSizes(sc *scenario.Scenario, rep *report.Report) []int {
	fs := 0
	for k, o := range sc.Socket.Setsockopt {
		if o.Name == scenario.OptIPv6MTU && k < len(rep.Setup) && rep.Setup[k].Err == 0 {
			fs = o.Int
		}
	}
	out := make([]int, len(sc.Steps))
	for i, st := range sc.Steps {
		out[i] = fs
		if st.Send != nil || i >= len(rep.Steps) {
			continue
		}
		failed := rep.Steps[i].Err != 0
		for _, o := range st.Setsockopt {
			switch {
			case o.Name == scenario.OptUDPCork && o.Int == 0:
				out[i] = fs
			case o.Name != scenario.OptIPv6MTU:
			case !failed:
				fs = o.Int
			case len(st.Setsockopt) > 1:
				fs = -1
			}
		}
	}
	return out
}
