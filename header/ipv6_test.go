package header

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func randAddr16(r *rand.Rand) [16]byte {
	var a [16]byte
	for i := range a {
		a[i] = byte(r.UintN(256))
	}
	return a
}

func randFields(r *rand.Rand, payload int) IPv6Fields {
	return IPv6Fields{
		TrafficClass:  byte(r.UintN(256)),
		FlowLabel:     r.Uint32(), // the high bits must be dropped
		PayloadLength: uint16(payload),
		NextHeader:    ProtoUDP,
		HopLimit:      byte(r.UintN(256)),
		Src:           randAddr16(r),
		Dst:           randAddr16(r),
	}
}

// TestIPv6EncodeDecodesInGopacket writes headers with Encode and reads them
// back with gopacket's layers.IPv6 and with the view's own accessors.
func TestIPv6EncodeDecodesInGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	for n := range 500 {
		plen := 1 + int(r.UintN(64))
		f := randFields(r, plen)
		if n == 0 {
			f.TrafficClass, f.FlowLabel, f.HopLimit = 0xff, 0xffffffff, 0xff
		}
		b := make([]byte, IPv6MinLen+plen)
		h := IPv6(b)
		h.Encode(&f)
		var g layers.IPv6
		if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket refused % x: %v", b[:IPv6MinLen], err)
		}
		wantFL := f.FlowLabel & 0xfffff
		if g.Version != 6 || g.TrafficClass != f.TrafficClass || g.FlowLabel != wantFL ||
			g.Length != f.PayloadLength || uint8(g.NextHeader) != f.NextHeader || g.HopLimit != f.HopLimit ||
			!bytes.Equal(g.SrcIP, f.Src[:]) || !bytes.Equal(g.DstIP, f.Dst[:]) {
			t.Fatalf("Encode(%+v): gopacket reads %+v", f, g)
		}
		if h.Version() != 6 || h.TrafficClass() != f.TrafficClass || h.FlowLabel() != wantFL ||
			h.PayloadLength() != f.PayloadLength || h.NextHeader() != f.NextHeader || h.HopLimit() != f.HopLimit ||
			h.Src() != netip.AddrFrom16(f.Src) || h.Dst() != netip.AddrFrom16(f.Dst) {
			t.Fatalf("Encode(%+v): the view reads tc %#x fl %#x len %d nh %d hl %d %v %v", f,
				h.TrafficClass(), h.FlowLabel(), h.PayloadLength(), h.NextHeader(), h.HopLimit(), h.Src(), h.Dst())
		}
		if got, want := h.FlowWord(), 6<<28|uint32(f.TrafficClass)<<20|wantFL; got != want {
			t.Fatalf("FlowWord %#x, want %#x", got, want)
		}
	}
}

// TestIPv6ViewReadsGopacketSerialization goes the other way: gopacket
// serializes, the view reads.
func TestIPv6ViewReadsGopacketSerialization(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2))
	for range 500 {
		src, dst := randAddr16(r), randAddr16(r)
		g := &layers.IPv6{
			Version:      6,
			TrafficClass: byte(r.UintN(256)),
			FlowLabel:    r.Uint32() & 0xfffff,
			NextHeader:   layers.IPProtocolUDP,
			HopLimit:     byte(r.UintN(256)),
			SrcIP:        net.IP(src[:]),
			DstIP:        net.IP(dst[:]),
		}
		payload := make([]byte, r.UintN(100))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, g, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		h := IPv6(buf.Bytes())
		if h.Version() != 6 || h.TrafficClass() != g.TrafficClass || h.FlowLabel() != g.FlowLabel ||
			int(h.PayloadLength()) != len(payload) || h.NextHeader() != ProtoUDP || h.HopLimit() != g.HopLimit ||
			h.Src() != netip.AddrFrom16(src) || h.Dst() != netip.AddrFrom16(dst) || len(h.Payload()) != len(payload) {
			t.Fatalf("view of % x disagrees with %+v", buf.Bytes()[:IPv6MinLen], g)
		}
		// Encode of what the view read gives the same bytes.
		again := make(IPv6, IPv6MinLen)
		again.Encode(&IPv6Fields{h.TrafficClass(), h.FlowLabel(), h.PayloadLength(), h.NextHeader(), h.HopLimit(), h.Src().As16(), h.Dst().As16()})
		if !bytes.Equal(again, h[:IPv6MinLen]) {
			t.Fatalf("re-encoded % x, want % x", []byte(again), []byte(h[:IPv6MinLen]))
		}
	}
}

func TestIPv6PayloadBoundedByLength(t *testing.T) {
	b := make(IPv6, IPv6MinLen+20)
	b.Encode(&IPv6Fields{PayloadLength: 8, NextHeader: ProtoUDP})
	if n := len(b.Payload()); n != 8 {
		t.Fatalf("Payload is %d bytes, want the 8 of payload_len (the rest is a trailer)", n)
	}
	b.SetPayloadLength(100)
	if n := len(b.Payload()); n != 20 {
		t.Fatalf("Payload is %d bytes, want the 20 present", n)
	}
}

// TestIPv6FragmentRoundTripsWithGopacket checks the fragment header both
// ways against layers.IPv6Fragment.
func TestIPv6FragmentRoundTripsWithGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 3))
	for n := range 1000 {
		next := byte(r.UintN(256))
		off := int(r.UintN(8192)) * 8
		more := r.UintN(2) == 1
		id := r.Uint32()
		if n == 0 {
			off, more, id = 65528, true, 0xffffffff
		}
		f := make(IPv6Fragment, IPv6FragmentLen)
		for i := range f {
			f[i] = 0xff // Encode must write every byte
		}
		f.Encode(next, off, more, id)
		var g layers.IPv6Fragment
		if err := g.DecodeFromBytes(f, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if uint8(g.NextHeader) != next || int(g.FragmentOffset)*8 != off || g.MoreFragments != more ||
			g.Identification != id || g.Reserved1 != 0 || g.Reserved2 != 0 {
			t.Fatalf("Encode(%d, %d, %v, %#x) = % x: gopacket reads %+v", next, off, more, id, []byte(f), g)
		}
		if f.NextHeader() != next || f.Offset() != off || f.More() != more || f.ID() != id || f.Reserved() != 0 {
			t.Fatalf("view of % x: %d %d %v %#x", []byte(f), f.NextHeader(), f.Offset(), f.More(), f.ID())
		}

		// gopacket serializes, the view reads.
		g2 := &layers.IPv6Fragment{NextHeader: layers.IPProtocol(next), FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: id}
		buf := gopacket.NewSerializeBuffer()
		if err := g2.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), f) {
			t.Fatalf("gopacket serializes % x, Encode % x", buf.Bytes(), []byte(f))
		}
	}
	// Offsets that are not multiples of 8 lose their low bits; the M flag
	// and the reserved bits are not touched by them.
	f := make(IPv6Fragment, IPv6FragmentLen)
	f.Encode(ProtoUDP, 1237, false, 1)
	if f.FragWord() != 1232 || f.Offset() != 1232 || f.More() {
		t.Fatalf("offset 1237: word %#04x", f.FragWord())
	}
}

// gopacketChain serializes IPv6 + hop-by-hop + destination options +
// routing + fragment + UDP with gopacket, each extension optional.
func gopacketChain(t *testing.T, hbh, dst, rt, frag bool, payload []byte) ([]byte, []IPv6ExtHeader) {
	t.Helper()
	src := netip.MustParseAddr("fd00::1").As16()
	d := netip.MustParseAddr("fd00::2").As16()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src[:], DstIP: d[:]}
	var ls []gopacket.SerializableLayer
	ls = append(ls, ip)
	var want []IPv6ExtHeader
	off := 0
	// setNext writes the Next Header field of the header serialized last.
	setNext := func(p layers.IPProtocol) { ip.NextHeader = p }
	if hbh {
		h := &layers.IPv6HopByHop{}
		// Router alert and a PadN of its own: gopacket's automatic
		// padding adds length%8 bytes instead of what is missing to 8.
		h.Options = []*layers.IPv6HopByHopOption{{OptionType: 5, OptionData: []byte{0, 0}}, {OptionType: 1}}
		ip.HopByHop = h
		setNext(layers.IPProtocolIPv6HopByHop)
		setNext = func(p layers.IPProtocol) { h.NextHeader = p }
		want = append(want, IPv6ExtHeader{Type: NextHdrHop, Offset: off})
		off += 8
	}
	if dst {
		h := &layers.IPv6Destination{}
		h.Options = []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}}
		setNext(layers.IPProtocolIPv6Destination)
		setNext = func(p layers.IPProtocol) { h.NextHeader = p }
		ls = append(ls, h)
		want = append(want, IPv6ExtHeader{Type: NextHdrDest, Offset: off})
		off += 16
	}
	if rt {
		h := &layers.IPv6Routing{RoutingType: 2, SegmentsLeft: 1, Reserved: make([]byte, 4)}
		h.SourceRoutingIPs = []net.IP{net.ParseIP("fd00::99")}
		setNext(layers.IPProtocolIPv6Routing)
		setNext = func(p layers.IPProtocol) { h.NextHeader = p }
		ls = append(ls, h)
		want = append(want, IPv6ExtHeader{Type: NextHdrRouting, Offset: off})
		off += 24
	}
	if frag {
		h := &layers.IPv6Fragment{Identification: 0xdeadbeef}
		setNext(layers.IPProtocolIPv6Fragment)
		setNext = func(p layers.IPProtocol) { h.NextHeader = p }
		ls = append(ls, h)
		want = append(want, IPv6ExtHeader{Type: NextHdrFragment, Offset: off})
	}
	setNext(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 40000, DstPort: 9000}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, u, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

// TestIPv6ExtWalkerOnGopacketChains walks every combination of the four
// extension headers as gopacket serializes them.
func TestIPv6ExtWalkerOnGopacketChains(t *testing.T) {
	for mask := range 16 {
		hbh, dst, rt, frag := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0
		pkt, want := gopacketChain(t, hbh, dst, rt, frag, []byte("hello"))
		h := IPv6(pkt)
		w := WalkIPv6Ext(h.NextHeader(), h.Payload())
		var got []IPv6ExtHeader
		for w.Next() {
			got = append(got, w.Header())
		}
		if err := w.Err(); err != nil {
			t.Fatalf("mask %04b: %v", mask, err)
		}
		if len(got) != len(want) {
			t.Fatalf("mask %04b: %d headers, want %d", mask, len(got), len(want))
		}
		end := 0
		for i := range got {
			if got[i].Type != want[i].Type || got[i].Offset != want[i].Offset {
				t.Fatalf("mask %04b: header %d is %s at %d, want %s at %d", mask, i,
					NextHdrName(got[i].Type), got[i].Offset, NextHdrName(want[i].Type), want[i].Offset)
			}
			end = got[i].Offset + len(got[i].Bytes)
		}
		proto, off := w.Upper()
		if proto != ProtoUDP || off != end || w.NonFirstFragment() {
			t.Fatalf("mask %04b: upper %d at %d (non-first %v), want UDP at %d", mask, proto, off, w.NonFirstFragment(), end)
		}
		if frag {
			fh, ok := got[len(got)-1].Fragment()
			if !ok || fh.ID() != 0xdeadbeef || fh.Offset() != 0 || fh.More() || fh.NextHeader() != ProtoUDP {
				t.Fatalf("mask %04b: fragment header % x", mask, []byte(fh))
			}
		}
		// The upper layer is where gopacket put the UDP header, and its
		// checksum verifies with PseudoHeaderSum6 (no segments left to the
		// routing header's address: gopacket sums the header's Dst for a
		// layer it built itself).
		u := UDP(h.Payload()[off:])
		if u.SrcPort() != 40000 || u.DstPort() != 9000 || int(u.Length()) != len(u) {
			t.Fatalf("mask %04b: UDP header % x", mask, []byte(u[:UDPLen]))
		}
		if c := Checksum(u, PseudoHeaderSum6(h.Src().As16(), h.Dst().As16(), ProtoUDP, uint32(len(u)))); c != 0xffff {
			t.Fatalf("mask %04b: gopacket's UDP checksum does not verify with PseudoHeaderSum6 (sum %#04x)", mask, c)
		}
	}
}

// udp6 builds an IPv6 packet with the given extension headers (each with a
// placeholder next-header byte) and a UDP datagram whose checksum uses
// finalDst, as udp_v6_send_skb sums fl6->daddr.
func udp6(src, hdrDst, finalDst [16]byte, exts [][]byte, types []uint8, payload []byte) []byte {
	extLen := 0
	for _, e := range exts {
		extLen += len(e)
	}
	ulen := UDPLen + len(payload)
	b := make([]byte, IPv6MinLen+extLen+ulen)
	first := uint8(ProtoUDP)
	if len(types) > 0 {
		first = types[0]
	}
	IPv6(b).Encode(&IPv6Fields{FlowLabel: 0xabcde, PayloadLength: uint16(extLen + ulen), NextHeader: first, HopLimit: 64, Src: src, Dst: hdrDst})
	o := IPv6MinLen
	for i, e := range exts {
		copy(b[o:], e)
		if i+1 < len(types) {
			b[o] = types[i+1]
		} else {
			b[o] = ProtoUDP
		}
		o += len(e)
	}
	u := UDP(b[o:])
	u.SetPorts(40000, 9000)
	u.SetLength(uint16(ulen))
	copy(u[UDPLen:], payload)
	c := ^Checksum(u, PseudoHeaderSum6(src, finalDst, ProtoUDP, uint32(ulen)))
	if c == 0 {
		c = CsumMangled0
	}
	u.SetChecksum(c)
	return b
}

// TestIPv6GopacketDecodesOurChain builds chains with Encode and hand-made
// extension headers and checks gopacket's decode, including its UDP
// checksum verification against the routing header's final destination.
func TestIPv6GopacketDecodesOurChain(t *testing.T) {
	src := netip.MustParseAddr("fd00::1").As16()
	hop := netip.MustParseAddr("fd00::2").As16()
	final := netip.MustParseAddr("fd00::99").As16()
	hbh := []byte{0, 0, 5, 2, 0, 0, 1, 0}                     // router alert, PadN(0)
	dst := []byte{0, 0, 0x1e, 4, 1, 2, 3, 4}                  // one unknown option
	rt := append([]byte{0, 2, 2, 1, 0, 0, 0, 0}, final[:]...) // type 2, one address left
	frag := []byte{0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}        // atomic fragment
	exts := [][]byte{hbh, dst, rt}
	types := []uint8{NextHdrHop, NextHdrDest, NextHdrRouting}

	layerTypes := func(p gopacket.Packet) []gopacket.LayerType {
		var ts []gopacket.LayerType
		for _, l := range p.Layers() {
			ts = append(ts, l.LayerType())
		}
		return ts
	}
	sameTypes := func(a, b []gopacket.LayerType) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}

	pkt := udp6(src, hop, final, exts, types, []byte("payload"))
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	want := []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination,
		layers.LayerTypeIPv6Routing, layers.LayerTypeUDP, gopacket.LayerTypePayload}
	if got := layerTypes(p); !sameTypes(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	verify := func(p gopacket.Packet) (gopacket.ChecksumVerificationResult, error) {
		u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		// The decoded IPv6 layer, whose payload gopacket reads for the
		// routing header's final destination.
		if err := u.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
			t.Fatal(err)
		}
		err, res := u.VerifyChecksum()
		return res, err
	}
	if res, err := verify(p); err != nil || !res.Valid {
		t.Fatalf("gopacket finds the UDP checksum (summed with the final destination) wrong: %v %+v", err, res)
	}
	// Summed with the header's Dst instead, it is wrong.
	bad := udp6(src, hop, hop, exts, types, []byte("payload"))
	p = gopacket.NewPacket(bad, layers.LayerTypeIPv6, gopacket.Default)
	if res, err := verify(p); err != nil || res.Valid {
		t.Fatalf("a checksum over the first hop verified: %v %+v", err, res)
	}

	// With a fragment header after them (where the kernel puts it),
	// gopacket decodes the fragment header and hands the rest on as a
	// fragment, even an atomic one.
	exts, types = append(exts, frag), append(types, NextHdrFragment)
	pkt = udp6(src, hop, final, exts, types, []byte("payload"))
	p = gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
	want = []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination,
		layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment, gopacket.LayerTypeFragment}
	if got := layerTypes(p); !sameTypes(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	fr := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	if fr.Identification != 0x12345678 || fr.FragmentOffset != 0 || fr.MoreFragments || fr.NextHeader != layers.IPProtocolUDP {
		t.Fatalf("fragment %+v", fr)
	}

	// The walker finds the same chain.
	h := IPv6(pkt)
	w := WalkIPv6Ext(h.NextHeader(), h.Payload())
	var got []uint8
	for w.Next() {
		got = append(got, w.Header().Type)
	}
	proto, off := w.Upper()
	if w.Err() != nil || !bytes.Equal(got, types) || proto != ProtoUDP || off != 8+8+24+8 {
		t.Fatalf("walk: %v, upper %d at %d, err %v", got, proto, off, w.Err())
	}
	if !bytes.Equal(h.Payload()[off:], fr.Payload) {
		t.Fatal("the walker's upper layer is not gopacket's fragment payload")
	}
}

func TestPseudoHeaderSum6MatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 4))
	for n := range 1000 {
		src, dst := randAddr16(r), randAddr16(r)
		length := r.Uint32()
		proto := byte(r.UintN(256))
		if n == 0 {
			for i := range src {
				src[i], dst[i] = 0xff, 0xff
			}
			length, proto = 0xffffffff, 0xff
		}
		// RFC 8200 8.1: src, dst, 32-bit length, 3 zero bytes, next header.
		ph := make([]byte, 0, 40)
		ph = append(ph, src[:]...)
		ph = append(ph, dst[:]...)
		ph = binary.BigEndian.AppendUint32(ph, length)
		ph = append(ph, 0, 0, 0, proto)
		if got, want := PseudoHeaderSum6(src, dst, proto, length), naive(ph); got != want {
			t.Fatalf("PseudoHeaderSum6 = %#04x, naive %#04x", got, want)
		}
	}
}

// TestPseudoHeaderSum6OfV4MappedEqualsIPv4: the 0xffff words of the
// v4-mapped prefix are a one's complement zero, so a v4-mapped pair sums
// exactly like the IPv4 pseudo-header. (udpv6_sendmsg hands such a send to
// the IPv4 path anyway; this only says a checksum cannot tell them apart.)
func TestPseudoHeaderSum6OfV4MappedEqualsIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 5))
	for range 1000 {
		var s4, d4 [4]byte
		binary.BigEndian.PutUint32(s4[:], r.Uint32())
		binary.BigEndian.PutUint32(d4[:], r.Uint32())
		l := uint16(r.UintN(65536))
		if PseudoHeaderSum6(IPv6V4Mapped(s4), IPv6V4Mapped(d4), ProtoUDP, uint32(l)) != PseudoHeaderSum(s4, d4, ProtoUDP, l) {
			t.Fatalf("%v > %v len %d: the v4-mapped sum differs from IPv4's", s4, d4, l)
		}
	}
}

func TestIPv6V4Mapped(t *testing.T) {
	m := IPv6V4Mapped([4]byte{192, 0, 2, 7})
	if a := netip.AddrFrom16(m); !a.Is4In6() || a.Unmap() != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("IPv6V4Mapped = %v", a)
	}
	for _, c := range []struct {
		a    string
		want bool
	}{{"::ffff:10.0.0.2", true}, {"::ffff:0.0.0.0", true}, {"::10.0.0.2", false}, {"fd00::ffff:a00:2", false}, {"::1", false}, {"64:ff9b::a00:2", false}} {
		if got := IPv6IsV4Mapped(netip.MustParseAddr(c.a).As16()); got != c.want {
			t.Errorf("IPv6IsV4Mapped(%s) = %v", c.a, got)
		}
	}
}

func TestIPv6ExtLen(t *testing.T) {
	for _, c := range []struct {
		typ  uint8
		b    []byte
		n    int
		isOK bool
	}{
		{NextHdrHop, []byte{17, 0}, 8, true},
		{NextHdrDest, []byte{17, 255}, 2048, true},
		{NextHdrRouting, []byte{17, 2}, 24, true},
		{NextHdrAuth, []byte{17, 4}, 24, true}, // (4+2)*4
		{NextHdrFragment, []byte{17, 200}, 8, true},
		{NextHdrHop, []byte{17}, 0, false},
		{ProtoUDP, []byte{0, 0}, 0, false},
		{NextHdrESP, []byte{0, 0}, 0, false},
	} {
		n, ok := IPv6ExtLen(c.typ, c.b)
		if n != c.n || ok != c.isOK {
			t.Errorf("IPv6ExtLen(%s, % x) = %d, %v; want %d, %v", NextHdrName(c.typ), c.b, n, ok, c.n, c.isOK)
		}
	}
}

func TestIPv6ExtWalkerStops(t *testing.T) {
	type want struct {
		types    []uint8
		upper    uint8
		off      int
		nonFirst bool
		err      error
		errOff   int
	}
	for _, c := range []struct {
		name  string
		first uint8
		b     []byte
		want  want
	}{
		{"empty upper", ProtoUDP, nil, want{upper: ProtoUDP}},
		{"no next header", NextHdrDest, []byte{59, 0, 1, 4, 0, 0, 0, 0, 0xaa}, want{types: []uint8{NextHdrDest}, upper: NextHdrNone, off: 8}},
		{"ESP is opaque", NextHdrESP, []byte{0, 0, 0, 0}, want{upper: NextHdrESP}},
		{"AH by its own length", NextHdrAuth, append([]byte{17, 1}, make([]byte, 10)...), want{types: []uint8{NextHdrAuth}, upper: ProtoUDP, off: 12}},
		{"non-first fragment ends the walk", NextHdrFragment, []byte{60, 0, 0x05, 0x01, 0, 0, 0, 1, 0, 0 /* not a header */},
			want{types: []uint8{NextHdrFragment}, upper: NextHdrDest, off: 8, nonFirst: true}},
		{"first fragment goes on", NextHdrFragment, []byte{60, 0, 0, 1, 0, 0, 0, 1, 17, 0, 1, 4, 0, 0, 0, 0},
			want{types: []uint8{NextHdrFragment, NextHdrDest}, upper: ProtoUDP, off: 16}},
		{"hop-by-hop later", NextHdrDest, []byte{0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0},
			want{types: []uint8{NextHdrDest}, err: ErrHopByHopNotFirst, errOff: 8}},
		{"truncated length byte", NextHdrDest, []byte{17}, want{err: ErrExtTruncated}},
		{"stated length past the end", NextHdrRouting, []byte{17, 1, 0, 0, 0, 0, 0, 0, 0}, want{err: ErrExtTruncated}},
		{"truncated fragment", NextHdrFragment, []byte{17, 0, 0, 0, 0, 0, 0}, want{err: ErrExtTruncated}},
		{"second header truncated", NextHdrHop, []byte{43, 0, 1, 4, 0, 0, 0, 0, 17, 3}, want{types: []uint8{NextHdrHop}, err: ErrExtTruncated, errOff: 8}},
	} {
		w := WalkIPv6Ext(c.first, c.b)
		var types []uint8
		for w.Next() {
			types = append(types, w.Header().Type)
		}
		if !bytes.Equal(types, c.want.types) {
			t.Errorf("%s: headers %v, want %v", c.name, types, c.want.types)
		}
		if w.Next() {
			t.Errorf("%s: Next true after the end", c.name)
		}
		err := w.Err()
		if c.want.err != nil {
			var e *IPv6ExtError
			if !errors.Is(err, c.want.err) || !errors.As(err, &e) || e.Offset != c.want.errOff {
				t.Errorf("%s: error %v, want %v at offset %d", c.name, err, c.want.err, c.want.errOff)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		up, off := w.Upper()
		if up != c.want.upper || off != c.want.off || w.NonFirstFragment() != c.want.nonFirst {
			t.Errorf("%s: upper %d at %d non-first %v, want %d at %d %v", c.name, up, off, w.NonFirstFragment(), c.want.upper, c.want.off, c.want.nonFirst)
		}
	}
}

func TestIPv6ExtErrorMessage(t *testing.T) {
	w := WalkIPv6Ext(NextHdrRouting, []byte{17, 1})
	for w.Next() {
	}
	if got, want := w.Err().Error(), "IPv6 routing header at offset 0: header runs past the end of the packet"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
