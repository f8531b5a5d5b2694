package builder

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

func feats(fs ...scenario.Feature) []scenario.Feature { return fs }

func TestFixFeatures(t *testing.T) {
	cases := []struct {
		req     []scenario.Feature
		enabled []string
		dropped int
	}{
		{nil, []string{}, 0},
		{feats(scenario.SG), []string{"sg"}, 0},
		{feats(scenario.GSOUDPL4), []string{}, 1},
		{feats(scenario.SG, scenario.GSOUDPL4), []string{"sg"}, 1},
		{feats(scenario.HWCsum, scenario.GSOUDPL4), []string{"hw-csum", "gso-udp-l4"}, 0},
		{feats(scenario.HWCsum, scenario.IPCsum), []string{"hw-csum"}, 1},
		{feats(scenario.IPCsum, scenario.SG, scenario.GSOUDPL4), []string{"ip-csum", "sg", "gso-udp-l4"}, 0},
	}
	for _, c := range cases {
		f, dropped := FixFeatures(c.req)
		if !slices.Equal(f.Names(), c.enabled) || len(dropped) != c.dropped {
			t.Errorf("FixFeatures(%v) = %v, dropped %v; want %v and %d dropped", c.req, f.Names(), dropped, c.enabled, c.dropped)
		}
	}
}

func newTestSocket(t testing.TB, mtu int, f Features, out func(*Datagram) error) *Socket {
	t.Helper()
	dev := &Device{MTU: mtu, Features: f, SrcMAC: scenario.DefaultSrcMAC, DstMAC: scenario.DefaultDstMAC}
	if out != nil {
		dev.Sink = datagramSink(out)
	}
	return NewSocket(dev, Config{Proto: scenario.UDP, Src: netip.MustParseAddrPort("10.0.0.1:40000"), Seed: 7})
}

// datagramSink calls fn with every datagram the device transmits and drops
// the frames.
type datagramSink func(*Datagram) error

func (fn datagramSink) Datagram(d *Datagram) error          { return fn(d) }
func (datagramSink) Frame(*FrameInfo, []byte, []byte) error { return nil }

// collect returns a sink that keeps a copy of every frame, and its info.
func collect(frames *[][]byte, infos *[]FrameInfo) FrameFunc {
	return func(fi *FrameInfo, head, data []byte) error {
		*frames = append(*frames, append(slices.Clone(head), data...))
		if infos != nil {
			*infos = append(*infos, *fi)
		}
		return nil
	}
}

// transmit hands d to dev as ip_finish_output decides.
func transmit(dev *Device, d *Datagram) error {
	return ipOutput(dev, d, ipFinishOutput(d, dev))
}

var dst = netip.MustParseAddrPort("10.0.0.2:9000")

// TestAppendDataSkbLengths checks __ip_append_data's skb geometry, which is
// what ip_do_fragment's fast path turns into fragments.
func TestAppendDataSkbLengths(t *testing.T) {
	cases := []struct {
		name   string
		mtu    int
		opt    string // IP_OPTIONS hex bytes
		sends  []int  // payload lengths; all but the last with MSG_MORE
		skbLen []int  // skb data lengths (after the network header)
	}{
		{"single", 1500, "", []int{1000}, []int{1008}},
		{"exactly mtu", 1500, "", []int{1472}, []int{1480}},
		{"three fragments", 1500, "", []int{3000}, []int{1480, 1480, 48}},
		{"65507 at 1500", 1500, "", []int{65507}, append(slices.Repeat([]int{1480}, 44), 395)},
		{"mtu 68", 68, "", []int{100}, []int{48, 48, 12}},
		// 4 bytes of options: maxfraglen 1496 < mtu. A first append of
		// 1468+8 fills 1500 (fits the MTU); the next append moves the 4
		// bytes past maxfraglen into the new skb (fraggap).
		{"fraggap", 1500, "01010101", []int{1468, 100}, []int{1472, 104}},
		{"cork fill", 1500, "", []int{1000, 1000, 10}, []int{1480, 538}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *Datagram
			s := newTestSocket(t, c.mtu, 0, func(d *Datagram) error { got = d; return nil })
			if c.opt != "" {
				b := make([]byte, len(c.opt)/2)
				for i := range b {
					var v byte
					for _, ch := range c.opt[2*i : 2*i+2] {
						v = v<<4 | byte(ch-'0')
					}
					b[i] = v
				}
				if e := s.Setsockopt(scenario.Opt{Name: scenario.OptIPOptions, Bytes: b}); e != 0 {
					t.Fatalf("IP_OPTIONS: %v", e)
				}
			}
			for i, n := range c.sends {
				flags := 0
				if i < len(c.sends)-1 {
					flags = msgMore
				}
				if r, e := s.Sendmsg(&Msg{Payload: make([]byte, n), Flags: flags, Name: dst}); e != 0 || r != n {
					t.Fatalf("send %d: %d %v", i, r, e)
				}
			}
			if got == nil {
				t.Fatal("no datagram")
			}
			if !slices.Equal(got.SkbData, c.skbLen) {
				t.Fatalf("skbs %v, want %v", got.SkbData, c.skbLen)
			}
		})
	}
}

func TestSendmsgErrors(t *testing.T) {
	s := newTestSocket(t, 1500, 0, nil)
	cases := []struct {
		name string
		m    Msg
		want errno.Errno
	}{
		{"too long", Msg{Payload: make([]byte, 0x10000), Name: dst}, errno.EMSGSIZE},
		{"65508", Msg{Payload: make([]byte, 65508), Name: dst}, errno.EMSGSIZE},
		{"oob", Msg{Payload: []byte{1}, Flags: msgOOB, Name: dst}, errno.EOPNOTSUPP},
		{"port 0", Msg{Payload: []byte{1}, Name: netip.MustParseAddrPort("10.0.0.2:0")}, errno.EINVAL},
		{"no destination", Msg{Payload: []byte{1}}, errno.EDESTADDRREQ},
		{"bad cmsg ttl", Msg{Payload: []byte{1}, Name: dst, Control: ttlCmsg(0)}, errno.EINVAL},
	}
	for _, c := range cases {
		if _, e := s.Sendmsg(&c.m); e != c.want {
			t.Errorf("%s: got %v, want %v", c.name, e, c.want)
		}
	}
	if r, e := s.Sendmsg(&Msg{Payload: make([]byte, 65507), Name: dst}); e != 0 || r != 65507 {
		t.Errorf("65507: %d %v", r, e)
	}
	if r, e := s.Sendmsg(&Msg{Payload: make([]byte, 10), Flags: msgProbe, Name: dst}); e != 0 || r != 10 {
		t.Errorf("MSG_PROBE: %d %v", r, e)
	}
}

func ttlCmsg(ttl int32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint64(b, 20)
	binary.LittleEndian.PutUint32(b[8:], 0)  // SOL_IP
	binary.LittleEndian.PutUint32(b[12:], 2) // IP_TTL
	binary.LittleEndian.PutUint32(b[16:], uint32(ttl))
	return b
}

// TestMakeSkbHeader checks __ip_make_skb's DF, TTL, TOS and ID choices.
func TestMakeSkbHeader(t *testing.T) {
	cases := []struct {
		name     string
		pmtu     scenario.PMTUDisc
		n        int
		connect  bool
		df       bool
		idSource report.IDSource
	}{
		{"want small: DF, counter", scenario.PMTUWant, 100, false, true, report.IDIdents},
		{"want big: no DF", scenario.PMTUWant, 3000, false, false, report.IDIdents},
		{"dont: no DF", scenario.PMTUDont, 100, false, false, report.IDIdents},
		{"do: DF, ID 0", scenario.PMTUDo, 100, false, true, report.IDZero},
		{"probe: DF, ID 0", scenario.PMTUProbe, 100, false, true, report.IDZero},
		{"interface: no DF", scenario.PMTUInterface, 100, false, false, report.IDIdents},
		{"omit: no DF", scenario.PMTUOmit, 100, false, false, report.IDIdents},
		{"connected do: inet_id", scenario.PMTUDo, 100, true, true, report.IDInetID},
	}
	for _, c := range cases {
		var got *Datagram
		s := newTestSocket(t, 1500, 0, func(d *Datagram) error { got = d; return nil })
		s.Setsockopt(scenario.Opt{Name: scenario.OptIPMTUDiscover, Int: int(c.pmtu)})
		s.Setsockopt(scenario.Opt{Name: scenario.OptIPTOS, Int: 0x2e})
		m := Msg{Payload: make([]byte, c.n), Name: dst}
		if c.connect {
			id := uint16(4233)
			s.Connect(dst, &id)
			m.Name = netip.AddrPort{}
		}
		if _, e := s.Sendmsg(&m); e != 0 {
			t.Fatalf("%s: %v", c.name, e)
		}
		ip := header.IPv4(got.IP)
		if (ip.FragWord()&header.IPv4DF != 0) != c.df || got.IDSource != c.idSource {
			t.Errorf("%s: DF %v ID source %s; want DF %v %s", c.name, ip.FragWord()&header.IPv4DF != 0, got.IDSource, c.df, c.idSource)
		}
		if ip.TTL() != 64 || ip.TOS() != 0x2e {
			t.Errorf("%s: TTL %d TOS %#x", c.name, ip.TTL(), ip.TOS())
		}
		if c.idSource == report.IDZero && ip.ID() != 0 {
			t.Errorf("%s: ID %d, want 0", c.name, ip.ID())
		}
		if c.idSource == report.IDInetID && ip.ID() != 4234 {
			t.Errorf("%s: ID %d, want 4234 (inet_id after atomic_add_return)", c.name, ip.ID())
		}
	}
}

// decode parses a frame with gopacket, an independent implementation, and
// verifies its checksums.
func decode(t *testing.T, b []byte) (*layers.IPv4, *layers.UDP) {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		t.Fatalf("no IPv4 layer: %v", p.ErrorLayer())
	}
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	return ip, udp
}

// wireChecksum recomputes the UDP checksum with gopacket.
func wireChecksum(t *testing.T, ip *layers.IPv4, udp *layers.UDP) uint16 {
	t.Helper()
	u := *udp
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &u, gopacket.Payload(udp.Payload)); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(buf.Bytes()[6:])
}

// TestChecksumPaths checks udp_send_skb's checksum choices in both views.
func TestChecksumPaths(t *testing.T) {
	cases := []struct {
		name    string
		f       Features
		noCheck bool
		view    report.View
		want    string // "full", "partial", "zero"
	}{
		{"software", 0, false, report.Tap, "full"},
		{"offload tap", FeatHWCsum, false, report.Tap, "partial"},
		{"offload wire", FeatHWCsum, false, report.Wire, "full"},
		{"ip-csum tap", FeatIPCsum, false, report.Tap, "partial"},
		{"no check", FeatHWCsum, true, report.Tap, "zero"},
	}
	for _, c := range cases {
		var frames [][]byte
		s := newTestSocket(t, 1500, c.f, nil)
		s.rt.dev.View, s.rt.dev.Sink = c.view, collect(&frames, nil)
		if c.noCheck {
			s.Setsockopt(scenario.Opt{Name: scenario.OptSONoCheck, Int: 1})
		}
		s.Sendmsg(&Msg{Payload: scenario.Pattern(0, 100), Name: dst})
		ip, udp := decode(t, frames[0])
		var want uint16
		switch c.want {
		case "full":
			want = wireChecksum(t, ip, udp)
		case "partial":
			want = header.PseudoHeaderSum([4]byte(ip.SrcIP.To4()), [4]byte(ip.DstIP.To4()), 17, 108)
		}
		if udp.Checksum != want {
			t.Errorf("%s: checksum %#04x, want %s %#04x", c.name, udp.Checksum, c.want, want)
		}
	}
}

// TestGSOViews checks __udp_gso_segment and what each view shows.
func TestGSOViews(t *testing.T) {
	cases := []struct {
		name   string
		f      Features
		view   report.View
		frames int
		kind   report.Kind
	}{
		{"device segments: tap sees the super-packet", FeatHWCsum | FeatSG | FeatGSOUDPL4, report.Tap, 1, report.Super},
		{"device segments: wire sees segments", FeatHWCsum | FeatSG | FeatGSOUDPL4, report.Wire, 4, report.Segment},
		{"software GSO: tap sees segments", FeatHWCsum, report.Tap, 4, report.Segment},
		{"no offload at all", 0, report.Tap, 4, report.Segment},
	}
	for _, c := range cases {
		var frames [][]byte
		var infos []FrameInfo
		s := newTestSocket(t, 1500, c.f, nil)
		s.rt.dev.View, s.rt.dev.Sink = c.view, collect(&frames, &infos)
		s.Setsockopt(scenario.Opt{Name: scenario.OptUDPSegment, Int: 1000})
		if r, e := s.Sendmsg(&Msg{Payload: scenario.Pattern(0, 3500), Name: dst}); e != 0 || r != 3500 {
			t.Fatalf("%s: %d %v", c.name, r, e)
		}
		if len(frames) != c.frames || infos[0].Kind != c.kind {
			t.Fatalf("%s: %d frames of kind %s, want %d %s", c.name, len(frames), infos[0].Kind, c.frames, c.kind)
		}
		if c.frames == 1 {
			continue
		}
		var id0 uint16
		for i, fr := range frames {
			ip, udp := decode(t, fr)
			if i == 0 {
				id0 = ip.Id
			}
			if ip.Id != id0+uint16(i) {
				t.Errorf("%s: segment %d ID %d, want %d", c.name, i, ip.Id, id0+uint16(i))
			}
			wantLen := 1008
			if i == 3 {
				wantLen = 508
			}
			if int(udp.Length) != wantLen {
				t.Errorf("%s: segment %d UDP length %d, want %d", c.name, i, udp.Length, wantLen)
			}
			full := wireChecksum(t, ip, udp)
			partial := c.view == report.Tap && c.f.CanChecksum()
			if !partial && udp.Checksum != full {
				t.Errorf("%s: segment %d checksum %#04x, want %#04x", c.name, i, udp.Checksum, full)
			}
			if partial && udp.Checksum != header.PseudoHeaderSum([4]byte(ip.SrcIP.To4()), [4]byte(ip.DstIP.To4()), 17, udp.Length) {
				t.Errorf("%s: segment %d partial checksum %#04x", c.name, i, udp.Checksum)
			}
		}
	}
}

func TestGSOChecks(t *testing.T) {
	cases := []struct {
		name    string
		gso     int
		n       int
		noCheck bool
		want    errno.Errno
	}{
		{"fits", 1000, 3500, false, 0},
		{"segment over mtu", 1473, 3000, false, errno.EMSGSIZE},
		{"short datagram with big gso_size", 1473, 100, false, 0},
		{"128 segments", 100, 12800, false, 0},
		{"129 segments", 100, 12801, false, errno.EINVAL},
		{"no checksum", 1000, 3500, true, errno.EINVAL},
	}
	for _, c := range cases {
		s := newTestSocket(t, 1500, FeatHWCsum|FeatSG|FeatGSOUDPL4, nil)
		s.Setsockopt(scenario.Opt{Name: scenario.OptUDPSegment, Int: c.gso})
		if c.noCheck {
			s.Setsockopt(scenario.Opt{Name: scenario.OptSONoCheck, Int: 1})
		}
		if _, e := s.Sendmsg(&Msg{Payload: make([]byte, c.n), Name: dst}); e != c.want {
			t.Errorf("%s: %v, want %v", c.name, e, c.want)
		}
	}
}

// TestFragmentSlowPath forces the slow path (an odd-sized frag list) and
// checks ip_frag_next's 8-byte aligned cuts.
func TestFragmentSlowPath(t *testing.T) {
	d := &Datagram{IP: make([]byte, 20), UDP: make([]byte, 8), Payload: make([]byte, 3000), SkbData: []int{1004, 2004}, Proto: 17}
	header.IPv4(d.IP).Init(20, 0, 3028, 0, 0, 64, 17, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	var offs, lens []int
	dev := &Device{MTU: 1500, View: report.Wire, Sink: FrameFunc(func(fi *FrameInfo, head, data []byte) error {
		offs = append(offs, fi.Offset)
		lens = append(lens, len(head)+len(data)-14-20)
		return nil
	})}
	if err := transmit(dev, d); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(offs, []int{0, 1480, 2960}) || !slices.Equal(lens, []int{1480, 1480, 48}) {
		t.Fatalf("offsets %v lengths %v", offs, lens)
	}
}

func TestUDPLiteCoverage(t *testing.T) {
	var got *Datagram
	dev := &Device{MTU: 1500, Sink: datagramSink(func(d *Datagram) error { got = d; return nil })}
	s := NewSocket(dev, Config{Proto: scenario.UDPLite, Src: netip.MustParseAddrPort("10.0.0.1:1")})
	for _, c := range []struct {
		cov, wantLen int
	}{{20, 20}, {3, 8}, {0, 0}, {5000, 108}} {
		s.Setsockopt(scenario.Opt{Name: scenario.OptUDPLiteSendCov, Int: c.cov})
		s.Sendmsg(&Msg{Payload: make([]byte, 100), Name: dst})
		if l := int(header.UDP(got.UDP).Length()); l != c.wantLen {
			t.Errorf("coverage %d: length field %d, want %d", c.cov, l, c.wantLen)
		}
	}
	udp := newTestSocket(t, 1500, 0, nil)
	if e := udp.Setsockopt(scenario.Opt{Name: scenario.OptUDPLiteSendCov, Int: 20}); e != errno.ENOPROTOOPT {
		t.Errorf("UDPLITE_SEND_CSCOV on UDP: %v", e)
	}
}

// BenchmarkSend64 is one 64-byte send to a frame callback (tap view).
func BenchmarkSend64(b *testing.B) {
	benchSend(b, 64)
}

// BenchmarkSend65507 is one 65507-byte send, 45 fragments at MTU 1500.
func BenchmarkSend65507(b *testing.B) {
	benchSend(b, 65507)
}

func benchSend(b *testing.B, n int) {
	frames := 0
	s := newTestSocket(b, 1500, 0, nil)
	s.rt.dev.Sink = FrameFunc(func(*FrameInfo, []byte, []byte) error { frames++; return nil })
	m := &Msg{Payload: scenario.Pattern(0, n), Name: dst}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := s.Sendmsg(m); e != 0 {
			b.Fatal(e)
		}
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}

// TestPiecesMatchFrames holds the two ways emitAt builds a frame to each
// other: headers written in place in front of a contiguous datagram's
// bytes (one piece), and headers built apart from a payload held by
// reference (two pieces, TransmitV). Every datagram the model makes is
// also put in contiguous form and sent through Transmit on a twin device;
// the frames must be the same bytes. The cases cover one-call (by
// reference) and corked (copied) datagrams, fragmentation with IP options,
// software and device GSO, checksum offload and UDP-Lite, in both views.
// It also checks that a send never writes to the caller's payload.
func TestPiecesMatchFrames(t *testing.T) {
	rr := []byte{0x07, 0x0b, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0x01} // record route, 2 slots, NOOP
	type config struct {
		mtu   int
		feats Features
		gso   int
		opts  bool
		lite  bool
		cork  bool
		n     int
	}
	var cases []config
	for _, mtu := range []int{1500, 576, 68} {
		for _, f := range []Features{0, FeatHWCsum, FeatSG, FeatHWCsum | FeatSG | FeatGSOUDPL4} {
			for _, cork := range []bool{false, true} {
				for _, n := range []int{0, 1, 7, 100, 1473, 4000, 65000} {
					cases = append(cases, config{mtu: mtu, feats: f, cork: cork, n: n}, config{mtu: mtu, feats: f, cork: cork, n: n, opts: true})
					cases = append(cases, config{mtu: mtu, feats: f, cork: cork, n: n, lite: true})
					if mtu == 1500 {
						cases = append(cases, config{mtu: mtu, feats: f, cork: cork, n: n, gso: 1000})
					}
				}
			}
		}
	}
	payload := make([]byte, 65000)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	pristine := slices.Clone(payload)
	// contiguous copies d with its UDP header and payload behind headroom.
	contiguous := func(d *Datagram) *Datagram {
		c := *d
		c.IP = slices.Clone(d.IP)
		c.SkbData = slices.Clone(d.SkbData)
		c.buf = make([]byte, headroom+d.L4Len())
		copy(c.buf[headroom:], d.UDP)
		copy(c.buf[headroom+udpHdrLen:], d.Payload)
		c.UDP, c.Payload, c.contig = c.buf[headroom:headroom+udpHdrLen], c.buf[headroom+udpHdrLen:], true
		return &c
	}
	byRef, copied, frames := 0, 0, 0
	for _, v := range []report.View{report.Tap, report.Wire} {
		for _, c := range cases {
			dev := &Device{MTU: c.mtu, Features: c.feats, SrcMAC: scenario.DefaultSrcMAC, DstMAC: scenario.DefaultDstMAC}
			twin := *dev
			proto := scenario.UDP
			if c.lite {
				proto = scenario.UDPLite
			}
			// Every datagram the socket sends is copied in contiguous form
			// and transmitted on the twin before dev transmits it.
			var got, want [][]byte
			twin.View, twin.Sink = v, collect(&want, nil)
			dev.View, dev.Sink = v, pieces{
				datagram: func(d *Datagram) error {
					if d.contig {
						copied++
					} else {
						byRef++
					}
					return transmit(&twin, contiguous(d))
				},
				frame: collect(&got, nil),
			}
			s := NewSocket(dev, Config{Proto: proto, Src: netip.MustParseAddrPort("10.0.0.1:40000"), Seed: 7})
			if c.gso > 0 {
				s.Setsockopt(scenario.Opt{Name: scenario.OptUDPSegment, Int: c.gso})
			}
			if c.opts {
				s.Setsockopt(scenario.Opt{Name: scenario.OptIPOptions, Bytes: rr})
			}
			if c.lite {
				s.Setsockopt(scenario.Opt{Name: scenario.OptUDPLiteSendCov, Int: 20})
			}
			p := payload[:c.n]
			if c.cork && c.n > 1 {
				s.Sendmsg(&Msg{Payload: p[:c.n/2], Name: dst, Flags: msgMore})
				p = p[c.n/2:]
			}
			s.Sendmsg(&Msg{Payload: p, Name: dst})
			if s.outErr != nil {
				t.Fatal(s.outErr)
			}
			if !slices.EqualFunc(want, got, slices.Equal) {
				t.Errorf("%v view, %+v: %d frames from pieces, %d in place, not the same bytes", v, c, len(got), len(want))
			}
			frames += len(got)
			if !slices.Equal(payload, pristine) {
				t.Fatalf("%v view, %+v: the send wrote to the caller's payload", v, c)
			}
		}
	}
	if byRef == 0 || copied == 0 || frames < 1000 {
		t.Fatalf("%d datagrams by reference, %d copied, %d frames: the cases no longer cover both paths", byRef, copied, frames)
	}
}

// pieces is a sink made of two functions.
type pieces struct {
	datagram func(*Datagram) error
	frame    FrameFunc
}

func (p pieces) Datagram(d *Datagram) error                   { return p.datagram(d) }
func (p pieces) Frame(fi *FrameInfo, head, data []byte) error { return p.frame(fi, head, data) }

// errStop keeps a datagram from the device: the sink refuses it.
var errStop = errors.New("stop")

// TestTransmitTwice: transmitting the same datagram again, in either view
// and order, gives the same frames. Completing a CHECKSUM_PARTIAL checksum
// used to leave the datagram partial, so a second wire-view Transmit summed
// over the finished checksum.
func TestTransmitTwice(t *testing.T) {
	for _, views := range [][2]report.View{{report.Wire, report.Wire}, {report.Tap, report.Wire}} {
		for _, f := range []Features{0, FeatHWCsum} {
			var d *Datagram
			s := newTestSocket(t, 1500, f, func(dg *Datagram) error { d = dg; return errStop })
			if _, e := s.Sendmsg(&Msg{Payload: scenario.Pattern(0, 300), Name: dst}); e != 0 {
				t.Fatal(e)
			}
			var frames [2][]byte
			dev := s.rt.dev
			for k, v := range views {
				var got [][]byte
				dev.View, dev.Sink = v, collect(&got, nil)
				if err := transmit(dev, d); err != nil {
					t.Fatal(err)
				}
				frames[k] = got[0]
			}
			if views[0] == views[1] && !slices.Equal(frames[0], frames[1]) {
				t.Errorf("features %v: %v view twice: %x then %x", f, views[0], frames[0][40:42], frames[1][40:42])
			}
			if views[0] != views[1] && f == 0 && !slices.Equal(frames[0], frames[1]) {
				t.Errorf("no offload: tap %x and wire %x differ", frames[0][40:42], frames[1][40:42])
			}
		}
	}
}

// TestSetsockoptStepAppliesEveryOption: an option after a failing one in
// the same step still takes effect, as in the kernel runner; the step's
// result is the first errno.
func TestSetsockoptStepAppliesEveryOption(t *testing.T) {
	sc, err := scenario.Parse([]byte("steps:\n  - setsockopt:\n      - IP_TTL: 0\n      - IP_TOS: 16\n      - UDPLITE_SEND_CSCOV: 20\n  - send: {len: 10}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(sc, Options{View: report.Tap, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []report.Step{{Op: "setsockopt", Err: errno.EINVAL}, {Op: "send", Ret: 10}}; !report.EqualSteps(rep.Steps, want) {
		t.Errorf("steps = %v, want %v", rep.Steps, want)
	}
	if len(rep.Frames) != 1 || header.IPv4(rep.Frames[0].Data[14:]).TOS() != 16 {
		t.Fatalf("frames = %+v, want one with TOS 16", rep.Frames)
	}
}
