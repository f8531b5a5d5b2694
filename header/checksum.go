// Package header holds typed views over IPv4 and UDP header bytes and the
// Internet checksum. Views are byte slices with named accessors (the gVisor
// pkg/tcpip/header style): no copying, no reflection.
package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the one's complement sum of b folded to 16 bits and added
// to initial, as the kernel's csum_partial followed by csum_fold (without the
// final complement). An odd trailing byte is padded with zero, as RFC 1071
// requires.
//
// The sum is byte-order independent (RFC 1071, 2.B), so it is taken over
// native little-endian words and byte-swapped once at the end. Each 64-byte
// block feeds 40 bytes to one add-with-carry chain (bits.Add64) and 24
// bytes, as 32-bit words, to two plain 64-bit accumulators: the chain is
// limited by its single carry flag, and the accumulators keep the other ALUs
// busy meanwhile (about 1.4x the chain alone).
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(bits.ReverseBytes16(initial))
	// A chunk of 16 MiB adds at most 2^20 * 3 words of 32 bits to each
	// side accumulator: far below 2^64.
	const chunk = 16 << 20
	for len(b) > chunk {
		sum = addCarry(sum, checksumBlock(b[:chunk]))
		b = b[chunk:]
	}
	sum = addCarry(sum, checksumBlock(b))
	return bits.ReverseBytes16(fold64(sum))
}

func addCarry(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}

// checksumBlock is the unfolded 64-bit one's complement sum of b's
// little-endian words.
func checksumBlock(b []byte) uint64 {
	var sum, c, a0, a1 uint64
	for len(b) >= 64 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[0:8]), 0)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:16]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[16:24]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[24:32]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[32:40]), c)
		sum += c
		a0 += uint64(binary.LittleEndian.Uint32(b[40:44]))
		a1 += uint64(binary.LittleEndian.Uint32(b[44:48]))
		a0 += uint64(binary.LittleEndian.Uint32(b[48:52]))
		a1 += uint64(binary.LittleEndian.Uint32(b[52:56]))
		a0 += uint64(binary.LittleEndian.Uint32(b[56:60]))
		a1 += uint64(binary.LittleEndian.Uint32(b[60:64]))
		b = b[64:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[:8]), 0)
		sum += c
		b = b[8:]
	}
	if len(b) >= 4 {
		a0 += uint64(binary.LittleEndian.Uint32(b[:4]))
		b = b[4:]
	}
	if len(b) >= 2 {
		a1 += uint64(binary.LittleEndian.Uint16(b[:2]))
		b = b[2:]
	}
	if len(b) == 1 {
		// In little-endian words a trailing byte is the low byte.
		a0 += uint64(b[0])
	}
	return addCarry(addCarry(sum, a0), a1)
}

// fold64 folds a 64-bit one's complement accumulator to 16 bits with
// end-around carries.
func fold64(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// Combine adds two folded sums with an end-around carry (csum16_add).
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeaderSum is the folded sum of the IPv4 pseudo-header of RFC 768
// (source, destination, protocol, length): csum_tcpudp_nofold folded. The
// kernel stores its value, uncomplemented, in the checksum field of a
// CHECKSUM_PARTIAL packet (~csum_tcpudp_magic(..., 0)).
func PseudoHeaderSum(src, dst [4]byte, proto uint8, length uint16) uint16 {
	s := uint32(binary.BigEndian.Uint16(src[0:2])) + uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) + uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) + uint32(length)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// CsumMangled0 is what UDP puts on the wire when the computed checksum is 0:
// 0 means "no checksum" in UDP (CSUM_MANGLED_0 in the kernel).
const CsumMangled0 = 0xffff
