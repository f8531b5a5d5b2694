//go:build linux

package verify

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// kernelPort is where the rig's UDP and UDP-Lite sockets listen.
const kernelPort = 9999

// kernelRig is a network namespace with a veth pair: frames written to va
// with an AF_PACKET socket arrive at vb (10.9.0.2), where a UDP and a
// UDP-Lite socket wait. It lets the running kernel judge the same frames
// Judge judges.
type kernelRig struct {
	wire            wire
	va              int
	packet, udp, ul int
}

func run(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return out
}

func newKernelRig(t *testing.T) *kernelRig {
	testenv.NeedRoot(t, "ip")
	ns := fmt.Sprintf("uvfy%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"link", "add", "va", "type", "veth", "peer", "name", "vb"},
		{"link", "set", "lo", "up"},
		{"link", "set", "va", "up"},
		{"link", "set", "vb", "up"},
		{"addr", "add", "10.9.0.2/24", "dev", "vb"},
	} {
		run(t, append([]string{"ip", "-n", ns}, args...)...)
	}
	// veth may mark a checksum-less skb CHECKSUM_UNNECESSARY when the
	// receiving side has rx checksumming on; the receiver must verify.
	run(t, "ip", "netns", "exec", ns, "ethtool", "-K", "vb", "rx", "off")
	var links []struct {
		Ifname  string `json:"ifname"`
		Ifindex int    `json:"ifindex"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal(run(t, "ip", "-n", ns, "-j", "link", "show"), &links); err != nil {
		t.Fatal(err)
	}
	r := &kernelRig{wire: testWire}
	for _, l := range links {
		switch l.Ifname {
		case "va":
			r.va = l.Ifindex
		case "vb":
			mac, err := net.ParseMAC(l.Address)
			if err != nil {
				t.Fatal(err)
			}
			r.wire.dstMAC = mac
		}
	}
	if r.va == 0 || r.wire.dstMAC == nil {
		t.Fatalf("veth pair not found in %+v", links)
	}

	// Sockets belong to the namespace they are created in: create them on
	// a thread that has joined ns, then return the thread.
	// If the thread cannot return to its namespace it stays locked, and
	// the runtime ends it with the goroutine.
	runtime.LockOSThread()
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("cannot return to the original network namespace: %v", err)
			return
		}
		restored = true
	}()
	if r.packet, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		fd    *int
		proto int
	}{{&r.udp, 0}, {&r.ul, unix.IPPROTO_UDPLITE}} {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, s.proto)
		if err != nil {
			t.Fatalf("socket(proto %d): %v", s.proto, err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: kernelPort, Addr: [4]byte{10, 9, 0, 2}}); err != nil {
			t.Fatal(err)
		}
		*s.fd = fd
	}
	t.Cleanup(func() {
		unix.Close(r.packet)
		unix.Close(r.udp)
		unix.Close(r.ul)
	})
	return r
}

// deliver writes frames to va and returns the payload lengths the UDP and
// UDP-Lite sockets received.
func (r *kernelRig) deliver(t *testing.T, frames [][]byte) []int {
	r.drain()
	to := &unix.SockaddrLinklayer{Ifindex: r.va, Protocol: htons(unix.ETH_P_IP)}
	for _, f := range frames {
		// Frames shorter than an Ethernet header are refused by
		// packet_snd; they have nothing to deliver anyway.
		_ = unix.Sendto(r.packet, f, 0, to)
	}
	time.Sleep(30 * time.Millisecond)
	return r.drain()
}

func (r *kernelRig) drain() []int {
	var lens []int
	buf := make([]byte, 70000)
	for _, fd := range []int{r.udp, r.ul} {
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			lens = append(lens, n)
		}
	}
	return lens
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// compare checks that the kernel delivered exactly the datagrams Judge
// says it would, by payload length.
func (r *kernelRig) compare(t *testing.T, frames [][]byte, kernelDrops bool) {
	t.Helper()
	var want []int
	for _, v := range Judge(frames, layers.LinkTypeEthernet).Verdicts {
		if v.Delivered && !kernelDrops {
			want = append(want, v.Len)
		}
	}
	got := r.deliver(t, frames)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kernel delivered payloads of %v bytes, Judge says %v", got, want)
	}
}

// TestKernelAgrees sends every judgeCase through the running kernel's
// receive path and checks that what it delivers is what Judge predicts.
func TestKernelAgrees(t *testing.T) {
	r := newKernelRig(t)
	for i, c := range judgeCases {
		t.Run(c.name, func(t *testing.T) {
			if c.kernelDrops {
				t.Log("the kernel is expected to drop everything here: " + c.kernelWhy)
			}
			r.compare(t, c.build(t, r.wire, uint16(20000+i*16), kernelPort), c.kernelDrops)
		})
	}
	t.Run("ipfrag_max_dist", func(t *testing.T) {
		w := r.wire
		for _, others := range []int{63, 64} {
			tr := w.udp(t, sport, kernelPort, pattern(1000, byte(others)))
			id := uint16(40000 + others*100)
			f := w.frags(t, ipOpt{id: id}, tr, 400, 800)
			frames := [][]byte{f[0], f[1]}
			for k := range others {
				frames = append(frames, w.frag(t, ipOpt{id: id + 1 + uint16(k)}, 0, true, pattern(8, 0)))
			}
			r.compare(t, append(frames, f[2]), false)
		}
	})
}
