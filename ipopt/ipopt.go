// Package ipopt is the kernel's handling of IPv4 options for a locally
// generated datagram, re-told from net/ipv4/ip_options.c:
//
//   - Compile (ip_options_get + __ip_options_compile with skb == NULL)
//     checks the bytes a program gives to setsockopt(IP_OPTIONS) or to an
//     IP_RETOPTS control message and turns them into an Options value, or
//     fails with EINVAL (bad bytes) or EPERM (a source route without
//     CAP_NET_RAW).
//   - Build (ip_options_build, called by __ip_make_skb) writes the options
//     into the header of an outgoing datagram, filling the record-route and
//     timestamp slots and the final destination of a source route.
//   - Fragment (ip_options_fragment) turns the options of the first fragment
//     into those of every later fragment.
//   - Undo (ip_options_undo) is what getsockopt(IP_OPTIONS) hands back.
//
// Offsets (Options.Srr, Rr, Ts, RouterAlert, Cipso) follow the kernel's
// convention: they count from the start of the IPv4 header, so the first
// option byte is at offset 20 and 0 means "absent". Data holds only the
// option bytes, so Data[off-20] is the option's type byte.
//
// Later fragments keep the first fragment's header length: ip_frag_next and
// ip_fraglist_prepare copy all hlen = ihl*4 header bytes into every fragment
// and ip_options_fragment overwrites the options that must not be copied with
// NOOP bytes instead of removing them. So there is no "copied length" to
// compute: every fragment carries len(options) option bytes.
package ipopt

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
)

const (
	// MaxOptLen is the most option bytes an IPv4 header holds (60 - 20); the
	// kernel's setsockopt(IP_OPTIONS) rejects more and IP_RETOPTS truncates.
	MaxOptLen = header.IPv4MaxLen - header.IPv4MinLen

	// ipHdrLen is sizeof(struct iphdr): option offsets count from the header.
	ipHdrLen = header.IPv4MinLen
)

// Options mirrors struct ip_options (include/net/inet_sock.h) as
// __ip_options_compile leaves it for a socket's options.
type Options struct {
	// Faddr is the first address of a source route, taken out of the option
	// by Compile: udp_sendmsg routes to it instead of the destination.
	Faddr netip.Addr
	// Optlen is len(Data): the option bytes padded to a multiple of 4.
	Optlen int
	// Srr, Rr and Ts are the offsets of the source route, record route and
	// timestamp options from the start of the IP header (0: absent).
	Srr, Rr, Ts int
	// IsStrictroute is set for SSRR (udp_sendmsg then routes on-link only).
	IsStrictroute bool
	// SrrIsHit is only set on received packets; Compile leaves it false.
	SrrIsHit bool
	// IsChanged records that Compile rewrote bytes after an END option.
	IsChanged bool
	// RrNeedAddr: the record route has a free slot for our address.
	RrNeedAddr bool
	// TsNeedTime and TsNeedAddr: the timestamp has a slot for our time and,
	// for the address-and-timestamp flag, our address.
	TsNeedTime, TsNeedAddr bool
	// RouterAlert and Cipso are offsets from the IP header like Srr.
	RouterAlert, Cipso int
	// Data is the option area as Build copies it into the header (after
	// Compile's changes: source route shifted, pointers advanced, bytes after
	// END cleared).
	Data []byte
}

// RouteType is an RTN_* route type, the result of the kernel's
// inet_addr_type.
type RouteType uint8

// The route types inet_addr_type returns for IPv4 addresses.
const (
	RTNUnicast   RouteType = 1 // RTN_UNICAST: not in the local table
	RTNLocal     RouteType = 2 // RTN_LOCAL: an address of this host
	RTNBroadcast RouteType = 3 // RTN_BROADCAST
	RTNMulticast RouteType = 5 // RTN_MULTICAST
)

// Env is what __ip_options_compile asks of the world outside the option
// bytes. The zero value is a root caller in a namespace whose local table
// holds nothing DefaultAddrType does not know.
type Env struct {
	// NoNetRaw models a caller without CAP_NET_RAW in the socket's network
	// namespace (ns_capable(net->user_ns, CAP_NET_RAW) false). udpbuild runs
	// as root, so the zero value is the capable caller, for whom the kernel
	// accepts unknown options, SEC/SID, CIPSO's first check, unknown
	// timestamp flags and (since the 2026 hardening) source routes.
	NoNetRaw bool
	// AddrType mirrors inet_addr_type(net, addr): a pre-specified timestamp
	// address is stamped only when this is not RTNUnicast. Nil means
	// DefaultAddrType.
	AddrType func(netip.Addr) RouteType
}

// DefaultAddrType is inet_addr_type (__inet_dev_addr_type) for a namespace
// whose local table is empty: 0.0.0.0/8 and 255.255.255.255 are broadcast,
// 224.0.0.0/4 multicast, anything else unicast.
func DefaultAddrType(a netip.Addr) RouteType {
	a = a.Unmap()
	if t, ok := fixedAddrType(a); ok {
		return t
	}
	return RTNUnicast
}

// fixedAddrType holds the classes __inet_dev_addr_type decides before it
// looks at the local table.
func fixedAddrType(a netip.Addr) (RouteType, bool) {
	if !a.Is4() {
		return RTNUnicast, false
	}
	b := a.As4()
	switch {
	case b[0] == 0: // ipv4_is_zeronet
		return RTNBroadcast, true
	case b == [4]byte{255, 255, 255, 255}: // ipv4_is_lbcast
		return RTNBroadcast, true
	case b[0]&0xf0 == 0xe0: // ipv4_is_multicast
		return RTNMulticast, true
	}
	return 0, false
}

// LocalTable returns an AddrType for a namespace whose devices carry the
// given addresses: each address is RTNLocal and, for prefixes shorter than
// /31, the subnet broadcast is RTNBroadcast — the local-table routes
// fib_add_ifaddr creates (Linux 6.x adds no broadcast route for the network
// address itself). A loopback device that is up adds 127.0.0.0/8 as local;
// pass it as 127.0.0.1/8 if the namespace brings lo up.
func LocalTable(addrs ...netip.Prefix) func(netip.Addr) RouteType {
	ps := append([]netip.Prefix(nil), addrs...)
	return func(a netip.Addr) RouteType {
		a = a.Unmap()
		if t, ok := fixedAddrType(a); ok {
			return t
		}
		for _, p := range ps {
			pa := p.Addr().Unmap()
			if !pa.Is4() {
				continue
			}
			if pa.IsLoopback() && p.Contains(a) {
				return RTNLocal // the loopback prefix is a local route
			}
			if a == pa {
				return RTNLocal
			}
			if p.Bits() < 31 && a == broadcastOf(p) {
				return RTNBroadcast
			}
		}
		return RTNUnicast
	}
}

// broadcastOf is prefix | ~mask.
func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	for i := 3; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	return netip.AddrFrom4(b)
}

func (e Env) addrType(a netip.Addr) RouteType {
	if e.AddrType != nil {
		return e.AddrType(a)
	}
	return DefaultAddrType(a)
}

// ParseError is a rejection by __ip_options_compile. It unwraps to
// errno.EINVAL, the errno the kernel returns for bad option bytes (the only
// other refusal, EPERM for a source route without CAP_NET_RAW, is not a
// ParseError).
type ParseError struct {
	// Offset is the kernel's pp_ptr: the offending byte, counted from the
	// start of the IP header (the value an ICMP parameter problem would carry).
	Offset int
	// Reason says which check failed.
	Reason string
}

// Error describes the rejection.
func (e *ParseError) Error() string {
	return fmt.Sprintf("ip options: %s (byte %d of the header): %s", e.Reason, e.Offset, errno.EINVAL.Name())
}

// Unwrap makes errno.From and errors.Is see EINVAL.
func (e *ParseError) Unwrap() error { return errno.EINVAL }

// Compile is setsockopt(IP_OPTIONS) for a root caller with the default Env:
// see Env.Compile.
func Compile(raw []byte) (*Options, error) { return Env{}.Compile(raw) }

// Compile mirrors do_ip_setsockopt's IP_OPTIONS case: more than MaxOptLen
// bytes is EINVAL, otherwise ip_options_get. An empty buffer gives an empty,
// non-nil Options (the kernel installs an option set of length 0, which adds
// nothing to packets).
func (e Env) Compile(raw []byte) (*Options, error) {
	if len(raw) > MaxOptLen {
		return nil, fmt.Errorf("ip options: %d bytes, more than %d: %w", len(raw), MaxOptLen, errno.EINVAL)
	}
	return e.get(raw)
}

// CompileCmsg mirrors ip_cmsg_send's IP_RETOPTS case: the payload of the
// control message (cmsg_len - sizeof(struct cmsghdr) bytes) is cut to
// MaxOptLen bytes, not rejected, then given to ip_options_get. An empty
// payload gives an empty, non-nil Options, which replaces the socket's
// IP_OPTIONS for that send.
func (e Env) CompileCmsg(data []byte) (*Options, error) {
	if len(data) > MaxOptLen {
		data = data[:MaxOptLen]
	}
	return e.get(data)
}

// get mirrors ip_options_get: copy the bytes, pad them with IPOPT_END to a
// multiple of 4, compile unless empty, and refuse a source route to a caller
// without CAP_NET_RAW with EPERM (a 2026 hardening, "ipv4: restrict
// IPOPT_SSRR and IPOPT_LSRR options", present in the running 6.18 kernel;
// kernels before it accept source routes from anyone).
func (e Env) get(raw []byte) (*Options, error) {
	n := (len(raw) + 3) &^ 3
	data := make([]byte, n) // zero bytes are IPOPT_END padding
	copy(data, raw)
	opt := &Options{Optlen: n, Data: data}
	if n == 0 {
		return opt, nil
	}
	if err := e.compile(opt); err != nil {
		return nil, err
	}
	if opt.Srr != 0 && e.NoNetRaw {
		return nil, fmt.Errorf("ip options: source route without CAP_NET_RAW: %w", errno.EPERM)
	}
	return opt, nil
}

// compile mirrors __ip_options_compile(net, opt, NULL, NULL): it walks
// opt.Data, records where each option is and what it needs, and changes the
// bytes the way the kernel does for a socket's options (no route yet, so
// nothing is stamped here).
func (e Env) compile(opt *Options) error {
	d := opt.Data[:opt.Optlen]
	fail := func(at int, why string) error {
		return &ParseError{Offset: at + ipHdrLen, Reason: why}
	}
	w := header.WalkIPv4Options(d)
	for w.Next() {
		o := w.Option().Bytes
		p, optlen := w.Option().Offset, len(o)
		switch o[0] {
		case header.IPv4OptSSRR, header.IPv4OptLSRR:
			if optlen < 3 {
				return fail(p+1, "source route shorter than 3 bytes")
			}
			if o[2] < 4 {
				return fail(p+2, "source route pointer below 4")
			}
			if opt.Srr != 0 { // RFC 1812 5.2.4.1: one source route only
				return fail(p, "second source route")
			}
			// skb == NULL: a socket's route must start at its first slot
			// and hold whole addresses, at least one.
			if o[2] != 4 || optlen < 7 || (optlen-3)&3 != 0 {
				return fail(p+1, "source route pointer not 4 or length not 3+4n (n>=1)")
			}
			// The first hop goes to Faddr (udp_sendmsg routes to it); the
			// rest move up one slot, leaving the last slot as it was, for
			// Build to fill with the real destination.
			opt.Faddr = netip.AddrFrom4([4]byte(o[3:7]))
			if optlen > 7 {
				copy(o[3:], o[7:optlen])
			}
			opt.IsStrictroute = o[0] == header.IPv4OptSSRR
			opt.Srr = p + ipHdrLen
		case header.IPv4OptRR:
			if opt.Rr != 0 {
				return fail(p, "second record route")
			}
			if optlen < 3 {
				return fail(p+1, "record route shorter than 3 bytes")
			}
			if o[2] < 4 {
				return fail(p+2, "record route pointer below 4")
			}
			if int(o[2]) <= optlen {
				if int(o[2])+3 > optlen {
					return fail(p+2, "record route pointer at a partial slot")
				}
				// Reserve the slot; Build writes our address into it.
				o[2] += 4
				opt.RrNeedAddr = true
			}
			opt.Rr = p + ipHdrLen
		case header.IPv4OptTimestamp:
			if opt.Ts != 0 {
				return fail(p, "second timestamp")
			}
			if optlen < 4 {
				return fail(p+1, "timestamp shorter than 4 bytes")
			}
			if o[2] < 5 {
				return fail(p+2, "timestamp pointer below 5")
			}
			ptr := int(o[2])
			if ptr <= optlen {
				if ptr+3 > optlen {
					return fail(p+2, "timestamp pointer at a partial slot")
				}
				switch o[3] & 0xf {
				case header.IPv4TSOnly:
					opt.TsNeedTime = true
					o[2] += 4
				case header.IPv4TSAndAddr:
					if ptr+7 > optlen {
						return fail(p+2, "timestamp pointer at a partial address+time slot")
					}
					opt.TsNeedAddr = true
					opt.TsNeedTime = true
					o[2] += 8
				case header.IPv4TSPrespec:
					if ptr+7 > optlen {
						return fail(p+2, "timestamp pointer at a partial address+time slot")
					}
					// Only a pre-specified address that is not routed
					// elsewhere (local, broadcast, ...) gets our stamp.
					addr := netip.AddrFrom4([4]byte(o[ptr-1 : ptr+3]))
					if e.addrType(addr) != RTNUnicast {
						opt.TsNeedTime = true
						o[2] += 8
					}
				default:
					if e.NoNetRaw {
						return fail(p+3, "unknown timestamp flag without CAP_NET_RAW")
					}
				}
			} else if o[3]&0xf != header.IPv4TSPrespec {
				// A full timestamp option: the overflow counter (high
				// nibble) must still have room; with skb == NULL it is not
				// incremented.
				if o[3]>>4 == 15 {
					return fail(p+3, "timestamp overflow counter at 15")
				}
			}
			opt.Ts = p + ipHdrLen
		case header.IPv4OptRA:
			if optlen < 4 {
				return fail(p+1, "router alert shorter than 4 bytes")
			}
			if o[2] == 0 && o[3] == 0 {
				opt.RouterAlert = p + ipHdrLen
			}
		case header.IPv4OptCIPSO:
			if e.NoNetRaw || opt.Cipso != 0 {
				return fail(p, "CIPSO without CAP_NET_RAW or repeated")
			}
			opt.Cipso = p + ipHdrLen
			// cipso_v4_validate: an option shorter than 8 bytes fails at
			// its length, any other at its DOI, because udpbuild models a
			// namespace with no CIPSO DOI configured (NetLabel's default).
			if optlen < 8 {
				return fail(p+1, "CIPSO shorter than 8 bytes")
			}
			return fail(p+2, "CIPSO DOI not configured")
		default: // IPOPT_SEC, IPOPT_SID and unknown options
			if e.NoNetRaw {
				return fail(p, fmt.Sprintf("option 0x%02x without CAP_NET_RAW", o[0]))
			}
		}
	}
	var bad *header.IPv4OptionError
	if errors.As(w.Err(), &bad) {
		if bad.Left < 2 {
			return fail(bad.Offset, "option type without a length byte")
		}
		return fail(bad.Offset, fmt.Sprintf("option 0x%02x length %d with %d bytes left", bad.Type, bad.Len, bad.Left))
	}
	if end, ok := w.End(); ok {
		// Everything after END must be END; the kernel rewrites it.
		for p := end + 1; p < len(d); p++ {
			if d[p] != header.IPv4OptEnd {
				d[p] = header.IPv4OptEnd
				opt.IsChanged = true
			}
		}
	}
	return nil
}

// FirstHop is the address udp_sendmsg routes to when the options carry a
// source route: Faddr, the route's first hop, with ok true. Without a
// source route (or without options) ok is false and the caller routes to the
// destination. udp_sendmsg also fails with EINVAL when there is a source
// route and the destination is 0.0.0.0; that check belongs to the caller,
// who knows the destination.
func FirstHop(opt *Options) (netip.Addr, bool) {
	if opt == nil || opt.Srr == 0 {
		return netip.Addr{}, false
	}
	return opt.Faddr, true
}
