package verify

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestJudgeCases(t *testing.T) {
	for i, c := range judgeCases {
		t.Run(c.name, func(t *testing.T) {
			frames := c.build(t, testWire, uint16(1000+i*16), 9999)
			s := Judge(frames, layers.LinkTypeEthernet)
			if len(s.Verdicts) != len(c.want) {
				t.Fatalf("%d verdicts, want %d: %+v", len(s.Verdicts), len(c.want), s.Verdicts)
			}
			for k, w := range c.want {
				v := s.Verdicts[k]
				if v.Datagram != k+1 {
					t.Errorf("verdict %d numbered %d", k, v.Datagram)
				}
				if v.Delivered != w.delivered || v.Code != w.code {
					t.Errorf("verdict %d: delivered %v code %q (%s), want %v %q", k, v.Delivered, v.Code, v.Reason, w.delivered, w.code)
				}
				if (v.Reason == "") != (w.code == "" && v.Result != ResultNotCaptured) {
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
				if wantResult := map[bool]string{true: ResultDelivered, false: ResultDropped}[w.delivered]; v.Result != wantResult {
					t.Errorf("verdict %d: result %q, want %q", k, v.Result, wantResult)
				}
				if v.Proto != 17 && v.Proto != 136 {
					t.Errorf("verdict %d: proto %d", k, v.Proto)
				}
			}
			var fields []string
			for _, d := range s.Diagnostics {
				fields = append(fields, d.Field)
			}
			if !slices.Equal(fields, c.diags) {
				t.Errorf("diagnostics %v, want fields %v", s.Diagnostics, c.diags)
			}
		})
	}
}

// TestJudgeFields checks the addresses, ports, ID and notes of verdicts.
func TestJudgeFields(t *testing.T) {
	w := testWire
	tr := w.udp(t, 4000, 9999, pattern(1000, 1))
	f := w.frags(t, ipOpt{id: 0x1234}, tr, 400, 800)
	s := Judge([][]byte{f[0], f[1], f[1], f[2]}, layers.LinkTypeEthernet)
	if len(s.Verdicts) != 1 {
		t.Fatalf("verdicts %+v", s.Verdicts)
	}
	v := s.Verdicts[0]
	if got := v.Src.String(); got != "10.9.0.1:4000" {
		t.Errorf("src %s", got)
	}
	if got := v.Dst.String(); got != "10.9.0.2:9999" {
		t.Errorf("dst %s", got)
	}
	if v.ID != 0x1234 || v.Proto != 17 {
		t.Errorf("id %#x proto %d", v.ID, v.Proto)
	}
	if !strings.Contains(v.Note, "frame 3: duplicate of queued data [400,800)") {
		t.Errorf("note %q", v.Note)
	}
	// A datagram dropped at the IP layer shows the ports and length its
	// UDP header gives.
	bad := w.frame(t, ipOpt{id: 0x4321}, w.udp(t, 4000, 9999, pattern(10, 1)))
	bad[14+8]-- // TTL; the header checksum is now wrong
	if v := Judge([][]byte{bad}, layers.LinkTypeEthernet).Verdicts[0]; v.Code != CodeIPChecksum || v.Src.Port() != 4000 || v.Dst.Port() != 9999 || v.Len != 10 {
		t.Errorf("IP-layer drop %+v", v)
	}
	// A dropped fragment queue still names the ports of its first fragment.
	s = Judge([][]byte{f[0], f[2]}, layers.LinkTypeEthernet)
	if v := s.Verdicts[0]; v.Src.Port() != 4000 || v.Dst.Port() != 9999 || v.Len != 1000 || !strings.Contains(v.Reason, "hole at [400,800)") {
		t.Errorf("incomplete verdict %+v", v)
	}
}

// TestJudgeLinkTypes checks that the same IPv4 packet is found behind every
// supported link layer and that an unknown link type is one diagnostic.
func TestJudgeLinkTypes(t *testing.T) {
	eth := testWire.frame(t, ipOpt{id: 7}, testWire.udp(t, 4000, 9999, pattern(64, 1)))
	ip := eth[14:]
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip...)
	null := append([]byte{2, 0, 0, 0}, ip...)
	vlan := append(append(append([]byte(nil), eth[:12]...), 0x81, 0x00, 0x00, 0x05, 0x08, 0x00), ip...)
	for _, c := range []struct {
		name  string
		lt    layers.LinkType
		frame []byte
	}{
		{"ethernet", layers.LinkTypeEthernet, eth},
		{"ethernet vlan", layers.LinkTypeEthernet, vlan},
		{"raw", layers.LinkTypeRaw, ip},
		{"ipv4", layers.LinkTypeIPv4, ip},
		{"sll", layers.LinkTypeLinuxSLL, sll},
		{"sll2", layers.LinkTypeLinuxSLL2, sll2},
		{"null", layers.LinkTypeNull, null},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Judge([][]byte{c.frame}, c.lt)
			if len(s.Verdicts) != 1 || !s.Verdicts[0].Delivered || s.Verdicts[0].Len != 64 || len(s.Diagnostics) != 0 {
				t.Fatalf("%+v", s)
			}
		})
	}
	s := Judge([][]byte{eth, eth}, layers.LinkType(147))
	if len(s.Verdicts) != 0 || len(s.Diagnostics) != 1 || s.Diagnostics[0].Field != "LinkType" {
		t.Fatalf("%+v", s)
	}
}

// TestJudgeFragReset checks ip_frag_too_far: a queue that waited while more
// than 64 other fragments from the same source arrived starts over.
func TestJudgeFragReset(t *testing.T) {
	w := testWire
	tr := w.udp(t, 4000, 9999, pattern(1000, 1))
	f := w.frags(t, ipOpt{id: 1}, tr, 400, 800)
	frames := [][]byte{f[0], f[1]}
	// 64 fragments of other datagrams from the same source: with f[2]
	// that makes 65 since the queue last grew, more than 64.
	for k := range 64 {
		frames = append(frames, w.frag(t, ipOpt{id: uint16(100 + k)}, 0, true, pattern(8, 0)))
	}
	frames = append(frames, f[2])
	s := Judge(frames, layers.LinkTypeEthernet)
	var codes []Code
	for _, v := range s.Verdicts {
		if v.ID == 1 {
			codes = append(codes, v.Code)
		}
	}
	if !slices.Equal(codes, []Code{CodeFragReset, CodeFragIncomplete}) {
		t.Fatalf("codes for ID 1: %v", codes)
	}
	// With one fewer it still completes.
	frames = slices.Delete(frames, 2, 3)
	s = Judge(frames, layers.LinkTypeEthernet)
	if v := s.Verdicts[0]; v.ID != 1 || !v.Delivered {
		t.Fatalf("%+v", v)
	}
}

// TestJSONLines checks the --json output: one object per line with a type,
// verdict fields as documented, then the summary.
func TestJSONLines(t *testing.T) {
	w := testWire
	good := w.frame(t, ipOpt{id: 9}, w.udp(t, 4000, 9999, []byte("hi")))
	s := Judge([][]byte{good, nil}, layers.LinkTypeEthernet)
	var b bytes.Buffer
	jw := NewJSONWriter(&b)
	if err := jw.Verdict(&s.Verdicts[0]); err != nil {
		t.Fatal(err)
	}
	if err := jw.Diagnostic(&s.Diagnostics[0]); err != nil {
		t.Fatal(err)
	}
	if err := jw.Close(s.Stats); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"verdict","datagram":1,"frames":[1],"src":"10.9.0.1:4000","dst":"10.9.0.2:9999","proto":17,"id":9,"len":2,"result":"delivered","delivered":true,"checksum":"ok"}` + "\n" +
		`{"type":"diagnostic","frame":2,"field":"Frame","msg":"empty frame (0 bytes)"}` + "\n" +
		`{"type":"summary","frames":2,"bytes":60,"datagrams":1,"delivered":1,"dropped":0,"not_captured":0,"ipv6":0,"not_udp":0,"not_ip":0,"unjudged":1,"diagnostics":1,"complete":true}` + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	var back Verdict
	if err := json.Unmarshal(bytes.Split(b.Bytes(), []byte("\n"))[0], &back); err != nil || back.Src != s.Verdicts[0].Src || back.Result != ResultDelivered {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	e, _ := json.Marshal(Judge(nil, layers.LinkTypeEthernet))
	if !strings.HasPrefix(string(e), `{"verdicts":[],"diagnostics":[],`) {
		t.Fatalf("empty summary %s", e)
	}
}

func TestRender(t *testing.T) {
	w := testWire
	f := w.frags(t, ipOpt{id: 3}, w.udp(t, 4000, 9999, pattern(1000, 1)), 400, 800)
	bad := w.frame(t, ipOpt{id: 4}, w.udp(t, 4000, 9999, pattern(10, 1)))
	bad[udpOff+8+5] ^= 1
	s := Judge([][]byte{f[0], f[1], f[2], bad, {}}, layers.LinkTypeEthernet)
	for _, quiet := range []bool{false, true} {
		var b bytes.Buffer
		tw := NewTextWriter(&b, quiet)
		for i := range s.Verdicts {
			if err := tw.Verdict(&s.Verdicts[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range s.Diagnostics {
			if err := tw.Diagnostic(&s.Diagnostics[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(s.Stats); err != nil {
			t.Fatal(err)
		}
		want := "" +
			"#      frames      src → dst                                     proto   id    len   verdict         reason\n"
		if !quiet {
			want += "1      1-3         10.9.0.1:4000 → 10.9.0.2:9999                 udp     3     1000  delivered\n"
		}
		want += "2      4           10.9.0.1:4000 → 10.9.0.2:9999                 udp     4     10    dropped (bad)   udp-checksum: bad checksum 0x" + checksumHex(bad) + " (udp_lib_checksum_complete)\n" +
			"! frame 5: Frame: empty frame (0 bytes)\n" +
			"5 frames, 1170 bytes captured: 2 datagrams judged (1 delivered, 1 dropped)\n" +
			"1 frames not judged, 1 diagnostics (lines marked !)\n"
		if b.String() != want {
			t.Fatalf("quiet %v: got\n%s\nwant\n%s", quiet, b.String(), want)
		}
	}
	if got := frameList([]int{1, 2, 3, 5, 7, 8}, 0); got != "1-3,5,7-8" {
		t.Errorf("frameList %q", got)
	}
	if got := frameList([]int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}, 4); got != "1,3,5,7,9,11,13,15,+6" {
		t.Errorf("frameList %q", got)
	}
}

func checksumHex(frame []byte) string {
	const hex = "0123456789abcdef"
	c := frame[udpOff+6 : udpOff+8]
	return string([]byte{hex[c[0]>>4], hex[c[0]&15], hex[c[1]>>4], hex[c[1]&15]})
}

func TestDiagnosticString(t *testing.T) {
	for _, c := range []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Frame: 3, Field: "LinuxSLL", Msg: "undecodable"}, "frame 3: LinuxSLL: undecodable"},
		{Diagnostic{Frame: 0, Field: "Capture", Msg: "truncated"}, "capture: Capture: truncated"},
		{Diagnostic{Frame: 0, Msg: "truncated"}, "capture: truncated"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, c := range []struct {
		p    Problem
		want string
	}{
		{Problem{Frame: 3, Datagram: 1, Field: "IPv4.FragOffset", Msg: "not a multiple of 8"}, "frame 3 (datagram 1): IPv4.FragOffset: not a multiple of 8"},
		{Problem{Frame: 2, Datagram: -1, Field: "Frame", Msg: "empty"}, "frame 2: Frame: empty"},
		{Problem{Frame: -1, Datagram: 4, Field: "Payload", Msg: "missing"}, "datagram 4: Payload: missing"},
		{Problem{Frame: -1, Datagram: -1, Msg: "truncated"}, "capture: truncated"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
