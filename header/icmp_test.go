package header

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ICMPError.Build writes a frame whose IPv4 header checksum and ICMP
// checksum (ICMPv6's with its pseudo-header) verify, with the fields given.
func TestICMPErrorBuild(t *testing.T) {
	quote := make([]byte, 48)
	quote[0] = 0x45
	e := ICMPError{SrcMAC: [6]byte{2, 0, 0, 0, 0, 2}, DstMAC: [6]byte{2, 0, 0, 0, 0, 1},
		Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.1"), Type: 3, Code: 4, Info: 1280, Quote: quote}
	b := e.Build(nil)
	ip := IPv4(b[EthernetLen:])
	if binary.BigEndian.Uint16(b[12:]) != 0x0800 || ip.TotalLength() != 20+8+48 || ip.ID() != ICMPErrorIPID || ip.TOS() != ICMPErrorTOS ||
		ip.Protocol() != 1 || ip.Src() != e.Src || ip.Dst() != e.Dst || Checksum(ip[:20], 0) != 0xffff {
		t.Fatalf("IPv4 header % x", b[EthernetLen:EthernetLen+20])
	}
	ic := b[EthernetLen+20:]
	if ic[0] != 3 || ic[1] != 4 || binary.BigEndian.Uint32(ic[4:]) != 1280 || Checksum(ic, 0) != 0xffff {
		t.Fatalf("ICMP % x", ic[:8])
	}
	q6 := make([]byte, 48)
	q6[0] = 0x60
	e6 := ICMPError{Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("fd00::1"), Type: 2, Info: 1280, Quote: q6}
	b = e6.Build(nil)
	h := IPv6(b[EthernetLen:])
	body := b[EthernetLen+IPv6MinLen:]
	if h.NextHeader() != 58 || int(h.PayloadLength()) != 8+48 ||
		Checksum(body, PseudoHeaderSum6(e6.Src.As16(), e6.Dst.As16(), 58, uint32(len(body)))) != 0xffff {
		t.Fatalf("ICMPv6 % x", body[:8])
	}
}
