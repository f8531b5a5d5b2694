// Package pcapread reads pcap and pcapng files one record at a time, in
// memory that does not depend on the file: one read buffer, one table of
// interfaces per pcapng section, nothing per frame.
//
// Records are numbered as Wireshark (4.0) numbers frames: from 1, counting
// every pcapng block it shows as a frame (enhanced, simple and obsolete
// packet blocks, and also systemd journal, custom and sysdig event blocks,
// which hold no packet), so that a frame number can be typed into
// Wireshark's "Go to packet".
//
// pcapgo, which verify used before, reads a whole record into a new slice
// whatever length the file claims and keeps every interface, name and
// secret of a pcapng file; a capture of any size in constant memory needs
// neither.
package pcapread

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/gopacket/gopacket/layers"
)

// MaxCapLen is the longest record read: libpcap's MAXIMUM_SNAPLEN and
// Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD. A pcapng packet block claiming
// more is skipped (its block length says where the next one starts); a pcap
// record claiming more ends the reading, as in Wireshark, since its length
// is all that frames the next record.
const MaxCapLen = 262144

// MaxInterfaces bounds the interfaces of one pcapng section, so that a
// file of nothing but interface blocks cannot fill memory.
const MaxInterfaces = 1 << 16

// bufSize is the read buffer: a record of MaxCapLen bytes and its headers
// fit, so a frame's bytes are handed out from it without a copy.
const bufSize = 1 << 20

// idbOptionBytes is how much of an interface block's options is parsed;
// options past it (a very long comment, say) are skipped unread.
const idbOptionBytes = 1 << 16

// Format is the kind of capture file.
type Format int

// Formats.
const (
	PCAP Format = iota + 1
	PCAPNG
)

func (f Format) String() string {
	switch f {
	case PCAP:
		return "pcap"
	case PCAPNG:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Record is one frame of the file.
type Record struct {
	// Frame is Wireshark's frame number, from 1.
	Frame int
	// Interface is the pcapng interface (within its section); 0 in pcap.
	Interface int
	// LinkType is the link type of the record's interface.
	LinkType layers.LinkType
	// Time is the capture time in nanoseconds since 1970; HasTime is
	// false for a record that has none (a simple packet block).
	Time    int64
	HasTime bool
	// CapLen is len(Data); OrigLen the frame's length on the wire
	// (never below CapLen).
	CapLen, OrigLen int
	// Data is the captured bytes, valid until the next call to Next.
	Data []byte
	// Packet is false for a record that holds no packet: a non-packet
	// block Wireshark numbers, or a packet block not read (Skipped).
	Packet bool
	// Skipped says why a packet block was not read ("" if it was).
	Skipped string
}

// Error is damage that ends the reading: the file is cut short or a
// record's framing cannot be trusted. Frame is the number the record would
// have had (0 for the file header).
type Error struct {
	Frame int
	// Truncated is set when the file simply ends early.
	Truncated bool
	Msg       string
}

func (e *Error) Error() string { return e.Msg }

// Reader reads records.
type Reader struct {
	br     *bufio.Reader
	format Format
	frame  int
	// pending is what is left of the previous record's block, skipped
	// at the start of the next call (its bytes were handed out).
	pending int64
	// trailer is the block length a pcapng block must end with (0 for
	// pcap).
	trailer uint32
	rec     Record

	// pcap
	order    binary.ByteOrder
	linkType layers.LinkType
	nano     bool
	modified bool // Alexey Kuznetsov's patched format: 8 more bytes a record

	// pcapng
	ifaces []iface
}

// iface is what the reader keeps of a pcapng interface.
type iface struct {
	linkType layers.LinkType
	snaplen  uint32
	// tsres is if_tsresol: the exponent, base 2 when binary is set.
	tsres  uint8
	binary bool
	offset int64 // if_tsoffset, seconds
}

// Capture file magics, as the first four bytes appear in the file.
var (
	magicPcapLE     = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapBE     = []byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNanoLE = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNanoBE = []byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapModLE  = []byte{0x34, 0xcd, 0xb2, 0xa1}
	magicPcapModBE  = []byte{0xa1, 0xb2, 0xcd, 0x34}
	magicPcapng     = []byte{0x0a, 0x0d, 0x0d, 0x0a}
	magicGzip       = []byte{0x1f, 0x8b}
	magicZstd       = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicLZ4        = []byte{0x04, 0x22, 0x4d, 0x18}
)

// NewReader reads the file header of a pcap or pcapng file (told apart by
// magic; either may be gzip-compressed). It fails with a message naming
// what the input is when it is not a capture.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	head, err := br.Peek(4)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read: %w", err)
		}
		return nil, errors.New("empty input")
	}
	if bytes.HasPrefix(head, magicGzip) {
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			return nil, fmt.Errorf("gzip: %w", gerr)
		}
		br = bufio.NewReaderSize(gz, bufSize)
		head, err = br.Peek(4)
		if len(head) == 0 {
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("gzip: %w", err)
			}
			return nil, errors.New("empty input (inside gzip)")
		}
		if bytes.HasPrefix(head, magicGzip) {
			return nil, errors.New("gzip inside gzip is not read")
		}
	}
	rd := &Reader{br: br}
	switch {
	case bytes.Equal(head, magicPcapng):
		rd.format = PCAPNG
		if err := rd.sectionHeader(); err != nil {
			return nil, err
		}
	case bytes.Equal(head, magicPcapLE), bytes.Equal(head, magicPcapBE),
		bytes.Equal(head, magicPcapNanoLE), bytes.Equal(head, magicPcapNanoBE),
		bytes.Equal(head, magicPcapModLE), bytes.Equal(head, magicPcapModBE):
		rd.format = PCAP
		if err := rd.pcapHeader(); err != nil {
			return nil, err
		}
	case bytes.Equal(head, magicZstd):
		return nil, errors.New("a zstd-compressed file: decompress it first (zstd -d)")
	case bytes.Equal(head, magicLZ4):
		return nil, errors.New("an lz4-compressed file: decompress it first (lz4 -d)")
	default:
		return nil, fmt.Errorf("not a pcap or pcapng file (magic % x)", head)
	}
	return rd, nil
}

// Format says which kind of file is read.
func (r *Reader) Format() Format { return r.format }

// LinkType is a pcap file's link type (0 for pcapng, whose interfaces each
// have their own).
func (r *Reader) LinkType() layers.LinkType { return r.linkType }

// Next returns the next record; io.EOF at the end of the file, *Error when
// the file is damaged. The record and its Data are valid until the next
// call.
func (r *Reader) Next() (*Record, error) {
	if r.format == PCAP {
		return r.nextPcap()
	}
	return r.nextPcapng()
}

// ---- pcap ----

func (r *Reader) pcapHeader() error {
	h, err := r.br.Peek(24)
	if len(h) < 24 {
		return fmt.Errorf("pcap header: %d of 24 bytes (%w)", len(h), eofOr(err))
	}
	switch {
	case bytes.Equal(h[:4], magicPcapLE), bytes.Equal(h[:4], magicPcapNanoLE), bytes.Equal(h[:4], magicPcapModLE):
		r.order = binary.LittleEndian
	default:
		r.order = binary.BigEndian
	}
	m := r.order.Uint32(h[:4])
	r.nano = m == 0xa1b23c4d
	r.modified = m == 0xa1b2cd34
	if major := r.order.Uint16(h[4:6]); major != 2 {
		return fmt.Errorf("pcap header: version %d.%d, only 2.x is read", major, r.order.Uint16(h[6:8]))
	}
	// The low 16 bits are the link type; the rest carry FCS
	// information, which the IP total length makes irrelevant here.
	r.linkType = layers.LinkType(r.order.Uint32(h[20:24]) & 0xffff)
	_, _ = r.br.Discard(24)
	return nil
}

func (r *Reader) nextPcap() (*Record, error) {
	if err := r.skipPending(); err != nil {
		return nil, err
	}
	hlen := 16
	if r.modified {
		hlen = 24
	}
	h, err := r.br.Peek(hlen)
	if len(h) == 0 && (err == io.EOF) {
		return nil, io.EOF
	}
	frame := r.frame + 1
	if len(h) < hlen {
		return nil, r.cut(frame, err, "file ends inside frame %d's record header (%d of %d bytes)", frame, len(h), hlen)
	}
	sec, frac := int64(r.order.Uint32(h[0:4])), int64(r.order.Uint32(h[4:8]))
	caplen, origlen := r.order.Uint32(h[8:12]), r.order.Uint32(h[12:16])
	if caplen > MaxCapLen {
		return nil, &Error{Frame: frame, Msg: fmt.Sprintf("frame %d: record claims %d captured bytes, more than %d (tshark: \"pcap: File has %d-byte packet, bigger than maximum of %d\"); the records after it cannot be found", frame, caplen, MaxCapLen, caplen, MaxCapLen)}
	}
	_, _ = r.br.Discard(hlen)
	data, err := r.br.Peek(int(caplen))
	if len(data) < int(caplen) {
		return nil, r.cut(frame, err, "file ends inside frame %d (%d of %d bytes)", frame, len(data), caplen)
	}
	r.pending = int64(caplen)
	r.frame = frame
	if !r.nano {
		frac *= 1000
	}
	r.rec = Record{Frame: frame, LinkType: r.linkType, Time: sec*1e9 + frac, HasTime: true,
		CapLen: int(caplen), OrigLen: int(max(origlen, caplen)), Data: data, Packet: true}
	return &r.rec, nil
}

// ---- pcapng ----

// pcapng block types.
const (
	blockSHB        = 0x0a0d0d0a
	blockIDB        = 0x00000001
	blockPB         = 0x00000002 // obsolete packet block
	blockSPB        = 0x00000003
	blockEPB        = 0x00000006
	blockJournal    = 0x00000009
	blockCustom     = 0x00000bad
	blockCustomNoCp = 0x40000bad
)

// sysdigEvent are the sysdig event block types Wireshark shows as frames.
var sysdigEvent = map[uint32]bool{0x204: true, 0x208: true, 0x216: true, 0x217: true, 0x221: true, 0x222: true}

// minBlock are the shortest valid total lengths.
var minBlock = map[uint32]uint32{blockSHB: 28, blockIDB: 20, blockPB: 32, blockSPB: 16, blockEPB: 32}

func (r *Reader) u16(b []byte) uint16 { return r.order.Uint16(b) }
func (r *Reader) u32(b []byte) uint32 { return r.order.Uint32(b) }

// sectionHeader reads a section header block at the read position.
func (r *Reader) sectionHeader() error {
	h, err := r.br.Peek(12)
	if len(h) < 12 {
		return r.cut(r.frame+1, err, "file ends inside a section header block")
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:12]) == 0x1a2b3c4d:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:12]) == 0x1a2b3c4d:
		r.order = binary.BigEndian
	default:
		return &Error{Frame: r.frame + 1, Msg: fmt.Sprintf("pcapng section header: byte-order magic % x is neither 1a2b3c4d nor 4d3c2b1a", h[8:12])}
	}
	total := r.u32(h[4:8])
	if err := r.checkLength(blockSHB, total); err != nil {
		return err
	}
	h, err = r.br.Peek(16)
	if len(h) < 16 {
		return r.cut(r.frame+1, err, "file ends inside a section header block")
	}
	if major := r.u16(h[12:14]); major != 1 {
		return &Error{Frame: r.frame + 1, Msg: fmt.Sprintf("pcapng section header: version %d.%d, only 1.x is read", major, r.u16(h[14:16]))}
	}
	r.ifaces = r.ifaces[:0]
	r.pending, r.trailer = int64(total)-4, total
	return nil
}

// checkLength refuses a block length no writer produces.
func (r *Reader) checkLength(typ, total uint32) error {
	if total%4 != 0 {
		return &Error{Frame: r.frame + 1, Msg: fmt.Sprintf("pcapng block of type 0x%x: total length %d is not a multiple of 4", typ, total)}
	}
	minLen := uint32(12)
	if m, ok := minBlock[typ]; ok {
		minLen = m
	}
	if total < minLen {
		return &Error{Frame: r.frame + 1, Msg: fmt.Sprintf("pcapng block of type 0x%x: total length %d, the shortest is %d", typ, total, minLen)}
	}
	return nil
}

// skipPending skips what is left of the previous block and checks its
// trailing length.
func (r *Reader) skipPending() error {
	if r.pending > 0 {
		n, err := discard(r.br, r.pending)
		r.pending -= n
		if err != nil {
			return r.cut(r.frame+1, err, "file ends inside a block (after frame %d)", r.frame)
		}
	}
	if r.trailer != 0 {
		t, err := r.br.Peek(4)
		if len(t) < 4 {
			return r.cut(r.frame+1, err, "file ends inside a block (after frame %d)", r.frame)
		}
		if got := r.u32(t); got != r.trailer {
			return &Error{Frame: r.frame, Msg: fmt.Sprintf("pcapng block after frame %d: total length %d at its start, %d at its end (tshark: \"total block lengths don't match\")", r.frame, r.trailer, got)}
		}
		_, _ = r.br.Discard(4)
		r.trailer = 0
	}
	return nil
}

// discard skips n bytes without holding them.
func discard(br *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		step := int(min(n-done, 1<<30))
		k, err := br.Discard(step)
		done += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (r *Reader) nextPcapng() (*Record, error) {
	for {
		if err := r.skipPending(); err != nil {
			return nil, err
		}
		h, err := r.br.Peek(8)
		if len(h) == 0 && err == io.EOF {
			return nil, io.EOF
		}
		if len(h) < 8 {
			return nil, r.cut(r.frame+1, err, "file ends inside a block header (after frame %d)", r.frame)
		}
		typ := r.u32(h[0:4])
		if typ == blockSHB {
			if err := r.sectionHeader(); err != nil {
				return nil, err
			}
			continue
		}
		total := r.u32(h[4:8])
		if err := r.checkLength(typ, total); err != nil {
			return nil, err
		}
		body := int64(total) - 12
		_, _ = r.br.Discard(8)
		r.pending, r.trailer = body, total
		switch {
		case typ == blockIDB:
			if err := r.interfaceBlock(body); err != nil {
				return nil, err
			}
		case typ == blockEPB || typ == blockPB || typ == blockSPB:
			return r.packetBlock(typ, body)
		case typ == blockJournal || typ == blockCustom || typ == blockCustomNoCp || sysdigEvent[typ]:
			r.frame++
			r.rec = Record{Frame: r.frame}
			return &r.rec, nil
		}
	}
}

// interfaceBlock reads an interface description block's fields and the
// options that matter for timestamps.
func (r *Reader) interfaceBlock(body int64) error {
	if len(r.ifaces) >= MaxInterfaces {
		return &Error{Frame: r.frame + 1, Msg: fmt.Sprintf("pcapng section with more than %d interfaces", MaxInterfaces)}
	}
	b, err := r.br.Peek(int(min(body, 8+idbOptionBytes)))
	if len(b) < 8 {
		return r.cut(r.frame+1, err, "file ends inside an interface block")
	}
	ifc := iface{linkType: layers.LinkType(r.u16(b[0:2])), snaplen: r.u32(b[4:8]), tsres: 6}
	for opts := b[8:]; len(opts) >= 4; {
		code, l := r.u16(opts[0:2]), int(r.u16(opts[2:4]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		v := opts[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			ifc.tsres, ifc.binary = v[0]&0x7f, v[0]&0x80 != 0
		case code == 14 && l >= 8: // if_tsoffset, kept to ±2^33 s so that nanos cannot overflow
			ifc.offset = min(max(int64(r.order.Uint64(v)), -1<<33), 1<<33)
		}
		opts = opts[min(len(opts), 4+(l+3)&^3):]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// packetBlock reads an enhanced, simple or obsolete packet block.
func (r *Reader) packetBlock(typ uint32, body int64) (*Record, error) {
	r.frame++
	frame := r.frame
	fixed := 20
	if typ == blockSPB {
		fixed = 4
	}
	h, err := r.br.Peek(fixed)
	if len(h) < fixed {
		return nil, r.cut(frame, err, "file ends inside frame %d's block", frame)
	}
	rec := Record{Frame: frame}
	var caplen, origlen uint32
	ifIdx := uint32(0)
	var ts uint64
	switch typ {
	case blockEPB:
		ifIdx = r.u32(h[0:4])
		ts = uint64(r.u32(h[4:8]))<<32 | uint64(r.u32(h[8:12]))
		caplen, origlen = r.u32(h[12:16]), r.u32(h[16:20])
	case blockPB:
		ifIdx = uint32(r.u16(h[0:2]))
		ts = uint64(r.u32(h[4:8]))<<32 | uint64(r.u32(h[8:12]))
		caplen, origlen = r.u32(h[12:16]), r.u32(h[16:20])
	case blockSPB:
		origlen = r.u32(h[0:4])
		caplen = uint32(min(int64(origlen), body-4))
	}
	if int(ifIdx) >= len(r.ifaces) {
		return nil, &Error{Frame: frame, Msg: fmt.Sprintf("frame %d: interface %d, but the section has %d (tshark: \"interface id %d >= number of interfaces %d\")", frame, ifIdx, len(r.ifaces), ifIdx, len(r.ifaces))}
	}
	ifc := r.ifaces[ifIdx]
	if typ == blockSPB && ifc.snaplen != 0 {
		caplen = min(caplen, ifc.snaplen)
	} else if typ != blockSPB {
		rec.Time, rec.HasTime = ifc.nanos(ts), true
	}
	rec.Interface, rec.LinkType = int(ifIdx), ifc.linkType
	if int64(caplen) > body-int64(fixed) {
		return nil, &Error{Frame: frame, Msg: fmt.Sprintf("frame %d: block of %d bytes is too short for its %d captured bytes (tshark: \"total block length %d is too small\")", frame, body+12, caplen, body+12)}
	}
	if caplen > MaxCapLen {
		rec.Skipped = fmt.Sprintf("the block claims %d captured bytes, more than %d, the most verify reads (tshark: \"cap_len larger than\" a packet can be); frame skipped", caplen, MaxCapLen)
		r.rec = rec
		return &r.rec, nil
	}
	_, _ = r.br.Discard(fixed)
	r.pending -= int64(fixed)
	data, err := r.br.Peek(int(caplen))
	if len(data) < int(caplen) {
		return nil, r.cut(frame, err, "file ends inside frame %d (%d of %d bytes)", frame, len(data), caplen)
	}
	rec.Data, rec.CapLen, rec.OrigLen, rec.Packet = data, int(caplen), int(max(origlen, caplen)), true
	r.rec = rec
	return &r.rec, nil
}

// nanos converts a pcapng timestamp in the interface's units to
// nanoseconds since 1970, saturating rather than wrapping.
func (i iface) nanos(ts uint64) int64 {
	var sec, frac uint64 // frac in nanoseconds
	if i.binary {
		if i.tsres >= 64 {
			return i.offset * 1e9
		}
		sec = ts >> i.tsres
		hi, lo := bits.Mul64(ts&(1<<i.tsres-1), 1e9)
		frac, _ = bits.Div64(hi, lo, 1<<i.tsres)
		if i.tsres == 0 {
			frac = 0
		}
	} else {
		if i.tsres > 19 {
			return i.offset * 1e9
		}
		unit := uint64(1)
		for range i.tsres {
			unit *= 10
		}
		sec = ts / unit
		rem := ts % unit
		if i.tsres <= 9 {
			frac = rem * (1e9 / unit)
		} else {
			frac = rem / (unit / 1e9)
		}
	}
	if sec > 1<<33 { // year 2242: past any real capture
		sec = 1 << 33
	}
	return (int64(sec)+i.offset)*1e9 + int64(frac)
}

// cut turns a short read into an Error: Truncated when the file ended, the
// read error otherwise.
func (r *Reader) cut(frame int, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Frame: frame, Truncated: true, Msg: msg}
	}
	return &Error{Frame: frame, Msg: fmt.Sprintf("%s: %v", msg, err)}
}

func eofOr(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}
