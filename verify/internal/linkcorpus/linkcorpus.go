// Package linkcorpus builds verify's corpus of small captures, one per link
// type and encapsulation, and says what verify must find in each. The
// captures are made here with gopacket's serializers and pcapgo (and by
// hand for the few link headers gopacket cannot write), never downloaded;
// verify/testdata/captures holds them as files (go run
// ./verify/internal/linkcorpus/gen) and the tests check the files are
// exactly what this package builds.
package linkcorpus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Verdict is one verdict verify must give.
type Verdict struct {
	Frames []int
	// Result is "delivered", "dropped" or "not captured"; Code the drop
	// code.
	Result string
	Code   string
	// Where is the verdict's Where, exactly.
	Where string
	// Len is the UDP payload length.
	Len int
}

// Capture is one file of the corpus.
type Capture struct {
	Name  string // file name
	About string // one line: what it holds
	File  []byte
	// Verdicts are every verdict, in the order verify writes them.
	Verdicts []Verdict
	// The IPv6 packets verify must judge (Stats.IPv6), the counts it
	// must skip, and the diagnostics it must write.
	IPv6, NotUDP, NotIP, Diagnostics int
	// Tshark is set when tshark 4.0 reads the file the same way, so its
	// IPv4 IDs and UDP checksum statuses can be compared frame by frame.
	Tshark bool
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = net.IPv4(10, 1, 0, 1).To4()
	ipB  = net.IPv4(10, 1, 0, 2).To4()
	// Tunnel endpoints.
	tunA = net.IPv4(192, 0, 2, 1).To4()
	tunB = net.IPv4(192, 0, 2, 2).To4()
)

// epoch is the first frame's capture time.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	sport, dport = 4000, 9999
	outerWhere   = "in IPv4 192.0.2.1 → 192.0.2.2"
)

// ser serializes layers with lengths and checksums fixed.
func ser(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("linkcorpus: serialize: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

// payload returns n bytes that differ from position to position.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// ip4 is an IPv4 header; frag sets MF and the offset (bytes).
func ip4(src, dst net.IP, id uint16, proto layers.IPProtocol, mf bool, off int) *layers.IPv4 {
	var flags layers.IPv4Flag
	if mf {
		flags = layers.IPv4MoreFragments
	}
	return &layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: proto, Flags: flags, FragOffset: uint16(off / 8), SrcIP: src, DstIP: dst}
}

// udpBytes is a UDP header and payload checksummed for src → dst.
func udpBytes(src, dst net.IP, sp, dp uint16, p []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	_ = u.SetNetworkLayerForChecksum(ip4(src, dst, 0, layers.IPProtocolUDP, false, 0))
	return ser(u, gopacket.Payload(p))
}

// ipUDP is an IPv4 packet of a whole UDP datagram, 10.1.0.1:4000 →
// 10.1.0.2:9999, with n payload bytes.
func ipUDP(id uint16, n int) []byte {
	return ser(ip4(ipA, ipB, id, layers.IPProtocolUDP, false, 0), gopacket.Payload(udpBytes(ipA, ipB, sport, dport, payload(n, byte(id)))))
}

// ipUDPBad is ipUDP with a payload byte flipped: a bad UDP checksum.
func ipUDPBad(id uint16, n int) []byte {
	b := ipUDP(id, n)
	b[len(b)-1] ^= 0xff
	return b
}

// ipFrags cuts a UDP datagram of n payload bytes into IPv4 fragments at
// the given offsets of its UDP bytes.
func ipFrags(src, dst net.IP, id uint16, udp []byte, cuts ...int) [][]byte {
	var out [][]byte
	at := 0
	for k := 0; k <= len(cuts); k++ {
		end := len(udp)
		if k < len(cuts) {
			end = cuts[k]
		}
		out = append(out, ser(ip4(src, dst, id, layers.IPProtocolUDP, k < len(cuts), at), gopacket.Payload(udp[at:end])))
		at = end
	}
	return out
}

// ether wraps a payload of EtherType t in Ethernet.
func ether(t layers.EthernetType, p []byte) []byte {
	return ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}, gopacket.Payload(p))
}

// frame is one record: bytes, the captured length (0: all) and a time
// offset from epoch.
type frame struct {
	data []byte
	cap  int
	at   time.Duration
}

func fr(b []byte) frame { return frame{data: b} }

// pcapFile writes frames as a pcap file of link type lt, one a
// millisecond unless a frame says otherwise.
func pcapFile(lt layers.LinkType, snaplen uint32, frames ...frame) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(snaplen, lt); err != nil {
		panic(err)
	}
	for i, f := range frames {
		n := len(f.data)
		if f.cap > 0 {
			n = f.cap
		}
		at := f.at
		if at == 0 {
			at = time.Duration(i) * time.Millisecond
		}
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(at), CaptureLength: n, Length: len(f.data)}
		if err := w.WritePacket(ci, f.data[:n]); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// udpVerdict is a verdict on one UDP datagram.
func udpVerdict(result, code, where string, n int, frames ...int) Verdict {
	return Verdict{Frames: frames, Result: result, Code: code, Where: where, Len: n}
}

func delivered(where string, n int, frames ...int) Verdict {
	return udpVerdict("delivered", "", where, n, frames...)
}

// All builds the corpus.
func All() []Capture {
	cs := []Capture{
		ethernet(), vlan(), qinq(), mpls(), pppoe(), gre(), ipip(), vxlan(), geneve(), gtpu(),
		tunnelFragments(), sll(), sll2(), raw(), null(), ppp(), pppHDLC(), ciscoHDLC(), radiotap(),
		fddi(), pflog(), nflog(), pktap(), unknownLink(), multiInterface(), snaplen(), timeout(),
	}
	return cs
}

func ethernet() Capture {
	udp := udpBytes(ipA, ipB, sport, dport, payload(1000, 3))
	f := ipFrags(ipA, ipB, 3, udp, 400, 800)
	tcpIP := ip4(ipA, ipB, 2, layers.IPProtocolTCP, false, 0)
	tcpL := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, Window: 1000}
	_ = tcpL.SetNetworkLayerForChecksum(tcpIP)
	tcp := ser(tcpIP, tcpL)
	arp := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ipA, DstHwAddress: make([]byte, 6), DstProtAddress: ipB})
	v6 := ser(&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")},
		gopacket.Payload(make([]byte, 16)))
	// The IPv6 datagram's UDP header is all zeros: length 0 (the whole
	// datagram, as for a jumbogram) and checksum 0, which __udp6_lib_rcv
	// drops.
	return Capture{Name: "ethernet.pcap", About: "Ethernet: a UDP datagram, TCP, ARP, a datagram in three fragments, IPv6",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(ether(layers.EthernetTypeIPv4, ipUDP(1, 100))),
			fr(ether(layers.EthernetTypeIPv4, tcp)), fr(arp),
			fr(ether(layers.EthernetTypeIPv4, f[0])), fr(ether(layers.EthernetTypeIPv4, f[1])), fr(ether(layers.EthernetTypeIPv4, f[2])),
			fr(ether(layers.EthernetTypeIPv6, v6))),
		Verdicts: []Verdict{delivered("", 100, 1), delivered("", 1000, 4, 5, 6), udpVerdict("dropped", "udp6-zero-checksum", "", 8, 7)},
		NotUDP:   1, NotIP: 1, IPv6: 1, Tshark: true}
}

func vlan() Capture {
	tag := func(id uint16, t layers.EthernetType, p []byte) []byte {
		return ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: id, Type: t}, gopacket.Payload(p))
	}
	return Capture{Name: "vlan.pcap", About: "802.1Q VLAN 5: a good and a corrupt datagram",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(tag(5, layers.EthernetTypeIPv4, ipUDP(1, 100))),
			fr(tag(5, layers.EthernetTypeIPv4, ipUDPBad(2, 100)))),
		Verdicts: []Verdict{delivered("VLAN 5", 100, 1), udpVerdict("dropped", "udp-checksum", "VLAN 5", 100, 2)},
		Tshark:   true}
}

func qinq() Capture {
	f := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeQinQ},
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, gopacket.Payload(ipUDP(1, 100)))
	return Capture{Name: "qinq.pcap", About: "QinQ: 802.1ad tag 100 around 802.1Q tag 5",
		File:     pcapFile(layers.LinkTypeEthernet, 65535, fr(f)),
		Verdicts: []Verdict{delivered("VLAN 5 in VLAN 100 (802.1ad)", 100, 1)}, Tshark: true}
}

func mpls() Capture {
	f := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeMPLSUnicast},
		&layers.MPLS{Label: 16, TTL: 64}, &layers.MPLS{Label: 17, StackBottom: true, TTL: 64}, gopacket.Payload(ipUDP(1, 100)))
	return Capture{Name: "mpls.pcap", About: "MPLS: labels 16 and 17",
		File:     pcapFile(layers.LinkTypeEthernet, 65535, fr(f)),
		Verdicts: []Verdict{delivered("MPLS label 17 in MPLS label 16", 100, 1)}, Tshark: true}
}

func pppoe() Capture {
	ip := ipUDP(1, 100)
	f := ser(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypePPPoESession},
		&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 17, Length: uint16(len(ip) + 2)},
		&layers.PPP{PPPType: layers.PPPTypeIPv4}, gopacket.Payload(ip))
	return Capture{Name: "pppoe.pcap", About: "PPPoE session 17, PPP, IPv4",
		File:     pcapFile(layers.LinkTypeEthernet, 65535, fr(f)),
		Verdicts: []Verdict{delivered("PPPoE session 17", 100, 1)}, Tshark: true}
}

// outerIP wraps a payload of protocol proto in IPv4 192.0.2.1 →
// 192.0.2.2 and Ethernet.
func outerIP(id uint16, proto layers.IPProtocol, p []byte) []byte {
	return ether(layers.EthernetTypeIPv4, ser(ip4(tunA, tunB, id, proto, false, 0), gopacket.Payload(p)))
}

func gre() Capture {
	plain := ser(&layers.GRE{Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(ipUDP(1, 100)))
	keyed := ser(&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: true, Key: 7},
		gopacket.Payload(ether(layers.EthernetTypeIPv4, ipUDP(2, 100))))
	csum := ser(&layers.GRE{Protocol: layers.EthernetTypeIPv4, ChecksumPresent: true}, gopacket.Payload(ipUDP(3, 100)))
	badCsum := ser(&layers.GRE{Protocol: layers.EthernetTypeIPv4, ChecksumPresent: true}, gopacket.Payload(ipUDP(4, 100)))
	badCsum[4] ^= 0xff
	return Capture{Name: "gre.pcap", About: "GRE: IPv4 inside; Ethernet inside (key 7); with a good and a bad GRE checksum",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(outerIP(11, layers.IPProtocolGRE, plain)), fr(outerIP(12, layers.IPProtocolGRE, keyed)),
			fr(outerIP(13, layers.IPProtocolGRE, csum)), fr(outerIP(14, layers.IPProtocolGRE, badCsum))),
		Verdicts: []Verdict{delivered("GRE "+outerWhere, 100, 1), delivered("GRE key 7 "+outerWhere, 100, 2),
			delivered("GRE "+outerWhere, 100, 3), {Frames: []int{4}, Result: "dropped", Code: "gre-checksum"}},
		Tshark: true}
}

func ipip() Capture {
	return Capture{Name: "ipip.pcap", About: "IP-in-IP: a good and a corrupt inner datagram",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(outerIP(11, layers.IPProtocolIPv4, ipUDP(1, 100))),
			fr(outerIP(12, layers.IPProtocolIPv4, ipUDPBad(2, 100)))),
		Verdicts: []Verdict{delivered("IP-in-IP "+outerWhere, 100, 1), udpVerdict("dropped", "udp-checksum", "IP-in-IP "+outerWhere, 100, 2)},
		Tshark:   true}
}

// outerUDP wraps a UDP payload to port dp in UDP (checksum 0, as tunnels
// send it), IPv4 192.0.2.1 → 192.0.2.2 and Ethernet.
func outerUDP(id, dp uint16, p []byte, csum bool) []byte {
	u := &layers.UDP{SrcPort: 49152, DstPort: layers.UDPPort(dp)}
	ip := ip4(tunA, tunB, id, layers.IPProtocolUDP, false, 0)
	_ = u.SetNetworkLayerForChecksum(ip)
	b := ser(u, gopacket.Payload(p))
	if !csum {
		b[6], b[7] = 0, 0
	}
	return ether(layers.EthernetTypeIPv4, ser(ip, gopacket.Payload(b)))
}

func vxlan() Capture {
	inner := func(ip []byte) []byte {
		return ser(&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(ether(layers.EthernetTypeIPv4, ip)))
	}
	good, bad := inner(ipUDP(1, 100)), inner(ipUDPBad(2, 100))
	corrupt := outerUDP(13, 4789, inner(ipUDP(3, 100)), true)
	corrupt[len(corrupt)-1] ^= 0xff
	w := "VXLAN vni 42 " + outerWhere
	return Capture{Name: "vxlan.pcap", About: "VXLAN vni 42 (UDP 4789): good inner datagram, corrupt inner datagram, corrupt outer datagram",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(outerUDP(11, 4789, good, false)), fr(outerUDP(12, 4789, bad, false)), fr(corrupt)),
		Verdicts: []Verdict{
			delivered("", len(good), 1), delivered(w, 100, 1),
			delivered("", len(bad), 2), udpVerdict("dropped", "udp-checksum", w, 100, 2),
			udpVerdict("dropped", "udp-checksum", "", len(good), 3),
		},
		Tshark: true}
}

func geneve() Capture {
	eth := ser(&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7}, gopacket.Payload(ether(layers.EthernetTypeIPv4, ipUDP(1, 100))))
	ip := ser(&layers.Geneve{Protocol: layers.EthernetTypeIPv4, VNI: 8}, gopacket.Payload(ipUDP(2, 100)))
	return Capture{Name: "geneve.pcap", About: "Geneve (UDP 6081): Ethernet inside (vni 7), IPv4 inside (vni 8)",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(outerUDP(11, 6081, eth, true)), fr(outerUDP(12, 6081, ip, true))),
		Verdicts: []Verdict{delivered("", len(eth), 1), delivered("Geneve vni 7 "+outerWhere, 100, 1),
			delivered("", len(ip), 2), delivered("Geneve vni 8 "+outerWhere, 100, 2)},
		Tshark: true}
}

func gtpu() Capture {
	inner := ipUDP(1, 100)
	gpdu := ser(&layers.GTPv1U{Version: 1, ProtocolType: 1, MessageType: 255, MessageLength: uint16(len(inner)), TEID: 0x1234}, gopacket.Payload(inner))
	echo := ser(&layers.GTPv1U{Version: 1, ProtocolType: 1, MessageType: 1, MessageLength: 4, SequenceNumberFlag: true, SequenceNumber: 1}, gopacket.Payload(nil))
	return Capture{Name: "gtpu.pcap", About: "GTP-U (UDP 2152): a G-PDU (teid 0x1234) and an echo request",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(outerUDP(11, 2152, gpdu, true)), fr(outerUDP(12, 2152, echo, true))),
		Verdicts: []Verdict{delivered("", len(gpdu), 1), delivered("GTP-U teid 0x1234 "+outerWhere, 100, 1),
			delivered("", len(echo), 2)},
		Tshark: true}
}

func tunnelFragments() Capture {
	w := "VXLAN vni 42 " + outerWhere
	// A VXLAN datagram too big for the outer link: outer fragments.
	big := ser(&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(ether(layers.EthernetTypeIPv4, ipUDP(1, 1400))))
	ou := &layers.UDP{SrcPort: 49152, DstPort: 4789}
	_ = ou.SetNetworkLayerForChecksum(ip4(tunA, tunB, 0, layers.IPProtocolUDP, false, 0))
	outer := ser(ou, gopacket.Payload(big))
	of := ipFrags(tunA, tunB, 21, outer, 1000)
	// Inner fragments, each in a VXLAN datagram of its own.
	innerUDP := udpBytes(ipA, ipB, sport, dport, payload(2000, 5))
	inf := ipFrags(ipA, ipB, 5, innerUDP, 1000)
	vx := func(ip []byte) []byte {
		return ser(&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(ether(layers.EthernetTypeIPv4, ip)))
	}
	v0, v1 := vx(inf[0]), vx(inf[1])
	return Capture{Name: "tunnel-fragments.pcap", About: "VXLAN: an outer datagram in two fragments; an inner datagram in two fragments, each in its own VXLAN datagram",
		File: pcapFile(layers.LinkTypeEthernet, 65535, fr(ether(layers.EthernetTypeIPv4, of[0])), fr(ether(layers.EthernetTypeIPv4, of[1])),
			fr(outerUDP(22, 4789, v0, false)), fr(outerUDP(23, 4789, v1, false))),
		Verdicts: []Verdict{
			delivered("", len(big), 1, 2), delivered(w, 1400, 1, 2),
			delivered("", len(v0), 3), delivered("", len(v1), 4), delivered(w, 2000, 3, 4),
		},
		Tshark: false} // tshark does not reassemble fragments inside VXLAN by default
}

func sll() Capture {
	hdr := func(proto uint16) []byte {
		return []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0, byte(proto >> 8), byte(proto)}
	}
	return Capture{Name: "linux-sll.pcap", About: "Linux cooked capture v1: IPv4 UDP and ARP",
		File:     pcapFile(layers.LinkTypeLinuxSLL, 65535, fr(append(hdr(0x0800), ipUDP(1, 100)...)), fr(append(hdr(0x0806), make([]byte, 28)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, NotIP: 1, Tshark: true}
}

func sll2() Capture {
	hdr := func(proto uint16) []byte {
		return []byte{byte(proto >> 8), byte(proto), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0}
	}
	return Capture{Name: "linux-sll2.pcap", About: "Linux cooked capture v2: a good and a corrupt datagram",
		File:     pcapFile(layers.LinkTypeLinuxSLL2, 65535, fr(append(hdr(0x0800), ipUDP(1, 100)...)), fr(append(hdr(0x0800), ipUDPBad(2, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1), udpVerdict("dropped", "udp-checksum", "", 100, 2)}, Tshark: true}
}

func raw() Capture {
	v6 := ser(&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolNoNextHeader, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")})
	return Capture{Name: "raw.pcap", About: "raw IP (LINKTYPE_RAW): IPv4 UDP and IPv6",
		File:     pcapFile(layers.LinkTypeRaw, 65535, fr(ipUDP(1, 100)), fr(v6)),
		Verdicts: []Verdict{delivered("", 100, 1)}, IPv6: 1, NotUDP: 1, Tshark: true}
}

func null() Capture {
	return Capture{Name: "null.pcap", About: "BSD loopback (LINKTYPE_NULL), family in host order",
		File:     pcapFile(layers.LinkTypeNull, 65535, fr(append([]byte{2, 0, 0, 0}, ipUDP(1, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func ppp() Capture {
	return Capture{Name: "ppp.pcap", About: "PPP (LINKTYPE_PPP), with and without the address and control bytes",
		File:     pcapFile(layers.LinkTypePPP, 65535, fr(append([]byte{0xff, 0x03, 0x00, 0x21}, ipUDP(1, 100)...)), fr(append([]byte{0x00, 0x21}, ipUDP(2, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1), delivered("", 100, 2)}, Tshark: true}
}

func pppHDLC() Capture {
	return Capture{Name: "ppp-hdlc.pcap", About: "PPP in HDLC-like framing (LINKTYPE_PPP_HDLC)",
		File:     pcapFile(50, 65535, fr(append([]byte{0xff, 0x03, 0x00, 0x21}, ipUDP(1, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func ciscoHDLC() Capture {
	return Capture{Name: "c-hdlc.pcap", About: "Cisco HDLC (LINKTYPE_C_HDLC)",
		File:     pcapFile(104, 65535, fr(append([]byte{0x0f, 0x00, 0x08, 0x00}, ipUDP(1, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func radiotap() Capture {
	// RadioTap: version 0, length 8, no fields; 802.11 data frame to the
	// AP (ToDS), LLC/SNAP, IPv4.
	rt := []byte{0, 0, 8, 0, 0, 0, 0, 0}
	dot11 := append([]byte{0x08, 0x01, 0, 0}, macB...)
	dot11 = append(dot11, macA...)
	dot11 = append(dot11, macB...)
	dot11 = append(dot11, 0x10, 0x00)
	llc := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
	f := append(append(append(rt, dot11...), llc...), ipUDP(1, 100)...)
	// A beacon-like management frame: no IP.
	mgmt := append(append([]byte(nil), rt...), append([]byte{0x80, 0, 0, 0}, append(append(append([]byte(nil), layers.EthernetBroadcast...), macA...), macA...)...)...)
	mgmt = append(mgmt, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64, 0, 0x01, 0x04, 0, 0)
	return Capture{Name: "radiotap.pcap", About: "802.11 with radiotap: a data frame (LLC/SNAP, IPv4) and a management frame",
		File:     pcapFile(layers.LinkTypeIEEE80211Radio, 65535, fr(f), fr(mgmt)),
		Verdicts: []Verdict{delivered("", 100, 1)}, NotIP: 1, Tshark: true}
}

func fddi() Capture {
	hdr := append(append([]byte{0x50}, macB...), macA...)
	llc := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
	return Capture{Name: "fddi.pcap", About: "FDDI, LLC/SNAP, IPv4",
		File:     pcapFile(layers.LinkTypeFDDI, 65535, fr(append(append(hdr, llc...), ipUDP(1, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func pflog() Capture {
	hdr := make([]byte, 64)
	hdr[0], hdr[1] = 61, 2 // header length (padded to 64), AF_INET
	copy(hdr[4:], "em0")
	return Capture{Name: "pflog.pcap", About: "OpenBSD pflog",
		File:     pcapFile(layers.LinkTypePFLog, 65535, fr(append(hdr, ipUDP(1, 100)...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func nflog() Capture {
	ip := ipUDP(1, 100)
	b := []byte{2, 0, 0, 0}                     // AF_INET, version 0, resource 0
	b = append(b, 8, 0, 1, 0, 0x08, 0x00, 1, 0) // NFULA_PACKET_HDR: hw_protocol, hook
	tlv := binary.LittleEndian.AppendUint16(nil, uint16(4+len(ip)))
	tlv = binary.LittleEndian.AppendUint16(tlv, 9) // NFULA_PAYLOAD
	b = append(append(b, tlv...), ip...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return Capture{Name: "nflog.pcap", About: "Linux NFLOG",
		File:     pcapFile(239, 65535, fr(b)),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func pktap() Capture {
	hdr := make([]byte, 156)
	binary.LittleEndian.PutUint32(hdr[0:], 156)
	binary.LittleEndian.PutUint32(hdr[4:], 1) // PKT_REC_PACKET
	binary.LittleEndian.PutUint32(hdr[8:], 1) // DLT_EN10MB
	copy(hdr[12:], "en0")
	return Capture{Name: "pktap.pcap", About: "Apple PKTAP around Ethernet",
		File:     pcapFile(258, 65535, fr(append(hdr, ether(layers.EthernetTypeIPv4, ipUDP(1, 100))...))),
		Verdicts: []Verdict{delivered("", 100, 1)}, Tshark: true}
}

func unknownLink() Capture {
	return Capture{Name: "arcnet.pcap", About: "ARCNET (link type 7), which gopacket does not decode: one diagnostic",
		File:        pcapFile(layers.LinkTypeArcNet, 65535, fr(append([]byte{1, 2, 0xd4, 0}, ipUDP(1, 100)...)), fr(append([]byte{1, 2, 0xd4, 0}, ipUDP(2, 100)...))),
		Diagnostics: 1}
}

// multiInterface is a pcapng file with three interfaces of different link
// types and a systemd journal block between the frames, which Wireshark
// numbers like a frame.
func multiInterface() Capture {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		panic(err)
	}
	raw, _ := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	cooked, _ := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65535})
	write := func(iface int, data []byte, i int) {
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := w.WritePacket(ci, data); err != nil {
			panic(err)
		}
	}
	udp := udpBytes(ipA, ipB, sport, dport, payload(1000, 4))
	f := ipFrags(ipA, ipB, 4, udp, 504)
	sllHdr := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0}
	write(0, ether(layers.EthernetTypeIPv4, ipUDP(1, 100)), 0)
	write(raw, ipUDP(2, 100), 1)
	if err := w.Flush(); err != nil {
		panic(err)
	}
	// A systemd journal export block (type 9) as frame 3.
	entry := []byte("__REALTIME_TIMESTAMP=1767225600000000\nMESSAGE=hello\n")
	for len(entry)%4 != 0 {
		entry = append(entry, 0)
	}
	blk := binary.LittleEndian.AppendUint32(nil, 9)
	blk = binary.LittleEndian.AppendUint32(blk, uint32(12+len(entry)))
	blk = append(blk, entry...)
	blk = binary.LittleEndian.AppendUint32(blk, uint32(12+len(entry)))
	b.Write(blk)
	write(cooked, append(append([]byte(nil), sllHdr...), ipUDPBad(3, 100)...), 3)
	write(raw, f[0], 4)
	write(0, ether(layers.EthernetTypeIPv4, f[1]), 5)
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return Capture{Name: "multi-interface.pcapng", About: "pcapng: Ethernet, raw IP and Linux cooked v2 interfaces; a journal block as frame 3; fragments on two interfaces",
		File: b.Bytes(),
		Verdicts: []Verdict{delivered("", 100, 1), delivered("", 100, 2), udpVerdict("dropped", "udp-checksum", "", 100, 4),
			delivered("", 1000, 5, 6)},
		NotIP: 1, Tshark: true}
}

// snaplen is what tcpdump -s 64 records: frames longer than 64 bytes cut.
func snaplen() Capture {
	noCsum := ipUDP(2, 1000)
	noCsum[20+6], noCsum[20+7] = 0, 0
	udp := udpBytes(ipA, ipB, sport, dport, payload(1000, 3))
	f := ipFrags(ipA, ipB, 3, udp, 504)
	cut := func(b []byte) frame { return frame{data: b, cap: min(len(b), 64)} }
	return Capture{Name: "snaplen.pcap", About: "snaplen 64: cut frames are not captured; a datagram without checksum needs only its header",
		File: pcapFile(layers.LinkTypeEthernet, 64, cut(ether(layers.EthernetTypeIPv4, ipUDP(1, 1000))), cut(ether(layers.EthernetTypeIPv4, noCsum)),
			cut(ether(layers.EthernetTypeIPv4, f[0])), cut(ether(layers.EthernetTypeIPv4, f[1])), cut(ether(layers.EthernetTypeIPv4, ipUDP(4, 10)))),
		Verdicts: []Verdict{udpVerdict("not captured", "", "", 1000, 1), delivered("", 1000, 2), udpVerdict("not captured", "", "", 1000, 3, 4),
			delivered("", 10, 5)},
		Tshark: false} // tshark reports no checksum status for cut frames
}

// timeout has a fragment 31 s of capture time before the rest of its
// datagram: ipfrag_time (30 s) expires the first queue.
func timeout() Capture {
	udp := udpBytes(ipA, ipB, sport, dport, payload(1000, 6))
	f := ipFrags(ipA, ipB, 6, udp, 504)
	return Capture{Name: "timeout.pcap", About: "ipfrag_time: the second fragment comes 31 s after the first",
		File: pcapFile(layers.LinkTypeEthernet, 65535, frame{data: ether(layers.EthernetTypeIPv4, f[0]), at: time.Nanosecond},
			frame{data: ether(layers.EthernetTypeIPv4, f[1]), at: 31 * time.Second}),
		Verdicts: []Verdict{udpVerdict("dropped", "frag-timeout", "", 1000, 1), udpVerdict("dropped", "frag-incomplete", "", 0, 2)}}
}

// README is the corpus directory's README.md.
func README() string {
	var b strings.Builder
	b.WriteString(`# verify's capture corpus

Small captures, one per link type and encapsulation, that ` + "`udpbuild verify`" + `
must read. They are self-made: package verify/internal/linkcorpus builds each
one with gopacket's serializers and pcapgo (a few link headers gopacket cannot
write are laid out by hand there), and

    go run ./verify/internal/linkcorpus/gen -o verify/testdata/captures

writes them and this README. TestLinkCorpus fails if a file here differs from
what the package builds, and checks every verdict verify gives on it;
TestLinkCorpusTshark checks that tshark numbers the frames and reads the
IPv4 packets and UDP checksums the same way (where the file says so below).
Addresses are 10.1.0.1 → 10.1.0.2 (ports 4000 → 9999) inside, 192.0.2.1 →
192.0.2.2 for tunnel endpoints; nothing here was captured from a network.

| file | what it holds |
|---|---|
`)
	for _, c := range All() {
		fmt.Fprintf(&b, "| %s | %s |\n", c.Name, c.About)
	}
	return b.String()
}
