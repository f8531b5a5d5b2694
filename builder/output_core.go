package builder

import "github.com/udpbuild/udpbuild/header"

// This file re-tells net/ipv6/output_core.c: the fragment identification
// (ipv6_select_ident) and where the fragment header goes
// (ip6_find_1stfragopt).

// ipv6SelectIdent mirrors ipv6_select_ident on 6.18: a random non-zero
// 32-bit value for every datagram ip6_fragment cuts
// (get_random_u32_above(0)); no counter, no per-destination state. The
// model draws it from the run's seed, so a run is reproducible; compare
// treats it as a pattern (report.IDRandom).
func (s *Socket) ipv6SelectIdent() uint32 { return s.random32() }

// random32 is the next non-zero value of the run's seeded stream: what
// the kernel draws with get_random_u32 (fragment IDs, sk_txhash).
func (s *Socket) random32() uint32 {
	for {
		s.rnd++
		if v := uint32(mix(s.idents.seed ^ 0x6970763672616e64 ^ s.rnd<<17)); v != 0 {
			return v
		}
	}
}

// ip6FindFirstFragOpt mirrors ip6_find_1stfragopt over nh, a datagram's
// IPv6 header and extension headers: the offset where the fragmentable
// part starts (hlen) and the offset of the next-header byte that names it
// (prevhdr), which ip6_fragment rewrites to NEXTHDR_FRAGMENT. Hop-by-hop
// and routing headers are unfragmentable; destination options are too,
// unless a routing header came before them (then they are IPV6_DSTOPTS,
// for the final destination): so IPV6_DSTOPTS without a routing header
// stays before the fragment header, in every fragment. ok is false for a
// chain that runs past nh (-EINVAL), which a pushed chain never does.
func ip6FindFirstFragOpt(nh []byte) (hlen, prevhdr int, ok bool) {
	off, prev := header.IPv6MinLen, header.IPv6NextHeaderOffset
	foundRhdr := false
	for off <= len(nh) {
		switch nh[prev] {
		case header.NextHdrHop:
		case header.NextHdrRouting:
			foundRhdr = true
		case header.NextHdrDest:
			if foundRhdr {
				return off, prev, true
			}
		default:
			return off, prev, true
		}
		if off+2 > len(nh) {
			return 0, 0, false
		}
		prev = off
		off += ipv6Optlen(nh[off:])
	}
	return 0, 0, false
}
