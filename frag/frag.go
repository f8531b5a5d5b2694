// Package frag is the fragmentation plan of the kernel's IP output path:
// where ip_do_fragment (net/ipv4/ip_output.c) cuts a datagram that is longer
// than the MTU. It is pure arithmetic on lengths: which of the two paths
// applies, and how many data bytes each fragment carries. Writing the
// fragments' headers is the address family's business (ip_do_fragment
// rewrites the IPv4 header; ip6_fragment inserts a fragment header), so
// the plan knows no header format.
//
// Both paths exist in ip6_fragment too, with the same geometry rules, so
// IPv6 plans with the same functions, given its own data space (the MTU
// less the unfragmentable headers and the fragment header).
package frag

// Plan is where a datagram is cut.
type Plan struct {
	// Sizes is the number of data bytes (after the network header) in
	// each fragment, in order; all but the last are multiples of 8.
	Sizes []int
	// Fast is set when the fast path cut it: each skb of the frag list
	// became one fragment. Otherwise the slow path cut space-sized,
	// 8-byte aligned pieces (ip_frag_next).
	Fast bool
}

// Make plans the fragmentation of a datagram of length data bytes (after
// the network header) built as the frag list skbs (each skb's data length;
// the first includes the transport header), for fragments of at most space
// data bytes each (the MTU less the network header). The fast path's plan
// is skbs itself; the slow path's sizes are appended to buf[:0], which the
// caller keeps to reuse.
func Make(skbs []int, length, space int, buf []int) Plan {
	if FastPath(skbs, space) {
		return Plan{Sizes: skbs, Fast: true}
	}
	return Plan{Sizes: SlowPath(buf[:0], length, space)}
}

// FastPath applies ip_do_fragment's geometry checks to the frag list: there
// is a list (more than the head), and the head and every skb but the last
// fit the data space and are a multiple of 8 bytes (the last need only
// fit).
func FastPath(skbs []int, space int) bool {
	if len(skbs) < 2 {
		return false
	}
	if skbs[0] > space || skbs[0]&7 != 0 {
		return false
	}
	for i, n := range skbs[1:] {
		if n > space || (n&7 != 0 && i < len(skbs)-2) {
			return false
		}
	}
	return true
}

// SlowPath appends to dst the sizes ip_frag_next cuts length data bytes
// into: space bytes at most, rounded down to a multiple of 8 unless the
// piece is the last.
func SlowPath(dst []int, length, space int) []int {
	for left := length; left > 0; {
		n := min(left, space)
		if n < left {
			n &^= 7
		}
		dst = append(dst, n)
		left -= n
	}
	return dst
}
