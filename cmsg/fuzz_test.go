package cmsg

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	fuzz "github.com/AdaLogics/go-fuzz-headers"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
)

// fuzzSeeds are buffers worth starting from: every message kind, edge
// lengths, and broken headers.
func fuzzSeeds() [][]byte {
	hdr := func(clen uint64, level, typ int32) []byte {
		b := make([]byte, HdrLen)
		binary.NativeEndian.PutUint64(b, clen)
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		return b
	}
	return [][]byte{
		nil,
		{1, 2, 3},
		make([]byte, HdrLen),
		Build([]scenario.Cmsg{
			{Type: scenario.CmsgUDPSegment, Int: 1400, Size: 2},
			{Type: scenario.CmsgIPTTL, Int: 3, Size: 4},
			{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1},
			{Type: scenario.CmsgIPOptions, Bytes: []byte{0x94, 4, 0, 0}},
		}, 0),
		Marshal([]Msg{{SolSocket, SOMark, []byte{1, 0, 0, 0}}, {SolIP, IPPktInfo, make([]byte, 12)}}),
		Build([]scenario.Cmsg{
			{Type: scenario.CmsgIPv6TClass, Int: -1, Size: 4},
			{Type: scenario.CmsgIPv6HopLimit, Int: 0, Size: 4},
			{Type: scenario.CmsgIPv6DontFrag, Int: 1, Size: 4},
			{Type: scenario.CmsgIPv6FlowInfo, Int: 0x12345, Size: 4},
			{Type: scenario.CmsgIPv6PktInfo, Addr: netip.MustParseAddr("fd00::1"), Size: 20},
			{Type: scenario.CmsgIPv6HopOpts, Bytes: []byte{0, 0, 1, 4, 0, 0, 0, 0}},
			{Type: scenario.CmsgIPv6DstOpts, Bytes: []byte{0, 0, 1, 4, 0, 0, 0, 0}},
			{Type: scenario.CmsgIPv6RthdrDstOpts, Bytes: []byte{0, 0, 1, 4, 0, 0, 0, 0}},
			{Type: scenario.CmsgUDPSegment, Int: 1200, Size: 2},
		}, 2),
		Build([]scenario.Cmsg{{Type: scenario.CmsgIPv6Rthdr, Bytes: []byte{0, 2, 2, 1, 0, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}}}, 0),
		Marshal([]Msg{{SolIP, IPTTL, []byte{0, 1, 0, 0}}, {SolUDP, UDPSegment, []byte{1, 2, 3, 4}}}),
		append(hdr(17, SolIP, IPTOS), 0x20),
		append(hdr(1<<63, SolIP, IPTTL), 9, 0, 0, 0),
		append(hdr(15, SolIP, IPTTL), 9, 0, 0, 0),
	}
}

// FuzzCmsg feeds arbitrary msg_control buffers through Parse and Apply: no
// panic; every message Parse returns lies inside the buffer where the
// kernel's walk puts it; a refused buffer is EINVAL; and re-encoding the
// messages (Marshal, or Build for those a scenario can express) parses back
// to the same messages with the same Apply result.
func FuzzCmsg(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		msgs, err := Parse(buf)
		if err != nil {
			if e, ok := errno.From(err); !ok || e != errno.EINVAL {
				t.Fatalf("Parse error %v is not EINVAL", err)
			}
			return
		}
		off := 0
		for i, m := range msgs {
			end := off + HdrLen + len(m.Data)
			if off < 0 || end > len(buf) {
				t.Fatalf("message %d at %d..%d extends beyond the %d-byte buffer", i, off, end, len(buf))
			}
			if binary.NativeEndian.Uint64(buf[off:]) != uint64(HdrLen+len(m.Data)) ||
				int32(binary.NativeEndian.Uint32(buf[off+8:])) != m.Level ||
				int32(binary.NativeEndian.Uint32(buf[off+12:])) != m.Type ||
				!bytes.Equal(buf[off+HdrLen:end], m.Data) {
				t.Fatalf("message %d does not match the buffer at offset %d", i, off)
			}
			off += Align(HdrLen + len(m.Data))
		}
		if len(buf)-off >= HdrLen {
			t.Fatalf("walk stopped at %d with a whole header left in %d bytes", off, len(buf))
		}

		c1, err1 := Apply(msgs, start)
		again, err := Parse(Marshal(msgs))
		if err != nil {
			t.Fatalf("Parse(Marshal(msgs)): %v", err)
		}
		if len(msgs) > 0 && !reflect.DeepEqual(again, msgs) {
			t.Fatalf("Parse(Marshal(m)) = %v, want %v", again, msgs)
		}
		c2, err2 := Apply(again, start)
		if e1, _ := errno.From(err1); e1 != mustErrno(t, err2) || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("Apply differs after re-encoding: %+v %v vs %+v %v", c1, err1, c2, err2)
		}
		if err1 != nil {
			if e, ok := errno.From(err1); !ok || e != errno.EINVAL {
				t.Fatalf("Apply error %v is not EINVAL (all errors of a privileged sender are)", err1)
			}
		}

		// The IPv6 half (ip6_datagram_send_ctl) takes the same buffer:
		// no panic, only EINVAL, the same answer after re-encoding.
		local := func(a netip.Addr) bool { return a == netip.MustParseAddr("fd00::1") }
		d1, e61 := Apply6(msgs, start6, local)
		d2, e62 := Apply6(again, start6, local)
		if e1, _ := errno.From(e61); e1 != mustErrno(t, e62) || !reflect.DeepEqual(d1, d2) {
			t.Fatalf("Apply6 differs after re-encoding: %+v %v vs %+v %v", d1, e61, d2, e62)
		}
		if e61 != nil {
			if e, ok := errno.From(e61); !ok || e != errno.EINVAL {
				t.Fatalf("Apply6 error %v is not EINVAL", e61)
			}
			if !reflect.DeepEqual(d1, start6) {
				t.Fatalf("Apply6 failed but changed the cookie: %+v", d1)
			}
		}

		// The messages a scenario can express survive Build.
		var sc []scenario.Cmsg
		var want []Msg
		for _, m := range msgs {
			if c, ok := toScenario(m); ok {
				sc = append(sc, c)
				want = append(want, m)
			}
		}
		rebuilt, err := Parse(Build(sc, 0))
		if err != nil {
			t.Fatalf("Parse(Build): %v", err)
		}
		if len(want) > 0 && !reflect.DeepEqual(rebuilt, want) {
			t.Fatalf("Parse(Build(scenario, 0)) = %v, want %v", rebuilt, want)
		}
	})
}

// start6 is the cookie udpv6_sendmsg starts from on a fresh socket.
var start6 = Cookie6{HopLimit: -1, TClass: -1}

// mustErrno is errno.From for an error that is nil or carries an errno.
func mustErrno(t *testing.T, err error) errno.Errno {
	t.Helper()
	if err == nil {
		return 0
	}
	e, ok := errno.From(err)
	if !ok {
		t.Fatalf("error %v carries no errno", err)
	}
	return e
}

// toScenario is the inverse of FromScenario for the messages it produces.
func toScenario(m Msg) (scenario.Cmsg, bool) {
	n := len(m.Data)
	signed := func() int {
		var b [8]byte
		if littleEndian() {
			copy(b[:], m.Data)
			if m.Data[n-1]&0x80 != 0 {
				for i := n; i < 8; i++ {
					b[i] = 0xff
				}
			}
			return int(int64(binary.LittleEndian.Uint64(b[:])))
		}
		copy(b[8-n:], m.Data)
		if m.Data[0]&0x80 != 0 {
			for i := 0; i < 8-n; i++ {
				b[i] = 0xff
			}
		}
		return int(int64(binary.BigEndian.Uint64(b[:])))
	}
	switch {
	case m.Level == SolUDP && m.Type == UDPSegment && n >= 1 && n <= 8:
		return scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: signed(), Size: n}, true
	case m.Level == SolIP && m.Type == IPTTL && n >= 1 && n <= 8:
		return scenario.Cmsg{Type: scenario.CmsgIPTTL, Int: signed(), Size: n}, true
	case m.Level == SolIP && m.Type == IPTOS && n >= 1 && n <= 8:
		return scenario.Cmsg{Type: scenario.CmsgIPTOS, Int: signed(), Size: n}, true
	case m.Level == SolIP && m.Type == IPRetOpts:
		return scenario.Cmsg{Type: scenario.CmsgIPOptions, Bytes: m.Data}, true
	}
	return scenario.Cmsg{}, false
}

// fuzzCmsg is the shape go-fuzz-headers fills for FuzzBuild.
type fuzzCmsg struct {
	Kind  uint8
	Int   int32
	Size  uint8
	Bytes []byte
}

// FuzzBuild generates scenario control messages (structure-aware, with
// go-fuzz-headers) and checks that Build's buffer is what a C program would
// pass: CMSG_SPACE per message, every one parsed back with CMSG_LEN and the
// payload FromScenario gives.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{0, 0, 0, 4, 1, 0, 0, 0, 0x78, 0x05, 0, 0, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw []fuzzCmsg
		if err := fuzz.NewConsumer(data).GenerateStruct(&raw); err != nil {
			return
		}
		kinds := [...]scenario.CmsgType{scenario.CmsgUDPSegment, scenario.CmsgIPTTL, scenario.CmsgIPTOS, scenario.CmsgIPOptions}
		in := make([]scenario.Cmsg, len(raw))
		space := 0
		for i, r := range raw {
			in[i] = scenario.Cmsg{Type: kinds[int(r.Kind)%len(kinds)], Int: int(r.Int), Size: int(r.Size % 10), Bytes: r.Bytes}
			m, ok := FromScenario(in[i], 0)
			if !ok {
				t.Fatalf("FromScenario refused %+v", in[i])
			}
			space += Space(len(m.Data))
		}
		buf := Build(in, 0)
		if len(buf) != space {
			t.Fatalf("len(Build) = %d, want %d", len(buf), space)
		}
		got, err := Parse(buf)
		if err != nil {
			t.Fatalf("Parse(Build): %v", err)
		}
		if len(got) != len(in) {
			t.Fatalf("Parse found %d messages, want %d", len(got), len(in))
		}
		for i, c := range in {
			want, _ := FromScenario(c, 0)
			if got[i].Level != want.Level || got[i].Type != want.Type || !bytes.Equal(got[i].Data, want.Data) {
				t.Fatalf("message %d = %+v, want %+v", i, got[i], want)
			}
			if c.Type != scenario.CmsgIPOptions {
				back, ok := toScenario(got[i])
				if !ok || back.Int != truncInt(c.Int, len(want.Data)) {
					t.Fatalf("message %d value %d, want %d", i, back.Int, truncInt(c.Int, len(want.Data)))
				}
			}
		}
	})
}

// truncInt is v as a signed integer of n bytes reads it back.
func truncInt(v, n int) int {
	shift := 64 - 8*uint(n)
	return int(int64(uint64(int64(v))<<shift) >> shift)
}
