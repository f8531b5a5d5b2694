// Package capture writes frames as pcap or pcapng (through gopacket's
// pcapgo) and makes output files atomic: a run that fails leaves no partial
// file behind.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
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

// Output is a destination file written atomically: frames go to a
// temporary file beside it, renamed into place by Commit. "-" is standard
// output, which cannot be atomic; it is written as frames come.
type Output struct {
	path string
	tmp  *os.File
	w    io.Writer
	done bool
}

// Create opens the output at path ("-" for standard output).
func Create(path string) (*Output, error) {
	if path == "-" {
		return &Output{path: path, w: os.Stdout}, nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("output %s: directory %s does not exist", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("output %s is a directory", path)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return &Output{path: path, tmp: tmp, w: tmp}, nil
}

// Writer is where the stream goes.
func (o *Output) Writer() io.Writer { return o.w }

// Commit makes the output visible under its name.
func (o *Output) Commit() error {
	if o.done {
		return errors.New("output already closed")
	}
	o.done = true
	if o.tmp == nil {
		return nil
	}
	if err := o.tmp.Sync(); err != nil {
		o.abort()
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := o.tmp.Close(); err != nil {
		os.Remove(o.tmp.Name())
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := os.Chmod(o.tmp.Name(), 0o644); err != nil {
		os.Remove(o.tmp.Name())
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := os.Rename(o.tmp.Name(), o.path); err != nil {
		os.Remove(o.tmp.Name())
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	return nil
}

// Abort discards the output; it is safe to call after Commit (it then does
// nothing), so callers can defer it.
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.abort()
}

func (o *Output) abort() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
	}
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
