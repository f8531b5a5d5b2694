package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// TestRepeat: every step runs repeat times in order, with one result per
// executed step and each frame filed under the step that made it; the
// state a pass leaves (a pending MSG_MORE, an option a step set) carries
// into the next; and the model, playing repeat its own way, agrees.
func TestRepeat(t *testing.T) {
	needKernel(t)
	sc := baseScenario("repeat")
	sc.Repeat = 40
	sc.Steps = []scenario.Step{
		send(0, 3000, 0), // three fragments
		send(1, 500, unix.MSG_MORE),
		send(2, 700, 0), // ends the cork: one datagram of 1200
		{Setsockopt: []scenario.Opt{{Name: scenario.OptIPTTL, Int: 9}}},
		send(3, 100, unix.MSG_MORE), // left pending: the next pass's first send joins it
	}
	rep := run(t, sc)
	if len(rep.Steps) != sc.Repeat*len(sc.Steps) {
		t.Fatalf("%d step results, want %d", len(rep.Steps), sc.Repeat*len(sc.Steps))
	}
	var wantSteps []report.Step
	for range sc.Repeat {
		wantSteps = append(wantSteps, sent(3000), sent(500), sent(700), report.Step{Op: "setsockopt"}, sent(100))
	}
	if !reflect.DeepEqual(rep.Steps, wantSteps) {
		t.Errorf("steps = %v", rep.Steps)
	}
	// Pass 0: step 0 sends three fragments, step 2 one datagram. Later
	// passes: step 0 sends the 100 pending bytes and its own 3000 as one
	// datagram of three fragments.
	var steps []int
	for _, f := range rep.Frames {
		steps = append(steps, f.Step)
	}
	var want []int
	for range sc.Repeat {
		want = append(want, 0, 0, 0, 2)
	}
	if !reflect.DeepEqual(steps, want) {
		t.Fatalf("frames come from steps %v, want %v", steps, want)
	}
	for i, f := range rep.Frames {
		if f.Datagram != i/4*2+min(i%4, 3)/3 {
			t.Fatalf("frame %d is of datagram %d: %+v", i, f.Datagram, f)
		}
		h, _ := ip(t, f)
		if ttl := h[8]; (i < 4 && ttl != 64) || (i >= 4 && ttl != 9) {
			t.Fatalf("frame %d: TTL %d", i, ttl)
		}
	}
	model, note, err := builder.RunAgainst(sc, rep, builder.Options{View: report.Tap, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range compare.Reports(rep, model) {
		t.Errorf("%v (note %q)", d, note)
	}
}

// TestRepeatStreams: with Frame and Step set, a run hands over what it
// would otherwise report, and keeps nothing.
func TestRepeatStreams(t *testing.T) {
	needKernel(t)
	sc := baseScenario("repeat streams")
	sc.Repeat = 30
	sc.Steps = []scenario.Step{send(0, 2000, 0), send(1, 10, 0)}
	var frames []report.Frame
	var steps []report.Step
	rep, err := Run(context.Background(), sc, Options{
		Frame: func(f report.Frame) error { frames = append(frames, f); return nil },
		Step: func(n int, r report.Step) error {
			if n != len(steps) {
				return fmt.Errorf("step %d reported after %d others", n, len(steps))
			}
			steps = append(steps, r)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Steps) != 0 || len(rep.Frames) != 0 {
		t.Errorf("a streaming run kept %d steps and %d frames", len(rep.Steps), len(rep.Frames))
	}
	if len(steps) != 60 || len(frames) != 90 {
		t.Fatalf("streamed %d steps and %d frames, want 60 and 90", len(steps), len(frames))
	}
	for i, f := range frames {
		if wantStep := []int{0, 0, 1}[i%3]; f.Step != wantStep || f.Datagram != i/3*2+i%3/2 {
			t.Fatalf("frame %d: step %d datagram %d", i, f.Step, f.Datagram)
		}
	}
	// A callback's error ends the run with that error.
	stop := errors.New("enough")
	_, err = Run(context.Background(), sc, Options{Frame: func(report.Frame) error { return stop }})
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the callback's", err)
	}
}

// TestRepeatCapturesEveryFrame: thousands of full-size datagrams overflow
// the peer's listener (it never reads), which drops them silently; the
// capture is on the sender's device, drained after every call, and must
// still hold every frame, exactly as many as the model makes.
func TestRepeatCapturesEveryFrame(t *testing.T) {
	needKernel(t)
	sc := baseScenario("repeat full frames")
	sc.Repeat = 5000 // at about 2.3 KiB of truesize each, far past the listener's 8 MiB
	sc.Steps = []scenario.Step{send(0, 1472, 0)}
	var rcvbufErrors int
	rep, err := Run(context.Background(), sc, Options{
		Step: func(n int, _ report.Step) error {
			if n == sc.Repeat-1 {
				var err error
				rcvbufErrors, err = peerRcvbufErrors(t)
				return err
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	model, err := builder.Run(sc, builder.Options{View: report.Tap, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Frames) != len(model.Frames) || len(rep.Frames) != sc.Repeat {
		t.Fatalf("kernel captured %d frames, the model made %d, want %d", len(rep.Frames), len(model.Frames), sc.Repeat)
	}
	for i, f := range rep.Frames {
		if f.Len != 1514 || f.Datagram != i || f.Step != 0 {
			t.Fatalf("frame %d = %+v", i, f)
		}
	}
	if rcvbufErrors == 0 {
		t.Error("the peer's listener dropped nothing: the test did not fill it")
	}
	t.Logf("the peer dropped %d datagrams; the capture kept all %d frames", rcvbufErrors, len(rep.Frames))
}

// peerRcvbufErrors reads Udp RcvbufErrors in the peer namespace of the one
// run this process has going.
func peerRcvbufErrors(t *testing.T) (int, error) {
	var peer string
	for _, ns := range ourNamespaces(t) {
		if strings.HasSuffix(ns, "-rx") {
			peer = ns
		}
	}
	if peer == "" {
		return 0, errors.New("no peer namespace of ours")
	}
	out, err := exec.Command("ip", "netns", "exec", peer, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, fmt.Errorf("reading the peer's /proc/net/snmp: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(fields) {
				return strconv.Atoi(fields[i])
			}
		}
	}
	return 0, errors.New("no Udp RcvbufErrors in the peer's /proc/net/snmp")
}

// TestCheck: what a real socket cannot be made to do is refused, naming
// the key, before anything is built (so no root is needed to see it).
func TestCheck(t *testing.T) {
	id := uint16(4233)
	tests := []struct {
		name string
		edit func(*scenario.Scenario)
		opts Options
		want string // "" for accepted
	}{
		{"plain", nil, Options{}, ""},
		{"repeat", func(sc *scenario.Scenario) { sc.Repeat = 1 << 30 }, Options{}, ""},
		{"inet_id", func(sc *scenario.Scenario) { sc.Socket.Connect, sc.Socket.InetID = true, &id }, Options{}, "socket.inet_id"},
		{"inet_id judged by rule", func(sc *scenario.Scenario) { sc.Socket.Connect, sc.Socket.InetID = true, &id }, Options{AnyInetID: true}, ""},
		{"multicast src_mac", func(sc *scenario.Scenario) { sc.Link.SrcMAC = net.HardwareAddr{1, 0, 0x5e, 0, 0, 1} }, Options{}, "link.src_mac 01:00:5e:00:00:01"},
		{"zero dst_mac", func(sc *scenario.Scenario) { sc.Link.DstMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0} }, Options{}, "link.dst_mac 00:00:00:00:00:00"},
		{"ipv6 socket", func(sc *scenario.Scenario) {
			sc.Socket.Src, sc.Socket.Dst = scenario.DefaultSrc6, scenario.DefaultDst6
		}, Options{}, ""},
		{"ipv6 to on an ipv4 socket", func(sc *scenario.Scenario) {
			sc.Steps[0].Send.To = scenario.DefaultDst6
		}, Options{}, ""},
		{"unicast macs", func(sc *scenario.Scenario) {
			sc.Link.SrcMAC, sc.Link.DstMAC = net.HardwareAddr{0x0a, 0, 0, 0, 0, 9}, net.HardwareAddr{0x0a, 0, 0, 0, 0, 9}
		}, Options{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := baseScenario(tt.name)
			sc.Steps = []scenario.Step{send(0, 10, 0)}
			if tt.edit != nil {
				tt.edit(sc)
			}
			err := Check(sc, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Check = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want ErrUnsupported naming %q", err, tt.want)
			}
			if _, rerr := Run(context.Background(), sc, tt.opts); !errors.Is(rerr, ErrUnsupported) {
				t.Errorf("Run = %v, want ErrUnsupported", rerr)
			}
		})
	}
}
