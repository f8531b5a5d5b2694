package kernel

import (
	"fmt"
	"net/netip"

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

	// sendTimeoutSecs bounds how long a send may wait for socket memory.
	sendTimeoutSecs = 5
)

// optLevels gives the (level, optname) pair of each scenario option.
var optLevels = map[scenario.OptName][2]int{
	scenario.OptUDPCork:        {solUDP, unix.UDP_CORK},
	scenario.OptUDPSegment:     {solUDP, unix.UDP_SEGMENT},
	scenario.OptIPTOS:          {unix.SOL_IP, unix.IP_TOS},
	scenario.OptIPTTL:          {unix.SOL_IP, unix.IP_TTL},
	scenario.OptIPOptions:      {unix.SOL_IP, unix.IP_OPTIONS},
	scenario.OptIPMTUDiscover:  {unix.SOL_IP, unix.IP_MTU_DISCOVER},
	scenario.OptSONoCheck:      {unix.SOL_SOCKET, unix.SO_NO_CHECK},
	scenario.OptUDPLiteSendCov: {solUDPLite, udpliteSendCov},
	scenario.OptUDPLiteRecvCov: {solUDPLite, udpliteRecvCov},
}

// udpSocket is the scenario's socket, living in the sender namespace.
type udpSocket struct {
	fd int
}

// newUDPSocket creates the socket in namespace ns, binds it to src (unless
// src is invalid) and sets IP_MTU_DISCOVER to the scenario's mode.
func newUDPSocket(ns string, proto scenario.Proto, src netip.AddrPort, pmtu scenario.PMTUDisc) (*udpSocket, error) {
	s := &udpSocket{fd: -1}
	err := inNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto.Number()))
		if err != nil {
			return fmt.Errorf("kernel: socket(AF_INET, SOCK_DGRAM, %d): %w", proto.Number(), err)
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A send only waits for socket memory (sock_alloc_send_skb); bound that
	// wait so a stuck run fails instead of hanging. It changes nothing else.
	tv := unix.Timeval{Sec: sendTimeoutSecs}
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		s.close()
		return nil, fmt.Errorf("kernel: SO_SNDTIMEO: %w", err)
	}
	if src.IsValid() {
		sa, err := sockaddr(src)
		if err == nil {
			err = unix.Bind(s.fd, sa)
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("kernel: bind %s: %w", src, err)
		}
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_IP, unix.IP_MTU_DISCOVER, int(pmtu)); err != nil {
		s.close()
		return nil, fmt.Errorf("kernel: IP_MTU_DISCOVER=%d: %w", int(pmtu), err)
	}
	return s, nil
}

func (s *udpSocket) close() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// sockaddr converts an IPv4 address and port for the socket calls.
func sockaddr(ap netip.AddrPort) (*unix.SockaddrInet4, error) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return nil, fmt.Errorf("kernel: %s is not an IPv4 address", ap)
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
}

// setsockopt applies one option. The error is the kernel's errno, or an
// error of ours for an option the package does not know.
func (s *udpSocket) setsockopt(o scenario.Opt) error {
	lv, ok := optLevels[o.Name]
	if !ok {
		return fmt.Errorf("kernel: unknown socket option %q", o.Name)
	}
	if o.Name == scenario.OptIPOptions {
		// The bytes go in verbatim: ip_options_get does the checking.
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

// send makes one sendmsg call. oob is the control data (buildCmsgs of
// snd.Cmsg), to is msg_name, or nil for none.
func (s *udpSocket) send(snd *scenario.Send, oob []byte, to *unix.SockaddrInet4) (report.Step, error) {
	res := report.Step{Op: "send"}
	var sa unix.Sockaddr
	if to != nil {
		sa = to
	}
	n, err := unix.SendmsgN(s.fd, snd.Payload, oob, sa, snd.Flags)
	if err != nil {
		e, ok := errno.From(err)
		if !ok {
			return res, fmt.Errorf("kernel: sendmsg: %w", err)
		}
		res.Err = e
		return res, nil
	}
	res.Ret = n
	return res, nil
}

// buildCmsgs lays out the control messages in order, each padded to
// CMSG_SPACE as the kernel's CMSG_NXTHDR walk in __sock_cmsg_send expects:
// the encoding package cmsg gives the model (its tests hold it to the
// kernel's CMSG macros and to real sendmsg calls), so that both runners
// hand the kernel's parsers the same bytes.
func buildCmsgs(cms []scenario.Cmsg) ([]byte, error) {
	msgs := make([]cmsg.Msg, 0, len(cms))
	for _, c := range cms {
		m, ok := cmsg.FromScenario(c, 0)
		if !ok {
			return nil, fmt.Errorf("kernel: unknown control message %q", c.Type)
		}
		msgs = append(msgs, m)
	}
	return cmsg.Marshal(msgs), nil
}

// connect sets the socket's destination (ip4_datagram_connect).
func (s *udpSocket) connect(dst netip.AddrPort) error {
	sa, err := sockaddr(dst)
	if err != nil {
		return err
	}
	if err := unix.Connect(s.fd, sa); err != nil {
		return fmt.Errorf("kernel: connect %s: %w", dst, err)
	}
	return nil
}
