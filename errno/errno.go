// Package errno names the kernel's error results as typed values.
//
// A step of a scenario either returns a byte count or fails with an errno, the
// same way a system call does. Comparing errnos by their text would be
// fragile, so udpbuild carries them as Errno values and only turns them into
// names ("EMSGSIZE") at the edges: scenario files, reports and messages.
package errno

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Errno is a Linux errno number. The zero value means "no error".
type Errno syscall.Errno

// The errnos the IPv4 UDP send path returns. They are the Linux values, so a
// result from the real kernel and one from the model compare with ==.
const (
	EPERM        = Errno(unix.EPERM)
	EIO          = Errno(unix.EIO)
	EAGAIN       = Errno(unix.EAGAIN)
	ENOMEM       = Errno(unix.ENOMEM)
	EFAULT       = Errno(unix.EFAULT)
	EINVAL       = Errno(unix.EINVAL)
	EMSGSIZE     = Errno(unix.EMSGSIZE)
	ENOPROTOOPT  = Errno(unix.ENOPROTOOPT)
	EOPNOTSUPP   = Errno(unix.EOPNOTSUPP)
	EAFNOSUPPORT = Errno(unix.EAFNOSUPPORT)
	EDESTADDRREQ = Errno(unix.EDESTADDRREQ)
	ENETUNREACH  = Errno(unix.ENETUNREACH)
	EHOSTUNREACH = Errno(unix.EHOSTUNREACH)
	ENOBUFS      = Errno(unix.ENOBUFS)
	EACCES       = Errno(unix.EACCES)
	ENOTCONN     = Errno(unix.ENOTCONN)
	ECONNREFUSED = Errno(unix.ECONNREFUSED)
	EISCONN      = Errno(unix.EISCONN)
	ENOENT       = Errno(unix.ENOENT)

	// What ICMP errors become (icmp_err_convert, icmpv6_err_convert).
	EHOSTDOWN = Errno(unix.EHOSTDOWN)
	ENONET    = Errno(unix.ENONET)
	EPROTO    = Errno(unix.EPROTO)

	// The receiving side's: socket() (__sys_socket), bind() and calls on
	// a descriptor socket() never gave.
	EBADF           = Errno(unix.EBADF)
	EPROTONOSUPPORT = Errno(unix.EPROTONOSUPPORT)
	ESOCKTNOSUPPORT = Errno(unix.ESOCKTNOSUPPORT)
	EADDRINUSE      = Errno(unix.EADDRINUSE)
	EADDRNOTAVAIL   = Errno(unix.EADDRNOTAVAIL)
)

// preferred names numbers that Linux gives two names: the send path's
// documentation (and the spec) uses these.
var preferred = map[Errno]string{EOPNOTSUPP: "EOPNOTSUPP", EAGAIN: "EAGAIN"}

// aliases are the other names of those numbers, accepted by Parse.
var aliases = map[string]Errno{"ENOTSUP": EOPNOTSUPP, "EWOULDBLOCK": EAGAIN}

// Name returns the symbolic name ("EMSGSIZE"), or "errno N" for a number
// Linux does not name.
func (e Errno) Name() string {
	if n, ok := preferred[e]; ok {
		return n
	}
	if n := unix.ErrnoName(syscall.Errno(e)); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", uint(e))
}

// Error makes an Errno usable as an error; it prints the name, as strace does.
func (e Errno) Error() string { return e.Name() }

// String is the same as Name.
func (e Errno) String() string { return e.Name() }

// Parse turns a symbolic name such as "EMSGSIZE" into its Errno.
func Parse(name string) (Errno, bool) {
	if e, ok := aliases[name]; ok {
		return e, true
	}
	for e, n := range preferred {
		if n == name {
			return e, true
		}
	}
	// unix names errnos 1..133 on Linux; a linear scan is fine for the few
	// names a scenario file holds.
	for n := syscall.Errno(1); n < 256; n++ {
		if unix.ErrnoName(n) == name {
			return Errno(n), true
		}
	}
	return 0, false
}

// MarshalJSON writes the name, so reports stay readable and portable.
func (e Errno) MarshalJSON() ([]byte, error) { return json.Marshal(e.Name()) }

// UnmarshalJSON reads a name written by MarshalJSON.
func (e *Errno) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("errno: %w", err)
	}
	v, ok := Parse(s)
	if !ok {
		return fmt.Errorf("errno: unknown name %q", s)
	}
	*e = v
	return nil
}

// From extracts an Errno from an error returned by a system call, following
// wrapped errors. ok is false when err carries no errno.
func From(err error) (Errno, bool) {
	var se syscall.Errno
	if errors.As(err, &se) {
		return Errno(se), true
	}
	var e Errno
	if errors.As(err, &e) {
		return e, true
	}
	return 0, false
}
