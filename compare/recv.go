package compare

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// This file compares the receiving side of two runs: the peer sockets'
// set-up, each recv step's calls, the SNMP counters, and the peer's ICMP
// errors. A report from before the receiving side existed (a golden
// captured then) has no peer_setup and no counters: those are compared
// only when both reports have them.

// receiving returns the differences of the receiving side.
func receiving(kernel, model *report.Report) []Difference {
	var out []Difference
	add := func(step int, field, k, m string) {
		out = append(out, Difference{Frame: -1, Step: step, Field: field, Kernel: k, Model: m})
	}
	if len(kernel.PeerSetup) > 0 && len(model.PeerSetup) > 0 {
		if len(kernel.PeerSetup) != len(model.PeerSetup) {
			add(-1, "peer setup: number of calls", fmt.Sprint(len(kernel.PeerSetup)), fmt.Sprint(len(model.PeerSetup)))
		} else {
			for i := range kernel.PeerSetup {
				if k, m := kernel.PeerSetup[i], model.PeerSetup[i]; !k.Equal(m) {
					add(-1, fmt.Sprintf("peer setup %d", i), peerCall(k), peerCall(m))
				}
			}
		}
	}
	for i := range min(len(kernel.Steps), len(model.Steps)) {
		k, m := kernel.Steps[i].Recv, model.Steps[i].Recv
		if len(k) != len(m) {
			add(i, "recv: number of calls", fmt.Sprint(len(k)), fmt.Sprint(len(m)))
			continue
		}
		for j := range k {
			if !k[j].Equal(m[j]) {
				add(i, fmt.Sprintf("recv call %d", j), k[j].String(), m[j].String())
			}
		}
	}
	if kernel.Counters != nil && model.Counters != nil {
		keys := map[string]bool{}
		for k := range kernel.Counters {
			keys[k] = true
		}
		for k := range model.Counters {
			keys[k] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, n := range names {
			if kv, mv := kernel.Counters[n], model.Counters[n]; kv != mv {
				add(-1, "counter "+n, fmt.Sprint(kv), fmt.Sprint(mv))
			}
		}
	}
	return out
}

// peerCall renders a peer set-up call: "socket 1 bind -1 EADDRINUSE".
func peerCall(s report.Step) string {
	var b strings.Builder
	if s.Socket != nil {
		fmt.Fprintf(&b, "socket %d ", *s.Socket)
	}
	b.WriteString(s.Op)
	if s.Opt != "" {
		b.WriteString(" " + s.Opt)
	}
	return b.String() + " " + s.String()
}

// compareICMP compares two ICMP (v4 = true) or ICMPv6 messages the peer
// sent: type, code and the rest of the header exactly, then the packet
// they quote. In the quoted header the fields the sender's kernel drew at
// random (the IPv4 ID and with it the header checksum, the IPv6 flow
// label) are excused, and so is the message's checksum then, which must
// still be valid on both sides (ICMPv6's is checked with sum6, the
// pseudo-header's sum of each side).
func compareICMP(k, m []byte, v4 bool, sum6 [2]uint32) []Difference {
	var out []Difference
	add := func(field string, kv, mv any) {
		out = append(out, Difference{Field: field, Kernel: fmt.Sprint(kv), Model: fmt.Sprint(mv)})
	}
	if len(k) < 8 || len(m) < 8 {
		if !bytes.Equal(k, m) {
			add("ICMP message", fmt.Sprintf("% x", k), fmt.Sprintf("% x", m))
		}
		return out
	}
	if k[0] != m[0] || k[1] != m[1] {
		add("ICMP type/code", fmt.Sprintf("%d/%d", k[0], k[1]), fmt.Sprintf("%d/%d", m[0], m[1]))
	}
	if !bytes.Equal(k[4:8], m[4:8]) {
		add("ICMP header bytes 4..7", fmt.Sprintf("% x", k[4:8]), fmt.Sprintf("% x", m[4:8]))
	}
	kq, mq := slices.Clone(k[8:]), slices.Clone(m[8:])
	// The excused fields of the quoted header, zeroed on both sides.
	var mask [][2]int
	switch {
	case v4 && len(kq) >= header.IPv4MinLen && len(mq) >= header.IPv4MinLen:
		mask = [][2]int{{4, 6}, {10, 12}}
	case !v4 && len(kq) >= 4 && len(mq) >= 4:
		kq[1] &= 0xf0
		mq[1] &= 0xf0
		mask = [][2]int{{2, 4}}
	}
	excused := false
	for _, r := range mask {
		excused = excused || !bytes.Equal(kq[r[0]:r[1]], mq[r[0]:r[1]])
		clear(kq[r[0]:r[1]])
		clear(mq[r[0]:r[1]])
	}
	// A quoted IPv4 header's timestamp options hold the sender's clock, as
	// the sender's own frames do (maskTimestamps): a router's ICMP quotes
	// them (issue 16's icmp steps).
	if v4 && len(kq) >= header.IPv4MinLen && len(mq) >= header.IPv4MinLen {
		if ihl := int(kq[0]&0x0f) * 4; ihl > header.IPv4MinLen && ihl == int(mq[0]&0x0f)*4 && len(kq) >= ihl && len(mq) >= ihl {
			ko, mo := maskTimestamps(kq[header.IPv4MinLen:ihl]), maskTimestamps(mq[header.IPv4MinLen:ihl])
			excused = excused || !bytes.Equal(kq[header.IPv4MinLen:ihl], mq[header.IPv4MinLen:ihl])
			copy(kq[header.IPv4MinLen:], ko)
			copy(mq[header.IPv4MinLen:], mo)
		}
	}
	// A quoted IPv6 fragment's identification is drawn at random per
	// datagram (ipv6_select_ident), as in the sender's own frames.
	if !v4 && len(kq) >= header.IPv6MinLen && len(mq) >= header.IPv6MinLen {
		for _, q := range [][]byte{kq, mq} {
			if off, ok := quotedFragID(q); ok && len(kq) >= off+4 && len(mq) >= off+4 {
				excused = excused || !bytes.Equal(kq[off:off+4], mq[off:off+4])
				clear(kq[off : off+4])
				clear(mq[off : off+4])
			}
		}
	}
	excused = excused || (!v4 && (k[9]&0x0f != m[9]&0x0f))
	if !bytes.Equal(kq, mq) {
		i := 0
		for i < len(kq) && i < len(mq) && kq[i] == mq[i] {
			i++
		}
		if len(kq) != len(mq) {
			add("ICMP quoted packet length", len(kq), len(mq))
		} else {
			add(fmt.Sprintf("ICMP quoted packet byte %d", i), fmt.Sprintf("%#02x", kq[i]), fmt.Sprintf("%#02x", mq[i]))
		}
	}
	if !bytes.Equal(k[2:4], m[2:4]) && (!excused || !validICMPSum(k, sum6[0], v4) || !validICMPSum(m, sum6[1], v4)) {
		add("ICMP checksum", fmt.Sprintf("%#04x", binary.BigEndian.Uint16(k[2:])), fmt.Sprintf("%#04x", binary.BigEndian.Uint16(m[2:])))
	}
	return out
}

// quotedFragID finds the identification of a fragment header in a quoted
// IPv6 packet q: its offset in q.
func quotedFragID(q []byte) (int, bool) {
	w := header.WalkIPv6Ext(header.IPv6(q).NextHeader(), q[header.IPv6MinLen:])
	for w.Next() {
		if h := w.Header(); h.Type == header.NextHdrFragment {
			return header.IPv6MinLen + h.Offset + 4, true
		}
	}
	return 0, false
}

// validICMPSum checks an ICMP message's checksum (with pseudo, the
// pseudo-header's sum, for ICMPv6).
func validICMPSum(msg []byte, pseudo uint32, v4 bool) bool {
	sum := uint32(0)
	if !v4 {
		sum = pseudo
	}
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(msg[i:]))
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// pseudoSum6 is the sum of an ICMPv6 message's pseudo-header.
func pseudoSum6(h header.IPv6, length int) uint32 {
	sum := uint32(0)
	for i := 8; i < 40; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	return sum + uint32(length>>16) + uint32(length&0xffff) + uint32(header.NextHdrICMP)
}

// protoICMP is IPPROTO_ICMP.
const protoICMP = 1
