package kernel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// pattern is the spec's payload: byte i of the k-th send is (k*31 + i*7) mod 256.
func pattern(k, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k*31 + i*7)
	}
	return b
}

func baseScenario(name string) *scenario.Scenario {
	return &scenario.Scenario{
		Name: name,
		Link: scenario.Link{MTU: 1500},
		Socket: scenario.Socket{
			Proto:    scenario.UDP,
			Src:      netip.MustParseAddrPort("10.0.0.1:40000"),
			Dst:      netip.MustParseAddrPort("10.0.0.2:9000"),
			PMTUDisc: scenario.PMTUWant,
		},
	}
}

// send is the k-th send step with a pattern payload of n bytes.
func send(k, n, flags int, cmsgs ...scenario.Cmsg) scenario.Step {
	return scenario.Step{Send: &scenario.Send{Payload: pattern(k, n), Flags: flags, Index: k, Cmsg: cmsgs}}
}

func needKernel(t *testing.T) {
	t.Helper()
	testenv.NeedKernel(t)
}

func run(t *testing.T, sc *scenario.Scenario) *report.Report {
	t.Helper()
	rep, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// ip returns the IPv4 header and what follows it in an Ethernet frame.
func ip(t *testing.T, f report.Frame) (hdr, rest []byte) {
	t.Helper()
	if len(f.Data) < 34 || binary.BigEndian.Uint16(f.Data[12:14]) != 0x0800 {
		t.Fatalf("frame is not IPv4 over Ethernet: % x", f.Data)
	}
	ihl := int(f.Data[14]&0xf) * 4
	return f.Data[14 : 14+ihl], f.Data[14+ihl:]
}

func wantSteps(t *testing.T, rep *report.Report, want ...report.Step) {
	t.Helper()
	if !report.EqualSteps(rep.Steps, want) {
		t.Fatalf("steps = %v, want %v", rep.Steps, want)
	}
}

func sent(n int) report.Step { return report.Step{Op: "send", Ret: n} }

func failed(e errno.Errno) report.Step { return report.Step{Op: "send", Err: e} }

// ourNamespaces lists the namespaces this process created and left behind.
func ourNamespaces(t *testing.T) []string {
	return testenv.Namespaces(t, fmt.Sprintf("%s%d-", namePrefix, os.Getpid()))
}

func TestPlainSend(t *testing.T) {
	needKernel(t)
	sc := baseScenario("plain")
	sc.Steps = []scenario.Step{send(0, 1000, 0)}
	rep := run(t, sc)
	wantSteps(t, rep, sent(1000))
	if rep.Source != "kernel" || rep.View != "tap" || rep.Kernel == "" || rep.Scenario != "plain" {
		t.Errorf("report header = %q %q %q %q", rep.Source, rep.View, rep.Kernel, rep.Scenario)
	}
	if len(rep.Features.Enabled) != 0 || len(rep.Features.Dropped) != 0 {
		t.Errorf("features = %+v, want none enabled or dropped", rep.Features)
	}
	if len(rep.Frames) != 1 {
		t.Fatalf("got %d frames, want 1: %+v", len(rep.Frames), rep.Frames)
	}
	f := rep.Frames[0]
	if f.Step != 0 || f.Kind != report.Datagram || f.Count != 1 || f.Datagram != 0 || f.Len != 1042 {
		t.Errorf("frame = %+v", f)
	}
	wantEth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
	if !bytes.Equal(f.Data[:14], wantEth) {
		t.Errorf("ethernet header = % x, want % x", f.Data[:14], wantEth)
	}
	h, udp := ip(t, f)
	if got := binary.BigEndian.Uint16(h[2:4]); got != 1028 {
		t.Errorf("IPv4 total length = %d, want 1028", got)
	}
	if !bytes.Equal(h[12:20], []byte{10, 0, 0, 1, 10, 0, 0, 2}) || h[9] != 17 {
		t.Errorf("IPv4 addresses/protocol = % x", h[9:20])
	}
	if got := binary.BigEndian.Uint16(udp[4:6]); got != 1008 {
		t.Errorf("UDP length = %d, want 1008", got)
	}
	if binary.BigEndian.Uint16(udp[0:2]) != 40000 || binary.BigEndian.Uint16(udp[2:4]) != 9000 {
		t.Errorf("UDP ports = % x", udp[:4])
	}
	if !bytes.Equal(udp[8:], pattern(0, 1000)) {
		t.Error("payload differs from the pattern")
	}
}

func TestFragments(t *testing.T) {
	needKernel(t)
	sc := baseScenario("frag")
	sc.Steps = []scenario.Step{send(0, 3000, 0)}
	rep := run(t, sc)
	wantSteps(t, rep, sent(3000))
	if len(rep.Frames) != 3 {
		t.Fatalf("got %d frames, want 3", len(rep.Frames))
	}
	wantOff := []int{0, 1480, 2960}
	wantMF := []bool{true, true, false}
	wantLen := []int{1500, 1500, 68}
	var id uint16
	var ipPayload []byte
	for i, f := range rep.Frames {
		h, rest := ip(t, f)
		fo := binary.BigEndian.Uint16(h[6:8])
		if int(fo&0x1fff)*8 != wantOff[i] || (fo&0x2000 != 0) != wantMF[i] {
			t.Errorf("fragment %d: frag field %#04x, want offset %d MF %v", i, fo, wantOff[i], wantMF[i])
		}
		if got := int(binary.BigEndian.Uint16(h[2:4])); got != wantLen[i] {
			t.Errorf("fragment %d: total length %d, want %d", i, got, wantLen[i])
		}
		if i == 0 {
			id = binary.BigEndian.Uint16(h[4:6])
		} else if got := binary.BigEndian.Uint16(h[4:6]); got != id {
			t.Errorf("fragment %d: ID %d, want %d as fragment 0", i, got, id)
		}
		want := report.Frame{Step: 0, Datagram: 0, Kind: report.Fragment, Index: i, Count: 3, Offset: wantOff[i],
			Why: fmt.Sprintf("captured: fragment %d of 3", i+1)}
		got := f
		got.Data, got.Len = nil, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("fragment %d = %+v, want %+v", i, got, want)
		}
		ipPayload = append(ipPayload, rest...)
	}
	if len(ipPayload) != 3008 || !bytes.Equal(ipPayload[8:], pattern(0, 3000)) {
		t.Errorf("reassembled payload wrong (%d bytes)", len(ipPayload))
	}
}

func TestCorkMSGMORE(t *testing.T) {
	needKernel(t)
	sc := baseScenario("cork")
	sc.Steps = []scenario.Step{send(0, 500, unix.MSG_MORE), send(1, 700, 0)}
	rep := run(t, sc)
	wantSteps(t, rep, sent(500), sent(700))
	if len(rep.Frames) != 1 || rep.Frames[0].Step != 1 || rep.Frames[0].Kind != report.Datagram {
		t.Fatalf("frames = %+v, want one datagram from step 1", rep.Frames)
	}
	_, udp := ip(t, rep.Frames[0])
	if got := binary.BigEndian.Uint16(udp[4:6]); got != 1208 {
		t.Errorf("UDP length = %d, want 1208", got)
	}
	if want := append(pattern(0, 500), pattern(1, 700)...); !bytes.Equal(udp[8:], want) {
		t.Error("payload is not the concatenation of both sends")
	}
}

// TestSetupAndUncork: the setsockopt list is applied in order and reported;
// a failing option is a result, not an error; uncorking sends the datagram
// from the setsockopt step.
func TestSetupAndUncork(t *testing.T) {
	needKernel(t)
	sc := baseScenario("setup")
	sc.Socket.Setsockopt = []scenario.Opt{
		{Name: scenario.OptUDPCork, Int: 1},
		{Name: scenario.OptIPTTL, Int: 9},
		{Name: scenario.OptUDPLiteSendCov, Int: 20}, // not a UDP-Lite socket
	}
	sc.Steps = []scenario.Step{
		send(0, 100, 0),
		send(1, 200, 0),
		{Setsockopt: []scenario.Opt{{Name: scenario.OptUDPCork, Int: 0}}},
	}
	rep := run(t, sc)
	wantSetup := []report.Step{{Op: "setsockopt"}, {Op: "setsockopt"}, {Op: "setsockopt", Err: errno.ENOPROTOOPT}}
	if !report.EqualSteps(rep.Setup, wantSetup) {
		t.Errorf("setup = %v, want %v", rep.Setup, wantSetup)
	}
	wantSteps(t, rep, sent(100), sent(200), report.Step{Op: "setsockopt"})
	if len(rep.Frames) != 1 || rep.Frames[0].Step != 2 {
		t.Fatalf("frames = %+v, want one from step 2", rep.Frames)
	}
	h, udp := ip(t, rep.Frames[0])
	if h[8] != 9 {
		t.Errorf("TTL = %d, want 9", h[8])
	}
	if want := append(pattern(0, 100), pattern(1, 200)...); !bytes.Equal(udp[8:], want) {
		t.Error("payload is not the concatenation of both sends")
	}
}

func TestCmsgTTLAndTOS(t *testing.T) {
	needKernel(t)
	sc := baseScenario("cmsg")
	sc.Steps = []scenario.Step{send(0, 10, 0,
		scenario.Cmsg{Type: scenario.CmsgIPTTL, Int: 3, Size: 4},
		scenario.Cmsg{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1})}
	rep := run(t, sc)
	wantSteps(t, rep, sent(10))
	if len(rep.Frames) != 1 {
		t.Fatalf("got %d frames, want 1", len(rep.Frames))
	}
	h, _ := ip(t, rep.Frames[0])
	if h[8] != 3 || h[1] != 0xb8 {
		t.Errorf("TTL %d TOS %#x, want 3 and 0xb8", h[8], h[1])
	}
}

func TestErrors(t *testing.T) {
	needKernel(t)
	tests := []struct {
		name   string
		edit   func(*scenario.Scenario)
		steps  []scenario.Step
		want   []report.Step
		frames int
	}{
		{"too big", nil, []scenario.Step{send(0, 65508, 0)}, []report.Step{failed(errno.EMSGSIZE)}, 0},
		{"largest", nil, []scenario.Step{send(0, 65507, 0)}, []report.Step{sent(65507)}, 45},
		{"no destination", func(sc *scenario.Scenario) { sc.Socket.Dst = netip.AddrPort{} },
			[]scenario.Step{send(0, 10, 0)}, []report.Step{failed(errno.EDESTADDRREQ)}, 0},
		{"DF too big", func(sc *scenario.Scenario) { sc.Socket.PMTUDisc = scenario.PMTUDo },
			[]scenario.Step{send(0, 1473, 0), send(1, 1472, 0)}, []report.Step{failed(errno.EMSGSIZE), sent(1472)}, 1},
		// An ICMP port unreachable would make the second send fail with
		// ECONNREFUSED; the peer's listeners must prevent it.
		{"connected twice", func(sc *scenario.Scenario) { sc.Socket.Connect = true },
			[]scenario.Step{send(0, 10, 0), send(1, 10, 0)}, []report.Step{sent(10), sent(10)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := baseScenario(tt.name)
			if tt.edit != nil {
				tt.edit(sc)
			}
			sc.Steps = tt.steps
			rep := run(t, sc)
			wantSteps(t, rep, tt.want...)
			if len(rep.Frames) != tt.frames {
				t.Errorf("got %d frames, want %d", len(rep.Frames), tt.frames)
			}
		})
	}
}

// TestMsgName: a step's own destination wins over the scenario's; with no
// scenario dst, only the step that names one gets through.
func TestMsgName(t *testing.T) {
	needKernel(t)
	sc := baseScenario("msg_name")
	sc.Socket.Dst = netip.AddrPort{}
	sc.Steps = []scenario.Step{send(0, 10, 0), send(1, 10, 0)}
	sc.Steps[1].Send.To = netip.MustParseAddrPort("10.0.0.7:7777")
	rep := run(t, sc)
	wantSteps(t, rep, failed(errno.EDESTADDRREQ), sent(10))
	if len(rep.Frames) != 1 || rep.Frames[0].Step != 1 {
		t.Fatalf("frames = %+v, want one from step 1", rep.Frames)
	}
	h, udp := ip(t, rep.Frames[0])
	if !bytes.Equal(h[16:20], []byte{10, 0, 0, 7}) || binary.BigEndian.Uint16(udp[2:4]) != 7777 {
		t.Errorf("destination = %v:%d, want 10.0.0.7:7777", h[16:20], binary.BigEndian.Uint16(udp[2:4]))
	}
}

// TestSourceRoute: with a loose source route the packet leaves for the
// first hop, which must have a neighbour entry for the frame to appear.
func TestSourceRoute(t *testing.T) {
	needKernel(t)
	sc := baseScenario("lsrr")
	sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptIPOptions, Bytes: []byte{131, 7, 4, 10, 0, 0, 3}}}
	sc.Steps = []scenario.Step{send(0, 10, 0)}
	rep := run(t, sc)
	wantSteps(t, rep, sent(10))
	if len(rep.Setup) != 1 || !rep.Setup[0].OK() {
		t.Fatalf("setup = %v", rep.Setup)
	}
	if len(rep.Frames) != 1 {
		t.Fatalf("got %d frames, want 1", len(rep.Frames))
	}
	h, _ := ip(t, rep.Frames[0])
	want := []byte{10, 0, 0, 3, 131, 7, 4, 10, 0, 0, 2, 0}
	if len(h) != 28 || !bytes.Equal(h[16:], want) {
		t.Errorf("IP header tail = % x, want % x", h[16:], want)
	}
}

// TestUDPLite: UDPLITE_SEND_CSCOV puts the coverage where UDP has its
// length (udplite_csum).
func TestUDPLite(t *testing.T) {
	needKernel(t)
	sc := baseScenario("udplite")
	sc.Socket.Proto = scenario.UDPLite
	sc.Socket.Setsockopt = []scenario.Opt{{Name: scenario.OptUDPLiteSendCov, Int: 20}}
	sc.Steps = []scenario.Step{send(0, 100, 0)}
	rep := run(t, sc)
	wantSteps(t, rep, sent(100))
	if len(rep.Setup) != 1 || !rep.Setup[0].OK() {
		t.Errorf("setup = %v", rep.Setup)
	}
	if len(rep.Frames) != 1 {
		t.Fatalf("got %d frames, want 1", len(rep.Frames))
	}
	h, udp := ip(t, rep.Frames[0])
	if h[9] != 136 || binary.BigEndian.Uint16(udp[4:6]) != 20 || !bytes.Equal(udp[8:], pattern(0, 100)) {
		t.Errorf("protocol %d, coverage %d", h[9], binary.BigEndian.Uint16(udp[4:6]))
	}
}

// udpPseudoSum is the folded, uncomplemented sum of the IPv4 pseudo-header,
// which udp4_hwcsum leaves in the checksum field for the device to finish.
func udpPseudoSum(h []byte, udpLen int) uint16 {
	sum := uint32(binary.BigEndian.Uint16(h[12:14])) + uint32(binary.BigEndian.Uint16(h[14:16])) +
		uint32(binary.BigEndian.Uint16(h[16:18])) + uint32(binary.BigEndian.Uint16(h[18:20])) +
		uint32(h[9]) + uint32(udpLen)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestHWCsumLeavesPartialChecksum(t *testing.T) {
	needKernel(t)
	sc := baseScenario("hw-csum")
	sc.Link.Features = []scenario.Feature{scenario.HWCsum}
	sc.Steps = []scenario.Step{send(0, 1000, 0)}
	rep := run(t, sc)
	if !slices.Equal(rep.Features.Enabled, []string{"hw-csum"}) || len(rep.Features.Dropped) != 0 {
		t.Errorf("features = %+v", rep.Features)
	}
	if len(rep.Frames) != 1 {
		t.Fatalf("got %d frames, want 1", len(rep.Frames))
	}
	f := rep.Frames[0]
	h, udp := ip(t, f)
	if got, want := binary.BigEndian.Uint16(udp[6:8]), udpPseudoSum(h, 1008); got != want {
		t.Errorf("UDP checksum = %#04x, want the pseudo-header sum %#04x", got, want)
	}
	if !strings.HasSuffix(f.Why, "(checksum partial: TP_STATUS_CSUMNOTREADY)") {
		t.Errorf("why = %q", f.Why)
	}
}

func TestFeatureFixups(t *testing.T) {
	needKernel(t)
	tests := []struct {
		name      string
		req       []scenario.Feature
		check     func(t *testing.T, f report.Features)
		wantEnabl []string
	}{
		{name: "all three", req: []scenario.Feature{scenario.HWCsum, scenario.SG, scenario.GSOUDPL4},
			wantEnabl: []string{"hw-csum", "sg", "gso-udp-l4"}},
		{name: "ip-csum on veth", req: []scenario.Feature{scenario.IPCsum},
			wantEnabl: []string{}, check: func(t *testing.T, f report.Features) {
				if len(f.Dropped) != 1 || !strings.HasPrefix(f.Dropped[0], "ip-csum: the veth device cannot offer it") {
					t.Errorf("dropped = %q", f.Dropped)
				}
			}},
		{name: "gso without csum", req: []scenario.Feature{scenario.SG, scenario.GSOUDPL4},
			wantEnabl: []string{"sg"}, check: func(t *testing.T, f report.Features) {
				if !slices.Equal(f.Dropped, []string{"gso-udp-l4: the kernel dropped it: needs a checksum feature (netdev_fix_features)"}) {
					t.Errorf("dropped = %q", f.Dropped)
				}
			}},
		// Linux 6.18 keeps NETIF_F_SG without a checksum feature (older
		// kernels dropped it); either way a missing feature must be explained.
		{name: "sg without csum", req: []scenario.Feature{scenario.SG}, check: func(t *testing.T, f report.Features) {
			kept := slices.Equal(f.Enabled, []string{"sg"}) && len(f.Dropped) == 0
			dropped := len(f.Enabled) == 0 && len(f.Dropped) == 1 && strings.Contains(f.Dropped[0], "sg: the kernel dropped it: needs a checksum feature")
			if !kept && !dropped {
				t.Errorf("features = %+v", f)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := baseScenario(tt.name)
			sc.Link.Features = tt.req
			rep := run(t, sc)
			var req []string
			for _, f := range tt.req {
				req = append(req, string(f))
			}
			if !slices.Equal(rep.Features.Requested, req) {
				t.Errorf("requested = %q, want %q", rep.Features.Requested, req)
			}
			if tt.wantEnabl != nil && !slices.Equal(rep.Features.Enabled, tt.wantEnabl) {
				t.Errorf("enabled = %q, want %q", rep.Features.Enabled, tt.wantEnabl)
			}
			if tt.check != nil {
				tt.check(t, rep.Features)
			}
		})
	}
}

// TestGSO: with gso-udp-l4 the tap sees the super-packet even when it fits
// the MTU; without it, software GSO splits it before the tap.
func TestGSO(t *testing.T) {
	needKernel(t)
	seg := scenario.Cmsg{Type: scenario.CmsgUDPSegment, Int: 500, Size: 2}
	t.Run("device", func(t *testing.T) {
		sc := baseScenario("gso device")
		sc.Link.Features = []scenario.Feature{scenario.HWCsum, scenario.SG, scenario.GSOUDPL4}
		sc.Steps = []scenario.Step{send(0, 1400, 0, seg)}
		rep := run(t, sc)
		wantSteps(t, rep, sent(1400))
		if len(rep.Frames) != 1 {
			t.Fatalf("got %d frames, want 1", len(rep.Frames))
		}
		f := rep.Frames[0]
		if f.Kind != report.Super || f.Len != 14+20+8+1400 ||
			f.Why != "captured: GSO super-packet, gso_size 500 (the device makes 3 segments) (checksum partial: TP_STATUS_CSUMNOTREADY)" {
			t.Errorf("frame = %+v", f)
		}
	})
	t.Run("software", func(t *testing.T) {
		sc := baseScenario("gso software")
		sc.Link.Features = []scenario.Feature{scenario.HWCsum, scenario.SG}
		sc.Steps = []scenario.Step{send(0, 1400, 0, seg)}
		rep := run(t, sc)
		wantSteps(t, rep, sent(1400))
		if len(rep.Frames) != 3 {
			t.Fatalf("got %d frames, want 3", len(rep.Frames))
		}
		var payload []byte
		for i, f := range rep.Frames {
			_, udp := ip(t, f)
			payload = append(payload, udp[8:]...)
			if f.Kind != report.Segment || f.Index != i || f.Count != 3 || f.Offset != 500*i || f.Datagram != 0 {
				t.Errorf("segment %d = %+v", i, f)
			}
		}
		if !bytes.Equal(payload, pattern(0, 1400)) {
			t.Error("segments do not carry the payload in order")
		}
	})
}

func TestTeardownAfterError(t *testing.T) {
	needKernel(t)
	sc := baseScenario("bad mtu")
	sc.Link.MTU = 70000
	_, err := Run(context.Background(), sc, Options{})
	if err == nil || !strings.Contains(err.Error(), "mtu 70000") {
		t.Errorf("err = %v, want one naming the failing ip command", err)
	}
	if left := ourNamespaces(t); len(left) != 0 {
		t.Errorf("namespaces left behind: %q", left)
	}
}

func TestCancelTearsDown(t *testing.T) {
	needKernel(t)
	sc := baseScenario("cancel")
	sc.Steps = []scenario.Step{send(0, 100, 0)}
	sc.Repeat = 1 << 30 // hours of sends uncancelled
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, sc, Options{Frame: func(report.Frame) error { return nil }, Step: func(int, report.Step) error { return nil }})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after cancellation", d)
	}
	if left := ourNamespaces(t); len(left) != 0 {
		t.Errorf("namespaces left behind: %q", left)
	}
}

func TestConcurrentRuns(t *testing.T) {
	needKernel(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			sc := baseScenario(fmt.Sprint("concurrent ", i))
			sc.Steps = []scenario.Step{send(i, 100+i, 0)}
			rep, err := Run(context.Background(), sc, Options{})
			if err == nil && (len(rep.Frames) != 1 || rep.Frames[0].Len != 14+28+100+i) {
				err = fmt.Errorf("frames = %+v", rep.Frames)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	if left := ourNamespaces(t); len(left) != 0 {
		t.Errorf("namespaces left behind: %q", left)
	}
}
