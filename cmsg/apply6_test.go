package cmsg

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
)

func int6(typ int32, v int32) Msg {
	d := make([]byte, 4)
	binary.NativeEndian.PutUint32(d, uint32(v))
	return Msg{Level: SolIPv6, Type: typ, Data: d}
}

// TestApply6 holds ip6_datagram_send_ctl to the study's live answers
// (docs/ipv6-study.md section 4).
func TestApply6(t *testing.T) {
	local := func(a netip.Addr) bool { return a == netip.MustParseAddr("fd00::1") }
	hop8 := []byte{0, 0, 1, 4, 0, 0, 0, 0}
	pkt := func(a string) Msg {
		b := netip.MustParseAddr(a).As16()
		return Msg{Level: SolIPv6, Type: IPv6PktInfo, Data: append(b[:], 0, 0, 0, 0)}
	}
	start := Cookie6{HopLimit: -1}
	cases := []struct {
		name string
		msgs []Msg
		err  errno.Errno
		chk  func(Cookie6) bool
	}{
		{"TCLASS -1", []Msg{int6(IPv6TClass, -1)}, 0, func(c Cookie6) bool { return c.TClass == -1 && c.NeedIP6 }},
		{"TCLASS 256", []Msg{int6(IPv6TClass, 256)}, errno.EINVAL, nil},
		{"HOPLIMIT 0", []Msg{int6(IPv6HopLimit, 0)}, 0, func(c Cookie6) bool { return c.HopLimit == 0 }},
		{"HOPLIMIT 256", []Msg{int6(IPv6HopLimit, 256)}, errno.EINVAL, nil},
		{"HOPLIMIT short", []Msg{{Level: SolIPv6, Type: IPv6HopLimit, Data: []byte{1, 0}}}, errno.EINVAL, nil},
		{"DONTFRAG 2", []Msg{int6(IPv6DontFrag, 2)}, errno.EINVAL, nil},
		{"DONTFRAG 0 overrides", []Msg{int6(IPv6DontFrag, 0)}, 0, func(c Cookie6) bool { return c.DontFrag == 0 }},
		{"unknown type", []Msg{int6(200, 0)}, errno.EINVAL, nil},
		{"FLOWINFO", []Msg{{Level: SolIPv6, Type: IPv6FlowInfo, Data: []byte{0, 0x05, 0x43, 0x21}}}, 0, func(c Cookie6) bool { return c.FlowLabel == 0x54321 }},
		{"HOPOPTS", []Msg{{Level: SolIPv6, Type: IPv6HopOpts, Data: hop8}}, 0, func(c Cookie6) bool { return c.NFLen == 8 && len(c.HopOpt) == 8 }},
		{"HOPOPTS twice", []Msg{{Level: SolIPv6, Type: IPv6HopOpts, Data: hop8}, {Level: SolIPv6, Type: IPv6HopOpts, Data: hop8}}, errno.EINVAL, nil},
		{"HOPOPTS shorter than stated", []Msg{{Level: SolIPv6, Type: IPv6HopOpts, Data: []byte{0, 1, 1, 4, 0, 0, 0, 0}}}, errno.EINVAL, nil},
		{"DSTOPTS twice: replaced, counted once", []Msg{{Level: SolIPv6, Type: IPv6DstOpts, Data: hop8}, {Level: SolIPv6, Type: IPv6DstOpts, Data: hop8}}, 0, func(c Cookie6) bool { return c.FLen == 8 && len(c.Dst1Opt) == 8 }},
		{"DSTOPTS 16 then 8: the last counts", []Msg{{Level: SolIPv6, Type: IPv6DstOpts, Data: []byte{0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, {Level: SolIPv6, Type: IPv6DstOpts, Data: hop8}}, 0, func(c Cookie6) bool { return c.FLen == 8 && len(c.Dst1Opt) == 8 }},
		{"RTHDRDSTOPTS twice: counted once", []Msg{{Level: SolIPv6, Type: IPv6RthdrDstOpts, Data: hop8}, {Level: SolIPv6, Type: IPv6RthdrDstOpts, Data: hop8}}, 0, func(c Cookie6) bool { return c.NFLen == 8 && len(c.Dst0Opt) == 8 }},
		{"RTHDR type 2 without MIP6", []Msg{{Level: SolIPv6, Type: IPv6Rthdr, Data: make([]byte, 24)}}, errno.EINVAL, nil},
		{"PKTINFO local", []Msg{pkt("fd00::1")}, 0, func(c Cookie6) bool { return c.HasSaddr }},
		{"PKTINFO not local", []Msg{pkt("fd00::99")}, errno.EINVAL, nil},
		{"PKTINFO v4-mapped", []Msg{pkt("::ffff:10.0.0.1")}, errno.EINVAL, nil},
		{"PKTINFO ::", []Msg{pkt("::")}, 0, func(c Cookie6) bool { return !c.HasSaddr }},
		{"SOL_IP ignored", []Msg{{Level: SolIP, Type: IPTTL, Data: []byte{0, 0, 0, 0}}}, 0, func(c Cookie6) bool { return c.NeedIP6 }},
		{"UDP_SEGMENT only", []Msg{{Level: SolUDP, Type: UDPSegment, Data: []byte{0xe8, 0x03}}}, 0, func(c Cookie6) bool { return !c.NeedIP6 && c.HasGSOSize }},
	}
	for _, c := range cases {
		got, err := Apply6(c.msgs, start, local)
		var e errno.Errno
		if err != nil {
			if !errors.As(err, &e) {
				e, _ = errno.From(err)
			}
		}
		if e != c.err {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil && (got.HopLimit != start.HopLimit || got.NeedIP6) {
			t.Errorf("%s: the cookie changed on error: %+v", c.name, got)
		}
		if c.chk != nil && !c.chk(got) {
			t.Errorf("%s: cookie %+v", c.name, got)
		}
	}
}

// TestIPCmsgSendAllowIPv6: on an AF_INET6 socket's IPv4 send, an
// IPV6_PKTINFO with a v4-mapped address acts as IP_PKTINFO and any other
// is EINVAL; other SOL_IPV6 messages are ignored.
func TestIPCmsgSendAllowIPv6(t *testing.T) {
	mapped := netip.MustParseAddr("::ffff:10.0.0.1").As16()
	plain := netip.MustParseAddr("fd00::1").As16()
	c, err := Apply([]Msg{{Level: SolIPv6, Type: IPv6PktInfo, Data: append(mapped[:], 0, 0, 0, 0)}, int6(IPv6TClass, 3)}, Cookie{TOS: -1, AllowIPv6: true})
	if err != nil || !c.HasPktInfo || c.SpecDst != [4]byte{10, 0, 0, 1} || c.TOS != -1 {
		t.Errorf("mapped PKTINFO: %+v, %v", c, err)
	}
	if _, err := Apply([]Msg{{Level: SolIPv6, Type: IPv6PktInfo, Data: append(plain[:], 0, 0, 0, 0)}}, Cookie{AllowIPv6: true}); err == nil {
		t.Error("a non-mapped IPV6_PKTINFO on an IPv4 send was accepted")
	}
	if c, err := Apply([]Msg{{Level: SolIPv6, Type: IPv6PktInfo, Data: append(plain[:], 0, 0, 0, 0)}}, Cookie{}); err != nil || c.HasPktInfo {
		t.Errorf("AF_INET socket: SOL_IPV6 must be ignored: %+v %v", c, err)
	}
}
