package kernel

import (
	"fmt"
	"net/netip"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/cmsg"
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Option levels and names x/sys/unix does not spell out.
const (
	solUDP         = unix.IPPROTO_UDP     // SOL_UDP
	solUDPLite     = unix.IPPROTO_UDPLITE // SOL_UDPLITE
	udpliteSendCov = 10                   // UDPLITE_SEND_CSCOV
	udpliteRecvCov = 11                   // UDPLITE_RECV_CSCOV
	// ipv6FlowinfoSend is IPV6_FLOWINFO_SEND (uapi linux/in6.h).
	ipv6FlowinfoSend = 33

	// sendTimeoutSecs bounds how long a send may wait for socket memory.
	sendTimeoutSecs = 5
)

// optLevels gives the (level, optname) pair of each scenario option. The
// options of either family go to either socket with their own level: the
// kernel's answer (ENOPROTOOPT for SOL_IPV6 on an AF_INET socket) is a
// result.
var optLevels = map[scenario.OptName][2]int{
	scenario.OptUDPCork:           {solUDP, unix.UDP_CORK},
	scenario.OptUDPSegment:        {solUDP, unix.UDP_SEGMENT},
	scenario.OptIPTOS:             {unix.SOL_IP, unix.IP_TOS},
	scenario.OptIPTTL:             {unix.SOL_IP, unix.IP_TTL},
	scenario.OptIPOptions:         {unix.SOL_IP, unix.IP_OPTIONS},
	scenario.OptIPMTUDiscover:     {unix.SOL_IP, unix.IP_MTU_DISCOVER},
	scenario.OptSONoCheck:         {unix.SOL_SOCKET, unix.SO_NO_CHECK},
	scenario.OptUDPLiteSendCov:    {solUDPLite, udpliteSendCov},
	scenario.OptUDPLiteRecvCov:    {solUDPLite, udpliteRecvCov},
	scenario.OptIPv6MTUDiscover:   {unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER},
	scenario.OptIPv6TClass:        {unix.SOL_IPV6, unix.IPV6_TCLASS},
	scenario.OptIPv6UnicastHops:   {unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS},
	scenario.OptIPv6DontFrag:      {unix.SOL_IPV6, unix.IPV6_DONTFRAG},
	scenario.OptIPv6MTU:           {unix.SOL_IPV6, unix.IPV6_MTU},
	scenario.OptIPv6FlowinfoSend:  {unix.SOL_IPV6, ipv6FlowinfoSend},
	scenario.OptIPv6AutoFlowlabel: {unix.SOL_IPV6, unix.IPV6_AUTOFLOWLABEL},
	scenario.OptIPv6V6Only:        {unix.SOL_IPV6, unix.IPV6_V6ONLY},
	scenario.OptIPv6HopOpts:       {unix.SOL_IPV6, unix.IPV6_HOPOPTS},
	scenario.OptIPv6DstOpts:       {unix.SOL_IPV6, unix.IPV6_DSTOPTS},
	scenario.OptIPv6RthdrDstOpts:  {unix.SOL_IPV6, unix.IPV6_RTHDRDSTOPTS},
	scenario.OptIPv6Rthdr:         {unix.SOL_IPV6, unix.IPV6_RTHDR},
	scenario.OptUDPNoCheck6TX:     {solUDP, unix.UDP_NO_CHECK6_TX},
	scenario.OptUDPNoCheck6RX:     {solUDP, unix.UDP_NO_CHECK6_RX},
	scenario.OptIPRecvErr:         {unix.SOL_IP, unix.IP_RECVERR},
	scenario.OptIPv6RecvErr:       {unix.SOL_IPV6, unix.IPV6_RECVERR},
}

// bytesOpts are the options whose argument is a byte string, passed with
// optlen = its length (IP_OPTIONS, and the IPv6 extension headers that
// ipv6_set_opt_hdr copies as given).
var bytesOpts = map[scenario.OptName]bool{
	scenario.OptIPOptions:        true,
	scenario.OptIPv6HopOpts:      true,
	scenario.OptIPv6DstOpts:      true,
	scenario.OptIPv6RthdrDstOpts: true,
	scenario.OptIPv6Rthdr:        true,
}

// udpSocket is the scenario's socket, living in the sender namespace.
type udpSocket struct {
	fd int
	// v6 is an AF_INET6 socket.
	v6 bool
}

// newUDPSocket creates the socket in namespace ns: AF_INET6 when v6, else
// AF_INET. It bounds the send wait and sets the scenario's path-MTU mode
// (IPV6_MTU_DISCOVER on an IPv6 socket, IP_MTU_DISCOVER on an IPv4 one);
// bind is the caller's, once the options that must precede it are set.
//
// socket() is called with typ (socket.type) and, when fam is non-nil,
// that family (socket.family) instead of v6's. Its failure is a result,
// returned as failed with a socket whose fd is -1: every later call on it
// fails with EBADF, as a program's calls on the fd -1 would.
func newUDPSocket(ns string, proto scenario.Proto, v6 bool, pmtu scenario.PMTUDisc, typ scenario.SockType, fam *int) (s *udpSocket, failed errno.Errno, err error) {
	s = &udpSocket{fd: -1, v6: v6}
	family, name := unix.AF_INET, "AF_INET"
	if v6 {
		family, name = unix.AF_INET6, "AF_INET6"
	}
	if fam != nil {
		family, name = *fam, fmt.Sprint(*fam)
	}
	err = inNetns(ns, func() error {
		// SOCK_CLOEXEC changes nothing but what an exec inherits.
		fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(uint32(typ.Value())|unix.SOCK_CLOEXEC), uintptr(proto.Number()))
		if e != 0 {
			if en, ok := errno.From(e); ok {
				failed = en
				return nil
			}
			return fmt.Errorf("kernel: socket(%s, %s, %d): %w", name, scenario.FormatSockType(typ), proto.Number(), e)
		}
		s.fd = int(fd)
		return nil
	})
	if err != nil || failed != 0 {
		return s, failed, err
	}
	// A send only waits for socket memory (sock_alloc_send_skb); bound that
	// wait so a stuck run fails instead of hanging. It changes nothing else.
	tv := unix.Timeval{Sec: sendTimeoutSecs}
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		s.close()
		return nil, 0, fmt.Errorf("kernel: SO_SNDTIMEO: %w", err)
	}
	level, opt, optName := unix.SOL_IP, unix.IP_MTU_DISCOVER, "IP_MTU_DISCOVER"
	if v6 {
		level, opt, optName = unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER"
	}
	if err := unix.SetsockoptInt(s.fd, level, opt, int(pmtu)); err != nil {
		s.close()
		return nil, 0, fmt.Errorf("kernel: %s=%d: %w", optName, int(pmtu), err)
	}
	return s, 0, nil
}

// bind binds the socket to src, unless src is invalid.
func (s *udpSocket) bind(src netip.AddrPort) error {
	if !src.IsValid() {
		return nil
	}
	rsa, n := rawSockaddr(src, 0, s.v6)
	if n == 0 {
		return fmt.Errorf("kernel: bind %s: not an address of an %s socket", src, family(s.v6))
	}
	if err := rawCall(unix.SYS_BIND, s.fd, rsa, n); err != nil {
		return fmt.Errorf("kernel: bind %s: %w", src, err)
	}
	return nil
}

func family(v6 bool) string {
	if v6 {
		return "AF_INET6"
	}
	return "AF_INET"
}

func (s *udpSocket) close() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// sockaddrBuf holds a raw socket address: a sockaddr_in or a sockaddr_in6
// (x/sys/unix's SockaddrInet6 has no sin6_flowinfo, which the scenarios
// need, so the structure is built by hand).
type sockaddrBuf struct {
	in4 unix.RawSockaddrInet4
	in6 unix.RawSockaddrInet6
	v6  bool
}

func (b *sockaddrBuf) ptr() unsafe.Pointer {
	if b.v6 {
		return unsafe.Pointer(&b.in6)
	}
	return unsafe.Pointer(&b.in4)
}

// rawSockaddr lays out ap as a program would: a sockaddr_in6 (with
// flowinfo in sin6_flowinfo, in network order) for an IPv6 address,
// v4-mapped included, else a sockaddr_in. asV6 makes an IPv4 address a
// v4-mapped sockaddr_in6 (a bind on an AF_INET6 socket, which takes only
// that); an IPv6 address with !asV6 is still passed as sockaddr_in6 (the
// kernel answers). n is the address length, 0 for an invalid ap.
func rawSockaddr(ap netip.AddrPort, flowinfo uint32, asV6 bool) (*sockaddrBuf, int) {
	b := &sockaddrBuf{}
	a := ap.Addr()
	port := netOrder16(ap.Port())
	switch {
	case !a.IsValid():
		return b, 0
	case a.Is6() || asV6:
		b.v6 = true
		b.in6.Family = unix.AF_INET6
		b.in6.Port = port
		b.in6.Flowinfo = htonl(flowinfo)
		b.in6.Addr = a.As16()
		return b, unix.SizeofSockaddrInet6
	default:
		b.in4.Family = unix.AF_INET
		b.in4.Port = port
		b.in4.Addr = a.As4()
		return b, unix.SizeofSockaddrInet4
	}
}

// htonl and netOrder16 give the value whose in-memory bytes are v in
// network order, whatever the host's byte order.
func htonl(v uint32) uint32 {
	b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	return *(*uint32)(unsafe.Pointer(&b[0]))
}

func netOrder16(v uint16) uint16 {
	b := [2]byte{byte(v >> 8), byte(v)}
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// rawCall makes bind(2) or connect(2) with a raw address.
func rawCall(trap uintptr, fd int, sa *sockaddrBuf, n int) error {
	_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(sa.ptr()), uintptr(n))
	runtime.KeepAlive(sa)
	if e != 0 {
		return e
	}
	return nil
}

// setsockopt applies one option. The error is the kernel's errno, or an
// error of ours for an option the package does not know.
func (s *udpSocket) setsockopt(o scenario.Opt) error {
	lv, ok := optLevels[o.Name]
	if !ok {
		return fmt.Errorf("kernel: unknown socket option %q", o.Name)
	}
	if bytesOpts[o.Name] {
		// The bytes go in verbatim: ip_options_get and ipv6_set_opt_hdr
		// do the checking.
		return unix.SetsockoptString(s.fd, lv[0], lv[1], string(o.Bytes))
	}
	return unix.SetsockoptInt(s.fd, lv[0], lv[1], o.Int)
}

// setsockopts applies opts in order, as a program checking nothing would,
// and reports the first failure's errno (or 0). A failure that carries no
// errno is a fault of the runner and ends the run.
func (s *udpSocket) setsockopts(opts []scenario.Opt) (report.Step, error) {
	res := report.Step{Op: "setsockopt"}
	for _, o := range opts {
		err := s.setsockopt(o)
		if err == nil {
			continue
		}
		e, ok := errno.From(err)
		if !ok {
			return res, err
		}
		if res.Err == 0 {
			res.Err = e
		}
	}
	return res, nil
}

// msgName is one send's msg_name: none when n is 0.
type msgName struct {
	sa *sockaddrBuf
	n  int
}

// send makes one sendmsg call. oob is the control data (buildCmsgs of
// snd.Cmsg), to is msg_name.
func (s *udpSocket) send(snd *scenario.Send, oob []byte, to msgName) (report.Step, error) {
	res := report.Step{Op: "send"}
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(snd.Payload) > 0 {
		iov.Base = &snd.Payload[0]
		iov.SetLen(len(snd.Payload))
		msg.Iov = &iov
		msg.SetIovlen(1)
	}
	if to.n > 0 {
		msg.Name = (*byte)(to.sa.ptr())
		msg.Namelen = uint32(to.n)
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msg)), uintptr(snd.Flags))
	runtime.KeepAlive(to.sa)
	runtime.KeepAlive(oob)
	runtime.KeepAlive(snd.Payload)
	if e != 0 {
		en, ok := errno.From(e)
		if !ok {
			return res, fmt.Errorf("kernel: sendmsg: %w", e)
		}
		res.Err = en
		return res, nil
	}
	res.Ret = int(n)
	return res, nil
}

// buildCmsgs lays out the control messages in order, each padded to
// CMSG_SPACE as the kernel's CMSG_NXTHDR walk in __sock_cmsg_send expects:
// the encoding package cmsg gives the model (its tests hold it to the
// kernel's CMSG macros and to real sendmsg calls), so that both runners
// hand the kernel's parsers the same bytes. ifindex is the sender's device,
// which IPV6_PKTINFO names.
func buildCmsgs(cms []scenario.Cmsg, ifindex int) ([]byte, error) {
	msgs := make([]cmsg.Msg, 0, len(cms))
	for _, c := range cms {
		m, ok := cmsg.FromScenario(c, ifindex)
		if !ok {
			return nil, fmt.Errorf("kernel: unknown control message %q", c.Type)
		}
		msgs = append(msgs, m)
	}
	return cmsg.Marshal(msgs), nil
}

// connect sets the socket's destination (ip4_datagram_connect, or
// __ip6_datagram_connect with flowinfo as sin6_flowinfo).
func (s *udpSocket) connect(dst netip.AddrPort, flowinfo uint32) error {
	rsa, n := rawSockaddr(dst, flowinfo, false)
	if n == 0 {
		return fmt.Errorf("kernel: connect: no destination")
	}
	if err := rawCall(unix.SYS_CONNECT, s.fd, rsa, n); err != nil {
		return fmt.Errorf("kernel: connect %s: %w", dst, err)
	}
	return nil
}
