package kernel

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file is the receiving side of a kernel run: the peer's sockets,
// set up in the peer namespace before the first step, and the recvmsg()
// calls of recv steps, rendered as report.Recv.

// peerOptLevels gives the (level, optname) of each peer socket option.
var peerOptLevels = map[scenario.OptName][2]int{
	scenario.OptSORcvBuf:         {unix.SOL_SOCKET, unix.SO_RCVBUF},
	scenario.OptSOReusePort:      {unix.SOL_SOCKET, unix.SO_REUSEPORT},
	scenario.OptSOReuseAddr:      {unix.SOL_SOCKET, unix.SO_REUSEADDR},
	scenario.OptUDPGRO:           {solUDP, unix.UDP_GRO},
	scenario.OptUDPLiteRecvCov:   {solUDPLite, udpliteRecvCov},
	scenario.OptIPPktInfo:        {unix.SOL_IP, unix.IP_PKTINFO},
	scenario.OptIPRecvTOS:        {unix.SOL_IP, unix.IP_RECVTOS},
	scenario.OptIPRecvTTL:        {unix.SOL_IP, unix.IP_RECVTTL},
	scenario.OptIPRecvOpts:       {unix.SOL_IP, unix.IP_RECVOPTS},
	scenario.OptIPRetOpts:        {unix.SOL_IP, unix.IP_RETOPTS},
	scenario.OptIPRecvErr:        {unix.SOL_IP, unix.IP_RECVERR},
	scenario.OptIPv6RecvPktInfo:  {unix.SOL_IPV6, unix.IPV6_RECVPKTINFO},
	scenario.OptIPv6RecvTClass:   {unix.SOL_IPV6, unix.IPV6_RECVTCLASS},
	scenario.OptIPv6RecvHopLimit: {unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT},
	scenario.OptIPv6RecvErr:      {unix.SOL_IPV6, unix.IPV6_RECVERR},
	scenario.OptIPv6V6Only:       {unix.SOL_IPV6, unix.IPV6_V6ONLY},
}

// peerSocket is one of the peer's sockets: fd is -1 if socket() failed
// (it never does for the types the format allows).
type peerSocket struct {
	fd int
	v6 bool
}

// openPeerSockets creates the peer's sockets in namespace ns and sets each
// up as docs/scenario.md says: SO_RCVTIMEO, then SO_RCVBUF (rcvbuf), the
// setsockopt list, bind, connect, each call's result (but socket() and
// SO_RCVTIMEO) recorded in the returned steps. A call failing with an
// errno is a result; anything else ends the run.
func openPeerSockets(ns string, socks []scenario.PeerSocket) ([]peerSocket, []report.Step, error) {
	out := make([]peerSocket, 0, len(socks))
	var setup []report.Step
	err := inNetns(ns, func() error {
		for i, ps := range socks {
			idx := i
			family := unix.AF_INET
			if ps.IPv6() {
				family = unix.AF_INET6
			}
			fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(ps.Proto.Number()))
			if err != nil {
				return fmt.Errorf("kernel: peer socket %d: socket(%s, SOCK_DGRAM, %d): %w", i, familyName(ps.IPv6()), ps.Proto.Number(), err)
			}
			out = append(out, peerSocket{fd: fd, v6: ps.IPv6()})
			tv := unix.NsecToTimeval(scenario.RecvTimeoutMillis * 1e6)
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("kernel: peer socket %d: SO_RCVTIMEO: %w", i, err)
			}
			record := func(op, opt string, err error) error {
				st := report.Step{Op: op, Opt: opt, Socket: &idx}
				if err != nil {
					e, ok := errno.From(err)
					if !ok {
						return fmt.Errorf("kernel: peer socket %d: %s %s: %w", i, op, opt, err)
					}
					st.Err = e
				}
				setup = append(setup, st)
				return nil
			}
			if ps.Rcvbuf != nil {
				if err := record("setsockopt", string(scenario.OptSORcvBuf), unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, *ps.Rcvbuf)); err != nil {
					return err
				}
			}
			for _, o := range ps.Setsockopt {
				lv, ok := peerOptLevels[o.Name]
				if !ok {
					return fmt.Errorf("kernel: peer socket %d: unknown option %q", i, o.Name)
				}
				if err := record("setsockopt", string(o.Name), unix.SetsockoptInt(fd, lv[0], lv[1], o.Int)); err != nil {
					return err
				}
			}
			rsa, n := rawSockaddr(ps.Bind, 0, ps.IPv6())
			if err := record("bind", "", rawCall(unix.SYS_BIND, fd, rsa, n)); err != nil {
				return err
			}
			if ps.Connect.IsValid() {
				rsa, n := rawSockaddr(ps.Connect, 0, ps.IPv6())
				if err := record("connect", "", rawCall(unix.SYS_CONNECT, fd, rsa, n)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		closePeerSockets(out)
		return nil, nil, err
	}
	return out, setup, nil
}

func closePeerSockets(socks []peerSocket) {
	for _, s := range socks {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
	}
}

func familyName(v6 bool) string {
	if v6 {
		return "AF_INET6"
	}
	return "AF_INET"
}

// recvStep makes a recv step's recvmsg() calls on fd: count of them, or
// until one fails (scenario.RecvAll, bounded by scenario.MaxRecvCalls).
// extra is ORed into the flags (MSG_ERRQUEUE for the sender's error
// queue). The step's Ret/Err are the last call's.
func recvStep(fd int, r *scenario.Recv, extra int) (report.Step, error) {
	st := report.Step{Op: "recv"}
	buf := make([]byte, r.Len)
	oob := make([]byte, r.CmsgLen)
	calls := r.Count
	if calls == scenario.RecvAll {
		calls = scenario.MaxRecvCalls
	}
	for range calls {
		rv, err := recvOnce(fd, buf, oob, r.Flags|extra)
		if err != nil {
			return st, err
		}
		st.Recv = append(st.Recv, rv)
		st.Ret, st.Err = rv.Ret, rv.Err
		if r.Count == scenario.RecvAll && rv.Err != 0 {
			break
		}
	}
	return st, nil
}

// recvOnce makes one recvmsg() call with a sockaddr_in6-sized msg_name.
func recvOnce(fd int, buf, oob []byte, flags int) (report.Recv, error) {
	var rv report.Recv
	var msg unix.Msghdr
	var iov unix.Iovec
	var name unix.RawSockaddrInet6
	if len(buf) > 0 {
		iov.Base = &buf[0]
		iov.SetLen(len(buf))
	}
	msg.Iov = &iov
	msg.SetIovlen(1)
	msg.Name = (*byte)(unsafe.Pointer(&name))
	msg.Namelen = unix.SizeofSockaddrInet6
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	var n uintptr
	var e unix.Errno
	for {
		n, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		if e != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(buf)
	runtime.KeepAlive(oob)
	if e != 0 {
		en, ok := errno.From(e)
		if !ok {
			return rv, fmt.Errorf("kernel: recvmsg: %w", e)
		}
		rv.Err = en
		return rv, nil
	}
	rv.Ret = int(n)
	rv.Len = min(int(n), len(buf))
	rv.Digest = report.Digest(buf[:rv.Len])
	rv.MsgFlags = report.MsgFlagNames(int(msg.Flags))
	rv.From = sockaddrString(&name, int(msg.Namelen))
	rv.Cmsgs = renderCmsgs(oob[:msg.Controllen])
	return rv, nil
}

// sockaddrString renders msg_name as netip.AddrPort.String(); "" when the
// kernel filled none.
func sockaddrString(sa *unix.RawSockaddrInet6, n int) string {
	b := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))[:]
	if n < 2 {
		return ""
	}
	port := binary.BigEndian.Uint16(b[2:4])
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return ""
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port).String()
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return ""
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port).String()
	}
	return ""
}

// renderCmsgs renders the control messages a recvmsg() returned, in order,
// as report.Cmsg documents them.
func renderCmsgs(oob []byte) []report.Cmsg {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return []report.Cmsg{{Name: "unparsable", Value: hex.EncodeToString(oob)}}
	}
	out := make([]report.Cmsg, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, renderCmsg(int(m.Header.Level), int(m.Header.Type), m.Data))
	}
	return out
}

func renderCmsg(level, typ int, d []byte) report.Cmsg {
	u32 := func() string {
		if len(d) < 4 {
			return hex.EncodeToString(d)
		}
		return strconv.Itoa(int(int32(binary.NativeEndian.Uint32(d))))
	}
	switch {
	case level == solUDP && typ == unix.UDP_GRO:
		return report.Cmsg{Name: "UDP_GRO", Value: u32()}
	case level == unix.SOL_IP && typ == unix.IP_TOS && len(d) >= 1:
		return report.Cmsg{Name: "IP_TOS", Value: fmt.Sprintf("%#02x", d[0])}
	case level == unix.SOL_IP && typ == unix.IP_TTL:
		return report.Cmsg{Name: "IP_TTL", Value: u32()}
	case level == unix.SOL_IP && typ == unix.IP_PKTINFO && len(d) >= 12:
		return report.Cmsg{Name: "IP_PKTINFO", Value: fmt.Sprintf("ifindex=%d spec_dst=%s addr=%s",
			int32(binary.NativeEndian.Uint32(d[0:4])), netip.AddrFrom4([4]byte(d[4:8])), netip.AddrFrom4([4]byte(d[8:12])))}
	case level == unix.SOL_IP && typ == unix.IP_RECVOPTS:
		return report.Cmsg{Name: "IP_RECVOPTS", Value: hex.EncodeToString(d)}
	case level == unix.SOL_IP && typ == unix.IP_RETOPTS:
		return report.Cmsg{Name: "IP_RETOPTS", Value: hex.EncodeToString(d)}
	case level == unix.SOL_IP && typ == unix.IP_RECVERR:
		return report.Cmsg{Name: "IP_RECVERR", Value: extendedErr(d)}
	case level == unix.SOL_IPV6 && typ == unix.IPV6_RECVERR:
		return report.Cmsg{Name: "IPV6_RECVERR", Value: extendedErr(d)}
	case level == unix.SOL_IPV6 && typ == unix.IPV6_PKTINFO && len(d) >= 20:
		return report.Cmsg{Name: "IPV6_PKTINFO", Value: fmt.Sprintf("ifindex=%d addr=%s",
			int32(binary.NativeEndian.Uint32(d[16:20])), netip.AddrFrom16([16]byte(d[0:16])))}
	case level == unix.SOL_IPV6 && typ == unix.IPV6_TCLASS && len(d) >= 4:
		return report.Cmsg{Name: "IPV6_TCLASS", Value: fmt.Sprintf("%#02x", binary.NativeEndian.Uint32(d))}
	case level == unix.SOL_IPV6 && typ == unix.IPV6_HOPLIMIT:
		return report.Cmsg{Name: "IPV6_HOPLIMIT", Value: u32()}
	}
	return report.Cmsg{Name: fmt.Sprintf("level=%d type=%d", level, typ), Value: "hex=" + hex.EncodeToString(d)}
}

// eeOrigins names sock_extended_err's ee_origin (SO_EE_ORIGIN_*).
var eeOrigins = [...]string{"none", "local", "icmp", "icmp6", "txstatus", "zerocopy", "txtime"}

// extendedErr renders a struct sock_extended_err and the offender's
// address that follows it (SO_EE_OFFENDER).
func extendedErr(d []byte) string {
	if len(d) < 16 {
		return "hex=" + hex.EncodeToString(d)
	}
	origin := strconv.Itoa(int(d[4]))
	if int(d[4]) < len(eeOrigins) {
		origin = eeOrigins[d[4]]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ee_errno=%s origin=%s type=%d code=%d info=%d data=%d",
		errno.Errno(binary.NativeEndian.Uint32(d[0:4])).Name(), origin, d[5], d[6],
		binary.NativeEndian.Uint32(d[8:12]), binary.NativeEndian.Uint32(d[12:16]))
	off := d[16:]
	if len(off) >= 2 {
		var sa unix.RawSockaddrInet6
		copy((*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&sa))[:], off)
		if s := sockaddrString(&sa, len(off)); s != "" {
			ap := netip.MustParseAddrPort(s)
			fmt.Fprintf(&b, " offender=%s", ap.Addr())
		}
	}
	return b.String()
}
