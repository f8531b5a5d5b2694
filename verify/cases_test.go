package verify

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// want is one expected verdict.
type want struct {
	delivered bool
	code      Code
	checksum  string
	len       int
	frames    []int
	// proto, when set, is the verdict's protocol (IPv6 tables: by
	// default UDP or UDP-Lite).
	proto uint8
}

// judgeCase is a capture built by hand and what Judge must say about it.
// The same table drives the comparison with the running kernel
// (kernel_linux_test.go).
type judgeCase struct {
	name string
	// build returns the frames; id is the IP ID to use (and id+1.. for
	// more datagrams), dport the destination port.
	build func(t testing.TB, w wire, id, dport uint16) [][]byte
	want  []want
	diags []string // Field of each expected diagnostic, in order
	// kernelDrops marks a case where the kernel, by design, delivers
	// nothing although Judge says delivered; kernelWhy says why.
	kernelDrops bool
	kernelWhy   string
}

const sport = 4000

var judgeCases = []judgeCase{
	{
		name: "clean datagram",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			return [][]byte{w.frame(t, ipOpt{id: id, df: true}, w.udp(t, sport, dport, pattern(100, 1)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100, frames: []int{1}}},
	},
	{
		name: "three fragments",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			return w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 2)), 400, 800)
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "fragments in reverse order",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 3)), 400, 800)
			return [][]byte{f[2], f[1], f[0]}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "duplicate fragment ignored",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 4)), 400, 800)
			return [][]byte{f[0], f[1], f[1], f[2]}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3, 4}}},
	},
	{
		name: "contained fragment is a duplicate even with other bytes",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 5))
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			// [200,600) lies inside the run [0,800): dropped as a
			// duplicate, its different bytes never used.
			other := pattern(400, 99)
			return [][]byte{f[0], f[1], w.frag(t, ipOpt{id: id}, 200, true, other), f[2]}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3, 4}}},
	},
	{
		name: "flipped payload byte",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 6)))
			f[udpOff+8+50] ^= 0x01
			return [][]byte{f}
		},
		want: []want{{code: CodeUDPChecksum, checksum: csumBad, len: 100, frames: []int{1}}},
	},
	{
		name: "flipped byte in a fragment",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 7)), 400, 800)
			f[1][14+20+10] ^= 0x80
			return f
		},
		want: []want{{code: CodeUDPChecksum, checksum: csumBad, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "missing middle fragment",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 8)), 400, 800)
			return [][]byte{f[0], f[2]}
		},
		want: []want{{code: CodeFragIncomplete, len: 1000, frames: []int{1, 2}}},
	},
	{
		name: "wrong fragment offset leaves a gap",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 9))
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			f[2] = w.frag(t, ipOpt{id: id}, 808, false, tr[800:])
			return f
		},
		want: []want{{code: CodeFragIncomplete, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "wrong fragment offset overlaps",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 10))
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			// The middle fragment claims 408: [408,808) runs past
			// the last fragment's start at 800.
			f[1] = w.frag(t, ipOpt{id: id}, 408, true, tr[400:800])
			return f
		},
		want: []want{{code: CodeFragOverlap, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "repeat spanning two runs is an overlap",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 37))
			o := ipOpt{id: id}
			// [400,800) arrives after [800,1000) and so starts a run
			// of its own next to [0,400): [200,600) repeats queued
			// bytes but spans two runs, which Linux calls an overlap.
			return [][]byte{
				w.frag(t, o, 0, true, tr[:400]),
				w.frag(t, o, 800, true, tr[800:1000]),
				w.frag(t, o, 400, true, tr[400:800]),
				w.frag(t, o, 200, true, tr[200:600]),
				w.frag(t, o, 1000, false, tr[1000:]),
			}
		},
		want: []want{
			{code: CodeFragOverlap, len: 1000, frames: []int{1, 2, 3, 4}},
			{code: CodeFragIncomplete, frames: []int{5}},
		},
	},
	{
		name: "repeat inside one run is a duplicate",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 38))
			o := ipOpt{id: id}
			// In order, [0,400) and [400,800) form one run.
			return [][]byte{
				w.frag(t, o, 0, true, tr[:400]),
				w.frag(t, o, 400, true, tr[400:800]),
				w.frag(t, o, 200, true, tr[200:600]),
				w.frag(t, o, 800, false, tr[800:]),
			}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3, 4}}},
	},
	{
		name: "overlapping fragment drops the datagram",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 11))
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			// [600,1000) reaches past the queued [0,800) but starts
			// inside it: an overlap, the queue dies; the genuine last
			// fragment then starts a new queue that never completes.
			return [][]byte{f[0], f[1], w.frag(t, ipOpt{id: id}, 600, true, tr[600:1000]), f[2]}
		},
		want: []want{
			{code: CodeFragOverlap, len: 1000, frames: []int{1, 2, 3}},
			{code: CodeFragIncomplete, frames: []int{4}},
		},
	},
	{
		name: "two final fragments disagree",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 12))
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			return [][]byte{f[2], w.frag(t, ipOpt{id: id}, 800, false, tr[800:1000]), f[0], f[1]}
		},
		want: []want{
			{code: CodeFragLength, frames: []int{1, 2}},
			{code: CodeFragIncomplete, len: 1000, frames: []int{3, 4}},
		},
	},
	{
		name: "non-final fragment not a multiple of 8 is trimmed",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 13))
			// The first fragment carries 404 bytes with MF set: the
			// receiver keeps 400 and the next fragment supplies the
			// rest.
			return [][]byte{
				w.frag(t, ipOpt{id: id}, 0, true, tr[:404]),
				w.frag(t, ipOpt{id: id}, 400, true, tr[400:800]),
				w.frag(t, ipOpt{id: id}, 800, false, tr[800:]),
			}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "reassembly over 65535 bytes",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			data := pattern(65528+16, 14)
			var out [][]byte
			for off := 0; off < len(data); off += 1480 {
				end := min(off+1480, len(data))
				out = append(out, w.frag(t, ipOpt{id: id}, off, end < len(data), data[off:end]))
			}
			return out
		},
		want: []want{{code: CodeFragOversize, len: 10793}},
	},
	{
		name: "fragments mix ECN Not-ECT and CE",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 15))
			return [][]byte{
				w.frag(t, ipOpt{id: id}, 0, true, tr[:400]),
				w.frag(t, ipOpt{id: id, tos: 3}, 400, true, tr[400:800]),
				w.frag(t, ipOpt{id: id}, 800, false, tr[800:]),
			}
		},
		want: []want{{code: CodeFragECN, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "final fragment cut by the capture",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frags(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(1000, 16)), 400, 800)
			f[2] = f[2][:len(f[2])-10]
			return f
		},
		// A frame shorter than its IP total length, not cut by the
		// capture (its record says so): ip_rcv_core's drop, written at
		// that frame; the queue's verdict comes at the end.
		want: []want{
			{code: CodeIPTruncated, frames: []int{3}},
			{code: CodeFragIncomplete, len: 1000, frames: []int{1, 2}},
		},
	},
	{
		name: "final fragment short but consistent",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(1000, 17))
			return [][]byte{
				w.frag(t, ipOpt{id: id}, 0, true, tr[:400]),
				w.frag(t, ipOpt{id: id}, 400, true, tr[400:800]),
				w.frag(t, ipOpt{id: id}, 800, false, tr[800:1000]),
			}
		},
		want: []want{{code: CodeUDPShort, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "UDP length larger than the datagram",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 18)))
			binary.BigEndian.PutUint16(f[udpOff+4:], 118)
			return [][]byte{f}
		},
		want: []want{{code: CodeUDPShort, len: 110, frames: []int{1}}},
	},
	{
		name: "UDP length below 8",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 19)))
			binary.BigEndian.PutUint16(f[udpOff+4:], 4)
			return [][]byte{f}
		},
		want: []want{{code: CodeUDPLength, frames: []int{1}}},
	},
	{
		name: "UDP length 0",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 20)))
			binary.BigEndian.PutUint16(f[udpOff+4:], 0)
			binary.BigEndian.PutUint16(f[udpOff+6:], 0)
			return [][]byte{f}
		},
		want: []want{{code: CodeUDPLength, frames: []int{1}}},
	},
	{
		name: "UDP length smaller than the datagram is trimmed",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := append(w.udp(t, sport, dport, pattern(90, 21)), pattern(10, 200)...)
			return [][]byte{w.frame(t, ipOpt{id: id}, tr)}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 90, frames: []int{1}}},
	},
	{
		name: "UDP checksum 0 accepted",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 22))
			tr[6], tr[7] = 0, 0
			return [][]byte{w.frame(t, ipOpt{id: id}, tr)}
		},
		want: []want{{delivered: true, checksum: csumNone, len: 100, frames: []int{1}}},
	},
	{
		name: "empty UDP payload",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			return [][]byte{w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, nil))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 0, frames: []int{1}}},
	},
	{
		name: "Ethernet padding is not payload",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, []byte{1, 2}))
			return [][]byte{append(f, make([]byte, ethMinFrame-len(f))...)}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 2, frames: []int{1}}},
	},
	{
		name: "UDP checksum left partial by offload",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udp(t, sport, dport, pattern(100, 23))
			var pseudo []byte
			pseudo = append(pseudo, w.src...)
			pseudo = append(pseudo, w.dst...)
			pseudo = append(pseudo, 0, 17, byte(len(tr)>>8), byte(len(tr)))
			// ~csum_tcpudp_magic(saddr, daddr, len, IPPROTO_UDP, 0)
			binary.BigEndian.PutUint16(tr[6:], ^gopacket.FoldChecksum(gopacket.ComputeChecksum(pseudo, 0)))
			return [][]byte{w.frame(t, ipOpt{id: id}, tr)}
		},
		want:        []want{{delivered: true, checksum: csumPartial, len: 100, frames: []int{1}}},
		kernelDrops: true,
		kernelWhy:   "a receiver verifies the checksum and drops this; Judge reports it delivered on purpose (package documentation)",
	},
	{
		name: "UDP-Lite checksum 0 dropped",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udplite(sport, dport, 0, pattern(100, 24))
			tr[6], tr[7] = 0, 0
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, tr)}
		},
		want: []want{{code: CodeUDPLiteZero, checksum: csumBad, len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite coverage 4 dropped",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, w.udplite(sport, dport, 4, pattern(100, 25)))}
		},
		want: []want{{code: CodeUDPLiteCoverage, len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite coverage 0 covers everything",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, w.udplite(sport, dport, 0, pattern(100, 26)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite coverage 0 catches a flip anywhere",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udplite(sport, dport, 0, pattern(100, 27))
			tr[100] ^= 1
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, tr)}
		},
		want: []want{{code: CodeUDPChecksum, checksum: csumBad, len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite partial coverage ignores bytes beyond it",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udplite(sport, dport, 20, pattern(100, 28))
			tr[100] ^= 1
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, tr)}
		},
		want: []want{{delivered: true, checksum: "coverage 20", len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite coverage beyond the datagram",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udplite(sport, dport, 0, pattern(100, 29))
			binary.BigEndian.PutUint16(tr[4:], 200)
			return [][]byte{w.frame(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, tr)}
		},
		want: []want{{code: CodeUDPShort, len: 100, frames: []int{1}}},
	},
	{
		name: "UDP-Lite fragmented",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tr := w.udplite(sport, dport, 0, pattern(1000, 30))
			return w.frags(t, ipOpt{id: id, proto: layers.IPProtocolUDPLite}, tr, 400, 800)
		},
		want: []want{{delivered: true, checksum: csumOK, len: 1000, frames: []int{1, 2, 3}}},
	},
	{
		name: "bad IPv4 header checksum",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 31)))
			f[14+10] ^= 0xff
			return [][]byte{f}
		},
		want: []want{{code: CodeIPChecksum, len: 100, frames: []int{1}}},
	},
	{
		name: "IPv4 option length past the header",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			o := ipOpt{id: id, options: []layers.IPv4Option{{OptionType: ipoptRR, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 1}}}
			f := w.frame(t, o, w.udp(t, sport, dport, pattern(100, 32)))
			f[14+21] = 9 // RR claims 9 bytes of the 8 there are
			return [][]byte{refixIP(f)}
		},
		want: []want{{code: CodeIPOptions, len: 100, frames: []int{1}}},
	},
	{
		name: "record-route option accepted",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			o := ipOpt{id: id, options: []layers.IPv4Option{{OptionType: ipoptRR, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 1}}}
			return [][]byte{w.frame(t, o, w.udp(t, sport, dport, pattern(100, 33)))}
		},
		want: []want{{delivered: true, checksum: csumOK, len: 100, frames: []int{1}}},
	},
	{
		name: "IPv4 total length beyond the frame",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			f := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, pattern(100, 34)))
			binary.BigEndian.PutUint16(f[14+2:], 200)
			return [][]byte{refixIP(f)}
		},
		want: []want{{code: CodeIPTruncated, len: 100, frames: []int{1}}},
	},
	{
		name: "frames that are not UDP",
		build: func(t testing.TB, w wire, id, dport uint16) [][]byte {
			tcp := w.frame(t, ipOpt{id: id, proto: layers.IPProtocolTCP}, pattern(40, 35))
			v6 := w.frame(t, ipOpt{id: id}, w.udp(t, sport, dport, nil))
			binary.BigEndian.PutUint16(v6[12:], uint16(layers.EthernetTypeIPv6))
			return [][]byte{tcp, {}, v6, pattern(10, 36)}
		},
		// TCP is counted, not diagnosed; an IPv4 packet under the IPv6
		// EtherType is a version ip6_rcv_core drops.
		diags: []string{"Frame", "IPv6.Version", "Ethernet"},
	},
}
