package verify

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// judgeOpt is Judge with receiver options.
func judgeOpt(frames [][]byte, lt layers.LinkType, opt Options) Summary {
	s := Summary{Verdicts: []Verdict{}, Diagnostics: []Diagnostic{}}
	v := NewVerifier(opt, &s)
	for i, f := range frames {
		_ = v.Frame(Frame{Number: i + 1, LinkType: lt, Data: f})
	}
	s.Stats, _ = v.Finish()
	return s
}

func TestJudgeCases6(t *testing.T) {
	for i, c := range judgeCases6 {
		t.Run(c.name, func(t *testing.T) {
			frames := c.build(t, testWire6, uint32(0x10000+i*16), 9999)
			s := judgeOpt(frames, layers.LinkTypeEthernet, c.opt)
			if len(s.Verdicts) != len(c.want) {
				t.Fatalf("%d verdicts, want %d: %+v", len(s.Verdicts), len(c.want), s.Verdicts)
			}
			for k, w := range c.want {
				v := s.Verdicts[k]
				if v.Delivered != w.delivered || v.Code != w.code {
					t.Errorf("verdict %d: delivered %v code %q (%s), want %v %q", k, v.Delivered, v.Code, v.Reason, w.delivered, w.code)
				}
				if (v.Reason == "") != (w.code == "") {
					t.Errorf("verdict %d: reason %q with code %q", k, v.Reason, v.Code)
				}
				if w.checksum != "" && v.Checksum != w.checksum {
					t.Errorf("verdict %d: checksum %q, want %q", k, v.Checksum, w.checksum)
				}
				if v.Len != w.len {
					t.Errorf("verdict %d: len %d, want %d", k, v.Len, w.len)
				}
				if w.frames != nil && !slices.Equal(v.Frames, w.frames) {
					t.Errorf("verdict %d: frames %v, want %v", k, v.Frames, w.frames)
				}
				if !v.Src.Addr().Is6() || !v.Dst.Addr().Is6() {
					t.Errorf("verdict %d: addresses %v → %v", k, v.Src, v.Dst)
				}
				if w.proto != 0 && v.Proto != w.proto || w.proto == 0 && v.Proto != protoUDP && v.Proto != protoUDPLite {
					t.Errorf("verdict %d: proto %d", k, v.Proto)
				}
			}
			if len(s.Diagnostics) != 0 {
				t.Errorf("diagnostics %v", s.Diagnostics)
			}
			if s.Stats.IPv6 != len(frames) {
				t.Errorf("%d IPv6 packets counted, %d sent", s.Stats.IPv6, len(frames))
			}
		})
	}
}

// TestJudgeFields6 checks the addresses, ports, ID, notes and rendering
// of IPv6 verdicts.
func TestJudgeFields6(t *testing.T) {
	w := testWire6
	tr := w.udp(t, 4000, 9999, pattern(1000, 1))
	f := w.frags(nil, 0xdeadbeef, protoUDP, tr, 400, 800)
	s := Judge([][]byte{f[0], f[1], f[1], f[2]}, layers.LinkTypeEthernet)
	if len(s.Verdicts) != 1 {
		t.Fatalf("verdicts %+v", s.Verdicts)
	}
	v := s.Verdicts[0]
	if got := v.Src.String(); got != "[fd00:9::1]:4000" {
		t.Errorf("src %s", got)
	}
	if got := v.Dst.String(); got != "[fd00:9::2]:9999" {
		t.Errorf("dst %s", got)
	}
	if v.ID != 0xdeadbeef || v.Proto != 17 {
		t.Errorf("id %#x proto %d", v.ID, v.Proto)
	}
	if !strings.Contains(v.Note, "frame 3: duplicate of queued data [400,800)") {
		t.Errorf("note %q", v.Note)
	}
	var text bytes.Buffer
	tw := NewTextWriter(&text, false)
	_ = tw.Verdict(&v)
	_ = tw.Close(s.Stats)
	if out := text.String(); !strings.Contains(out, "[fd00:9::1]:4000 → [fd00:9::2]:9999") || !strings.Contains(out, "3735928559") || !strings.Contains(out, "IPv6: 4 packets") {
		t.Errorf("text:\n%s", out)
	}
	var js bytes.Buffer
	jw := NewJSONWriter(&js)
	_ = jw.Verdict(&v)
	_ = jw.Close(s.Stats)
	var got struct {
		Src string `json:"src"`
		ID  uint32 `json:"id"`
	}
	if err := json.Unmarshal(bytes.SplitN(js.Bytes(), []byte("\n"), 2)[0], &got); err != nil || got.Src != "[fd00:9::1]:4000" || got.ID != 0xdeadbeef {
		t.Errorf("JSON %s: %+v %v", js.String(), got, err)
	}
	// An atomic fragment says so.
	a := Judge([][]byte{w.frame([]ext6{fragHdr6(0, false, 7)}, protoUDP, w.udp(t, 4000, 9999, pattern(10, 1)))}, layers.LinkTypeEthernet).Verdicts
	if len(a) != 1 || !a[0].Delivered || a[0].ID != 7 || !strings.Contains(a[0].Note, "atomic fragment") {
		t.Errorf("atomic fragment: %+v", a)
	}
	// Fragments of another protocol are counted, not judged.
	icmp := w.frags(nil, 9, 58, pattern(1000, 2), 400, 800)
	st := Judge(icmp, layers.LinkTypeEthernet)
	if len(st.Verdicts) != 0 || st.Stats.NotUDP != 1 {
		t.Errorf("ICMPv6 fragments: %+v", st)
	}
	// So are packets with no next header, and ICMPv6 behind options.
	st = Judge([][]byte{w.frame(nil, nexthdrNone, nil), w.frame([]ext6{opts6(nexthdrHop)}, 58, pattern(8, 1))}, layers.LinkTypeEthernet)
	if len(st.Verdicts) != 0 || st.Stats.NotUDP != 2 || st.Stats.IPv6 != 2 {
		t.Errorf("not UDP: %+v", st)
	}
}

// TestJudgeLinkTypes6 checks that one IPv6 datagram is found behind every
// link layer and tunnel IPv4 is followed through.
func TestJudgeLinkTypes6(t *testing.T) {
	w := testWire6
	eth := w.frame(nil, protoUDP, w.udp(t, 4000, 9999, pattern(64, 1)))
	ip := eth[14:]
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd}, ip...)
	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip...)
	vlan := append(append(append([]byte(nil), eth[:12]...), 0x81, 0x00, 0x00, 0x05, 0x86, 0xdd), ip...)
	// IPv6 in IPv4 (protocol 41), and IPv6 in IPv6 (next header 41).
	in4 := testWire.frame(t, ipOpt{id: 3, proto: layers.IPProtocolIPv6}, ip)
	in6 := w.packet(protoIPv6in, 0, ip)
	cases := []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		where string
	}{
		{"ethernet", layers.LinkTypeEthernet, eth, ""},
		{"ethernet vlan", layers.LinkTypeEthernet, vlan, "VLAN 5"},
		{"raw", layers.LinkTypeRaw, ip, ""},
		{"ipv6", layers.LinkTypeIPv6, ip, ""},
		{"sll", layers.LinkTypeLinuxSLL, sll, ""},
		{"sll2", layers.LinkTypeLinuxSLL2, sll2, ""},
		{"6in4", layers.LinkTypeEthernet, in4, "IPv6-in-IP in IPv4 10.9.0.1 → 10.9.0.2"},
		{"6in6", layers.LinkTypeEthernet, in6, "IPv6-in-IP in IPv6 fd00:9::1 → fd00:9::2"},
	}
	for _, fam := range []byte{10, 24, 28, 30} { // Linux, BSD, FreeBSD, Darwin
		cases = append(cases, struct {
			name  string
			lt    layers.LinkType
			frame []byte
			where string
		}{"null family " + string(rune('0'+fam/10)) + string(rune('0'+fam%10)), layers.LinkTypeNull, append([]byte{fam, 0, 0, 0}, ip...), ""})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Judge([][]byte{c.frame}, c.lt)
			if len(s.Verdicts) != 1 || !s.Verdicts[0].Delivered || s.Verdicts[0].Len != 64 || s.Verdicts[0].Where != c.where || len(s.Diagnostics) != 0 {
				t.Fatalf("%+v", s)
			}
		})
	}
}
