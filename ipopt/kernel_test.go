//go:build linux

package ipopt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/internal/testenv"
)

// These tests hold the model against the running kernel. Each one makes a
// throwaway network namespace (ip netns add udpb-ipopt-PID-N), with a veth
// pair whose v0 end carries 10.0.0.1/24 and static neighbours for 10.0.0.2
// and 10.0.0.3, and deletes it afterwards. lo stays down, so the local table
// is exactly what LocalTable(10.0.0.1/24) describes.

var nsSeq atomic.Int32

// kernelEnv is the Env matching the test namespace.
var kernelEnv = Env{AddrType: LocalTable(netip.MustParsePrefix("10.0.0.1/24"))}

// inTestNetns moves the calling goroutine's thread into a fresh namespace
// for the rest of the test and moves it back when the test ends.
func inTestNetns(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "ip")
	name := fmt.Sprintf("udpb-ipopt-%d-%d", os.Getpid(), nsSeq.Add(1))
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	for _, c := range []string{
		"link add v0 type veth peer name v1",
		"addr add 10.0.0.1/24 dev v0",
		"link set v0 up",
		"link set v1 up",
		"neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
		"neigh add 10.0.0.3 lladdr 02:00:00:00:00:03 dev v0 nud permanent",
	} {
		ip(append([]string{"-n", name}, strings.Fields(c)...)...)
	}
	// Until linkwatch sees the carrier, v0 has the noop qdisc, which drops
	// packets before AF_PACKET sees them: wait for operstate UP.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := exec.Command("ip", "-n", name, "-o", "link", "show", "v0").CombinedOutput()
		if err == nil && strings.Contains(string(out), "state UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v0 in %s not up: %s", name, out)
		}
	}

	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open own netns: %v", err)
	}
	ns, err := os.Open("/run/netns/" + name)
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("open netns %s: %v", name, err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer orig.Close()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: Go ends it with the goroutine.
			t.Errorf("setns back: %v", err)
			return
		}
		runtime.UnlockOSThread()
	})
}

func udpSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_UDP)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// getOptions is getsockopt(IP_OPTIONS): ip_options_undo of the socket's set.
func getOptions(fd int) ([]byte, error) {
	buf := make([]byte, MaxOptLen)
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_IP, unix.IP_OPTIONS,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return nil, e
	}
	return buf[:n], nil
}

// kernelVectors are all buffers of the table tests a root caller can try.
func kernelVectors() []string {
	var v []string
	for _, tc := range compileCases {
		v = append(v, tc.raw)
	}
	for _, tc := range rejectCases {
		if !tc.env.NoNetRaw {
			v = append(v, tc.raw)
		}
	}
	return append(v,
		"86 0a 00 00 00 01 01 04 00 00", // CIPSO, DOI 1, a tag
		// Pre-specified addresses with a nonzero time slot: Undo (and the
		// kernel's getsockopt) zero it only if Compile reserved it.
		"44 0c 05 03 7f000001 00000007", // 127.0.0.1 with lo down: unicast
		"44 0c 05 03 00000000 00000007", // 0.0.0.0: broadcast
		"44 0c 05 03 e0000001 00000007", // multicast
		"44 0c 05 03 0a000001 00000007", // our address: local
		"44 0c 05 03 0a0000ff 00000007", // subnet broadcast
		"44 0c 05 03 0a000002 00000007", // a neighbour: unicast
	)
}

// TestKernelSetsockopt gives every vector to setsockopt(IP_OPTIONS) and
// compares accept/EINVAL with Compile and, when accepted, what
// getsockopt(IP_OPTIONS) returns with Undo(Compile(raw)).
func TestKernelSetsockopt(t *testing.T) {
	inTestNetns(t)
	for _, raw := range kernelVectors() {
		b := mustHex(raw)
		opt, merr := kernelEnv.Compile(b)
		fd := udpSocket(t)
		kerr := unix.SetsockoptString(fd, unix.SOL_IP, unix.IP_OPTIONS, string(b))
		if (merr == nil) != (kerr == nil) {
			t.Errorf("% x: model %v, kernel %v", b, merr, kerr)
			continue
		}
		if kerr != nil {
			if e, _ := errno.From(kerr); e != errno.EINVAL {
				t.Errorf("% x: kernel %v, model EINVAL", b, kerr)
			}
			continue
		}
		got, err := getOptions(fd)
		if err != nil {
			t.Errorf("% x: getsockopt: %v", b, err)
			continue
		}
		if want := Undo(opt); !bytes.Equal(got, want) {
			t.Errorf("% x: getsockopt % x, Undo % x", b, got, want)
		}
	}
}

// TestKernelRetopts sends with an IP_RETOPTS control message, whose payload
// the kernel cuts to 40 bytes instead of refusing.
func TestKernelRetopts(t *testing.T) {
	inTestNetns(t)
	fd := udpSocket(t)
	to := &unix.SockaddrInet4{Port: 9000, Addr: [4]byte{10, 0, 0, 2}}
	for _, raw := range append(kernelVectors(),
		strings.Repeat("01", 40)+"07 03 04 00",
		strings.Repeat("01", 38)+"07 07 04 00000000",
		strings.Repeat("01", 44)) {
		b := mustHex(raw)
		_, merr := kernelEnv.CompileCmsg(b)
		oob := make([]byte, unix.CmsgSpace(len(b)))
		hdr := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		hdr.Level, hdr.Type = unix.SOL_IP, unix.IP_RETOPTS
		hdr.SetLen(unix.CmsgLen(len(b)))
		copy(oob[unix.CmsgLen(0):], b)
		kerr := unix.Sendmsg(fd, []byte("x"), oob, to, 0)
		if (merr == nil) != (kerr == nil) {
			t.Errorf("% x: model %v, kernel %v", b, merr, kerr)
		} else if kerr != nil && !errors.Is(kerr, unix.EINVAL) {
			t.Errorf("% x: kernel %v, model EINVAL", b, kerr)
		}
	}
}

// capture is an AF_PACKET socket on v0 that returns outgoing IPv4 packets.
type capture struct{ fd int }

func openCapture(t *testing.T) capture {
	t.Helper()
	// Only ETH_P_ALL sockets see outgoing packets (dev_queue_xmit_nit).
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	ifi, err := ifIndex("v0")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi}); err != nil {
		t.Fatalf("bind AF_PACKET: %v", err)
	}
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("SO_RCVTIMEO: %v", err)
	}
	return capture{fd}
}

// next returns the next outgoing IPv4 packet for which match is true.
func (c capture) next(t *testing.T, match func(pkt []byte) bool) []byte {
	t.Helper()
	buf := make([]byte, 70000)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype != unix.PACKET_OUTGOING || ll.Protocol != htons(unix.ETH_P_IP) || n < 20 {
			continue
		}
		if pkt := buf[:n]; match(pkt) {
			return append([]byte(nil), pkt...)
		}
	}
}

// ifIndex looks the device up through rtnetlink, which answers for the
// calling thread's namespace (sysfs would show the mounting namespace).
func ifIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("ifindex of %s: %w", name, err)
	}
	return ifi.Index, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// kernelStamp reads the timestamp the kernel wrote where Build writes one,
// checking it lies between the two readings of our clock around the send.
func kernelStamp(t *testing.T, opt *Options, kopts []byte, before, after uint32) uint32 {
	t.Helper()
	if !opt.TsNeedTime {
		return 0
	}
	at := opt.Ts - ipHdrLen + int(opt.Data[opt.Ts-ipHdrLen+2]) - 5
	v := binary.BigEndian.Uint32(kopts[at : at+4])
	if before <= after && (v < before || v > after) {
		t.Errorf("kernel timestamp %d outside [%d, %d]", v, before, after)
	}
	return v
}

// TestKernelBuild sends a datagram with each set of options and compares
// the options the kernel put on the wire, and its destination field, with
// Build and FirstHop.
func TestKernelBuild(t *testing.T) {
	inTestNetns(t)
	c := openCapture(t)
	saddr, daddr := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i, raw := range []string{
		"070b04000000000000000000",
		"07 0b 08 0a0000ff 00000000 00",
		"07 07 08 0a0000ff 00",
		"44 0c 05 00 00000000 00000000",
		"44 14 05 01 00000000 00000000 00000000 00000000",
		"44 14 05 03 0a000001 00000000 0a000002 00000000",
		"44 14 05 03 0a000002 00000000 0a000001 00000000",
		"44 0c 05 03 0a0000ff 00000000",
		"44 0c 05 03 7f000001 00000000",
		"44 0c 05 03 00000000 00000000",
		"44 0c 05 03 e0000001 00000000",
		"83 07 04 0a000003",
		"83 0b 04 0a000003 0a000004",
		"83 0f 04 0a000003 0a000004 0a000005",
		"89 07 04 0a000003",
		"89 0b 04 0a000003 0a000004",
		"01 89 0f 04 0a000003 0a000004 0a000005",
		"83 07 04 0a000003 07 07 04 00000000 44 0c 05 00 00000000 00000000 94 04 00 00",
		"00 01 02 03",
		"94 04 00 00",
		"82 0b 00 00 00 00 00 00 00 00 00 9e 04 00 00",
	} {
		b := mustHex(raw)
		opt, err := kernelEnv.Compile(b)
		if err != nil {
			t.Fatalf("% x: %v", b, err)
		}
		fd := udpSocket(t)
		sport := 40000 + i
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: sport, Addr: saddr.As4()}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		if err := unix.SetsockoptString(fd, unix.SOL_IP, unix.IP_OPTIONS, string(b)); err != nil {
			t.Fatalf("% x: setsockopt: %v", b, err)
		}
		before := CurrentTimestamp(time.Now())
		if err := unix.Sendto(fd, []byte("hello"), 0, &unix.SockaddrInet4{Port: 9000, Addr: daddr.As4()}); err != nil {
			t.Fatalf("% x: sendto: %v", b, err)
		}
		after := CurrentTimestamp(time.Now())
		pkt := c.next(t, func(p []byte) bool {
			hl := int(p[0]&0xf) * 4
			return p[9] == unix.IPPROTO_UDP && len(p) >= hl+2 && int(binary.BigEndian.Uint16(p[hl:])) == sport
		})
		hl := int(pkt[0]&0xf) * 4
		kopts := pkt[20:hl]
		if len(kopts) != opt.Optlen {
			t.Errorf("% x: kernel sent %d option bytes, model %d", b, len(kopts), opt.Optlen)
			continue
		}
		ts := kernelStamp(t, opt, kopts, before, after)
		out := make([]byte, opt.Optlen)
		if err := Build(out, opt, daddr, saddr, func() uint32 { return ts }); err != nil {
			t.Fatalf("Build: %v", err)
		}
		if !bytes.Equal(out, kopts) {
			t.Errorf("% x: kernel options % x\n  Build % x", b, kopts, out)
		}
		wantDst := daddr
		if hop, ok := FirstHop(opt); ok {
			wantDst = hop
		}
		if got := netip.AddrFrom4([4]byte(pkt[16:20])); got != wantDst {
			t.Errorf("% x: header destination %v, model %v", b, got, wantDst)
		}
	}
}

// TestKernelFragment sends a datagram too big for the 1500-byte MTU and
// checks that every later fragment carries Fragment(first's options) with
// the same header length.
func TestKernelFragment(t *testing.T) {
	inTestNetns(t)
	c := openCapture(t)
	saddr, daddr := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i, raw := range []string{
		"83 0b 04 0a000003 0a000004 07 07 04 00000000 94 04 00 00 44 0c 05 01 00000000 00000000",
		"070b04000000000000000000",
		"44 0c 05 00 00000000 00000000 01 01 00 00 07 07 04 00000000 00",
		"82 0b 00 00 00 00 00 00 00 00 00 1e 04 00 00",
	} {
		b := mustHex(raw)
		if _, err := kernelEnv.Compile(b); err != nil {
			t.Fatalf("% x: %v", b, err)
		}
		fd := udpSocket(t)
		sport := 41000 + i
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: sport, Addr: saddr.As4()}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		if err := unix.SetsockoptString(fd, unix.SOL_IP, unix.IP_OPTIONS, string(b)); err != nil {
			t.Fatalf("% x: setsockopt: %v", b, err)
		}
		payload := make([]byte, 3500)
		if err := unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Port: 9000, Addr: daddr.As4()}); err != nil {
			t.Fatalf("% x: sendto: %v", b, err)
		}
		first := c.next(t, func(p []byte) bool {
			hl := int(p[0]&0xf) * 4
			return p[9] == unix.IPPROTO_UDP && binary.BigEndian.Uint16(p[6:])&0x1fff == 0 &&
				len(p) >= hl+2 && int(binary.BigEndian.Uint16(p[hl:])) == sport
		})
		id := binary.BigEndian.Uint16(first[4:])
		hl := int(first[0]&0xf) * 4
		want := Fragment(first[20:hl])
		for n := 1; ; n++ {
			p := c.next(t, func(p []byte) bool { return binary.BigEndian.Uint16(p[4:]) == id })
			if phl := int(p[0]&0xf) * 4; phl != hl {
				t.Errorf("% x: fragment %d header length %d, first %d", b, n, phl, hl)
			} else if !bytes.Equal(p[20:phl], want) {
				t.Errorf("% x: fragment %d options % x\n  Fragment % x", b, n, p[20:phl], want)
			}
			if binary.BigEndian.Uint16(p[6:])&0x2000 == 0 { // no MF: last
				break
			}
		}
	}
}

// TestKernelNoNetRaw drops CAP_NET_RAW from this thread's effective set and
// compares setsockopt with Env{NoNetRaw: true}.
func TestKernelNoNetRaw(t *testing.T) {
	inTestNetns(t) // also locks the goroutine to its thread
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	saved := caps
	caps[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		t.Fatalf("capset: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			t.Errorf("capset restore: %v", err)
		}
	})
	env := kernelEnv
	env.NoNetRaw = true
	var vectors []string
	for _, tc := range rejectCases {
		vectors = append(vectors, tc.raw)
	}
	for _, tc := range compileCases {
		vectors = append(vectors, tc.raw)
	}
	eperm := 0
	for _, raw := range vectors {
		b := mustHex(raw)
		_, merr := env.Compile(b)
		kerr := unix.SetsockoptString(udpSocket(t), unix.SOL_IP, unix.IP_OPTIONS, string(b))
		me, _ := errno.From(merr)
		ke, _ := errno.From(kerr)
		if me != ke {
			t.Errorf("% x: model %v, kernel %v", b, merr, kerr)
		}
		if ke == errno.EPERM {
			eperm++
		}
	}
	if eperm == 0 {
		t.Error("no vector got EPERM: CAP_NET_RAW was not dropped")
	}
}
