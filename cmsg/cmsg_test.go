package cmsg

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
)

// littleEndian reports whether the host stores integers low byte first; the
// golden buffers below are written for such a host (x86-64, arm64).
func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// unhex turns a golden buffer written with spaces and '|' separators into bytes.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatalf("bad golden hex %q: %v", s, err)
	}
	return b
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct{ n, len, space int }{
		{0, 16, 16}, {1, 17, 24}, {2, 18, 24}, {4, 20, 24}, {8, 24, 24}, {9, 25, 32}, {40, 56, 56},
	} {
		if got := Len(tc.n); got != tc.len {
			t.Errorf("Len(%d) = %d, want %d", tc.n, got, tc.len)
		}
		if got := Space(tc.n); got != tc.space {
			t.Errorf("Space(%d) = %d, want %d", tc.n, got, tc.space)
		}
	}
}

func TestBuildGolden(t *testing.T) {
	if !littleEndian() {
		t.Skip("golden buffers are for a little-endian host")
	}
	// Each golden: cmsg_len (u64) | level (i32) | type (i32) | data + padding.
	for _, tc := range []struct {
		name string
		in   []scenario.Cmsg
		want string
	}{
		{"none", nil, ""},
		{"UDP_SEGMENT 1400", []scenario.Cmsg{{Type: scenario.CmsgUDPSegment, Int: 1400, Size: 2}},
			"1200000000000000 | 11000000 | 67000000 | 7805 000000000000"},
		{"IP_TTL 9", []scenario.Cmsg{{Type: scenario.CmsgIPTTL, Int: 9, Size: 4}},
			"1400000000000000 | 00000000 | 02000000 | 09000000 00000000"},
		{"IP_TTL -1", []scenario.Cmsg{{Type: scenario.CmsgIPTTL, Int: -1, Size: 4}},
			"1400000000000000 | 00000000 | 02000000 | ffffffff 00000000"},
		{"IP_TOS int 0xb8", []scenario.Cmsg{{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 4}},
			"1400000000000000 | 00000000 | 01000000 | b8000000 00000000"},
		{"IP_TOS u8 0xb8", []scenario.Cmsg{{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1}},
			"1100000000000000 | 00000000 | 01000000 | b8 00000000000000"},
		{"IP_TOS size 0 means int", []scenario.Cmsg{{Type: scenario.CmsgIPTOS, Int: 0x10}},
			"1400000000000000 | 00000000 | 01000000 | 10000000 00000000"},
		{"UDP_SEGMENT as 4 bytes", []scenario.Cmsg{{Type: scenario.CmsgUDPSegment, Int: 1400, Size: 4}},
			"1400000000000000 | 11000000 | 67000000 | 78050000 00000000"},
		{"IP_OPTIONS RA", []scenario.Cmsg{{Type: scenario.CmsgIPOptions, Bytes: []byte{0x94, 4, 0, 0}}},
			"1400000000000000 | 00000000 | 07000000 | 94040000 00000000"},
		{"IP_OPTIONS empty", []scenario.Cmsg{{Type: scenario.CmsgIPOptions, Bytes: []byte{}}},
			"1000000000000000 | 00000000 | 07000000"},
		{"IP_OPTIONS 12 bytes", []scenario.Cmsg{{Type: scenario.CmsgIPOptions, Bytes: []byte{0x07, 0x0b, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
			"1c00000000000000 | 00000000 | 07000000 | 070b0400 00000000 00000000 00000000"},
		{"unknown type skipped", []scenario.Cmsg{{Type: "IP_PKTINFO", Int: 1}}, ""},
		{"IPV6_TCLASS -1", []scenario.Cmsg{{Type: scenario.CmsgIPv6TClass, Int: -1, Size: 4}},
			"1400000000000000 | 29000000 | 43000000 | ffffffff 00000000"},
		{"IPV6_HOPLIMIT 2", []scenario.Cmsg{{Type: scenario.CmsgIPv6HopLimit, Int: 2, Size: 4}},
			"1400000000000000 | 29000000 | 34000000 | 02000000 00000000"},
		{"IPV6_DONTFRAG 1", []scenario.Cmsg{{Type: scenario.CmsgIPv6DontFrag, Int: 1, Size: 4}},
			"1400000000000000 | 29000000 | 3e000000 | 01000000 00000000"},
		{"IPV6_FLOWINFO is a __be32", []scenario.Cmsg{{Type: scenario.CmsgIPv6FlowInfo, Int: 0x12345, Size: 4}},
			"1400000000000000 | 29000000 | 0b000000 | 00012345 00000000"},
		{"IPV6_PKTINFO: address, then the link's ifindex", []scenario.Cmsg{{Type: scenario.CmsgIPv6PktInfo, Addr: netip.MustParseAddr("fd00::1"), Size: 20}},
			"2400000000000000 | 29000000 | 32000000 | fd000000 00000000 00000000 00000001 07000000 00000000"},
		{"IPV6_HOPOPTS", []scenario.Cmsg{{Type: scenario.CmsgIPv6HopOpts, Bytes: []byte{17, 0, 1, 4, 0, 0, 0, 0}}},
			"1800000000000000 | 29000000 | 36000000 | 11000104 00000000"},
		{"IPV6_DSTOPTS, RTHDRDSTOPTS, RTHDR", []scenario.Cmsg{
			{Type: scenario.CmsgIPv6DstOpts, Bytes: []byte{1}},
			{Type: scenario.CmsgIPv6RthdrDstOpts, Bytes: []byte{2}},
			{Type: scenario.CmsgIPv6Rthdr, Bytes: []byte{3}},
		}, "1100000000000000 | 29000000 | 3b000000 | 01 00000000000000" +
			"1100000000000000 | 29000000 | 37000000 | 02 00000000000000" +
			"1100000000000000 | 29000000 | 39000000 | 03 00000000000000"},
		{"sequence", []scenario.Cmsg{
			{Type: scenario.CmsgUDPSegment, Int: 500, Size: 2},
			{Type: scenario.CmsgIPTOS, Int: 0x03, Size: 1},
			{Type: scenario.CmsgIPTTL, Int: 3, Size: 4},
			{Type: scenario.CmsgIPOptions, Bytes: []byte{1}},
		}, "1200000000000000 | 11000000 | 67000000 | f401 000000000000" +
			"1100000000000000 | 00000000 | 01000000 | 03 00000000000000" +
			"1400000000000000 | 00000000 | 02000000 | 03000000 00000000" +
			"1100000000000000 | 00000000 | 07000000 | 01 00000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.in, 7)
			want := unhex(t, tc.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("Build =\n%x\nwant\n%x", got, want)
			}
			if tc.want == "" && got != nil {
				t.Fatalf("Build of no messages = %#v, want nil (msg_controllen 0)", got)
			}
		})
	}
}

func TestParse(t *testing.T) {
	if !littleEndian() {
		t.Skip("raw buffers are written for a little-endian host")
	}
	for _, tc := range []struct {
		name string
		buf  string
		want []Msg
		err  bool
	}{
		{"empty", "", nil, false},
		{"shorter than a header is ignored", "ffffffffffffffff 00000000 000000", nil, false},
		{"zero cmsg_len", "0000000000000000 00000000 00000000", nil, true},
		{"cmsg_len 15", "0f00000000000000 00000000 00000000", nil, true},
		{"cmsg_len 16", "1000000000000000 00000000 07000000", []Msg{{0, 7, []byte{}}}, false},
		{"cmsg_len past the end", "1900000000000000 00000000 02000000 0900000000000000", nil, true},
		{"cmsg_len huge", "ffffffffffffffff 00000000 02000000 0900000000000000", nil, true},
		{"cmsg_len short of the end", "1500000000000000 00000000 02000000 0900000000000000",
			[]Msg{{0, 2, []byte{9, 0, 0, 0, 0}}}, false},
		{"exact CMSG_LEN buffer", "1100000000000000 00000000 01000000 20",
			[]Msg{{0, 1, []byte{0x20}}}, false},
		{"unaligned length, next at CMSG_ALIGN", "1100000000000000 00000000 01000000 20 aaaaaaaaaaaaaa" +
			"1400000000000000 00000000 02000000 09000000",
			[]Msg{{0, 1, []byte{0x20}}, {0, 2, []byte{9, 0, 0, 0}}}, false},
		{"15 trailing bytes ignored", "1400000000000000 00000000 02000000 09000000 00000000" +
			"ffffffffffffffff 00000000 000000",
			[]Msg{{0, 2, []byte{9, 0, 0, 0}}}, false},
		{"bad header after a good one", "1400000000000000 00000000 02000000 09000000 00000000" +
			"0000000000000000 00000000 00000000", nil, true},
		{"negative level and type", "1000000000000000 ffffffff feffffff", []Msg{{-1, -2, []byte{}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(unhex(t, tc.buf))
			if tc.err {
				if e, ok := errno.From(err); !ok || e != errno.EINVAL {
					t.Fatalf("Parse error = %v, want EINVAL", err)
				}
				if got != nil {
					t.Fatalf("Parse returned %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	in := []Msg{
		{SolUDP, UDPSegment, []byte{0x78, 0x05}},
		{SolIP, IPTOS, []byte{0xb8}},
		{SolIP, IPRetOpts, []byte{}},
		{SolIP, IPRetOpts, bytes.Repeat([]byte{1}, 41)},
		{SolSocket, SOMark, []byte{1, 2, 3, 4}},
		{999, -7, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	buf := Marshal(in)
	want := 0
	for _, m := range in {
		want += Space(len(m.Data))
	}
	if len(buf) != want {
		t.Fatalf("Marshal length %d, want %d", len(buf), want)
	}
	got, err := Parse(buf)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("Parse(Marshal(m)) = %#v, want %#v", got, in)
	}
	// Parse hands out views whose capacity ends with the message, so an
	// append by the caller cannot scribble over the next header.
	if c := cap(got[0].Data); c != 2 {
		t.Fatalf("cap of Data = %d, want 2", c)
	}
}

func TestCheckControlLen(t *testing.T) {
	for _, tc := range []struct {
		n, optmem int
		want      errno.Errno
	}{
		{0, 0, 0},
		{36, 0, 0},
		{37, 0, 0},
		{131071, 0, 0},
		{131072, 0, errno.ENOBUFS},
		{1 << 31, 0, errno.ENOBUFS},
		{-1, 0, errno.ENOBUFS},
		{20479, 20480, 0},
		{20480, 20480, errno.ENOBUFS},
		{36, 10, 0}, // fits the on-stack buffer, no sock_kmalloc
		{37, 10, errno.ENOBUFS},
	} {
		err := CheckControlLen(tc.n, tc.optmem)
		got, _ := errno.From(err)
		if got != tc.want {
			t.Errorf("CheckControlLen(%d, %d) = %v, want %v", tc.n, tc.optmem, err, tc.want)
		}
	}
}

// le32 is a 4-byte host-order int payload.
func le32(v int32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(v))
	return b
}

func le16(v uint16) []byte {
	b := make([]byte, 2)
	binary.NativeEndian.PutUint16(b, v)
	return b
}

// start is the cookie udp_sendmsg starts from for a socket with no options.
var start = Cookie{TTL: 0, TOS: -1}

func TestApply(t *testing.T) {
	ra := []byte{0x94, 4, 0, 0}
	for _, tc := range []struct {
		name string
		msgs []Msg
		want Cookie
		err  errno.Errno
	}{
		{"no messages", nil, start, 0},
		{"UDP_SEGMENT", []Msg{{SolUDP, UDPSegment, le16(1400)}},
			Cookie{TOS: -1, GSOSize: 1400, HasGSOSize: true}, 0},
		{"UDP_SEGMENT 0", []Msg{{SolUDP, UDPSegment, le16(0)}},
			Cookie{TOS: -1, HasGSOSize: true}, 0},
		{"UDP_SEGMENT last wins", []Msg{{SolUDP, UDPSegment, le16(1)}, {SolUDP, UDPSegment, le16(2)}},
			Cookie{TOS: -1, GSOSize: 2, HasGSOSize: true}, 0},
		{"UDP_SEGMENT 4 bytes", []Msg{{SolUDP, UDPSegment, le32(1400)}}, start, errno.EINVAL},
		{"UDP_SEGMENT 1 byte", []Msg{{SolUDP, UDPSegment, []byte{1}}}, start, errno.EINVAL},
		{"unknown SOL_UDP type", []Msg{{SolUDP, 1, le32(1)}}, start, errno.EINVAL},

		{"IP_TTL 1", []Msg{{SolIP, IPTTL, le32(1)}}, Cookie{TTL: 1, TOS: -1, NeedIP: true}, 0},
		{"IP_TTL 255", []Msg{{SolIP, IPTTL, le32(255)}}, Cookie{TTL: 255, TOS: -1, NeedIP: true}, 0},
		{"IP_TTL 0", []Msg{{SolIP, IPTTL, le32(0)}}, start, errno.EINVAL},
		{"IP_TTL 256", []Msg{{SolIP, IPTTL, le32(256)}}, start, errno.EINVAL},
		{"IP_TTL -1", []Msg{{SolIP, IPTTL, le32(-1)}}, start, errno.EINVAL},
		{"IP_TTL 1 byte", []Msg{{SolIP, IPTTL, []byte{5}}}, start, errno.EINVAL},
		{"IP_TTL 8 bytes", []Msg{{SolIP, IPTTL, make([]byte, 8)}}, start, errno.EINVAL},

		{"IP_TOS int 0xb9", []Msg{{SolIP, IPTOS, le32(0xb9)}}, Cookie{TOS: 0xb9, NeedIP: true}, 0},
		{"IP_TOS u8 0xff", []Msg{{SolIP, IPTOS, []byte{0xff}}}, Cookie{TOS: 0xff, NeedIP: true}, 0},
		{"IP_TOS int 0", []Msg{{SolIP, IPTOS, le32(0)}}, Cookie{TOS: 0, NeedIP: true}, 0},
		{"IP_TOS int 256", []Msg{{SolIP, IPTOS, le32(256)}}, start, errno.EINVAL},
		{"IP_TOS int -1", []Msg{{SolIP, IPTOS, le32(-1)}}, start, errno.EINVAL},
		{"IP_TOS 2 bytes", []Msg{{SolIP, IPTOS, []byte{1, 0}}}, start, errno.EINVAL},

		{"IP_RETOPTS empty", []Msg{{SolIP, IPRetOpts, nil}},
			Cookie{TOS: -1, Options: []byte{}, HasOptions: true, NeedIP: true}, 0},
		{"IP_RETOPTS RA", []Msg{{SolIP, IPRetOpts, ra}},
			Cookie{TOS: -1, Options: ra, HasOptions: true, NeedIP: true}, 0},
		{"IP_RETOPTS cut to 40", []Msg{{SolIP, IPRetOpts, append(bytes.Repeat([]byte{1}, 40), 0x44, 0x44)}},
			Cookie{TOS: -1, Options: bytes.Repeat([]byte{1}, 40), HasOptions: true, NeedIP: true}, 0},
		{"IP_RETOPTS last wins", []Msg{{SolIP, IPRetOpts, ra}, {SolIP, IPRetOpts, nil}},
			Cookie{TOS: -1, Options: []byte{}, HasOptions: true, NeedIP: true}, 0},

		{"IP_PKTINFO", []Msg{{SolIP, IPPktInfo, append(le32(3), 10, 9, 9, 1, 0, 0, 0, 0)}},
			Cookie{TOS: -1, HasPktInfo: true, OIF: 3, SpecDst: [4]byte{10, 9, 9, 1}, NeedIP: true}, 0},
		{"IP_PKTINFO ifindex 0 keeps oif", []Msg{{SolIP, IPPktInfo, make([]byte, 12)}},
			Cookie{TOS: -1, HasPktInfo: true, NeedIP: true}, 0},
		{"IP_PKTINFO 8 bytes", []Msg{{SolIP, IPPktInfo, make([]byte, 8)}}, start, errno.EINVAL},
		{"IP_PROTOCOL 17 ignored", []Msg{{SolIP, IPProtocol, le32(17)}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"IP_PROTOCOL 0", []Msg{{SolIP, IPProtocol, le32(0)}}, start, errno.EINVAL},
		{"IP_PROTOCOL 256", []Msg{{SolIP, IPProtocol, le32(256)}}, start, errno.EINVAL},
		{"unknown SOL_IP type", []Msg{{SolIP, 99, le32(1)}}, start, errno.EINVAL},
		{"IP_RECVTTL is not a send cmsg", []Msg{{SolIP, 12, le32(1)}}, start, errno.EINVAL},

		{"SO_MARK", []Msg{{SolSocket, SOMark, le32(7)}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"SO_MARK 8 bytes", []Msg{{SolSocket, SOMark, make([]byte, 8)}}, start, errno.EINVAL},
		{"SO_PRIORITY 100", []Msg{{SolSocket, SOPriority, le32(100)}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"SO_PRIORITY 2 bytes", []Msg{{SolSocket, SOPriority, le16(1)}}, start, errno.EINVAL},
		{"SO_TIMESTAMPING tx flags", []Msg{{SolSocket, SOTimestampingOld, le32(1<<0 | 1<<1 | 1<<8 | 1<<9 | 1<<18)}},
			Cookie{TOS: -1, NeedIP: true}, 0},
		{"SO_TIMESTAMPING_NEW rx flag", []Msg{{SolSocket, SOTimestampingNew, le32(1 << 2)}}, start, errno.EINVAL},
		{"SO_TIMESTAMPING 8 bytes", []Msg{{SolSocket, SOTimestampingOld, make([]byte, 8)}}, start, errno.EINVAL},
		{"SCM_TXTIME", []Msg{{SolSocket, SCMTxTime, make([]byte, 8)}}, start, errno.EINVAL},
		{"SCM_TS_OPT_ID", []Msg{{SolSocket, SCMTSOptID, le32(1)}}, start, errno.EINVAL},
		{"SCM_RIGHTS any length", []Msg{{SolSocket, SCMRights, []byte{1}}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"SCM_CREDENTIALS empty", []Msg{{SolSocket, SCMCredentials, nil}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"SCM_DEVMEM_DMABUF", []Msg{{SolSocket, SCMDevmemDMABuf, le32(5)}}, Cookie{TOS: -1, NeedIP: true}, 0},
		{"unknown SOL_SOCKET type", []Msg{{SolSocket, 99, le32(1)}}, start, errno.EINVAL},

		{"other levels ignored", []Msg{{6, 1, nil}, {41, 50, nil}, {136, 10, nil}, {-1, -1, nil}},
			Cookie{TOS: -1, NeedIP: true}, 0},
		{"all together", []Msg{
			{SolUDP, UDPSegment, le16(500)},
			{SolIP, IPTTL, le32(3)},
			{SolIP, IPTOS, []byte{0x10}},
			{SolIP, IPRetOpts, ra},
		}, Cookie{TTL: 3, TOS: 0x10, Options: ra, HasOptions: true, GSOSize: 500, HasGSOSize: true, NeedIP: true}, 0},
		{"error returns start, not a half-applied cookie",
			[]Msg{{SolUDP, UDPSegment, le16(500)}, {SolIP, IPTTL, le32(3)}, {SolIP, IPTTL, le32(0)}}, start, errno.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Apply(tc.msgs, start)
			if e, _ := errno.From(err); e != tc.err {
				t.Fatalf("Apply error = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Apply cookie = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestApplyKeepsStart(t *testing.T) {
	// The socket's values (the caller's start) survive messages that do not
	// set them; udp_sendmsg sets ipc.gso_size from the socket first.
	s := Cookie{TTL: 9, TOS: 0x10, GSOSize: 1400, OIF: 2, SpecDst: [4]byte{10, 0, 0, 1}}
	got, err := Apply([]Msg{{SolIP, IPPktInfo, make([]byte, 12)}}, s)
	if err != nil {
		t.Fatal(err)
	}
	want := s
	want.HasPktInfo, want.SpecDst, want.NeedIP = true, [4]byte{}, true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply = %+v, want %+v", got, want)
	}
}

func TestApplyOptionsIsACopy(t *testing.T) {
	data := []byte{0x94, 4, 0, 0}
	got, err := Apply([]Msg{{SolIP, IPRetOpts, data}}, start)
	if err != nil {
		t.Fatal(err)
	}
	data[0] = 1
	if got.Options[0] != 0x94 {
		t.Fatalf("Options alias the message data")
	}
}

func TestApplyCheckedOrder(t *testing.T) {
	bad := []byte{0x44} // what the check refuses
	check := func(raw []byte) error {
		if raw[0] == 0x44 {
			return errno.EPERM // an errno the kernel order makes visible
		}
		return nil
	}
	var checked [][]byte
	record := func(raw []byte) error {
		checked = append(checked, append([]byte{}, raw...))
		return check(raw)
	}
	for _, tc := range []struct {
		name string
		msgs []Msg
		err  errno.Errno
	}{
		// udp_cmsg_send walks every message before ip_cmsg_send starts.
		{"SOL_UDP error first even when later", []Msg{{SolIP, IPRetOpts, bad}, {SolUDP, UDPSegment, le32(1)}}, errno.EINVAL},
		// ip_cmsg_send stops at the first bad message, in buffer order.
		{"bad options before bad TTL", []Msg{{SolIP, IPRetOpts, bad}, {SolIP, IPTTL, le32(0)}}, errno.EPERM},
		{"bad TTL before bad options", []Msg{{SolIP, IPTTL, le32(0)}, {SolIP, IPRetOpts, bad}}, errno.EINVAL},
		// Every IP_RETOPTS is compiled, even one a later message replaces.
		{"replaced options still checked", []Msg{{SolIP, IPRetOpts, bad}, {SolIP, IPRetOpts, []byte{1}}}, errno.EPERM},
		{"good options", []Msg{{SolIP, IPRetOpts, []byte{1}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ApplyChecked(tc.msgs, start, check)
			if e, _ := errno.From(err); e != tc.err {
				t.Fatalf("ApplyChecked error = %v, want %v", err, tc.err)
			}
		})
	}

	// The check sees at most 40 bytes and never an empty option block.
	long := bytes.Repeat([]byte{1}, 44)
	if _, err := ApplyChecked([]Msg{{SolIP, IPRetOpts, nil}, {SolIP, IPRetOpts, long}}, start, record); err != nil {
		t.Fatal(err)
	}
	if len(checked) != 1 || len(checked[0]) != 40 {
		t.Fatalf("check saw %d calls %v, want one call with 40 bytes", len(checked), checked)
	}

	// An error without an errno means EINVAL, as ip_options_get returns.
	_, err := ApplyChecked([]Msg{{SolIP, IPRetOpts, []byte{7}}}, start, func([]byte) error { return errors.New("bad pointer") })
	if e, _ := errno.From(err); e != errno.EINVAL {
		t.Fatalf("plain check error gave %v, want EINVAL", err)
	}
}
