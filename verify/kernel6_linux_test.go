//go:build linux

package verify

import (
	"bytes"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// judgePayloads judges frames with opt and returns the verdicts and the
// payload of every datagram delivered to kernelPort.
func judgePayloads(frames [][]byte, opt Options) ([]Verdict, [][]byte) {
	var s Summary
	var payloads [][]byte
	v := NewVerifier(opt, &s)
	v.onDeliver = func(vd *Verdict, p []byte) {
		if vd.Dst.Port() == kernelPort {
			payloads = append(payloads, slices.Clone(p))
		}
	}
	for i, f := range frames {
		_ = v.Frame(Frame{Number: i + 1, LinkType: layers.LinkTypeEthernet, Data: f})
	}
	_, _ = v.Finish()
	return s.Verdicts, payloads
}

// comparePayloads checks that the kernel's sockets received exactly the
// payloads verify says they would, byte for byte.
func (r *kernelRig) comparePayloads(t *testing.T, frames [][]byte, opt Options) {
	t.Helper()
	verdicts, want := judgePayloads(frames, opt)
	got := r.deliverBytes(frames)
	slices.SortFunc(want, bytes.Compare)
	slices.SortFunc(got, bytes.Compare)
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("kernel delivered payloads of %v bytes, verify says %v (verdicts %+v)", lens(got), lens(want), verdicts)
	}
}

// setNoCheck6RX sets or clears UDP_NO_CHECK6_RX on the rig's IPv6 UDP
// socket.
func (r *kernelRig) setNoCheck6RX(t *testing.T, on bool) {
	t.Helper()
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(r.udp6, unix.IPPROTO_UDP, unix.UDP_NO_CHECK6_RX, v); err != nil {
		t.Fatalf("UDP_NO_CHECK6_RX: %v", err)
	}
}

// TestKernelAgrees6 sends every judgeCases6 case through the running
// kernel's IPv6 receive path and checks that what its sockets receive is
// what verify predicts, payloads byte for byte. A case judged for a
// socket with UDP_NO_CHECK6_RX runs with the option set on the kernel's
// socket; the zero-checksum cases also run the other way round, so that
// both answers are the kernel's.
func TestKernelAgrees6(t *testing.T) {
	r := newKernelRig(t)
	for i, c := range judgeCases6 {
		t.Run(c.name, func(t *testing.T) {
			if c.opt.AllowZeroChecksum6 {
				r.setNoCheck6RX(t, true)
				defer r.setNoCheck6RX(t, false)
			}
			r.comparePayloads(t, c.build(t, r.wire6, uint32(0x20000+i*16), kernelPort), c.opt)
		})
	}
	t.Run("zero checksum both ways", func(t *testing.T) {
		for k, allow := range []bool{false, true} {
			tr := r.wire6.udp(t, sport, kernelPort, pattern(100, byte(k)))
			tr[6], tr[7] = 0, 0
			f := [][]byte{r.wire6.frame(nil, protoUDP, tr)}
			r.setNoCheck6RX(t, allow)
			r.comparePayloads(t, f, Options{AllowZeroChecksum6: allow})
			r.setNoCheck6RX(t, false)
			if _, p := judgePayloads(f, Options{AllowZeroChecksum6: allow}); len(p) != map[bool]int{false: 0, true: 1}[allow] {
				t.Errorf("UDP_NO_CHECK6_RX %v: verify delivers %d datagrams", allow, len(p))
			}
		}
	})
	// The same cases in VXLAN datagrams over IPv4 to vx42, which has the
	// address too: the inner frames are received there, after the outer
	// datagram passed __udp4_lib_rcv.
	t.Run("vxlan", func(t *testing.T) {
		run(t, "ip", "-n", r.ns, "-6", "addr", "add", "fd00:9::2/128", "dev", "vx42", "nodad")
		run(t, "ip", "-n", r.ns, "-6", "neigh", "add", "fd00:9::1", "lladdr", testWire6.srcMAC.String(), "dev", "vx42", "nud", "permanent")
		inner := r.wire6
		inner.dstMAC = r.vxlanMAC
		for i, c := range judgeCases6 {
			t.Run(c.name, func(t *testing.T) {
				if c.opt.AllowZeroChecksum6 {
					r.setNoCheck6RX(t, true)
					defer r.setNoCheck6RX(t, false)
				}
				frames := r.vxlanWrap(t, c.build(t, inner, uint32(0x60000+i*16), kernelPort), uint16(52000+i*16))
				r.comparePayloads(t, frames, c.opt)
			})
		}
	})
	// The same cases inside VLAN tags, where the kernel has 802.1Q.
	t.Run("vlan", func(t *testing.T) {
		if out, err := exec6(r, "link", "add", "link", "vb", "name", "vb.6", "type", "vlan", "id", "6"); err != nil {
			t.Skipf("this kernel has no VLAN devices (CONFIG_VLAN_8021Q): %s", bytes.TrimSpace(out))
		}
		run(t, "ip", "-n", r.ns, "link", "set", "vb.6", "up")
		run(t, "ip", "-n", r.ns, "-6", "addr", "add", "fd00:9::2/128", "dev", "vb.6", "nodad")
		run(t, "ip", "-n", r.ns, "-6", "neigh", "add", "fd00:9::1", "lladdr", testWire6.srcMAC.String(), "dev", "vb.6", "nud", "permanent")
		for i, c := range judgeCases6 {
			t.Run(c.name, func(t *testing.T) {
				if c.opt.AllowZeroChecksum6 {
					r.setNoCheck6RX(t, true)
					defer r.setNoCheck6RX(t, false)
				}
				var frames [][]byte
				for _, f := range c.build(t, r.wire6, uint32(0x30000+i*16), kernelPort) {
					frames = append(frames, vlanTag(f, 6))
				}
				r.comparePayloads(t, frames, c.opt)
			})
		}
	})
	// The memory an IPv6 queue charges (sizeof(struct frag_queue) and the
	// fragment's truesize), against the kernel's own count.
	t.Run("ip6frag memory", func(t *testing.T) {
		r := newKernelRig(t)
		for k, n := range []int{8, 200, 616, 1448} {
			f := r.wire6.frags(nil, uint32(0x40000+k), protoUDP, r.wire6.udp(t, sport, kernelPort, pattern(n+600, byte(k))), n)
			v := NewVerifier(Options{}, &Summary{})
			_ = v.Frame(Frame{Number: 1, LinkType: layers.LinkTypeEthernet, Data: f[0]})
			base := r.frag6Memory(t)
			r.deliverBytes(f[:1])
			if got, want := r.frag6Memory(t)-base, v.defrag6.mem; got != want {
				t.Errorf("a queue with a first fragment in a %d-byte frame: the kernel charges %d bytes of IPv6 fragment memory, verify %d", len(f[0]), got, want)
			}
		}
	})
	// ip6frag_high_thresh: once the IPv6 queues hold more, no fragment is
	// taken; IPv4's memory is another count.
	t.Run("ip6frag_high_thresh", func(t *testing.T) {
		const thresh = 120000
		for _, queues := range []int{20, 60} {
			t.Run(strconv.Itoa(queues), func(t *testing.T) {
				r := newKernelRig(t)
				r.sysctl(t, "net.ipv6.ip6frag_low_thresh", "60000")
				r.sysctl(t, "net.ipv6.ip6frag_high_thresh", strconv.Itoa(thresh))
				var first, last [][]byte
				for q := range queues {
					f := r.wire6.frags(nil, uint32(0x50000+q), protoUDP, r.wire6.udp(t, sport, kernelPort, pattern(2000, byte(q))), 1448)
					first, last = append(first, f[0]), append(last, f[1])
				}
				opt := Options{Frag6HighThresh: thresh}
				all := append(slices.Clone(first), last...)
				verdicts, want := judgePayloads(all, opt)
				for _, fr := range first {
					r.send(fr)
				}
				got := r.deliverBytes(last)
				if len(got) != len(want) {
					t.Errorf("kernel delivered %d datagrams, verify %d (%d verdicts)", len(got), len(want), len(verdicts))
				}
			})
		}
	})
}

// exec6 runs ip -n ns with args, returning its output and error.
func exec6(r *kernelRig, args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"-n", r.ns}, args...)...).CombinedOutput()
}
