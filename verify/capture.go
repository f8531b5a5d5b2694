package verify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Limits bound what ReadCaptureLimits keeps in memory.
type Limits struct {
	// MaxBytes caps the capture's (decompressed) size; reading stops
	// there with a diagnostic.
	MaxBytes int64
	// MaxFrame caps one frame; a longer one is cut to MaxFrame bytes
	// with a diagnostic, as a snaplen would.
	MaxFrame int
	// MaxFrames caps the number of frames.
	MaxFrames int
}

// DefaultLimits are ReadCapture's limits: 64 MiB, 256 KiB per frame
// (libpcap's MAXIMUM_SNAPLEN), a million frames.
var DefaultLimits = Limits{MaxBytes: 64 << 20, MaxFrame: 262144, MaxFrames: 1 << 20}

// Capture file magics, as the first four bytes appear in the file.
var (
	magicPcapLE     = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapBE     = []byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNanoLE = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNanoBE = []byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapng     = []byte{0x0a, 0x0d, 0x0d, 0x0a}
	magicGzip       = []byte{0x1f, 0x8b}
)

// errCapped is returned by capReader once the byte budget is spent.
var errCapped = errors.New("capture size limit reached")

// capReader passes at most left bytes through, then fails with errCapped,
// unless the input ends right there.
type capReader struct {
	r      io.Reader
	left   int64
	capped bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var probe [1]byte
		if _, err := io.ReadFull(c.r, probe[:]); err == io.EOF {
			return 0, io.EOF
		}
		c.capped = true
		return 0, errCapped
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// packetReader is what pcapgo.Reader and pcapgo.NgReader have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// ReadCapture reads a pcap or pcapng file (told apart by magic; either may
// be gzip-compressed) with pcapgo, under DefaultLimits. It returns the
// frames in file order, the link type and diagnostics: a truncated or
// oversized file keeps the frames before the damage, a frame cut by the
// snaplen is kept and noted. err is set only when no capture header could be
// read at all.
func ReadCapture(r io.Reader) (frames [][]byte, lt layers.LinkType, diags []Problem, err error) {
	return ReadCaptureLimits(r, DefaultLimits)
}

// ReadCaptureLimits is ReadCapture with explicit limits.
func ReadCaptureLimits(r io.Reader, lim Limits) (frames [][]byte, lt layers.LinkType, diags []Problem, err error) {
	if lim.MaxBytes <= 0 || lim.MaxFrame <= 0 || lim.MaxFrames <= 0 {
		return nil, 0, nil, fmt.Errorf("read capture: limits must be positive: %+v", lim)
	}
	var src io.Reader = bufio.NewReader(r)
	head, _ := src.(*bufio.Reader).Peek(4)
	if bytes.HasPrefix(head, magicGzip) {
		gz, gerr := gzip.NewReader(src)
		if gerr != nil {
			return nil, 0, nil, fmt.Errorf("read capture: gzip: %w", gerr)
		}
		src = gz
	}
	cr := &capReader{r: src, left: lim.MaxBytes}
	br := bufio.NewReader(cr)
	head, _ = br.Peek(4)
	var pr packetReader
	var ngFirst bool
	switch {
	case len(head) == 0:
		return nil, 0, nil, errors.New("read capture: empty input")
	case bytes.Equal(head, magicPcapng):
		ng, nerr := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if nerr != nil {
			return nil, 0, nil, fmt.Errorf("read capture: pcapng header: %w", nerr)
		}
		// Interface blocks are read lazily: the capture's link type is
		// that of the first frame's interface (or of the first
		// interface, for a capture without frames).
		pr, ngFirst = ng, true
	case bytes.Equal(head, magicPcapLE), bytes.Equal(head, magicPcapBE),
		bytes.Equal(head, magicPcapNanoLE), bytes.Equal(head, magicPcapNanoBE):
		pc, perr := pcapgo.NewReader(br)
		if perr != nil {
			return nil, 0, nil, fmt.Errorf("read capture: pcap header: %w", perr)
		}
		lt, pr = pc.LinkType(), pc
	case bytes.HasPrefix(head, magicGzip):
		return nil, 0, nil, errors.New("read capture: gzip inside gzip is not read")
	default:
		return nil, 0, nil, fmt.Errorf("read capture: not a pcap or pcapng file (magic % x)", head)
	}

	diag := func(frame int, msg string) {
		diags = append(diags, Problem{Frame: frame, Datagram: -1, Field: "Capture", Msg: msg})
	}
	for {
		data, ci, rerr := pr.ReadPacketData()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			switch {
			case cr.capped:
				diag(-1, fmt.Sprintf("capture larger than %d bytes: stopped after %d frames", lim.MaxBytes, len(frames)))
			case errors.Is(rerr, io.ErrUnexpectedEOF):
				diag(-1, fmt.Sprintf("file truncated after %d frames", len(frames)))
			default:
				diag(-1, fmt.Sprintf("unreadable record after %d frames: %v", len(frames), rerr))
			}
			break
		}
		if len(frames) >= lim.MaxFrames {
			diag(-1, fmt.Sprintf("more than %d frames: stopped", lim.MaxFrames))
			break
		}
		i := len(frames)
		if len(ci.AncillaryData) > 0 {
			flt, ok := ci.AncillaryData[0].(layers.LinkType)
			if ok && ngFirst {
				lt, ngFirst = flt, false
			}
			if ok && flt != lt {
				// Frame numbers must stay those of the file, so the
				// frame stays, empty.
				diag(i, fmt.Sprintf("link type %v differs from the capture's %v; frame not read", flt, lt))
				frames = append(frames, nil)
				continue
			}
		}
		if len(data) > lim.MaxFrame {
			diag(i, fmt.Sprintf("frame of %d bytes cut to %d", len(data), lim.MaxFrame))
			data = append([]byte(nil), data[:lim.MaxFrame]...)
		}
		if ci.CaptureLength < ci.Length {
			diag(i, fmt.Sprintf("snaplen-cut: %d of %d bytes captured", ci.CaptureLength, ci.Length))
		}
		frames = append(frames, data)
	}
	if ng, ok := pr.(*pcapgo.NgReader); ok && ngFirst {
		lt = ng.LinkType()
	}
	return frames, lt, diags, nil
}
