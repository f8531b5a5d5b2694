// Package synth writes large synthetic pcap captures fast, for verify's
// memory test and throughput benchmark: a deterministic mix of whole UDP
// datagrams of many sizes, fragmented datagrams, VLAN-tagged and
// VXLAN-tunnelled datagrams, corrupt datagrams, TCP and ARP, and it counts
// what verify must find in them.
//
// Frames are cut from a few templates built once with gopacket; per frame
// only the IPv4 ID (and with it the header checksum) and the record header
// change, so writing runs at memory speed.
package synth

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Counts are what verify must report for a synthetic capture.
type Counts struct {
	Frames, Datagrams, Delivered, Dropped, NotUDP, NotIP int
	Bytes                                                int64 // file size
}

// template is one kind of frame group: the frames of one datagram (or one
// non-UDP frame), with where each frame's IPv4 headers are.
type template struct {
	frames [][]byte
	ipAt   [][]int // offsets of the IPv4 headers whose ID changes
	// verdicts are the datagrams the group holds, dropped how many.
	datagrams, dropped int
	notUDP, notIP      int
	weight             int
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = net.IPv4(10, 1, 0, 1).To4()
	ipB  = net.IPv4(10, 1, 0, 2).To4()
	tunA = net.IPv4(192, 0, 2, 1).To4()
	tunB = net.IPv4(192, 0, 2, 2).To4()
)

func ser(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("synth: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst net.IP, proto layers.IPProtocol, mf bool, off int) *layers.IPv4 {
	var flags layers.IPv4Flag
	if mf {
		flags = layers.IPv4MoreFragments
	}
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Flags: flags, FragOffset: uint16(off / 8), SrcIP: src, DstIP: dst}
}

func udp(src, dst net.IP, n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) + seed
	}
	u := &layers.UDP{SrcPort: 4000, DstPort: 9999}
	_ = u.SetNetworkLayerForChecksum(ip4(src, dst, layers.IPProtocolUDP, false, 0))
	return ser(u, gopacket.Payload(p))
}

func eth(t layers.EthernetType, p []byte) []byte {
	return ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}, gopacket.Payload(p))
}

// templates builds the mix.
func templates() []template {
	var ts []template
	// Whole datagrams of many sizes.
	for _, n := range []int{18, 64, 200, 512, 1000, 1472} {
		f := eth(layers.EthernetTypeIPv4, ser(ip4(ipA, ipB, layers.IPProtocolUDP, false, 0), gopacket.Payload(udp(ipA, ipB, n, byte(n)))))
		ts = append(ts, template{frames: [][]byte{f}, ipAt: [][]int{{14}}, datagrams: 1, weight: 10})
	}
	// A corrupt one.
	bad := eth(layers.EthernetTypeIPv4, ser(ip4(ipA, ipB, layers.IPProtocolUDP, false, 0), gopacket.Payload(udp(ipA, ipB, 300, 1))))
	bad[len(bad)-1] ^= 0xff
	ts = append(ts, template{frames: [][]byte{bad}, ipAt: [][]int{{14}}, datagrams: 1, dropped: 1, weight: 1})
	// A 4000-byte datagram in three fragments.
	u := udp(ipA, ipB, 4000, 9)
	var frags [][]byte
	for at := 0; at < len(u); at += 1480 {
		end := min(at+1480, len(u))
		frags = append(frags, eth(layers.EthernetTypeIPv4, ser(ip4(ipA, ipB, layers.IPProtocolUDP, end < len(u), at), gopacket.Payload(u[at:end]))))
	}
	ts = append(ts, template{frames: frags, ipAt: [][]int{{14}, {14}, {14}}, datagrams: 1, weight: 4})
	// VLAN-tagged.
	vl := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4},
		ip4(ipA, ipB, layers.IPProtocolUDP, false, 0), gopacket.Payload(udp(ipA, ipB, 700, 2)))
	ts = append(ts, template{frames: [][]byte{vl}, ipAt: [][]int{{18}}, datagrams: 1, weight: 6})
	// VXLAN: the outer datagram and the inner one.
	inner := eth(layers.EthernetTypeIPv4, ser(ip4(ipA, ipB, layers.IPProtocolUDP, false, 0), gopacket.Payload(udp(ipA, ipB, 400, 3))))
	vx := ser(&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(inner))
	ou := &layers.UDP{SrcPort: 49152, DstPort: 4789}
	_ = ou.SetNetworkLayerForChecksum(ip4(tunA, tunB, layers.IPProtocolUDP, false, 0))
	ob := ser(ou, gopacket.Payload(vx))
	ob[6], ob[7] = 0, 0
	vf := eth(layers.EthernetTypeIPv4, ser(ip4(tunA, tunB, layers.IPProtocolUDP, false, 0), gopacket.Payload(ob)))
	ts = append(ts, template{frames: [][]byte{vf}, ipAt: [][]int{{14, 14 + 20 + 8 + 8 + 14}}, datagrams: 2, weight: 2})
	// TCP and ARP.
	tip := ip4(ipA, ipB, layers.IPProtocolTCP, false, 0)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(tip)
	tf := eth(layers.EthernetTypeIPv4, ser(tip, tcp, gopacket.Payload(make([]byte, 1000))))
	ts = append(ts, template{frames: [][]byte{tf}, ipAt: [][]int{{14}}, notUDP: 1, weight: 5})
	arp := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ipA, DstHwAddress: make([]byte, 6), DstProtAddress: ipB})
	ts = append(ts, template{frames: [][]byte{arp}, ipAt: [][]int{nil}, notIP: 1, weight: 1})
	return ts
}

// setID writes an IPv4 ID and refreshes the header checksum.
func setID(h []byte, id uint16) {
	binary.BigEndian.PutUint16(h[4:6], id)
	h[10], h[11] = 0, 0
	ihl := int(h[0]&0x0f) * 4
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:12], ^uint16(sum))
}

// Write writes a pcap capture of about size bytes (whole groups: never
// less, at most one group more) to w and returns its counts.
func Write(w io.Writer, size int64, seed uint64) (Counts, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	ts := templates()
	var pick []int
	for i, t := range ts {
		for range t.weight {
			pick = append(pick, i)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var c Counts
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(layers.LinkTypeEthernet))
	if _, err := bw.Write(hdr[:]); err != nil {
		return c, err
	}
	c.Bytes = 24
	var id uint16
	var usec uint64
	var rec [16]byte
	for c.Bytes < size {
		t := &ts[pick[rng.IntN(len(pick))]]
		id++
		for k, f := range t.frames {
			for _, at := range t.ipAt[k] {
				setID(f[at:], id)
			}
			usec += 10
			binary.LittleEndian.PutUint32(rec[0:], uint32(1767225600+usec/1e6))
			binary.LittleEndian.PutUint32(rec[4:], uint32(usec%1e6))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
			if _, err := bw.Write(rec[:]); err != nil {
				return c, err
			}
			if _, err := bw.Write(f); err != nil {
				return c, err
			}
			c.Bytes += int64(16 + len(f))
			c.Frames++
		}
		c.Datagrams += t.datagrams
		c.Dropped += t.dropped
		c.Delivered += t.datagrams - t.dropped
		c.NotUDP += t.notUDP
		c.NotIP += t.notIP
	}
	return c, bw.Flush()
}
