package verify

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/udpbuild/udpbuild/report"
)

// records wraps frames of one datagram as report.Frame records, reading
// each fragment's offset from its header.
func records(kind report.Kind, datagram int, frames ...[]byte) []report.Frame {
	var out []report.Frame
	for i, f := range frames {
		off := 0
		if kind == report.Fragment {
			off = int(binary.BigEndian.Uint16(f[14+6:])&ipOffsetMask) * 8
		}
		out = append(out, report.Frame{Datagram: datagram, Kind: kind, Index: i, Count: len(frames), Offset: off, Len: len(f), Data: f})
	}
	return out
}

// partial turns a UDP header+payload's checksum into the CHECKSUM_PARTIAL
// seed ~csum_tcpudp_magic(saddr, daddr, len, IPPROTO_UDP, 0).
func partial(w wire, tr []byte) []byte {
	pseudo := append(append(append([]byte(nil), w.src...), w.dst...), 0, 17, byte(len(tr)>>8), byte(len(tr)))
	binary.BigEndian.PutUint16(tr[6:], ^gopacket.FoldChecksum(gopacket.ComputeChecksum(pseudo, 0)))
	return tr
}

type at struct {
	frame int
	field string
}

func TestFrames(t *testing.T) {
	w := testWire
	p100, p1000, p1600 := pattern(100, 1), pattern(1000, 2), pattern(1600, 3)
	whole := func(id uint16, payload []byte) []byte {
		return w.frame(t, ipOpt{id: id, df: true}, w.udp(t, sport, 9999, payload))
	}
	frag3 := func(id uint16) [][]byte {
		return w.frags(t, ipOpt{id: id}, w.udp(t, sport, 9999, p1000), 400, 800)
	}
	tr1000 := w.udp(t, sport, 9999, p1000)

	cases := []struct {
		name   string
		frames []report.Frame
		view   report.View
		mtu    int
		sent   [][]byte
		want   []at
	}{
		{name: "clean datagram", frames: records(report.Datagram, 0, whole(1, p100)), sent: [][]byte{p100}},
		{name: "clean fragments", frames: records(report.Fragment, 0, frag3(2)...), sent: [][]byte{p1000}},
		{name: "payload differs", frames: records(report.Datagram, 0, whole(3, p100)), sent: [][]byte{pattern(100, 9)},
			want: []at{{0, "Payload"}}},
		{name: "payload never sent", frames: records(report.Datagram, 0, whole(4, p100)), sent: [][]byte{p100, p100},
			want: []at{{-1, "Payload"}}},
		{name: "payloads unchecked", frames: records(report.Datagram, 0, whole(5, p100))},
		{name: "fragment not a multiple of 8",
			frames: records(report.Fragment, 0,
				w.frag(t, ipOpt{id: 6}, 0, true, tr1000[:404]),
				w.frag(t, ipOpt{id: 6}, 400, true, tr1000[400:800]),
				w.frag(t, ipOpt{id: 6}, 800, false, tr1000[800:])),
			want: []at{{0, "IPv4.FragOffset"}, {1, "IPv4.FragOffset"}}},
		{name: "gap",
			frames: records(report.Fragment, 0,
				w.frag(t, ipOpt{id: 7}, 0, true, tr1000[:400]),
				w.frag(t, ipOpt{id: 7}, 408, false, tr1000[400:])),
			want: []at{{1, "IPv4.FragOffset"}}},
		{name: "MF missing and DF set",
			frames: records(report.Fragment, 0,
				w.frag(t, ipOpt{id: 8}, 0, true, tr1000[:400]),
				w.frag(t, ipOpt{id: 8, df: true}, 400, false, tr1000[400:800]),
				w.frag(t, ipOpt{id: 8}, 800, false, tr1000[800:])),
			want: []at{{1, "IPv4.Flags"}, {1, "IPv4.Flags"}}},
		{name: "fragment IDs differ",
			frames: records(report.Fragment, 0,
				w.frag(t, ipOpt{id: 9}, 0, true, tr1000[:400]),
				w.frag(t, ipOpt{id: 10}, 400, false, tr1000[400:])),
			want: []at{{1, "IPv4.Id"}}},
		{name: "bad header checksum", frames: records(report.Datagram, 0, func() []byte {
			f := whole(11, p100)
			f[14+8]-- // TTL
			return f
		}()), sent: [][]byte{p100}, want: []at{{0, "IPv4.Checksum"}}},
		{name: "MTU exceeded", frames: records(report.Datagram, 0, whole(12, p1600)), mtu: 1500,
			want: []at{{0, "IPv4.Length"}}},
		{name: "super-packet in tap view", view: report.Tap, mtu: 1500, sent: [][]byte{p1600},
			frames: records(report.Super, 0, w.frame(t, ipOpt{id: 13, df: true}, partial(w, w.udp(t, sport, 9999, p1600))))},
		{name: "super-packet in wire view", view: report.Wire, mtu: 1500, sent: [][]byte{p1600},
			frames: records(report.Super, 0, w.frame(t, ipOpt{id: 13, df: true}, w.udp(t, sport, 9999, p1600))),
			want:   []at{{0, "Frame.Kind"}}},
		{name: "partial checksum in wire view", view: report.Wire, sent: [][]byte{p100},
			frames: records(report.Datagram, 0, w.frame(t, ipOpt{id: 14}, partial(w, w.udp(t, sport, 9999, p100)))),
			want:   []at{{0, "UDP.Checksum"}}},
		{name: "partial checksum in tap view", view: report.Tap, sent: [][]byte{p100},
			frames: records(report.Datagram, 0, w.frame(t, ipOpt{id: 15}, partial(w, w.udp(t, sport, 9999, p100))))},
		{name: "segments", sent: [][]byte{p1000},
			frames: records(report.Segment, 0,
				w.frame(t, ipOpt{id: 16, df: true}, w.udp(t, sport, 9999, p1000[:400])),
				w.frame(t, ipOpt{id: 17, df: true}, w.udp(t, sport, 9999, p1000[400:800])),
				w.frame(t, ipOpt{id: 18, df: true}, w.udp(t, sport, 9999, p1000[800:])))},
		{name: "segment IDs do not count up", sent: [][]byte{p1000},
			frames: records(report.Segment, 0,
				w.frame(t, ipOpt{id: 16, df: true}, w.udp(t, sport, 9999, p1000[:400])),
				w.frame(t, ipOpt{id: 16, df: true}, w.udp(t, sport, 9999, p1000[400:800])),
				w.frame(t, ipOpt{id: 18, df: true}, w.udp(t, sport, 9999, p1000[800:]))),
			want: []at{{1, "IPv4.Id"}}},
		{name: "IPv4 under the IPv6 EtherType", frames: records(report.Datagram, 0, func() []byte {
			f := whole(19, p100)
			f[12], f[13] = 0x86, 0xdd
			return f
		}()), want: []at{{0, "IPv6.Version"}}},
		{name: "not IP", frames: records(report.Datagram, 0, func() []byte {
			f := whole(19, p100)
			f[12], f[13] = 0x08, 0x06
			return f
		}()), want: []at{{0, "Ethernet.EthernetType"}}},
		{name: "length record wrong", frames: func() []report.Frame {
			r := records(report.Datagram, 0, whole(20, p100))
			r[0].Len = 7
			return r
		}(), want: []at{{0, "Frame.Len"}}},
		{name: "bytes after the packet", frames: records(report.Datagram, 0, append(whole(21, p100), 0, 0, 0, 0)),
			want: []at{{0, "IPv4.Length"}}},
		{name: "short frame padded to 60", frames: records(report.Datagram, 0, whole(22, []byte{1}))},
		{name: "UDP-Lite coverage 4", frames: records(report.Datagram, 0,
			w.frame(t, ipOpt{id: 23, proto: 136}, w.udplite(sport, 9999, 4, p100))),
			want: []at{{0, "UDPLite.ChecksumCoverage"}}},
		{name: "UDP-Lite partial coverage", sent: [][]byte{p100}, frames: records(report.Datagram, 0,
			w.frame(t, ipOpt{id: 24, proto: 136}, w.udplite(sport, 9999, 20, p100)))},
		{name: "UDP length too large", frames: records(report.Datagram, 0, func() []byte {
			f := whole(25, p100)
			binary.BigEndian.PutUint16(f[udpOff+4:], 200)
			return f
		}()), want: []at{{0, "UDP.Length"}}},
		{name: "UDP length too small", frames: records(report.Datagram, 0,
			w.frame(t, ipOpt{id: 26}, append(w.udp(t, sport, 9999, p100[:90]), p100[90:]...))),
			want: []at{{0, "UDP.Length"}}},
		{name: "flipped payload byte", frames: records(report.Datagram, 0, func() []byte {
			f := whole(27, p100)
			f[udpOff+20] ^= 4
			return f
		}()), want: []at{{0, "UDP.Checksum"}}},
		{name: "fragment offset record wrong", frames: func() []report.Frame {
			r := records(report.Fragment, 0, frag3(28)...)
			r[1].Offset = 8
			return r
		}(), want: []at{{1, "Frame.Offset"}}},
		{name: "count record wrong", frames: func() []report.Frame {
			r := records(report.Fragment, 0, frag3(29)...)
			r[2].Count = 4
			return r
		}(), want: []at{{2, "Frame.Count"}}},
		{name: "two datagrams", sent: [][]byte{p100, p1000},
			frames: append(records(report.Datagram, 0, whole(30, p100)), records(report.Fragment, 1, frag3(31)...)...)},
		{name: "unknown view", view: "air", frames: records(report.Datagram, 0, whole(32, p100)),
			want: []at{{-1, "View"}}},
	}
	// One Checker carried through every case (and twice through each)
	// must say what a fresh one says: nothing of one call may leak into
	// the next.
	var shared Checker
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			view := c.view
			if view == "" {
				view = report.Wire
			}
			mtu := c.mtu
			if mtu == 0 {
				mtu = 1500
			}
			ps := Frames(c.frames, view, mtu, c.sent)
			for range 2 {
				if again := shared.Frames(c.frames, view, mtu, c.sent); !reflect.DeepEqual(again, ps) {
					t.Errorf("a reused Checker says %v, a fresh one %v", again, ps)
				}
			}
			var got []at
			for _, p := range ps {
				got = append(got, at{p.Frame, p.Field})
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", ps, c.want)
			}
		})
	}
}

// TestFramesMessage pins the wording of one problem.
func TestFramesMessage(t *testing.T) {
	w := testWire
	tr := w.udp(t, sport, 9999, pattern(1000, 1))
	ps := Frames(records(report.Fragment, 4,
		w.frag(t, ipOpt{id: 1}, 0, true, tr[:404]),
		w.frag(t, ipOpt{id: 1}, 400, false, tr[400:])), report.Wire, 1500, nil)
	if len(ps) == 0 {
		t.Fatal("no problems")
	}
	want := "frame 0 (datagram 4): IPv4.FragOffset: fragment carries 404 bytes, not a multiple of 8: the next offset cannot follow on"
	if got := fmt.Sprint(ps[0]); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
