package compare

import (
	"net/netip"
	"testing"

	"github.com/udpbuild/udpbuild/header"
)

// A router's ICMP quotes the sender's datagram with its IP timestamp
// option, whose values are each side's clock: excused, as in the sender's
// own frames; any other quoted byte is not.
func TestICMPQuoteTimestampsExcused(t *testing.T) {
	quote := func(ts byte, id byte) []byte {
		q := make([]byte, 40)
		q[0] = 0x45 + 3 // ihl 8: 12 bytes of options
		q[4] = id
		q[9] = 17
		copy(q[20:], []byte{0x44, 12, 9, 0, 0, 0, 0, ts, 0, 0, 0, 0}) // one stamped slot
		header.IPv4(q).SetChecksum()
		return q
	}
	msg := func(q []byte) []byte {
		e := header.ICMPError{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), Type: 3, Code: 4, Info: 1280, Quote: q}
		return e.Build(nil)[header.EthernetLen+header.IPv4MinLen:]
	}
	if d := compareICMP(msg(quote(1, 7)), msg(quote(2, 9)), true, [2]uint32{}); len(d) != 0 {
		t.Errorf("timestamps and ID differ only: %v", d)
	}
	q := quote(1, 7)
	q[30] = 0x55 // an unstamped slot: not a clock value
	if d := compareICMP(msg(quote(1, 7)), msg(q), true, [2]uint32{}); len(d) == 0 {
		t.Error("a difference beyond the timestamp values was excused")
	}
}

// A quoted IPv6 fragment's identification is random per datagram: excused.
func TestICMPQuoteFragIDExcused(t *testing.T) {
	quote := func(id byte) []byte {
		q := make([]byte, 56)
		q[0] = 0x60
		q[6] = header.NextHdrFragment
		q[40] = 17
		q[43] = 1 // M flag
		q[47] = id
		return q
	}
	src, dst := netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1")
	msg := func(q []byte) ([]byte, uint32) {
		e := header.ICMPError{Src: src, Dst: dst, Type: 2, Info: 1280, Quote: q}
		b := e.Build(nil)
		return b[header.EthernetLen+header.IPv6MinLen:], pseudoSum6(header.IPv6(b[header.EthernetLen:]), len(b)-header.EthernetLen-header.IPv6MinLen)
	}
	k, ks := msg(quote(1))
	m, ms := msg(quote(2))
	if d := compareICMP(k, m, false, [2]uint32{ks, ms}); len(d) != 0 {
		t.Errorf("fragment identifications differ only: %v", d)
	}
}
