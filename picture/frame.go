package picture

import (
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// Frame is one frame of a step: its provenance and its bytes cut into the
// headers and the payload they carry.
type Frame struct {
	// N numbers the frames drawn from 0, in the run's order; the HTML
	// report links frame N of its table to the picture's frame-N.
	N int
	report.Frame
	// Spans are the frame's parts in order, their Bytes adding up to
	// Len.
	Spans []Span
}

// Span is one part of a frame: a header or the data after them.
type Span struct {
	// Name is the part ("Ethernet", "IPv4", "IPv4 options", "IPv6",
	// "Hop-by-hop", "Fragment", "UDP", "UDP-Lite", "ICMP", "data").
	Name string
	// Bytes is its length.
	Bytes int
	// Label is what its fields say, as explain would name them ("ID
	// 4233 DF", "offset 1480 MF", "csum 0x1c2d").
	Label string
}

// IP protocol numbers of what a frame may carry.
const (
	protoICMP    = 1
	protoUDP     = 17
	protoICMPv6  = 58
	protoUDPLite = 136
	protoFrag6   = 44
)

// decode cuts f's bytes into spans. It never fails: what it cannot read
// is data.
func decode(n int, f report.Frame) Frame {
	out := Frame{N: n, Frame: f}
	out.Frame.Data = nil
	b := f.Data
	add := func(name string, k int, label string) {
		k = min(k, len(b))
		if k <= 0 {
			return
		}
		out.Spans = append(out.Spans, Span{Name: name, Bytes: k, Label: label})
		b = b[k:]
	}
	if len(b) >= 14 {
		etype := binary.BigEndian.Uint16(b[12:])
		add("Ethernet", 14, fmt.Sprintf("%x > %x type 0x%04x", b[6:12], b[0:6], etype))
		switch etype {
		case 0x0800:
			decode4(b, add)
		case 0x86dd:
			decode6(b, add)
		}
	}
	// What no header claims is data (the payload, a fragment's piece of
	// it, or bytes too broken to read).
	add("data", len(b), fmt.Sprintf("%d bytes", len(b)))
	return out
}

// decode4 cuts an IPv4 packet: header, options, then the transport header
// when the packet carries the datagram's start.
func decode4(b []byte, add func(string, int, string)) {
	if len(b) < header.IPv4MinLen {
		return
	}
	h := header.IPv4(b)
	ihl := h.IHL()
	if ihl < header.IPv4MinLen || ihl > len(b) {
		return
	}
	fw := h.FragWord()
	flags := ""
	if fw&header.IPv4DF != 0 {
		flags += " DF"
	}
	if fw&header.IPv4MF != 0 {
		flags += " MF"
	}
	off := h.FragOffset()
	label := fmt.Sprintf("tot_len %d ID %d%s", h.TotalLength(), h.ID(), flags)
	if off > 0 || fw&header.IPv4MF != 0 {
		label += fmt.Sprintf(" offset %d", off)
	}
	label += fmt.Sprintf(" TTL %d TOS 0x%02x csum 0x%04x", h.TTL(), h.TOS(), h.Checksum())
	proto := h.Protocol()
	add("IPv4", header.IPv4MinLen, label)
	add("IPv4 options", ihl-header.IPv4MinLen, fmt.Sprintf("%d bytes of options", ihl-header.IPv4MinLen))
	if off == 0 {
		transport(b[ihl:], proto, add)
	}
}

// decode6 cuts an IPv6 packet: the fixed header, each extension header
// (the fragment header among them), then the transport header when the
// packet carries the datagram's start.
func decode6(b []byte, add func(string, int, string)) {
	if len(b) < header.IPv6MinLen {
		return
	}
	h := header.IPv6(b)
	add("IPv6", header.IPv6MinLen, fmt.Sprintf("payload_len %d flow 0x%05x tclass 0x%02x hlim %d", h.PayloadLength(), h.FlowLabel(), h.TrafficClass(), h.HopLimit()))
	rest := b[header.IPv6MinLen:]
	next := h.NextHeader()
	first := true
	for range 16 { // more would be a malformed chain; stop drawing headers
		if next == protoFrag6 {
			if len(rest) < header.IPv6FragmentLen {
				return
			}
			fh := header.IPv6Fragment(rest)
			m := ""
			if fh.More() {
				m = " M"
			}
			add("Fragment", header.IPv6FragmentLen, fmt.Sprintf("id 0x%08x offset %d%s", fh.ID(), fh.Offset(), m))
			first = fh.Offset() == 0
			next, rest = fh.NextHeader(), rest[header.IPv6FragmentLen:]
			continue
		}
		n, ok := header.IPv6ExtLen(next, rest)
		if !ok {
			break
		}
		add(extName(next), n, fmt.Sprintf("%d bytes", n))
		next, rest = rest[0], rest[n:]
	}
	if first {
		transport(rest, next, add)
	}
}

func extName(typ uint8) string {
	switch typ {
	case 0:
		return "Hop-by-hop"
	case 43:
		return "Routing"
	case 60:
		return "Destination options"
	}
	return fmt.Sprintf("header %d", typ)
}

// transport cuts the transport header of a datagram's first packet.
func transport(b []byte, proto uint8, add func(string, int, string)) {
	if len(b) < 8 {
		return
	}
	switch proto {
	case protoUDP, protoUDPLite:
		name, second := "UDP", "len"
		if proto == protoUDPLite {
			name, second = "UDP-Lite", "cscov"
		}
		add(name, 8, fmt.Sprintf("%d > %d %s %d csum 0x%04x", binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), second,
			binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])))
	case protoICMP, protoICMPv6:
		add("ICMP", 8, fmt.Sprintf("type %d code %d", b[0], b[1]))
	}
}
