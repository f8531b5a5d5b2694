package header

import (
	"errors"
	"fmt"
)

// Errors an extension-header walk can end with; an *IPv6ExtError wraps one.
var (
	// ErrExtTruncated: a header (its length byte, or the length it states)
	// runs past the end of the walked bytes.
	ErrExtTruncated = errors.New("header runs past the end of the packet")
	// ErrHopByHopNotFirst: a hop-by-hop options header anywhere but right
	// after the fixed header (RFC 8200 4.1; the kernel's receive path
	// answers it with an ICMPv6 parameter problem).
	ErrHopByHopNotFirst = errors.New("hop-by-hop options not directly after the IPv6 header")
)

// IPv6ExtError is the error found at one header of an extension-header chain.
type IPv6ExtError struct {
	// Offset is where the offending header starts, from the start of the
	// walked bytes (the first byte after the fixed IPv6 header).
	Offset int
	// Type is the Next Header value that named it.
	Type uint8
	// Err is ErrExtTruncated or ErrHopByHopNotFirst.
	Err error
}

func (e *IPv6ExtError) Error() string {
	return fmt.Sprintf("IPv6 %s header at offset %d: %v", NextHdrName(e.Type), e.Offset, e.Err)
}

// Unwrap gives the sentinel error, for errors.Is.
func (e *IPv6ExtError) Unwrap() error { return e.Err }

// NextHdrName is a short name for a Next Header value, for messages.
func NextHdrName(t uint8) string {
	switch t {
	case NextHdrHop:
		return "hop-by-hop"
	case NextHdrRouting:
		return "routing"
	case NextHdrFragment:
		return "fragment"
	case NextHdrDest:
		return "destination options"
	case NextHdrAuth:
		return "AH"
	case NextHdrESP:
		return "ESP"
	case NextHdrNone:
		return "no-next-header"
	case NextHdrICMP:
		return "ICMPv6"
	case ProtoUDP:
		return "UDP"
	case ProtoUDPLite:
		return "UDP-Lite"
	}
	return fmt.Sprintf("protocol %d", t)
}

// IPv6ExtHeader is one extension header of a chain.
type IPv6ExtHeader struct {
	// Type is the Next Header value that named this header (NextHdrHop,
	// NextHdrRouting, NextHdrFragment, NextHdrDest or NextHdrAuth).
	Type uint8
	// Offset is where it starts, from the start of the walked bytes.
	Offset int
	// Bytes is the whole header, a slice of the walked bytes.
	Bytes []byte
}

// Next is the header's Next Header field.
func (x IPv6ExtHeader) Next() uint8 { return x.Bytes[0] }

// Fragment is the header as a fragment header view, if it is one.
func (x IPv6ExtHeader) Fragment() (IPv6Fragment, bool) {
	if x.Type != NextHdrFragment {
		return nil, false
	}
	return IPv6Fragment(x.Bytes), true
}

// IPv6ExtWalker walks the extension-header chain after a fixed IPv6 header,
// as the kernel's ipv6_skip_exthdr does: it steps over hop-by-hop, routing,
// destination options, AH and fragment headers, by their own length rules
// (IPv6ExtLen), and stops at the first other Next Header value (the upper
// layer, ESP or no-next-header) or after a fragment header whose offset is
// not 0, since what follows that is a piece of the packet, not a header.
// In addition it refuses a hop-by-hop header that is not first.
//
// The walk reads only the bytes it is given and advances at least eight a
// header, so it takes at most len(b)/8 steps and cannot panic on any input;
// a malformed chain ends it with an *IPv6ExtError. Use it like
// bufio.Scanner:
//
//	w := header.WalkIPv6Ext(ip.NextHeader(), ip.Payload())
//	for w.Next() {
//		h := w.Header()
//		...
//	}
//	if err := w.Err(); err != nil { ... }
//	proto, off := w.Upper()
type IPv6ExtWalker struct {
	b        []byte
	next     uint8
	off      int
	cur      IPv6ExtHeader
	err      error
	done     bool
	nonFirst bool
}

// WalkIPv6Ext starts a walk over b, the bytes after a fixed IPv6 header
// (bounded by its payload length), whose Next Header field is first.
func WalkIPv6Ext(first uint8, b []byte) IPv6ExtWalker {
	return IPv6ExtWalker{b: b, next: first}
}

// Next steps to the next extension header and reports whether there is one.
// It returns false at the end of the chain or on an error (see Err).
func (w *IPv6ExtWalker) Next() bool {
	if w.done {
		return false
	}
	typ := w.next
	switch typ {
	case NextHdrHop, NextHdrRouting, NextHdrDest, NextHdrAuth, NextHdrFragment:
	default:
		w.done = true
		return false
	}
	if typ == NextHdrHop && w.off != 0 {
		return w.fail(ErrHopByHopNotFirst)
	}
	rest := w.b[w.off:]
	n, ok := IPv6ExtLen(typ, rest)
	if !ok || n > len(rest) {
		return w.fail(ErrExtTruncated)
	}
	w.cur = IPv6ExtHeader{Type: typ, Offset: w.off, Bytes: rest[:n:n]}
	w.next = rest[0]
	w.off += n
	if typ == NextHdrFragment && IPv6Fragment(w.cur.Bytes).Offset() != 0 {
		// ipv6_skip_exthdr: "if (ntohs(*fp) & ~0x7) break;"
		w.nonFirst = true
		w.done = true
	}
	return true
}

func (w *IPv6ExtWalker) fail(err error) bool {
	w.err = &IPv6ExtError{Offset: w.off, Type: w.next, Err: err}
	w.done = true
	return false
}

// Header is the header Next stepped to.
func (w *IPv6ExtWalker) Header() IPv6ExtHeader { return w.cur }

// Err is the error that ended the walk, nil if it ended at the upper layer
// (or has not ended).
func (w *IPv6ExtWalker) Err() error { return w.err }

// Upper is, once Next has returned false without an error, the Next Header
// value after the last extension header and the offset where that header
// starts (len(b) when nothing follows). After a non-first fragment
// (NonFirstFragment) the bytes at offset are a piece of that header's
// packet, not its start.
func (w *IPv6ExtWalker) Upper() (proto uint8, offset int) { return w.next, w.off }

// NonFirstFragment reports whether the walk stopped at a fragment header
// with a non-zero offset.
func (w *IPv6ExtWalker) NonFirstFragment() bool { return w.nonFirst }
