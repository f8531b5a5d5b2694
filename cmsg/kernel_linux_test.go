package cmsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/internal/testenv"
)

// netnsSockets creates a throwaway network namespace (ip netns add
// udpb-cmsg-PID), brings lo up with 10.9.9.1/24, and returns a sender and a
// receiver UDP socket created inside it. The namespace and sockets are
// removed when the test ends.
func netnsSockets(t *testing.T) (snd, rcv int) {
	t.Helper()
	testenv.NeedRoot(t, "ip")
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("udpb-cmsg-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipPath, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command(ipPath, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ip("-n", name, "link", "set", "lo", "up")
	ip("-n", name, "addr", "add", "10.9.9.1/24", "dev", "lo")

	// Sockets belong to the namespace they are created in. Enter it on a
	// locked thread that is never unlocked, so the runtime discards the
	// thread afterwards instead of reusing it in the wrong namespace.
	type result struct {
		fds [2]int
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		r := result{fds: [2]int{-1, -1}}
		defer func() { done <- r }()
		f, err := os.Open("/run/netns/" + name)
		if err != nil {
			r.err = err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("setns: %w", err)
			return
		}
		for i := range r.fds {
			if r.fds[i], err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				r.err = fmt.Errorf("socket: %w", err)
				return
			}
		}
	}()
	r := <-done
	for _, fd := range r.fds {
		if fd >= 0 {
			t.Cleanup(func() { unix.Close(fd) })
		}
	}
	if r.err != nil {
		t.Fatalf("sockets in netns %s: %v", name, r.err)
	}
	return r.fds[0], r.fds[1]
}

// TestKernelAgrees sends one datagram per case with the case's control
// buffer and checks that the model's verdict (CheckControlLen, Parse, Apply)
// is the kernel's sendmsg result; for a send that succeeds it also checks the
// TTL, TOS and IP options the receiver sees against the cookie.
func TestKernelAgrees(t *testing.T) {
	snd, rcv := netnsSockets(t)
	dst := &unix.SockaddrInet4{Port: 9999, Addr: [4]byte{10, 9, 9, 1}}
	if err := unix.Bind(rcv, dst); err != nil {
		t.Fatalf("bind: %v", err)
	}
	for _, o := range []int{unix.IP_RECVTTL, unix.IP_RECVTOS, unix.IP_RECVOPTS} {
		if err := unix.SetsockoptInt(rcv, unix.SOL_IP, o, 1); err != nil {
			t.Fatalf("setsockopt %d: %v", o, err)
		}
	}
	if err := unix.SetsockoptTimeval(rcv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}); err != nil {
		t.Fatalf("SO_RCVTIMEO: %v", err)
	}
	// Socket-level options (router alert), so that an IP_RETOPTS cmsg that
	// replaces them, even with nothing, shows on the wire.
	sockOpts := []byte{0x94, 4, 0, 0}
	if err := unix.SetsockoptString(snd, unix.SOL_IP, unix.IP_OPTIONS, string(sockOpts)); err != nil {
		t.Fatalf("IP_OPTIONS: %v", err)
	}

	m := func(level, typ int32, data []byte) Msg { return Msg{level, typ, data} }
	raw := func(clen uint64, level, typ int32, data ...byte) []byte {
		b := make([]byte, HdrLen, HdrLen+len(data))
		binary.NativeEndian.PutUint64(b, clen)
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		return append(b, data...)
	}
	big := func(n int) []byte {
		b := make([]byte, n)
		binary.NativeEndian.PutUint64(b, uint64(n))
		binary.NativeEndian.PutUint32(b[8:], 999) // a level nobody reads
		return b
	}
	nops := bytes.Repeat([]byte{1}, 40)
	cases := []struct {
		name string
		buf  []byte
	}{
		{"none", nil},
		{"TTL 0", Marshal([]Msg{m(SolIP, IPTTL, le32(0))})},
		{"TTL 1", Marshal([]Msg{m(SolIP, IPTTL, le32(1))})},
		{"TTL 255", Marshal([]Msg{m(SolIP, IPTTL, le32(255))})},
		{"TTL 256", Marshal([]Msg{m(SolIP, IPTTL, le32(256))})},
		{"TTL -1", Marshal([]Msg{m(SolIP, IPTTL, le32(-1))})},
		{"TTL 1 byte", Marshal([]Msg{m(SolIP, IPTTL, []byte{5})})},
		{"TOS int 0xb9", Marshal([]Msg{m(SolIP, IPTOS, le32(0xb9))})},
		{"TOS int 256", Marshal([]Msg{m(SolIP, IPTOS, le32(256))})},
		{"TOS int -1", Marshal([]Msg{m(SolIP, IPTOS, le32(-1))})},
		{"TOS 1 byte 0xff", Marshal([]Msg{m(SolIP, IPTOS, []byte{0xff})})},
		{"TOS 2 bytes", Marshal([]Msg{m(SolIP, IPTOS, []byte{1, 0})})},
		{"UDP_SEGMENT 1400", Marshal([]Msg{m(SolUDP, UDPSegment, le16(1400))})},
		{"UDP_SEGMENT 4 bytes", Marshal([]Msg{m(SolUDP, UDPSegment, le32(1400))})},
		{"UDP_SEGMENT 1 byte", Marshal([]Msg{m(SolUDP, UDPSegment, []byte{1})})},
		{"unknown SOL_UDP type", Marshal([]Msg{m(SolUDP, 1, le32(1))})},
		{"unknown SOL_IP type", Marshal([]Msg{m(SolIP, 99, le32(1))})},
		{"IP_PROTOCOL 17", Marshal([]Msg{m(SolIP, IPProtocol, le32(17))})},
		{"IP_PROTOCOL 0", Marshal([]Msg{m(SolIP, IPProtocol, le32(0))})},
		{"IP_PKTINFO", Marshal([]Msg{m(SolIP, IPPktInfo, make([]byte, 12))})},
		{"IP_PKTINFO 8 bytes", Marshal([]Msg{m(SolIP, IPPktInfo, make([]byte, 8))})},
		{"IP_RETOPTS empty", Marshal([]Msg{m(SolIP, IPRetOpts, nil)})},
		{"IP_RETOPTS NOP", Marshal([]Msg{m(SolIP, IPRetOpts, []byte{1})})},
		{"IP_RETOPTS 44 bytes cut to 40", Marshal([]Msg{m(SolIP, IPRetOpts, append(nops, 0x44, 0x44, 0x44, 0x44))})},
		{"IP_RETOPTS last wins", Marshal([]Msg{m(SolIP, IPRetOpts, []byte{1}), m(SolIP, IPRetOpts, nil)})},
		{"SOL_SOCKET unknown type", Marshal([]Msg{m(SolSocket, 99, le32(1))})},
		{"SO_MARK", Marshal([]Msg{m(SolSocket, SOMark, le32(7))})},
		{"SO_MARK 8 bytes", Marshal([]Msg{m(SolSocket, SOMark, make([]byte, 8))})},
		{"SO_PRIORITY 100", Marshal([]Msg{m(SolSocket, SOPriority, le32(100))})},
		{"SO_TIMESTAMPING tx", Marshal([]Msg{m(SolSocket, SOTimestampingOld, le32(1<<1|1<<18))})},
		{"SO_TIMESTAMPING rx", Marshal([]Msg{m(SolSocket, SOTimestampingNew, le32(1<<3))})},
		{"SCM_TXTIME", Marshal([]Msg{m(SolSocket, SCMTxTime, make([]byte, 8))})},
		{"SCM_TS_OPT_ID", Marshal([]Msg{m(SolSocket, SCMTSOptID, le32(1))})},
		{"SCM_RIGHTS", Marshal([]Msg{m(SolSocket, SCMRights, []byte{1})})},
		{"SCM_DEVMEM_DMABUF", Marshal([]Msg{m(SolSocket, SCMDevmemDMABuf, le32(5))})},
		{"other levels", Marshal([]Msg{m(unix.SOL_TCP, 1, nil), m(unix.SOL_IPV6, 50, nil), m(-1, -1, nil)})},
		{"everything", Marshal([]Msg{m(SolUDP, UDPSegment, le16(500)), m(SolIP, IPTTL, le32(3)),
			m(SolIP, IPTOS, []byte{0x10}), m(SolIP, IPRetOpts, []byte{1, 1, 1, 1})})},
		{"bad IP after good UDP", Marshal([]Msg{m(SolUDP, UDPSegment, le16(500)), m(SolIP, IPTTL, le32(0))})},
		{"header junk under 16 bytes", make([]byte, 15)},
		{"zero header", make([]byte, 16)},
		{"cmsg_len 15", raw(15, SolIP, IPTTL, 9, 0, 0, 0)},
		{"cmsg_len past the end", raw(25, SolIP, IPTTL, 9, 0, 0, 0, 0, 0, 0, 0)},
		{"cmsg_len huge", raw(1<<63, SolIP, IPTTL, 9, 0, 0, 0)},
		{"TOS exactly CMSG_LEN(1) long", raw(17, SolIP, IPTOS, 0x20)},
		{"good then 15 junk bytes", append(Marshal([]Msg{m(SolIP, IPTTL, le32(9))}), bytes.Repeat([]byte{0xff}, 15)...)},
		{"good then zero header", append(Marshal([]Msg{m(SolIP, IPTTL, le32(9))}), make([]byte, 16)...)},
		{"control buffer optmem_max-1", big(DefaultOptmemMax - 1)},
		{"control buffer optmem_max", big(DefaultOptmemMax)},
	}
	payload := []byte("0123456789")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The model: ____sys_sendmsg, then udp_sendmsg's cmsg step.
			var cookie Cookie
			err := CheckControlLen(len(tc.buf), 0)
			if err == nil && len(tc.buf) > 0 {
				var msgs []Msg
				if msgs, err = Parse(tc.buf); err == nil {
					cookie, err = Apply(msgs, start)
				} else {
					cookie = start
				}
			} else {
				cookie = start
			}
			want, _ := errno.From(err)

			_, kerr := unix.SendmsgN(snd, payload, tc.buf, dst, 0)
			var got unix.Errno
			if kerr != nil && !errors.As(kerr, &got) {
				t.Fatalf("sendmsg: %v", kerr)
			}
			if errno.Errno(got) != want {
				t.Fatalf("kernel sendmsg: %v; model: %v", kerr, err)
			}
			if kerr != nil {
				return
			}
			checkReceived(t, rcv, cookie, sockOpts)
		})
	}
}

// checkReceived reads the datagram just sent and compares its TTL, TOS and
// IP options with what the cookie says the kernel should have used.
func checkReceived(t *testing.T, rcv int, c Cookie, sockOpts []byte) {
	t.Helper()
	b := make([]byte, 128)
	oob := make([]byte, 256)
	_, oobn, _, _, err := unix.Recvmsg(rcv, b, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatalf("parse received cmsgs: %v", err)
	}
	ttl, tos := -1, -1
	var opts []byte
	for _, m := range cms {
		switch {
		case m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_TTL && len(m.Data) == 4:
			ttl = int(binary.NativeEndian.Uint32(m.Data))
		case m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_TOS && len(m.Data) >= 1:
			tos = int(m.Data[0])
		case m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVOPTS:
			opts = m.Data
		}
	}
	wantTTL, wantTOS := 64, 0 // ip_default_ttl; the socket's TOS
	if c.TTL != 0 {
		wantTTL = c.TTL
	}
	if c.TOS != -1 {
		wantTOS = c.TOS
	}
	wantOpts := sockOpts
	if c.HasOptions {
		// ip_options_get pads with IPOPT_END to a multiple of 4; the test
		// uses only options that compile to themselves.
		wantOpts = append([]byte{}, c.Options...)
		for len(wantOpts)%4 != 0 {
			wantOpts = append(wantOpts, 0)
		}
	}
	if ttl != wantTTL || tos != wantTOS || !bytes.Equal(opts, wantOpts) {
		t.Fatalf("received TTL %d TOS %#x options %x; cookie says TTL %d TOS %#x options %x",
			ttl, tos, opts, wantTTL, wantTOS, wantOpts)
	}
}
