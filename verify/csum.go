package verify

import (
	"encoding/binary"
	"net/netip"
)

// sum16 adds b to acc as big-endian 16-bit words, the way csum_partial
// accumulates a one's-complement sum: an odd trailing byte is padded with a
// zero. The accumulator is 64 bits wide so that no carry is lost before
// fold16; 64 KiB of input cannot overflow it.
//
// Pairs of words are taken as one 32-bit word, 32 bytes per pass: the two
// halves land in different 16-bit lanes, which fold16 adds together again.
// It stays independent of header.Checksum (no carry chain, no byte swap)
// while making a sixteenth of the passes; a libFuzzer build calls a
// comparison hook on every pass, so the loop count is what FuzzScenario's
// libFuzzer binary spent most of its time on.
func sum16(acc uint64, b []byte) uint64 {
	for len(b) >= 32 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:])) + uint64(binary.BigEndian.Uint32(b[20:])) +
			uint64(binary.BigEndian.Uint32(b[24:])) + uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold16 folds a one's-complement accumulator to 16 bits with end-around
// carry (csum_fold without the final complement).
func fold16(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// pseudoSum is the pseudo-header sum: for IPv4 what csum_tcpudp_nofold
// computes (source, destination, protocol and transport length), for IPv6
// what csum_ipv6_magic does (the same fields, the addresses of 16 bytes and
// the length as 32 bits, which adds the same). src and dst are of one
// family.
func pseudoSum(src, dst netip.Addr, proto uint8, length int) uint64 {
	var acc uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum16(sum16(0, s[:]), d[:])
	} else {
		s, d := src.As16(), dst.As16()
		acc = sum16(sum16(0, s[:]), d[:])
	}
	acc += uint64(proto)
	acc += uint64(length)
	return acc
}

// ipHeaderOK reports whether an IPv4 header's checksum verifies
// (ip_fast_csum over ihl words is zero).
func ipHeaderOK(hdr []byte) bool {
	return fold16(sum16(0, hdr)) == 0xffff
}
