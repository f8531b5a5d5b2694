// Package capture writes frames as pcap or pcapng (through gopacket's
// pcapgo) and makes output files atomic: a run that fails leaves no partial
// file behind.
package capture

import (
	"bufio"
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
	pw *pcapgo.Writer
	ng *pcapgo.NgWriter
	n  int64
}

// NewWriter starts a capture stream of format f on w (the file header is
// written at once).
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &Writer{bw: bw}
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
		cw.pw = pcapgo.NewWriter(bw)
		if err := cw.pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("pcap header: %w", err)
		}
	}
	return cw, nil
}

// WriteFrame appends one frame. comment is kept in pcapng (a packet comment,
// shown by Wireshark and tshark) and ignored in pcap.
func (w *Writer) WriteFrame(data []byte, comment string) error {
	ci := gopacket.CaptureInfo{
		Timestamp:     Epoch.Add(time.Duration(w.n) * time.Microsecond),
		CaptureLength: len(data),
		Length:        len(data),
	}
	w.n++
	if w.ng != nil {
		var opts pcapgo.NgPacketOptions
		if comment != "" {
			opts.Comments = []string{comment}
		}
		return w.ng.WritePacketWithOptions(ci, data, opts)
	}
	return w.pw.WritePacket(ci, data)
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
