package builder

import (
	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
	"golang.org/x/sys/unix"
)

// This file re-tells socket() for the sender (net/socket.c's __sys_socket
// and __sock_create, net/ipv4/af_inet.c's inet_create,
// net/ipv6/af_inet6.c's inet6_create): which type and family arguments
// make it fail, and with what. A failed socket() leaves the program an fd
// of -1, and every call on it fails with EBADF.

// sockCreate returns socket()'s errno for the scenario's socket.type and
// socket.family, 0 when it makes a UDP (or UDP-Lite) socket.
func sockCreate(so scenario.Socket) errno.Errno {
	typ := int(so.Type.Value())
	// __sys_socket: flag bits other than SOCK_CLOEXEC and SOCK_NONBLOCK.
	flags := typ &^ int(scenario.SockTypeMask)
	if flags&^int(scenario.SockCloexec|scenario.SockNonblock) != 0 {
		return errno.EINVAL
	}
	typ &= int(scenario.SockTypeMask)
	family := scenario.AFInet
	if so.IPv6() {
		family = scenario.AFInet6
	}
	if so.Family != nil {
		family = *so.Family
	}
	// __sock_create: the family's range, then the type's.
	if family < 0 || family >= scenario.AFMax {
		return errno.EAFNOSUPPORT
	}
	if typ >= int(scenario.SockMax) {
		return errno.EINVAL
	}
	if family != scenario.AFInet && family != scenario.AFInet6 {
		return errno.EAFNOSUPPORT // no such family registered (AF_UNSPEC)
	}
	// inet_create / inet6_create: the protocol switch of the type. An
	// empty list is ESOCKTNOSUPPORT; a list without the protocol
	// EPROTONOSUPPORT.
	switch scenario.SockType(typ) {
	case scenario.SockDgram:
		return 0
	case scenario.SockStream:
		return errno.Errno(unix.EPROTONOSUPPORT) // TCP's entry only
	}
	return errno.Errno(unix.ESOCKTNOSUPPORT)
}
