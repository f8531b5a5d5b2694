package verify

import (
	"encoding/binary"
	"fmt"
)

// IPv4 header constants (include/net/ip.h).
const (
	ipHeaderMin  = 20
	ipFlagMF     = 0x2000
	ipOffsetMask = 0x1fff
	// ipMaxTotLen is IPV4_MAX_TOT_LEN: a reassembled datagram may not be
	// larger.
	ipMaxTotLen = 65535

	protoUDP     = 17
	protoUDPLite = 136
)

// IP option types ip_options_compile looks at (include/uapi/linux/ip.h).
const (
	ipoptEnd       = 0
	ipoptNoop      = 1
	ipoptRR        = 7
	ipoptTimestamp = 68
	ipoptLSRR      = 131
	ipoptSSRR      = 137
	ipoptRA        = 148
	ipoptCIPSO     = 134
	// Timestamp flags (low nibble of the fourth byte).
	ipoptTSAndAddr = 1
	ipoptTSPrespec = 3
)

// ipv4Header is a byte-slice view of an IPv4 header, at least 20 bytes long.
// Judge reads headers through this view rather than through gopacket's IPv4
// layer because it must see the bytes exactly as ip_rcv_core does, before
// any length has been trusted; gopacket refuses or silently adjusts some of
// the malformed headers whose fate we need to report.
type ipv4Header []byte

func (h ipv4Header) version() int    { return int(h[0] >> 4) }
func (h ipv4Header) ihl() int        { return int(h[0]&0x0f) * 4 }
func (h ipv4Header) tos() uint8      { return h[1] }
func (h ipv4Header) totalLen() int   { return int(binary.BigEndian.Uint16(h[2:4])) }
func (h ipv4Header) id() uint16      { return binary.BigEndian.Uint16(h[4:6]) }
func (h ipv4Header) fragOff() uint16 { return binary.BigEndian.Uint16(h[6:8]) }
func (h ipv4Header) proto() uint8    { return h[9] }
func (h ipv4Header) src() [4]byte    { return [4]byte(h[12:16]) }
func (h ipv4Header) dst() [4]byte    { return [4]byte(h[16:20]) }

// more reports the MF flag; offset is the fragment offset in bytes.
func (h ipv4Header) more() bool  { return h.fragOff()&ipFlagMF != 0 }
func (h ipv4Header) offset() int { return int(h.fragOff()&ipOffsetMask) * 8 }

// isFragment mirrors ip_is_fragment: MF set or a nonzero offset.
func (h ipv4Header) isFragment() bool { return h.fragOff()&(ipFlagMF|ipOffsetMask) != 0 }

// optionsCheck mirrors ip_options_compile for a received packet (skb set):
// it returns a non-empty complaint where the kernel returns -EINVAL and
// reports whether a source-route option is present, which ip_rcv_options
// then refuses unless accept_source_route allows it.
func optionsCheck(opts []byte) (srr bool, complaint string) {
	var seenRR, seenTS, seenCIPSO bool
	complaint = optionWalk(opts, func(p []byte) string {
		optlen := len(p)
		switch p[0] {
		case ipoptLSRR, ipoptSSRR:
			if optlen < 3 || p[2] < 4 {
				return fmt.Sprintf("source route option length %d pointer %d", optlen, ptrOf(p, optlen))
			}
			if srr {
				return "second source route option"
			}
			srr = true
		case ipoptRR:
			if seenRR {
				return "second record-route option"
			}
			seenRR = true
			if optlen < 3 || p[2] < 4 {
				return fmt.Sprintf("record-route option length %d pointer %d", optlen, ptrOf(p, optlen))
			}
			if int(p[2]) <= optlen && int(p[2])+3 > optlen {
				return fmt.Sprintf("record-route pointer %d leaves no room in %d bytes", p[2], optlen)
			}
		case ipoptTimestamp:
			if seenTS {
				return "second timestamp option"
			}
			seenTS = true
			if optlen < 4 || p[2] < 5 {
				return fmt.Sprintf("timestamp option length %d pointer %d", optlen, ptrOf(p, optlen))
			}
			ptr := int(p[2])
			if ptr <= optlen {
				if ptr+3 > optlen {
					return fmt.Sprintf("timestamp pointer %d leaves no room in %d bytes", ptr, optlen)
				}
				if f := p[3] & 0x0f; (f == ipoptTSAndAddr || f == ipoptTSPrespec) && ptr+7 > optlen {
					return fmt.Sprintf("timestamp pointer %d leaves no room for address and time", ptr)
				}
			} else if p[3]>>4 == 15 {
				return "timestamp overflow counter is full"
			}
		case ipoptRA:
			if optlen < 4 {
				return fmt.Sprintf("router-alert option length %d", optlen)
			}
		case ipoptCIPSO:
			// cipso_v4_validate checks the tags; we only refuse a
			// repeated option.
			if seenCIPSO {
				return "second CIPSO option"
			}
			seenCIPSO = true
		}
		return ""
	})
	return srr, complaint
}

// optionsStructure checks only that the option area is a well-formed
// sequence of options (every length byte present and in range). A sender's
// frames are held to this: the kernel itself sends options that a Linux
// receiver's ip_options_compile would refuse (a timestamp option filled to
// the point where no whole entry fits, say), and that is not an
// inconsistency of the frame.
func optionsStructure(opts []byte) string {
	return optionWalk(opts, func([]byte) string { return "" })
}

// optionWalk steps through an option area as ip_options_compile does
// (IPOPT_END ends it, IPOPT_NOOP is one byte, any other option needs a
// length byte of 2 up to what is left) and calls each with every other
// option's bytes. It returns the first complaint: its own about the
// structure, or each's. verify keeps this walk of its own rather than
// header.WalkIPv4Options, which the model's option code uses, so that a
// mistake in the model's walk cannot hide in the check of its output.
func optionWalk(opts []byte, each func(opt []byte) string) string {
	for l := len(opts); l > 0; {
		p := opts[len(opts)-l:]
		switch p[0] {
		case ipoptEnd:
			return ""
		case ipoptNoop:
			l--
			continue
		}
		if l < 2 {
			return fmt.Sprintf("option %d at byte %d has no length", p[0], len(opts)-l)
		}
		optlen := int(p[1])
		if optlen < 2 || optlen > l {
			return fmt.Sprintf("option %d length %d outside 2..%d", p[0], optlen, l)
		}
		if c := each(p[:optlen]); c != "" {
			return c
		}
		l -= optlen
	}
	return ""
}

// ptrOf returns an option's pointer byte, or 0 when the option is too short
// to have one.
func ptrOf(p []byte, optlen int) int {
	if optlen < 3 {
		return 0
	}
	return int(p[2])
}

// martian reports why ip_route_input_slow would refuse a source address, or
// "" if it would not on address class alone.
func martian(src, dst [4]byte) string {
	switch {
	case src[0] >= 224 && src[0] <= 239:
		return "multicast source address"
	case src == [4]byte{255, 255, 255, 255}:
		return "limited-broadcast source address"
	case src[0] == 0 && dst != [4]byte{255, 255, 255, 255}:
		return "source address in 0.0.0.0/8"
	}
	return ""
}
