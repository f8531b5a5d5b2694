// Package capture writes frames as pcap or pcapng (through gopacket's
// pcapgo) and makes output files atomic: a run that fails leaves no partial
// file behind, and a device or FIFO named as output is written, never
// replaced (see Output).
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Format is a capture file format.
type Format uint8

// The formats udpbuild writes.
const (
	PCAP Format = iota
	PCAPNG
)

func (f Format) String() string {
	if f == PCAPNG {
		return "pcapng"
	}
	return "pcap"
}

// ParseFormat reads "pcap" or "pcapng".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "pcap":
		return PCAP, nil
	case "pcapng":
		return PCAPNG, nil
	}
	return 0, fmt.Errorf("unknown format %q (pcap or pcapng)", s)
}

// Snaplen is the snapshot length written in the file header: large enough
// for a 64 KiB GSO super-packet with its Ethernet header.
const Snaplen = 262144

// Epoch is the timestamp of the first frame. Frames are stamped a
// microsecond apart from it so that the same run writes the same bytes.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Writer writes Ethernet frames to a pcap or pcapng stream.
type Writer struct {
	bw *bufio.Writer
	ng *pcapgo.NgWriter
	n  int64
	// epoch is Epoch in Unix seconds, read when the Writer is made.
	epoch int64
	// join assembles a frame given in pieces for pcapgo's pcapng writer,
	// which takes one slice.
	join []byte
	// rec is the pcap record header being written (a field, not a local:
	// bufio may hand it to the underlying writer, so a local would escape
	// and be allocated per frame).
	rec [pcapRecordLen]byte
}

// NewWriter starts a capture stream of format f on w (the file header is
// written at once).
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &Writer{bw: bw, epoch: Epoch.Unix()}
	switch f {
	case PCAPNG:
		intf := pcapgo.DefaultNgInterface
		intf.LinkType = layers.LinkTypeEthernet
		intf.SnapLength = Snaplen
		intf.Name = "udpbuild"
		intf.TimestampResolution = 6
		ng, err := pcapgo.NewNgWriterInterface(bw, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "udpbuild"}})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		cw.ng = ng
	default:
		if err := pcapgo.NewWriter(bw).WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("pcap header: %w", err)
		}
	}
	return cw, nil
}

// WriteFrame appends one frame. comment is kept in pcapng (a packet comment,
// shown by Wireshark and tshark) and ignored in pcap.
func (w *Writer) WriteFrame(data []byte, comment string) error {
	return w.WriteFrameV(nil, data, comment)
}

// pcapRecordLen is the length of a pcap record header: seconds,
// microseconds, captured length, original length.
const pcapRecordLen = 16

// WriteFrameV appends one frame given in two pieces, head then data (as
// builder.Device.TransmitV hands them over). In pcap the record goes to
// the buffer piece by piece, so a frame whose payload lies apart from its
// headers is never joined first; pcapgo's WritePacket wants one slice, so
// pcap records are laid out here, exactly as pcapgo lays them out (its
// file header, little-endian, microseconds; TestRecordsMatchPcapgo holds
// the two together). pcapng goes through pcapgo.
func (w *Writer) WriteFrameV(head, data []byte, comment string) error {
	n := len(head) + len(data)
	if w.ng != nil {
		ci := gopacket.CaptureInfo{Timestamp: w.stamp(), CaptureLength: n, Length: n}
		w.n++
		var opts pcapgo.NgPacketOptions
		if comment != "" {
			opts.Comments = []string{comment}
		}
		if len(head) > 0 {
			w.join = append(append(w.join[:0], head...), data...)
			data = w.join
		}
		return w.ng.WritePacketWithOptions(ci, data, opts)
	}
	// Epoch plus n microseconds, without time.Time arithmetic per frame.
	rec := w.rec[:]
	binary.LittleEndian.PutUint32(rec[0:], uint32(w.epoch+w.n/1e6))
	binary.LittleEndian.PutUint32(rec[4:], uint32(w.n%1e6))
	binary.LittleEndian.PutUint32(rec[8:], uint32(n))
	binary.LittleEndian.PutUint32(rec[12:], uint32(n))
	w.n++
	if pcapRecordLen+n > w.bw.Available() {
		if err := w.bw.Flush(); err != nil {
			return err
		}
	}
	if pcapRecordLen+n <= w.bw.Available() {
		// The record is laid out in the buffer's free space and
		// committed with one Write (bufio's AvailableBuffer idiom).
		b := append(w.bw.AvailableBuffer(), rec...)
		b = append(append(b, head...), data...)
		_, err := w.bw.Write(b)
		return err
	}
	// A frame larger than the buffer goes straight through.
	if _, err := w.bw.Write(rec); err != nil {
		return err
	}
	if _, err := w.bw.Write(head); err != nil {
		return err
	}
	_, err := w.bw.Write(data)
	return err
}

// stamp is the timestamp of the next frame: Epoch plus a microsecond per
// frame written before it.
func (w *Writer) stamp() time.Time {
	// From the epoch the pcap records use, so that both formats stamp a
	// frame alike.
	return time.Unix(w.epoch, 0).UTC().Add(time.Duration(w.n) * time.Microsecond)
}

// Flush writes buffered frames out.
func (w *Writer) Flush() error {
	if w.ng != nil {
		if err := w.ng.Flush(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// Output is a destination written so that a failed run leaves nothing
// half-written and damages nothing else (docs/threat-model.md):
//
//   - a regular file, or a name not taken yet, is written atomically:
//     frames go to a temporary file beside it, renamed into place by
//     Commit, so a failed or interrupted run leaves the old file (or no
//     file) and no temporary;
//   - a symlink to a regular file is replaced the same way at its target,
//     so the link stays a link; a symlink to nothing is refused;
//   - a character or block device or a FIFO (/dev/null, a terminal, a
//     named pipe, /dev/stdout when it is a pipe) is opened and written
//     directly, never replaced: renaming a file over /dev/null, as root,
//     would leave a regular file there for every program on the machine.
//     What a failed run wrote to such a target stays written (a FIFO's
//     reader sees a capture that stops short);
//   - a socket, which cannot be opened, and a directory are refused;
//   - "-" is standard output, written as frames come.
//
// Abort may be called from another goroutine (a signal handler) while the
// Writer is in use; writes after it fail.
type Output struct {
	path    string // as the caller named it
	target  string // the name Commit renames onto: path, or a symlink's target
	tmp     *os.File
	direct  *os.File
	w       io.Writer
	pending *Pending

	mu   sync.Mutex
	done bool
}

// Create opens the output at path ("-" for standard output).
func Create(path string) (*Output, error) {
	if path == "-" {
		return &Output{path: path, w: os.Stdout}, nil
	}
	fi, err := os.Stat(path) // through symlinks
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("output %s is a directory", path)
	case err == nil && fi.Mode()&os.ModeSocket != 0:
		return nil, fmt.Errorf("output %s is a socket: udpbuild writes regular files, devices and FIFOs", path)
	case err == nil && !fi.Mode().IsRegular():
		return openDirect(path)
	case err == nil:
		target, err := regularTarget(path)
		if err != nil {
			return nil, err
		}
		return createAtomic(path, target)
	case errors.Is(err, fs.ErrNotExist):
		if lfi, lerr := os.Lstat(path); lerr == nil && lfi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("output %s is a symlink to a file that does not exist: name the file itself", path)
		}
		return createAtomic(path, path)
	}
	return nil, fmt.Errorf("output %s: %w", path, unwrapPathErr(err))
}

// regularTarget is the file an existing regular output is renamed onto:
// path itself, or, when path is a symlink, the file it leads to. The link
// is followed by the kernel first (an O_PATH open), so the kernel's own
// rules for following links apply (fs.protected_symlinks: root does not
// follow a link another user planted in a sticky directory such as /tmp),
// then resolved by name and checked to be the same file.
func regularTarget(path string) (string, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", path, unwrapPathErr(err))
	}
	if lfi.Mode()&os.ModeSymlink == 0 {
		return path, nil
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("output %s: following the symlink: %w", path, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", path, err)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("output %s: resolving the symlink: %w", path, unwrapPathErr(err))
	}
	var tst unix.Stat_t
	if err := unix.Stat(target, &tst); err != nil || tst.Dev != st.Dev || tst.Ino != st.Ino || tst.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("output %s: the symlink changed while it was resolved", path)
	}
	return target, nil
}

// createAtomic starts a temporary file beside target, which Commit renames
// onto it.
func createAtomic(path, target string) (*Output, error) {
	dir := filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("output %s: directory %s does not exist", path, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return &Output{path: path, target: target, tmp: tmp, w: tmp}, nil
}

// openDirect opens a device or FIFO for writing, as a shell redirection
// would (without O_TRUNC, which means nothing to them). Opening a FIFO
// waits for a reader.
func openDirect(path string) (*Output, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, unwrapPathErr(err))
	}
	if fi, err := f.Stat(); err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("output %s: changed while it was opened", path)
	}
	return &Output{path: path, direct: f, w: f}, nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Writer is where the stream goes.
func (o *Output) Writer() io.Writer { return o.w }

// Commit makes the output visible under its name (closes it, for a device
// or FIFO).
func (o *Output) Commit() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return fmt.Errorf("output %s: already closed", o.path)
	}
	o.done = true
	o.pending.forget(o)
	switch {
	case o.direct != nil:
		if err := o.direct.Close(); err != nil {
			return fmt.Errorf("output %s: %w", o.path, err)
		}
		return nil
	case o.tmp == nil:
		return nil
	}
	fail := func(err error) error {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := o.tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := o.tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Chmod(o.tmp.Name(), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Rename(o.tmp.Name(), o.target); err != nil {
		return fail(err)
	}
	return nil
}

// Abort discards the output: the temporary file is removed and the target
// left as it was (a device or FIFO is only closed). It is safe to call
// after Commit (it then does nothing), so callers can defer it, and from
// another goroutine.
func (o *Output) Abort() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	o.pending.forget(o)
	if o.direct != nil {
		o.direct.Close()
	}
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
	}
}

// Pending is the set of outputs created through it and not yet committed
// or aborted. A program stopped by a signal calls AbortAll to remove their
// temporary files, even while the goroutine writing them is blocked. The
// zero value is ready; it is safe for concurrent use.
type Pending struct {
	mu      sync.Mutex
	outs    map[*Output]struct{}
	stopped bool
}

// Create is the package's Create, keeping the output in p until it is
// committed or aborted. After AbortAll it fails.
func (p *Pending) Create(path string) (*Output, error) {
	// Not under p.mu: opening a FIFO waits for its reader, and AbortAll
	// must not wait for that.
	o, err := Create(path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		o.Abort()
		return nil, fmt.Errorf("output %s: stopping", path)
	}
	if p.outs == nil {
		p.outs = map[*Output]struct{}{}
	}
	p.outs[o] = struct{}{}
	o.pending = p
	p.mu.Unlock()
	return o, nil
}

// AbortAll aborts every pending output and makes later Creates fail.
func (p *Pending) AbortAll() {
	p.mu.Lock()
	p.stopped = true
	outs := make([]*Output, 0, len(p.outs))
	for o := range p.outs {
		outs = append(outs, o)
	}
	p.mu.Unlock()
	for _, o := range outs {
		o.Abort()
	}
}

func (p *Pending) forget(o *Output) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.outs, o)
	p.mu.Unlock()
}

// WriteFile writes frames with comments to path atomically.
func WriteFile(path string, f Format, frames [][]byte, comments []string) error {
	out, err := Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	w, err := NewWriter(out.Writer(), f)
	if err != nil {
		return err
	}
	for i, fr := range frames {
		c := ""
		if i < len(comments) {
			c = comments[i]
		}
		if err := w.WriteFrame(fr, c); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return out.Commit()
}
