package verify

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

const udpHeaderLen = 8

// Checksum verdict strings (Verdict.Checksum).
const (
	csumOK      = "ok"
	csumNone    = "zero (none)"
	csumPartial = "partial (offload)"
	csumBad     = "bad"
)

// udpOutcome is what __udp4_lib_rcv decides about one (reassembled)
// datagram, up to the socket lookup.
type udpOutcome struct {
	sport, dport uint16
	ports        bool
	// plen is the payload length the header gives (UDP: the length
	// field less 8, after the trim; UDP-Lite: the datagram less 8), when
	// the header was seen; for a delivered datagram it is what the
	// socket gets.
	plen int
	// payload is the captured part of that payload.
	payload []byte
	// code is empty when the datagram passes; notCaptured is set instead
	// when the capture lacks bytes the verdict needs.
	code        Code
	notCaptured bool
	reason      string
	// checksum is one of the csum* strings or "coverage N".
	checksum string
	// field names the header field a failure is about, for Frames.
	field string
	note  string
}

// udpRcv judges the transport part of an IPv4 datagram (everything after
// the IP header, trimmed to tot_len and reassembled) as __udp4_lib_rcv does
// for proto IPPROTO_UDP or IPPROTO_UDPLITE, or of an IPv6 datagram (from
// the UDP header on, the packet trimmed to payload_len and reassembled) as
// __udp6_lib_rcv does. full is the part's length; p holds its first len(p)
// bytes, all of them unless the capture cut the frame:
//
//   - fewer than 8 bytes: drop, no room for the header;
//   - ulen (the length field; UDP-Lite: the checksum coverage) larger than
//     the datagram: "short packet";
//   - UDP only: ulen below 8 is a "short packet" (on IPv4 ulen 0
//     included: that is the GRO encoding of a >64 KiB packet and never
//     arrives from a wire; on IPv6 ulen 0 is the jumbo payload's and
//     stands for the whole datagram); ulen smaller than the datagram trims
//     it (pskb_trim_rcsum), which is not an error;
//   - udp4_csum_init: UDP checksum 0 means "none" and is accepted; on
//     IPv6 (udp6_csum_init, then the socket's udp_get_no_check6_rx) it is
//     dropped unless the receiving socket set UDP_NO_CHECK6_RX (allowZero6);
//     UDP-Lite runs udplite_checksum_init first: checksum 0 is refused,
//     coverage 0 means the whole datagram, coverage 1..7 is refused;
//   - udp_lib_checksum_complete: the one's-complement sum over the pseudo
//     header (length: the datagram's, for UDP-Lite too) and the covered
//     bytes must be 0xffff.
//
// A check that needs bytes the capture did not keep is not made: the
// outcome is "not captured", never a guess. A stored checksum equal to the
// folded pseudo-header sum is what udp4_hwcsum leaves for a
// CHECKSUM_PARTIAL offload; see the package documentation for why it
// passes with a note.
func udpRcv(src, dst netip.Addr, proto uint8, p []byte, full int, allowZero6 bool) udpOutcome {
	var o udpOutcome
	v6 := src.Is6()
	fn := "__udp4_lib_rcv"
	if v6 {
		fn = "__udp6_lib_rcv"
	}
	if full < udpHeaderLen {
		o.code, o.field = CodeUDPHeader, "UDP.Length"
		o.reason = fmt.Sprintf("%d bytes, no room for the UDP header (%s)", full, fn)
		return o
	}
	if len(p) < 4 {
		o.notCaptured = true
		o.reason = fmt.Sprintf("the capture kept %d bytes of the UDP header", len(p))
		return o
	}
	o.sport = binary.BigEndian.Uint16(p[0:2])
	o.dport = binary.BigEndian.Uint16(p[2:4])
	o.ports = true
	if len(p) < udpHeaderLen {
		o.notCaptured = true
		o.reason = fmt.Sprintf("the capture kept %d bytes of the UDP header", len(p))
		return o
	}
	ulen := int(binary.BigEndian.Uint16(p[4:6]))
	check := binary.BigEndian.Uint16(p[6:8])
	name := "UDP"
	if proto == protoUDPLite {
		name = "UDPLite"
	}
	if proto == protoUDP && v6 && ulen == 0 {
		// __udp6_lib_rcv: "Check for jumbo payload".
		ulen = full
	}
	if proto == protoUDP {
		o.plen = max(ulen-udpHeaderLen, 0)
	} else {
		o.plen = full - udpHeaderLen
	}
	if ulen > full {
		o.code, o.field = CodeUDPShort, name+".Length"
		o.reason = fmt.Sprintf("short packet: length field %d > %d bytes (%s)", ulen, full, fn)
		return o
	}
	notCaptured := func(need int) udpOutcome {
		o.notCaptured = true
		o.reason = fmt.Sprintf("checksum not verified: it covers %d bytes, the capture kept %d", need, len(p))
		return o
	}
	if proto == protoUDP {
		if ulen < udpHeaderLen {
			o.code, o.field = CodeUDPLength, "UDP.Length"
			o.reason = fmt.Sprintf("short packet: length field %d < 8 (%s)", ulen, fn)
			return o
		}
		if ulen < full {
			o.note = fmt.Sprintf("UDP length %d < %d bytes after the IP header: trimmed (pskb_trim_rcsum)", ulen, full)
			full = ulen
			p = p[:min(len(p), ulen)]
		}
		o.payload = p[udpHeaderLen:]
		if check == 0 {
			o.checksum = csumNone
			if v6 && !allowZero6 {
				o.code, o.field = CodeUDP6ZeroChecksum, "UDP.Checksum"
				o.reason = "UDP checksum 0 over IPv6: dropped unless the socket set UDP_NO_CHECK6_RX (__udp6_lib_rcv, udp_get_no_check6_rx)"
			}
			return o
		}
		if len(p) < full {
			return notCaptured(full)
		}
		acc := sum16(pseudoSum(src, dst, proto, full), p)
		if fold16(acc) == 0xffff {
			o.checksum = csumOK
			return o
		}
		if check == fold16(pseudoSum(src, dst, proto, full)) {
			o.checksum = csumPartial
			o.note = appendNote(o.note, "checksum field holds the pseudo-header sum: CHECKSUM_PARTIAL seen before the device filled it in (capture on the sending host); counted as delivered")
			return o
		}
		o.checksum, o.code, o.field = csumBad, CodeUDPChecksum, "UDP.Checksum"
		o.reason = fmt.Sprintf("bad checksum 0x%04x (udp_lib_checksum_complete)", check)
		return o
	}
	// UDP-Lite: udplite_checksum_init.
	o.payload = p[udpHeaderLen:]
	if check == 0 {
		o.checksum, o.code, o.field = csumBad, CodeUDPLiteZero, "UDPLite.Checksum"
		o.reason = "UDP-Lite checksum 0 is not allowed (udplite_checksum_init)"
		return o
	}
	cscov := ulen
	if cscov == 0 {
		cscov = full
	} else if cscov < udpHeaderLen {
		o.code, o.field = CodeUDPLiteCoverage, "UDPLite.ChecksumCoverage"
		o.reason = fmt.Sprintf("bad checksum coverage %d/%d (udplite_checksum_init)", cscov, full)
		return o
	}
	if len(p) < cscov {
		return notCaptured(cscov)
	}
	acc := sum16(pseudoSum(src, dst, proto, full), p[:cscov])
	if fold16(acc) != 0xffff {
		o.checksum, o.code, o.field = csumBad, CodeUDPChecksum, "UDPLite.Checksum"
		o.reason = fmt.Sprintf("bad checksum 0x%04x over %d of %d bytes (udp_lib_checksum_complete)", check, cscov, full)
		return o
	}
	if cscov < full {
		o.checksum = fmt.Sprintf("coverage %d", cscov)
	} else {
		o.checksum = csumOK
	}
	return o
}

// appendNote joins notes with "; ".
func appendNote(note, more string) string {
	if note == "" {
		return more
	}
	return note + "; " + more
}
