package fuzz

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/udpbuild/udpbuild/scenario"
)

// recordingSource draws from a PRNG and writes each choice in the byte
// encoding consumerSource reads, so that FromBytes of the recording makes
// the same scenario as the draw.
type recordingSource struct {
	r   *rand.Rand
	out []byte
}

func (s *recordingSource) intN(n int) int {
	v := s.r.IntN(n)
	switch {
	case n > 1<<16:
		s.out = append(s.out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case n > 1<<8:
		s.out = append(s.out, byte(v>>8), byte(v))
	default:
		s.out = append(s.out, byte(v))
	}
	return v
}

// generateBytes returns fuzzer input that FromBytes turns into the
// scenario Generate(r, GenConfig{}) would draw.
func generateBytes(r *rand.Rand) []byte {
	rs := &recordingSource{r: r}
	newGen(rs, GenConfig{}).scenario()
	return rs.out
}

func marshal(t testing.TB, sc *scenario.Scenario) []byte {
	t.Helper()
	b, err := scenario.Marshal(sc)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

func TestGenerateIsDeterministic(t *testing.T) {
	for i := range uint64(50) {
		a := marshal(t, Generate(rand.New(rand.NewPCG(1, i)), GenConfig{KernelOnly: true}))
		b := marshal(t, Generate(rand.New(rand.NewPCG(1, i)), GenConfig{KernelOnly: true}))
		if !bytes.Equal(a, b) {
			t.Fatalf("seed (1, %d) gave two scenarios:\n%s\n---\n%s", i, a, b)
		}
	}
	distinct := map[string]bool{}
	for i := range uint64(50) {
		distinct[string(marshal(t, Generate(rand.New(rand.NewPCG(2, i)), GenConfig{})))] = true
	}
	if len(distinct) < 45 {
		t.Errorf("50 seeds gave only %d distinct scenarios", len(distinct))
	}
}

func TestGeneratedScenariosRoundTrip(t *testing.T) {
	for _, cfg := range []GenConfig{{}, {KernelOnly: true}} {
		for i := range uint64(2000) {
			sc := Generate(rand.New(rand.NewPCG(3, i)), cfg)
			b := marshal(t, sc)
			back, err := scenario.Parse(b, "")
			if err != nil {
				t.Fatalf("draw %d (%+v) does not parse: %v\n%s", i, cfg, err, b)
			}
			if !scenario.Equal(sc, back) {
				t.Fatalf("draw %d (%+v) changed in the round trip:\n%s", i, cfg, b)
			}
			if n := len(sc.Steps); n < 1 || n > DefaultMaxSteps {
				t.Fatalf("draw %d has %d steps", i, n)
			}
		}
	}
}

// TestGenerateCovers counts, over 2000 draws, every name of the spec the
// generator should reach.
func TestGenerateCovers(t *testing.T) {
	seen := map[string]int{}
	for i := range uint64(2000) {
		sc := Generate(rand.New(rand.NewPCG(4, i)), GenConfig{})
		so := sc.Socket
		seen["proto "+string(so.Proto)]++
		seen["pmtudisc "+so.PMTUDisc.String()]++
		for _, f := range sc.Link.Features {
			seen["feature "+string(f)]++
		}
		if so.Connect {
			seen["connect"]++
		}
		if so.InetID != nil {
			seen["inet_id"]++
		}
		if !so.Dst.IsValid() {
			seen["dst none"]++
		}
		if slices.Contains(commonMTUs[:], sc.Link.MTU) {
			seen["mtu common"]++
		} else {
			seen["mtu other"]++
		}
		for _, o := range so.Setsockopt {
			seen["socket "+string(o.Name)]++
			if o.Name == scenario.OptIPOptions {
				seen["ipopt "+optKind(o.Bytes)]++
			}
		}
		for _, st := range sc.Steps {
			for _, o := range st.Setsockopt {
				seen["step "+string(o.Name)]++
				if o.Name == scenario.OptUDPCork {
					seen["step UDP_CORK "+map[bool]string{true: "1", false: "0"}[o.Int != 0]]++
				}
			}
			s := st.Send
			if s == nil {
				continue
			}
			for _, name := range scenario.FlagNames(s.Flags) {
				seen["flag "+name]++
			}
			for _, c := range s.Cmsg {
				seen["cmsg "+string(c.Type)]++
				if c.Type == scenario.CmsgIPTOS {
					seen[map[int]string{1: "cmsg IP_TOS u8", 4: "cmsg IP_TOS int"}[c.Size]]++
				}
				if c.Type == scenario.CmsgIPOptions {
					seen["ipopt "+optKind(c.Bytes)]++
				}
			}
			if s.To.IsValid() {
				seen["to"]++
				if s.To.Port() == 0 {
					seen["to port 0"]++
				}
			}
			switch n := len(s.Payload); {
			case n == 0:
				seen["len 0"]++
			case n == 65507 || n == 65508:
				seen["len 65507/65508"]++
			case n > 0xFFFF:
				seen["len > 65535"]++
			case n == sc.Link.MTU-28 || n == sc.Link.MTU-27:
				seen["len MTU-28(+1)"]++
			}
		}
	}
	want := []string{
		"proto udp", "proto udplite", "connect", "inet_id", "dst none", "to", "to port 0",
		"mtu common", "mtu other",
		"len 0", "len 65507/65508", "len > 65535", "len MTU-28(+1)",
		"cmsg IP_TOS u8", "cmsg IP_TOS int",
		"step UDP_CORK 0", "step UDP_CORK 1",
		"ipopt RR", "ipopt TS0", "ipopt TS1", "ipopt TS3", "ipopt LSRR", "ipopt SSRR",
		"ipopt NOOP", "ipopt END", "ipopt RA", "ipopt empty", "ipopt invalid",
	}
	for _, f := range scenario.AllFeatures {
		want = append(want, "feature "+string(f))
	}
	for p := scenario.PMTUDont; p <= scenario.PMTUOmit; p++ {
		want = append(want, "pmtudisc "+p.String())
	}
	for _, f := range scenario.FlagNames(-1) {
		want = append(want, "flag "+f)
	}
	for _, o := range []scenario.OptName{scenario.OptUDPCork, scenario.OptIPTOS, scenario.OptIPTTL, scenario.OptIPOptions,
		scenario.OptSONoCheck, scenario.OptUDPSegment, scenario.OptUDPLiteSendCov, scenario.OptUDPLiteRecvCov, scenario.OptIPMTUDiscover} {
		want = append(want, "socket "+string(o))
	}
	for _, o := range []scenario.OptName{scenario.OptUDPCork, scenario.OptIPTOS, scenario.OptIPTTL, scenario.OptIPMTUDiscover, scenario.OptUDPSegment} {
		want = append(want, "step "+string(o))
	}
	for _, c := range []scenario.CmsgType{scenario.CmsgUDPSegment, scenario.CmsgIPTTL, scenario.CmsgIPTOS, scenario.CmsgIPOptions} {
		want = append(want, "cmsg "+string(c))
	}
	if len(scenario.FlagNames(-1)) != 6 {
		t.Fatalf("expected the 6 flags of the spec, got %v", scenario.FlagNames(-1))
	}
	for _, w := range want {
		if seen[w] == 0 {
			t.Errorf("2000 draws never gave %q", w)
		}
	}
}

// optKind classifies IP option bytes from the generator's library by their
// first meaningful option.
func optKind(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	if len(b) > 40 || (len(b) >= 2 && b[0] == 7 && (b[1] == 0 || int(b[1]) > len(b))) ||
		(len(b) >= 3 && b[0] == 7 && b[2] < 4) || (len(b) >= 3 && b[0] == 0x44 && (b[1] < 4 || b[3]&0x0f == 2)) ||
		(len(b) >= 3 && b[0] == 0x83 && b[2] != 4) || bytes.Count(b, []byte{7, 7, 4}) > 1 {
		return "invalid"
	}
	switch b[0] {
	case 0:
		return "END"
	case 1:
		return "NOOP"
	case 7:
		return "RR"
	case 0x83:
		return "LSRR"
	case 0x89:
		return "SSRR"
	case 0x94:
		return "RA"
	case 0x44:
		return map[byte]string{0: "TS0", 1: "TS1", 3: "TS3"}[b[3]&0x0f]
	}
	return "other"
}

// TestGenerateKernelOnly: no ip-csum (a veth cannot offer it), and never
// the source address as a destination or first hop.
func TestGenerateKernelOnly(t *testing.T) {
	src := scenario.DefaultSrc.Addr()
	for i := range uint64(2000) {
		sc := Generate(rand.New(rand.NewPCG(5, i)), GenConfig{KernelOnly: true})
		if sc.Link.Has(scenario.IPCsum) {
			t.Fatalf("draw %d asks for ip-csum", i)
		}
		if sc.Socket.Dst.Addr() == src {
			t.Fatalf("draw %d has dst %v", i, sc.Socket.Dst)
		}
		check := func(b []byte) {
			if len(b) >= 7 && (b[0] == 0x83 || b[0] == 0x89) && netip.AddrFrom4([4]byte(b[3:7])) == src {
				t.Fatalf("draw %d routes through the source: % x", i, b)
			}
		}
		for _, o := range sc.Socket.Setsockopt {
			check(o.Bytes)
		}
		for _, st := range sc.Steps {
			for _, o := range st.Setsockopt {
				check(o.Bytes)
			}
			if st.Send == nil {
				continue
			}
			if st.Send.To.Addr() == src {
				t.Fatalf("draw %d sends to the source", i)
			}
			for _, c := range st.Send.Cmsg {
				check(c.Bytes)
			}
		}
	}
}

func TestFromBytesOfNothing(t *testing.T) {
	want := &scenario.Scenario{
		Name:   "fuzz",
		Link:   scenario.Link{MTU: 1500},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: scenario.DefaultSrc, Dst: scenario.DefaultDst, PMTUDisc: scenario.PMTUWant},
		Steps:  []scenario.Step{{Send: &scenario.Send{Payload: []byte{}}}},
	}
	for _, in := range [][]byte{nil, {0}, {0, 0, 0, 0}} {
		if got := FromBytes(in); !scenario.Equal(got, want) {
			t.Errorf("FromBytes(% x):\n%s", in, marshal(t, got))
		}
	}
}

// TestFromBytesReplaysGenerate: the recorded choices of a draw make the
// same scenario through FromBytes, so seeded draws can seed the fuzzer.
func TestFromBytesReplaysGenerate(t *testing.T) {
	for i := range uint64(200) {
		want := Generate(rand.New(rand.NewPCG(6, i)), GenConfig{})
		got := FromBytes(generateBytes(rand.New(rand.NewPCG(6, i))))
		got.Name = want.Name
		if !scenario.Equal(got, want) {
			t.Fatalf("draw %d:\n%s\n--- FromBytes gave\n%s", i, marshal(t, want), marshal(t, got))
		}
	}
}

func TestFromBytesRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 0))
	for i := range 500 {
		in := make([]byte, r.IntN(300))
		for j := range in {
			in[j] = byte(r.Uint32())
		}
		sc := FromBytes(in)
		back, err := scenario.Parse(marshal(t, sc), "")
		if err != nil || !scenario.Equal(sc, back) {
			t.Fatalf("input %d (% x): %v", i, in, err)
		}
	}
}

// scriptSource answers each choice with the largest value allowed, except
// for a choice among exactly `among` values, answered with `pick`.
type scriptSource struct{ among, pick int }

func (s scriptSource) intN(n int) int {
	if n == s.among {
		return s.pick
	}
	return n - 1
}

// TestLengthReachesEveryLength: length's last case (the largest weighted
// choice, then the largest bit length) can give every length from 0 to
// 65507, so biasing it towards short lengths loses none.
func TestLengthReachesEveryLength(t *testing.T) {
	for want := range 65508 {
		g := newGen(scriptSource{among: 65508, pick: want}, GenConfig{})
		g.mtu = 1500
		if got := g.length(0, 0); got != want {
			t.Fatalf("length %d: got %d", want, got)
		}
	}
}
