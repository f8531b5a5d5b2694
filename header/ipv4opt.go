package header

import "fmt"

// IPv4 option types and timestamp flags of <uapi/linux/ip.h>.
const (
	IPv4OptEnd       = 0x00 // IPOPT_END
	IPv4OptNoop      = 0x01 // IPOPT_NOOP
	IPv4OptRR        = 0x07 // IPOPT_RR
	IPv4OptTimestamp = 0x44 // IPOPT_TIMESTAMP
	IPv4OptSEC       = 0x82 // IPOPT_SEC
	IPv4OptLSRR      = 0x83 // IPOPT_LSRR
	IPv4OptCIPSO     = 0x86 // IPOPT_CIPSO
	IPv4OptSID       = 0x88 // IPOPT_SID
	IPv4OptSSRR      = 0x89 // IPOPT_SSRR
	IPv4OptRA        = 0x94 // IPOPT_RA

	// IPv4OptCopied is the bit IPOPT_COPIED tests: an option with it set
	// is repeated in every fragment.
	IPv4OptCopied = 0x80

	IPv4TSOnly    = 0 // IPOPT_TS_TSONLY: timestamps only
	IPv4TSAndAddr = 1 // IPOPT_TS_TSANDADDR: address and timestamp pairs
	IPv4TSPrespec = 3 // IPOPT_TS_PRESPEC: timestamps for pre-listed addresses
)

// IPv4Option is one option of an IPv4 header's option area.
type IPv4Option struct {
	// Type is the option's first byte.
	Type uint8
	// Offset is where it starts, from the start of the walked area (add
	// IPv4MinLen for the offset in the header).
	Offset int
	// Bytes is the whole option, type and length bytes included: a slice
	// of the walked area, which the walker's user may write to.
	Bytes []byte
}

// IPv4OptionError is a malformed option that ended a walk: its type byte
// has no length byte after it (Len 0), or its length is below 2 or runs
// past the area (Left bytes were left from the option's start).
type IPv4OptionError struct {
	Offset int
	Type   uint8
	Len    int
	Left   int
}

func (e *IPv4OptionError) Error() string {
	if e.Left < 2 {
		return fmt.Sprintf("IPv4 option %d at byte %d has no length", e.Type, e.Offset)
	}
	return fmt.Sprintf("IPv4 option %d at byte %d: length %d outside 2..%d", e.Type, e.Offset, e.Len, e.Left)
}

// IPv4OptionWalker walks an IPv4 header's option area the way every walk of
// the kernel's does (__ip_options_compile, ip_options_fragment, ...):
// IPOPT_END ends the list, IPOPT_NOOP is one byte and is stepped over, and
// any other option is its type, a length byte of at least 2 and the rest,
// all within the area. It yields the options other than END and NOOP; a
// malformed one ends the walk with an *IPv4OptionError. It reads only the
// bytes it is given and cannot panic on any input. Use it like
// bufio.Scanner:
//
//	w := header.WalkIPv4Options(ip.Options())
//	for w.Next() {
//		o := w.Option()
//		...
//	}
//	if err := w.Err(); err != nil { ... }
type IPv4OptionWalker struct {
	b    []byte
	off  int
	cur  IPv4Option
	err  *IPv4OptionError
	end  int // offset of the IPOPT_END that stopped the walk, or -1
	done bool
}

// WalkIPv4Options starts a walk over b, an IPv4 header's option area.
func WalkIPv4Options(b []byte) IPv4OptionWalker {
	return IPv4OptionWalker{b: b, end: -1}
}

// Next steps to the next option and reports whether there is one. It
// returns false at IPOPT_END, at the end of the area, or on a malformed
// option (see Err).
func (w *IPv4OptionWalker) Next() bool {
	if w.done {
		return false
	}
	for w.off < len(w.b) && w.b[w.off] == IPv4OptNoop {
		w.off++
	}
	left := len(w.b) - w.off
	switch {
	case left == 0:
		w.done = true
		return false
	case w.b[w.off] == IPv4OptEnd:
		w.end, w.done = w.off, true
		return false
	case left < 2:
		w.err = &IPv4OptionError{Offset: w.off, Type: w.b[w.off], Left: left}
		w.done = true
		return false
	}
	n := int(w.b[w.off+1])
	if n < 2 || n > left {
		w.err = &IPv4OptionError{Offset: w.off, Type: w.b[w.off], Len: n, Left: left}
		w.done = true
		return false
	}
	w.cur = IPv4Option{Type: w.b[w.off], Offset: w.off, Bytes: w.b[w.off : w.off+n : w.off+n]}
	w.off += n
	return true
}

// Option is the option Next stepped to.
func (w *IPv4OptionWalker) Option() IPv4Option { return w.cur }

// Err is the malformed option that ended the walk, nil if there was none.
func (w *IPv4OptionWalker) Err() error {
	if w.err == nil {
		return nil
	}
	return w.err
}

// End is, once Next has returned false, the offset of the IPOPT_END that
// stopped the walk; ok is false when the walk ran to the end of the area
// or stopped at an error.
func (w *IPv4OptionWalker) End() (offset int, ok bool) { return w.end, w.end >= 0 }
