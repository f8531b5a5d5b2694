//go:build linux

package verify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// kernelPort is where the rig's UDP and UDP-Lite sockets listen.
const kernelPort = 9999

// kernelRig is a network namespace with a veth pair: frames written to va
// with an AF_PACKET socket arrive at vb (10.9.0.2 and fd00:9::2), where a
// UDP and a UDP-Lite socket of each family wait. It lets the running kernel
// judge the same frames Judge judges. IPv6 on vb has duplicate address
// detection, router solicitations and router advertisements off and the
// sender (fd00:9::1) as a permanent neighbour, so that the address is
// usable at once and no ND traffic depends on timing.
type kernelRig struct {
	ns              string
	wire            wire
	wire6           wire6
	va              int
	packet, udp, ul int
	udp6, ul6       int
	// vxlanMAC is the address of vx42, a VXLAN device (vni 42, UDP 4789)
	// on vb: inner frames to it are received as if on a link of their
	// own.
	vxlanMAC net.HardwareAddr
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
	// One namespace per test (and subtest) that makes a rig, so that no
	// fragment queue of one is still waiting in another.
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	ns := fmt.Sprintf("uvfy%d-%08x", os.Getpid(), h.Sum32())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	// Set before the links exist, so that "default" reaches them.
	for _, s := range []string{"accept_dad=0", "router_solicitations=0", "accept_ra=0"} {
		for _, scope := range []string{"all", "default"} {
			run(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf."+scope+"."+s)
		}
	}
	for _, args := range [][]string{
		{"link", "add", "va", "type", "veth", "peer", "name", "vb"},
		{"link", "set", "lo", "up"},
		{"link", "set", "va", "up"},
		{"link", "set", "vb", "up"},
		{"addr", "add", "10.9.0.2/24", "dev", "vb"},
		{"-6", "addr", "add", "fd00:9::2/64", "dev", "vb", "nodad"},
		{"-6", "neigh", "add", "fd00:9::1", "lladdr", testWire6.srcMAC.String(), "dev", "vb", "nud", "permanent"},
		{"link", "add", "vx42", "type", "vxlan", "id", "42", "dstport", "4789", "dev", "vb", "nolearning"},
		{"link", "set", "vx42", "up"},
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
	r := &kernelRig{ns: ns, wire: testWire, wire6: testWire6}
	for _, l := range links {
		switch l.Ifname {
		case "va":
			r.va = l.Ifindex
		case "vb", "vx42":
			mac, err := net.ParseMAC(l.Address)
			if err != nil {
				t.Fatal(err)
			}
			if l.Ifname == "vb" {
				r.wire.dstMAC, r.wire6.dstMAC = mac, mac
			} else {
				r.vxlanMAC = mac
			}
		}
	}
	if r.va == 0 || r.wire.dstMAC == nil || r.vxlanMAC == nil {
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
	for _, s := range []struct {
		fd    *int
		proto int
	}{{&r.udp6, 0}, {&r.ul6, unix.IPPROTO_UDPLITE}} {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, s.proto)
		if err != nil {
			t.Fatalf("socket(AF_INET6, proto %d): %v", s.proto, err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{Port: kernelPort, Addr: [16]byte(testWire6.dst.To16())}); err != nil {
			t.Fatalf("bind [%s]:%d: %v", testWire6.dst, kernelPort, err)
		}
		*s.fd = fd
	}
	t.Cleanup(func() {
		unix.Close(r.packet)
		unix.Close(r.udp)
		unix.Close(r.ul)
		unix.Close(r.udp6)
		unix.Close(r.ul6)
	})
	return r
}

// deliver writes frames to va and returns the payload lengths the UDP and
// UDP-Lite sockets received.
func (r *kernelRig) deliver(t *testing.T, frames [][]byte) []int {
	return lens(r.deliverBytes(frames))
}

// deliverBytes writes frames to va and returns the payloads every socket
// received.
func (r *kernelRig) deliverBytes(frames [][]byte) [][]byte {
	r.drain()
	for _, f := range frames {
		// Frames shorter than an Ethernet header are refused by
		// packet_snd; they have nothing to deliver anyway.
		_ = unix.Sendto(r.packet, f, 0, r.to(f))
	}
	time.Sleep(30 * time.Millisecond)
	return r.drain()
}

// to addresses a frame to va, with the protocol its EtherType names.
func (r *kernelRig) to(f []byte) *unix.SockaddrLinklayer {
	proto := uint16(unix.ETH_P_IP)
	if len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == unix.ETH_P_IPV6 {
		proto = unix.ETH_P_IPV6
	}
	return &unix.SockaddrLinklayer{Ifindex: r.va, Protocol: htons(proto)}
}

// send writes one frame to va and gives the kernel a moment for it.
func (r *kernelRig) send(f []byte) {
	_ = unix.Sendto(r.packet, f, 0, r.to(f))
	time.Sleep(2 * time.Millisecond)
}

// drain reads every socket empty and returns the payloads.
func (r *kernelRig) drain() [][]byte {
	var got [][]byte
	buf := make([]byte, 70000)
	for _, fd := range []int{r.udp, r.ul, r.udp6, r.ul6} {
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			got = append(got, slices.Clone(buf[:n]))
		}
	}
	return got
}

// lens returns the lengths of payloads.
func lens(ps [][]byte) []int {
	var n []int
	for _, p := range ps {
		n = append(n, len(p))
	}
	return n
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// compare checks that the kernel delivered exactly the datagrams Judge
// says it would, by payload length.
func (r *kernelRig) compare(t *testing.T, frames [][]byte, kernelDrops bool) {
	t.Helper()
	r.compareWith(t, frames, Judge(frames, layers.LinkTypeEthernet).Verdicts, kernelDrops)
}

// compareWith checks the kernel against given verdicts: those delivered to
// kernelPort must be what the kernel's sockets received.
func (r *kernelRig) compareWith(t *testing.T, frames [][]byte, verdicts []Verdict, kernelDrops bool) {
	t.Helper()
	var want []int
	for _, v := range verdicts {
		if v.Delivered && v.Dst.Port() == kernelPort && !kernelDrops {
			want = append(want, v.Len)
		}
	}
	got := r.deliver(t, frames)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kernel delivered payloads of %v bytes, verify says %v", got, want)
	}
}

// sysctl sets a sysctl in the rig's namespace.
func (r *kernelRig) sysctl(t *testing.T, name, value string) {
	t.Helper()
	run(t, "ip", "netns", "exec", r.ns, "sysctl", "-q", "-w", name+"="+value)
}

// fragMemory is the fragment memory the kernel has charged in the rig's
// namespace (/proc/net/sockstat, "FRAG: inuse N memory M").
func (r *kernelRig) fragMemory(t *testing.T) int64 {
	t.Helper()
	return r.sockstat(t, "/proc/net/sockstat", "FRAG")
}

// frag6Memory is fragMemory for IPv6 (/proc/net/sockstat6, "FRAG6: inuse
// N memory M").
func (r *kernelRig) frag6Memory(t *testing.T) int64 {
	t.Helper()
	return r.sockstat(t, "/proc/net/sockstat6", "FRAG6")
}

func (r *kernelRig) sockstat(t *testing.T, file, label string) int64 {
	t.Helper()
	out := string(run(t, "ip", "netns", "exec", r.ns, "cat", file))
	var inuse, mem int64
	for _, l := range strings.Split(out, "\n") {
		if _, err := fmt.Sscanf(l, label+": inuse %d memory %d", &inuse, &mem); err == nil {
			return mem
		}
	}
	t.Fatalf("no %s line in %s", label, out)
	return 0
}

// vxlanWrap puts every frame in a VXLAN datagram (vni 42, UDP checksum 0)
// to the rig's vb, outer IDs counting from id.
func (r *kernelRig) vxlanWrap(t *testing.T, frames [][]byte, id uint16) [][]byte {
	t.Helper()
	var out [][]byte
	for i, f := range frames {
		vx := serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(f))
		u := append([]byte{0xc0, 0x00, 0x12, 0xb5, 0, 0, 0, 0}, vx...) // 49152 → 4789
		binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
		out = append(out, r.wire.frame(t, ipOpt{id: id + uint16(i)}, u))
	}
	return out
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
	// The same cases in VXLAN datagrams: the inner frames go to vx42's
	// address and are received there, after the outer datagram passed
	// __udp4_lib_rcv; verify must find and judge them the same way.
	t.Run("vxlan", func(t *testing.T) {
		inner := r.wire
		inner.dstMAC = r.vxlanMAC
		for i, c := range judgeCases {
			t.Run(c.name, func(t *testing.T) {
				frames := r.vxlanWrap(t, c.build(t, inner, uint16(30000+i*16), kernelPort), uint16(50000+i*16))
				var innerVerdicts []Verdict
				for _, v := range Judge(frames, layers.LinkTypeEthernet).Verdicts {
					if v.Where != "" {
						innerVerdicts = append(innerVerdicts, v)
					}
				}
				r.compareWith(t, frames, innerVerdicts, c.kernelDrops)
			})
		}
	})
	// VLAN tags, where the kernel has 802.1Q: the frames of every case,
	// tagged for a vlan device on vb.
	t.Run("vlan", func(t *testing.T) {
		if out, err := exec.Command("ip", "-n", r.ns, "link", "add", "link", "vb", "name", "vb.5", "type", "vlan", "id", "5").CombinedOutput(); err != nil {
			t.Skipf("this kernel has no VLAN devices (CONFIG_VLAN_8021Q): %s", bytes.TrimSpace(out))
		}
		run(t, "ip", "-n", r.ns, "link", "set", "vb.5", "up")
		for i, c := range judgeCases {
			t.Run(c.name, func(t *testing.T) {
				var frames [][]byte
				for _, f := range c.build(t, r.wire, uint16(60000+i*16), kernelPort) {
					frames = append(frames, vlanTag(f, 5))
				}
				r.compare(t, frames, c.kernelDrops)
			})
		}
	})
	// ipfrag_time, counted in capture time by verify: a queue whose
	// last fragment comes after it has expired never completes.
	t.Run("ipfrag_time", func(t *testing.T) {
		r.sysctl(t, "net.ipv4.ipfrag_time", "1")
		defer r.sysctl(t, "net.ipv4.ipfrag_time", "30")
		for k, wait := range []time.Duration{200 * time.Millisecond, 1500 * time.Millisecond} {
			f := r.wire.frags(t, ipOpt{id: uint16(41000 + k)}, r.wire.udp(t, sport, kernelPort, pattern(1000, byte(k))), 400, 800)
			var s Summary
			v := NewVerifier(Options{FragTime: time.Second}, &s)
			for n, fr := range f {
				at := int64(0)
				if n == 2 {
					at = int64(wait)
				}
				if err := v.Frame(Frame{Number: n + 1, LinkType: layers.LinkTypeEthernet, Time: at, HasTime: true, Data: fr}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := v.Finish(); err != nil {
				t.Fatal(err)
			}
			r.drain()
			got := r.deliver(t, f[:2])
			time.Sleep(wait)
			got = append(got, r.deliver(t, f[2:])...)
			want := []int{}
			for _, vd := range s.Verdicts {
				if vd.Delivered {
					want = append(want, vd.Len)
				}
			}
			if !slices.Equal(append([]int{}, got...), want) {
				t.Errorf("last fragment after %v: kernel delivered %v, verify %v (%+v)", wait, got, want, s.Verdicts)
			}
		}
	})
	// ipfrag_high_thresh: the kernel's own count of fragment memory
	// (/proc/net/sockstat) must be what verify charges, for frames in
	// each of the skb size classes, and once it is over the threshold no
	// fragment is taken. Each part has a namespace of its own, so that
	// no queue is left over from before.
	t.Run("ipfrag_high_thresh", func(t *testing.T) {
		r := newKernelRig(t)
		for k, n := range []int{8, 200, 232, 616, 664, 1480} {
			f := r.wire.frags(t, ipOpt{id: uint16(42000 + k)}, r.wire.udp(t, sport, kernelPort, pattern(n+600, byte(k))), n)
			v := NewVerifier(Options{}, &Summary{})
			_ = v.Frame(Frame{Number: 1, LinkType: layers.LinkTypeEthernet, Data: f[0]})
			base := r.fragMemory(t)
			r.deliver(t, f[:1])
			if got, want := r.fragMemory(t)-base, v.defrag.mem; got != want {
				t.Errorf("a queue with a first fragment in a %d-byte frame: the kernel charges %d bytes of fragment memory, verify %d", len(f[0]), got, want)
			}
		}
		const thresh = 120000
		for _, queues := range []int{20, 60} {
			t.Run(strconv.Itoa(queues), func(t *testing.T) {
				r := newKernelRig(t)
				r.sysctl(t, "net.ipv4.ipfrag_low_thresh", "60000")
				r.sysctl(t, "net.ipv4.ipfrag_high_thresh", strconv.Itoa(thresh))
				var first, last [][]byte
				for q := range queues {
					f := r.wire.frags(t, ipOpt{id: uint16(43000 + q)}, r.wire.udp(t, sport, kernelPort, pattern(2000, byte(q))), 1480)
					first, last = append(first, f[0]), append(last, f[1])
				}
				var s Summary
				v := NewVerifier(Options{FragHighThresh: thresh}, &s)
				for n, fr := range append(slices.Clone(first), last...) {
					_ = v.Frame(Frame{Number: n + 1, LinkType: layers.LinkTypeEthernet, Data: fr})
				}
				st, err := v.Finish()
				if err != nil {
					t.Fatal(err)
				}
				// One at a time: a burst can lose frames on the
				// way through the veth, which would be another test.
				for _, fr := range first {
					r.send(fr)
				}
				r.compareWith(t, last, s.Verdicts, false)
				// 60 queues of 2504 bytes are over 120000 after 48.
				if want := map[int]int{20: 20, 60: 0}[queues]; st.Delivered != want {
					t.Errorf("%d queues under ipfrag_high_thresh %d: verify delivers %d datagrams, want %d", queues, thresh, st.Delivered, want)
				}
			})
		}
	})
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

// vlanTag inserts an 802.1Q tag after an Ethernet frame's addresses.
func vlanTag(f []byte, vid uint16) []byte {
	if len(f) < 12 {
		return f
	}
	out := append([]byte(nil), f[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, f[12:]...)
}
