package verify

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// wire describes the link and addresses test frames are built for.
type wire struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       net.IP
}

var testWire = wire{
	srcMAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
	dstMAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
	src:    net.IPv4(10, 9, 0, 1).To4(),
	dst:    net.IPv4(10, 9, 0, 2).To4(),
}

// ipOpt are the IPv4 header fields a test chooses.
type ipOpt struct {
	id      uint16
	proto   layers.IPProtocol
	mf, df  bool
	off     int // bytes, a multiple of 8
	tos     uint8
	options []layers.IPv4Option
}

// serialize runs gopacket.SerializeLayers with lengths and checksums fixed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func (w wire) ip4(o ipOpt) *layers.IPv4 {
	proto := o.proto
	if proto == 0 {
		proto = layers.IPProtocolUDP
	}
	var flags layers.IPv4Flag
	if o.mf {
		flags |= layers.IPv4MoreFragments
	}
	if o.df {
		flags |= layers.IPv4DontFragment
	}
	return &layers.IPv4{Version: 4, TTL: 64, TOS: o.tos, Id: o.id, Protocol: proto, Flags: flags,
		FragOffset: uint16(o.off / 8), SrcIP: w.src, DstIP: w.dst, Options: o.options}
}

// udp returns a UDP header and payload with the checksum gopacket computes.
func (w wire) udp(t testing.TB, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(w.ip4(ipOpt{})); err != nil {
		t.Fatal(err)
	}
	return serialize(t, u, gopacket.Payload(payload))
}

// udplite returns a UDP-Lite header (coverage field cov) and payload with a
// checksum over the covered bytes, computed with gopacket's helpers.
func (w wire) udplite(sport, dport, cov uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], cov)
	copy(b[8:], payload)
	n := int(cov)
	if n == 0 || n > len(b) {
		n = len(b)
	}
	var pseudo []byte
	pseudo = append(pseudo, w.src...)
	pseudo = append(pseudo, w.dst...)
	pseudo = append(pseudo, 0, 136, byte(len(b)>>8), byte(len(b)))
	c := gopacket.FoldChecksum(gopacket.ComputeChecksum(b[:n], gopacket.ComputeChecksum(pseudo, 0)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

// frame wraps transport bytes in IPv4 (header per o) and Ethernet.
func (w wire) frame(t testing.TB, o ipOpt, transport []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: w.srcMAC, DstMAC: w.dstMAC, EthernetType: layers.EthernetTypeIPv4}
	return serialize(t, eth, w.ip4(o), gopacket.Payload(transport))
}

// frags cuts transport at the given byte offsets into fragment frames, in
// order; MF is set on all but the last.
func (w wire) frags(t testing.TB, o ipOpt, transport []byte, cuts ...int) [][]byte {
	t.Helper()
	var out [][]byte
	at := 0
	for k := 0; k <= len(cuts); k++ {
		end := len(transport)
		if k < len(cuts) {
			end = cuts[k]
		}
		fo := o
		fo.off = at
		fo.mf = k < len(cuts)
		out = append(out, w.frame(t, fo, transport[at:end]))
		at = end
	}
	return out
}

// frag builds one fragment frame carrying data at offset off.
func (w wire) frag(t testing.TB, o ipOpt, off int, mf bool, data []byte) []byte {
	t.Helper()
	o.off, o.mf = off, mf
	return w.frame(t, o, data)
}

// refixIP recomputes the IPv4 header checksum of an Ethernet frame after a
// test has edited the header.
func refixIP(f []byte) []byte {
	h := f[14:]
	ihl := int(h[0]&0x0f) * 4
	h[10], h[11] = 0, 0
	c := gopacket.FoldChecksum(gopacket.ComputeChecksum(h[:ihl], 0))
	binary.BigEndian.PutUint16(h[10:], c)
	return f
}

// udpOff is where the UDP header starts in a frame built by frame (no
// options).
const udpOff = 14 + 20

// pattern returns n bytes that differ from position to position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}
