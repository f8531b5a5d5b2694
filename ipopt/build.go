package ipopt

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
)

// CurrentTimestamp mirrors inet_current_timestamp: milliseconds since
// midnight UTC, the value an IP timestamp slot holds (Build writes it in
// network byte order).
func CurrentTimestamp(t time.Time) uint32 {
	secs := t.Unix() % 86400
	if secs < 0 { // before 1970: the kernel never sees one, keep it in range
		secs += 86400
	}
	return uint32(secs)*1000 + uint32(t.Nanosecond())/1e6
}

// Build mirrors ip_options_build as __ip_make_skb calls it (Linux 6.x has no
// is_frag argument any more: the whole datagram is built first and
// ip_options_fragment fixes later fragments). It copies opt.Data into dst,
// the option area right after the 20-byte header (len(dst) must be
// opt.Optlen), then:
//   - a source route gets daddr, the real destination, in its last slot
//     (the header's destination field holds the first hop, see FirstHop);
//   - a record route with room gets saddr (ip_rt_get_source: for an output
//     route, the header's source address) in the slot Compile reserved;
//   - a timestamp with room gets saddr and/or clock() in its reserved slot.
//
// clock returns milliseconds since midnight UTC (see CurrentTimestamp); nil
// means CurrentTimestamp(time.Now()). A nil opt writes nothing and needs an
// empty dst. Options that Compile could not have produced give an EINVAL
// error rather than a write out of bounds.
func Build(dst []byte, opt *Options, daddr, saddr netip.Addr, clock func() uint32) error {
	if opt == nil {
		if len(dst) != 0 {
			return fmt.Errorf("ip options build: no options but %d header bytes: %w", len(dst), errno.EINVAL)
		}
		return nil
	}
	if opt.Optlen != len(opt.Data) || len(dst) != opt.Optlen {
		return fmt.Errorf("ip options build: optlen %d, %d data bytes, %d header bytes: %w",
			opt.Optlen, len(opt.Data), len(dst), errno.EINVAL)
	}
	copy(dst, opt.Data)

	// put writes 4 bytes at dst[at], refusing what the kernel's trust in
	// its own compile would let run off the option area.
	put := func(what string, at int, v [4]byte) error {
		if at < 0 || at+4 > len(dst) {
			return fmt.Errorf("ip options build: %s slot at option byte %d of %d: %w", what, at, len(dst), errno.EINVAL)
		}
		copy(dst[at:at+4], v[:])
		return nil
	}
	// field reads byte i of the option at header offset off.
	field := func(off, i int) (int, bool) {
		at := off - ipHdrLen + i
		if off < ipHdrLen || at >= len(dst) {
			return 0, false
		}
		return int(dst[at]), true
	}
	addr4 := func(what string, a netip.Addr) ([4]byte, error) {
		a = a.Unmap()
		if !a.Is4() {
			return [4]byte{}, fmt.Errorf("ip options build: %s %v is not IPv4: %w", what, a, errno.EINVAL)
		}
		return a.As4(), nil
	}

	if opt.Srr != 0 {
		n, ok := field(opt.Srr, 1)
		if !ok {
			return fmt.Errorf("ip options build: source route offset %d: %w", opt.Srr, errno.EINVAL)
		}
		v, err := addr4("destination", daddr)
		if err != nil {
			return err
		}
		if err := put("source route", opt.Srr-ipHdrLen+n-4, v); err != nil {
			return err
		}
	}
	if opt.RrNeedAddr {
		ptr, ok := field(opt.Rr, 2)
		if !ok {
			return fmt.Errorf("ip options build: record route offset %d: %w", opt.Rr, errno.EINVAL)
		}
		v, err := addr4("source", saddr)
		if err != nil {
			return err
		}
		if err := put("record route", opt.Rr-ipHdrLen+ptr-5, v); err != nil {
			return err
		}
	}
	if opt.TsNeedAddr || opt.TsNeedTime {
		ptr, ok := field(opt.Ts, 2)
		if !ok {
			return fmt.Errorf("ip options build: timestamp offset %d: %w", opt.Ts, errno.EINVAL)
		}
		if opt.TsNeedAddr {
			v, err := addr4("source", saddr)
			if err != nil {
				return err
			}
			if err := put("timestamp address", opt.Ts-ipHdrLen+ptr-9, v); err != nil {
				return err
			}
		}
		if opt.TsNeedTime {
			var ms uint32
			if clock != nil {
				ms = clock()
			} else {
				ms = CurrentTimestamp(time.Now())
			}
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], ms)
			if err := put("timestamp", opt.Ts-ipHdrLen+ptr-5, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fragment mirrors ip_options_fragment: given the option area of the first
// fragment's header, it returns that of every later fragment — the same
// length, with each option whose copied flag (0x80) is clear overwritten by
// NOOP bytes. Like the kernel it stops, leaving the rest as is, at an END
// option or at a length byte that is out of range (the kernel reads one
// byte past the options for the length of a last lone type byte; any value
// there ends its walk, as the end of the area ends ours); opts itself is
// not changed. (The kernel also clears the rr/ts fields of the fragment's
// control block, which only matters to ip_forward_options on a router.)
func Fragment(opts []byte) []byte {
	out := append([]byte(nil), opts...)
	w := header.WalkIPv4Options(out)
	for w.Next() {
		if o := w.Option().Bytes; o[0]&header.IPv4OptCopied == 0 {
			for i := range o {
				o[i] = header.IPv4OptNoop
			}
		}
	}
	return out
}

// Undo mirrors ip_options_undo, which getsockopt(IP_OPTIONS) applies to a
// copy of the socket's options before handing them back: the source route
// gets its first hop back in front, and the slots Compile reserved in the
// record route and timestamp are released (pointer moved back, slot zeroed).
// It returns a new slice; opt is not changed. Bytes Compile rewrote after an
// END stay rewritten, as in the kernel. A nil opt gives nil.
func Undo(opt *Options) []byte {
	if opt == nil {
		return nil
	}
	d := append([]byte(nil), opt.Data...)
	at := func(off int) []byte { // the option at header offset off
		i := off - ipHdrLen
		if i < 0 || i+3 > len(d) {
			return nil
		}
		return d[i:]
	}
	zero := func(o []byte, ptr int) {
		if ptr >= 1 && ptr-1+4 <= len(o) {
			clear(o[ptr-1 : ptr+3])
		}
	}
	if opt.Srr != 0 {
		if o := at(opt.Srr); o != nil && opt.Faddr.Unmap().Is4() && int(o[1]) >= 7 && int(o[1]) <= len(o) {
			n := int(o[1])
			copy(o[7:n], o[3:n-4])
			f := opt.Faddr.Unmap().As4()
			copy(o[3:7], f[:])
		}
	}
	if opt.RrNeedAddr {
		if o := at(opt.Rr); o != nil {
			o[2] -= 4
			zero(o, int(o[2]))
		}
	}
	if opt.Ts != 0 {
		if o := at(opt.Ts); len(o) >= 4 {
			if opt.TsNeedTime {
				o[2] -= 4
				zero(o, int(o[2]))
				if o[3]&0xf == header.IPv4TSPrespec {
					o[2] -= 4
				}
			}
			if opt.TsNeedAddr {
				o[2] -= 4
				zero(o, int(o[2]))
			}
		}
	}
	return d
}
