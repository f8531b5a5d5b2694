package builder

import "encoding/binary"

func putID(ip []byte, id uint16) { binary.BigEndian.PutUint16(ip[4:], id) }

// ipInit writes the fixed IPv4 header fields (checksum left zero; options
// area untouched).
func ipInit(h []byte, ihl int, tos uint8, totLen, frag uint16, ttl, proto uint8, src, dst [4]byte) {
	h[0] = 0x40 | byte(ihl/4)
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], totLen)
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = ttl
	h[9] = proto
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
}
