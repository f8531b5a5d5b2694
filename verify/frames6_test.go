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

// records6 wraps IPv6 frames of one datagram as report.Frame records,
// reading each fragment's offset from its fragment header (after hs bytes
// of extension headers).
func records6(kind report.Kind, datagram, hs int, frames ...[]byte) []report.Frame {
	var out []report.Frame
	for i, f := range frames {
		off := 0
		var src report.IDSource
		if kind == report.Fragment {
			off = int(binary.BigEndian.Uint16(f[14+40+hs+2:]) & ip6FragOffset)
			src = report.IDRandom
		}
		out = append(out, report.Frame{Datagram: datagram, Kind: kind, Index: i, Count: len(frames), Offset: off, Len: len(f), Data: f, IDSource: src})
	}
	return out
}

// partial6 turns a UDP header+payload's checksum into the CHECKSUM_PARTIAL
// seed ~csum_ipv6_magic(saddr, daddr, len, IPPROTO_UDP, 0).
func partial6(w wire6, tr []byte) []byte {
	pseudo := append(append(append([]byte(nil), w.src.To16()...), w.dst.To16()...), 0, 0, byte(len(tr)>>8), byte(len(tr)), 0, 0, 0, 17)
	binary.BigEndian.PutUint16(tr[6:], ^gopacket.FoldChecksum(gopacket.ComputeChecksum(pseudo, 0)))
	return tr
}

func TestFrames6(t *testing.T) {
	w := testWire6
	p100, p1000 := pattern(100, 1), pattern(1000, 2)
	whole := func(payload []byte) []byte { return w.frame(nil, protoUDP, w.udp(t, sport, 9999, payload)) }
	frag3 := func(id uint32) [][]byte { return w.frags(nil, id, protoUDP, w.udp(t, sport, 9999, p1000), 400, 800) }
	hop := []ext6{opts6(nexthdrHop, 0x1e, 0)}
	dst1 := opts6(nexthdrDest, 0x1e, 4, 1, 2, 3, 4)
	_, withDst1 := join([]ext6{dst1}, protoUDP, w.udp(t, sport, 9999, p1000))

	cases := []struct {
		name   string
		frames []report.Frame
		view   report.View
		mtu    int
		sent   [][]byte
		want   []at
	}{
		{name: "clean datagram", frames: records6(report.Datagram, 0, 0, whole(p100)), sent: [][]byte{p100}, mtu: 1500},
		{name: "clean fragments", frames: records6(report.Fragment, 0, 0, frag3(0x1234)...), sent: [][]byte{p1000}, mtu: 1500},
		{name: "fragments behind a hop-by-hop header, destination options after the fragment header",
			frames: records6(report.Fragment, 0, 8, w.frags(hop, 7, nexthdrDest, withDst1, 504)...), sent: [][]byte{p1000}},
		{name: "extension headers of a whole datagram", frames: records6(report.Datagram, 0, 0,
			w.frame([]ext6{opts6(nexthdrHop), opts6(nexthdrDest)}, protoUDP, w.udp(t, sport, 9999, p100))), sent: [][]byte{p100}},
		{name: "zero checksum (UDP_NO_CHECK6_TX)", frames: records6(report.Datagram, 0, 0, func() []byte {
			tr := w.udp(t, sport, 9999, p100)
			tr[6], tr[7] = 0, 0
			return w.frame(nil, protoUDP, tr)
		}())},
		{name: "checksum left partial in the tap view", view: report.Tap,
			frames: records6(report.Datagram, 0, 0, w.frame(nil, protoUDP, partial6(w, w.udp(t, sport, 9999, p100))))},
		{name: "checksum left partial in the wire view",
			frames: records6(report.Datagram, 0, 0, w.frame(nil, protoUDP, partial6(w, w.udp(t, sport, 9999, p100)))),
			want:   []at{{0, "UDP.Checksum"}}},
		{name: "bad checksum", frames: records6(report.Datagram, 0, 0, func() []byte {
			f := whole(p100)
			f[len(f)-1]++
			return f
		}()), want: []at{{0, "UDP.Checksum"}}},
		{name: "payload length wrong", frames: records6(report.Datagram, 0, 0, func() []byte {
			f := whole(p100)
			binary.BigEndian.PutUint16(f[14+4:], 300)
			return f
		}()), want: []at{{0, "IPv6.Length"}}},
		{name: "over the MTU", mtu: 100, frames: records6(report.Datagram, 0, 0, whole(p100)), want: []at{{0, "IPv6.Length"}}},
		{name: "payload differs", frames: records6(report.Datagram, 0, 0, whole(p100)), sent: [][]byte{pattern(100, 9)}, want: []at{{0, "Payload"}}},
		{name: "fragments with different identifications", frames: func() []report.Frame {
			f := frag3(5)
			f[1] = w.frags(nil, 6, protoUDP, w.udp(t, sport, 9999, p1000), 400, 800)[1]
			return records6(report.Fragment, 0, 0, f...)
		}(), want: []at{{1, "IPv6Fragment.Identification"}}},
		{name: "unfragmentable part differs", frames: func() []report.Frame {
			f := w.frags(hop, 8, protoUDP, w.udp(t, sport, 9999, p1000), 400, 800)
			f[2][14+40+2] = 0x1f // another (ignorable) option type
			return records6(report.Fragment, 0, 8, f...)
		}(), want: []at{{2, "IPv6.ExtensionHeaders"}}},
		{name: "hop limit differs", frames: func() []report.Frame {
			f := frag3(9)
			f[1][14+7] = 1
			return records6(report.Fragment, 0, 0, f...)
		}(), want: []at{{1, "IPv6"}}},
		{name: "fragment not a multiple of 8", frames: records6(report.Fragment, 0, 0, w.frags(nil, 10, protoUDP, w.udp(t, sport, 9999, p1000), 404)...),
			// 404 cannot be written: the second fragment says 400.
			want: []at{{0, "IPv6Fragment.FragmentOffset"}, {1, "IPv6Fragment.FragmentOffset"}}},
		{name: "M set on the last fragment", frames: func() []report.Frame {
			f := frag3(11)
			f[2][14+40+3] |= 1
			return records6(report.Fragment, 0, 0, f...)
		}(), want: []at{{2, "IPv6Fragment.MoreFragments"}}},
		{name: "missing fragment", frames: func() []report.Frame {
			f := frag3(12)
			r := records6(report.Fragment, 0, 0, f[0], f[2])
			return r
		}(), want: []at{{1, "IPv6Fragment.FragmentOffset"}}},
		{name: "identification 0", frames: records6(report.Fragment, 0, 0, frag3(0)...),
			want: []at{{0, "IPv6Fragment.Identification"}, {1, "IPv6Fragment.Identification"}, {2, "IPv6Fragment.Identification"}}},
		{name: "IPv4 ID rule on an IPv6 fragment", frames: func() []report.Frame {
			r := records6(report.Fragment, 0, 0, frag3(13)...)
			r[0].IDSource = report.IDIdents
			return r
		}(), want: []at{{0, "Frame.IDSource"}}},
		{name: "a whole datagram with a fragment header", frames: records6(report.Datagram, 0, 0,
			w.frame([]ext6{fragHdr6(0, false, 14)}, protoUDP, w.udp(t, sport, 9999, p100))), want: []at{{0, "IPv6Fragment"}}},
		{name: "hop-by-hop not first", frames: records6(report.Datagram, 0, 0,
			w.frame([]ext6{opts6(nexthdrDest), opts6(nexthdrHop)}, protoUDP, w.udp(t, sport, 9999, p100))), want: []at{{0, "IPv6.NextHeader"}}},
		{name: "GSO segments", frames: records6(report.Segment, 0, 0,
			whole(p1000[:400]), whole(p1000[400:800]), whole(p1000[800:])), sent: [][]byte{p1000}},
		{name: "GSO segment larger than the first", frames: records6(report.Segment, 0, 0,
			whole(p1000[:400]), whole(p1000[400:])), want: []at{{1, "UDP.Length"}}},
	}
	var shared Checker // see TestFrames
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			view := c.view
			if view == "" {
				view = report.Wire
			}
			got := Frames(c.frames, view, c.mtu, c.sent)
			for range 2 {
				if again := shared.Frames(c.frames, view, c.mtu, c.sent); !reflect.DeepEqual(again, got) {
					t.Errorf("a reused Checker says %v, a fresh one %v", again, got)
				}
			}
			var gotAt []at
			for _, p := range got {
				gotAt = append(gotAt, at{p.Frame, p.Field})
			}
			if !slices.Equal(gotAt, c.want) {
				t.Errorf("got %v, want %v", fmt.Sprint(got), c.want)
			}
		})
	}
}

// TestFrames6RoutingHeader checks that the UDP checksum of a datagram with
// segments left in its routing header is checked against the final
// destination, as udpv6_sendmsg computes it.
func TestFrames6RoutingHeader(t *testing.T) {
	w := testWire6
	final := w
	final.dst = w.dst
	hop1 := w
	hop1.dst = []byte{0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77}
	tr := final.udp(t, sport, 9999, pattern(100, 3))
	srh := rthdr6(rthdrSRH, 1, 2)
	copy(srh.b[8:], w.dst.To16()) // segments[0]: the final destination
	f := hop1.frame([]ext6{srh}, protoUDP, tr)
	if got := Frames(records6(report.Datagram, 0, 0, f), report.Wire, 0, nil); len(got) != 0 {
		t.Errorf("SRH: %v", got)
	}
	// A sticky SRH with no segment left whose segment is not the
	// destination: ipv6_push_rthdr4 routes to the socket's segment
	// (hop1) and puts the destination in segments[0], which the checksum
	// covers (FuzzScenarioIPv6 found verify taking the header's dst).
	srh0 := rthdr6(rthdrSRH, 0, 1)
	copy(srh0.b[8:], w.dst.To16())
	f = hop1.frame([]ext6{srh0}, protoUDP, tr)
	if got := Frames(records6(report.Datagram, 0, 0, f), report.Wire, 0, nil); len(got) != 0 {
		t.Errorf("SRH, no segment left: %v", got)
	}
	// The checksum over the header's dst instead is named.
	f = hop1.frame([]ext6{srh0}, protoUDP, hop1.udp(t, sport, 9999, pattern(100, 3)))
	if got := Frames(records6(report.Datagram, 0, 0, f), report.Wire, 0, nil); len(got) != 1 || got[0].Field != "UDP.Checksum" {
		t.Errorf("SRH, no segment left, checksum over the first hop: %v", got)
	}
}
