package kernel

import (
	"encoding/binary"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/report"
)

func TestRenderCmsg(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	pkt := append(u32(2), 10, 0, 0, 2, 10, 0, 0, 9)
	pkt6 := append([]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, u32(3)...)
	ee := append(append(u32(uint32(unix.ECONNREFUSED)), 2, 3, 3, 0), append(u32(0), u32(0)...)...)
	ee = append(ee, 2, 0, 0, 0, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0) // sockaddr_in 10.0.0.2
	for _, c := range []struct {
		level, typ int
		data       []byte
		want       report.Cmsg
	}{
		{solUDP, unix.UDP_GRO, u32(1400), report.Cmsg{Name: "UDP_GRO", Value: "1400"}},
		{unix.SOL_IP, unix.IP_TOS, []byte{0xb8}, report.Cmsg{Name: "IP_TOS", Value: "0xb8"}},
		{unix.SOL_IP, unix.IP_TTL, u32(64), report.Cmsg{Name: "IP_TTL", Value: "64"}},
		{unix.SOL_IP, unix.IP_PKTINFO, pkt, report.Cmsg{Name: "IP_PKTINFO", Value: "ifindex=2 spec_dst=10.0.0.2 addr=10.0.0.9"}},
		{unix.SOL_IP, unix.IP_RECVOPTS, []byte{1, 1}, report.Cmsg{Name: "IP_RECVOPTS", Value: "0101"}},
		{unix.SOL_IP, unix.IP_RETOPTS, nil, report.Cmsg{Name: "IP_RETOPTS", Value: ""}},
		{unix.SOL_IP, unix.IP_RECVERR, ee, report.Cmsg{Name: "IP_RECVERR", Value: "ee_errno=ECONNREFUSED origin=icmp type=3 code=3 info=0 data=0 offender=10.0.0.2"}},
		{unix.SOL_IP, unix.IP_RECVERR, u32(111), report.Cmsg{Name: "IP_RECVERR", Value: "hex=6f000000"}},
		{unix.SOL_IPV6, unix.IPV6_PKTINFO, pkt6, report.Cmsg{Name: "IPV6_PKTINFO", Value: "ifindex=3 addr=fd00::2"}},
		{unix.SOL_IPV6, unix.IPV6_TCLASS, u32(0x10), report.Cmsg{Name: "IPV6_TCLASS", Value: "0x10"}},
		{unix.SOL_IPV6, unix.IPV6_HOPLIMIT, u32(9), report.Cmsg{Name: "IPV6_HOPLIMIT", Value: "9"}},
		{unix.SOL_SOCKET, 99, []byte{1, 2}, report.Cmsg{Name: "level=1 type=99", Value: "hex=0102"}},
	} {
		if got := renderCmsg(c.level, c.typ, c.data); got != c.want {
			t.Errorf("renderCmsg(%d, %d, % x) = %v, want %v", c.level, c.typ, c.data, got, c.want)
		}
	}
}

func TestSockaddrString(t *testing.T) {
	var sa unix.RawSockaddrInet6
	sa.Family = unix.AF_INET6
	sa.Port = netOrder16(9000)
	sa.Addr = [16]byte{0xfd, 15: 1}
	if got := sockaddrString(&sa, unix.SizeofSockaddrInet6); got != "[fd00::1]:9000" {
		t.Errorf("got %q", got)
	}
	if got := sockaddrString(&sa, 0); got != "" {
		t.Errorf("no name: got %q", got)
	}
}

func TestParseSnmp(t *testing.T) {
	got := map[string]int64{}
	parseSnmp("Udp: InDatagrams NoPorts\nUdp: 5 2\nIcmp: InMsgs\nIcmp: 7\n", got)
	parseSnmp6("Udp6InDatagrams   3\nUdpLite6NoPorts 4\nIcmp6OutDestUnreachs 1\nIp6ReasmOKs 2\n", got)
	want := map[string]int64{"Udp.InDatagrams": 5, "Udp.NoPorts": 2, "Icmp.InMsgs": 7, "Udp6.InDatagrams": 3,
		"UdpLite6.NoPorts": 4, "Icmp6.OutDestUnreachs": 1, "Ip6.ReasmOKs": 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	d := map[string]int64{}
	counterDeltas("peer", map[string]int64{"Udp.NoPorts": 2, "Udp.InErrors": 1}, map[string]int64{"Udp.NoPorts": 5, "Udp.InErrors": 1}, d)
	if !reflect.DeepEqual(d, map[string]int64{"peer.Udp.NoPorts": 3}) {
		t.Fatalf("deltas %v", d)
	}
}
