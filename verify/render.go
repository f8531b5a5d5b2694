package verify

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Column widths of TextWriter's rows, in runes; a longer cell pushes the
// rest of its row right rather than wait for the widest row, which a
// stream cannot know.
var textColumns = [...]struct {
	name  string
	width int
}{{"#", 7}, {"frames", 12}, {"src → dst", 46}, {"proto", 8}, {"id", 6}, {"len", 6}, {"verdict", 16}, {"reason", 0}}

// TextWriter writes verdicts as rows of text (#, frames, src → dst, proto,
// id, len, verdict, reason), as they come, and diagnostics between them,
// marked "!". It is a Sink; Close writes the closing summary.
type TextWriter struct {
	w      *bufio.Writer
	quiet  bool
	header bool
	buf    []byte
}

// NewTextWriter writes to w. With quiet, delivered datagrams are left out:
// only drops, datagrams not captured and diagnostics are written.
func NewTextWriter(w io.Writer, quiet bool) *TextWriter {
	return &TextWriter{w: bufio.NewWriterSize(w, 64<<10), quiet: quiet}
}

// pad pads the cell that started at byte start of t.buf to column c.
func (t *TextWriter) pad(c, start int) {
	w := textColumns[c].width
	if w == 0 {
		return
	}
	n := utf8.RuneCount(t.buf[start:])
	for ; n < w-1; n++ {
		t.buf = append(t.buf, ' ')
	}
	t.buf = append(t.buf, ' ')
}

// cell appends s padded to column c.
func (t *TextWriter) cell(c int, s string) {
	start := len(t.buf)
	t.buf = append(t.buf, s...)
	t.pad(c, start)
}

// endLine trims trailing blanks, ends the line and writes it.
func (t *TextWriter) endLine() error {
	for len(t.buf) > 0 && t.buf[len(t.buf)-1] == ' ' {
		t.buf = t.buf[:len(t.buf)-1]
	}
	t.buf = append(t.buf, '\n')
	_, err := t.w.Write(t.buf)
	return err
}

func (t *TextWriter) writeHeader() {
	if t.header {
		return
	}
	t.header = true
	t.buf = t.buf[:0]
	for c, col := range textColumns {
		t.cell(c, col.name)
	}
	_ = t.endLine()
}

// Verdict writes one row. It appends into one buffer, allocating nothing:
// a capture's worth of rows is written at the speed it is judged.
func (t *TextWriter) Verdict(v *Verdict) error {
	if t.quiet && v.Delivered {
		return nil
	}
	t.writeHeader()
	t.buf = t.buf[:0]
	t.buf = strconv.AppendInt(t.buf, int64(v.Datagram), 10)
	t.pad(0, 0)
	start := len(t.buf)
	t.buf = appendFrameList(t.buf, v.Frames, v.MoreFrames)
	t.pad(1, start)
	start = len(t.buf)
	t.buf = v.Src.AppendTo(t.buf)
	t.buf = append(t.buf, " → "...)
	t.buf = v.Dst.AppendTo(t.buf)
	t.pad(2, start)
	t.cell(3, protoName(v.Proto))
	start = len(t.buf)
	t.buf = strconv.AppendUint(t.buf, uint64(v.ID), 10)
	t.pad(4, start)
	start = len(t.buf)
	t.buf = strconv.AppendInt(t.buf, int64(v.Len), 10)
	t.pad(5, start)
	start = len(t.buf)
	switch {
	case v.Result != "":
		t.buf = append(t.buf, v.Result...)
	case v.Delivered:
		t.buf = append(t.buf, ResultDelivered...)
	default:
		t.buf = append(t.buf, ResultDropped...)
	}
	if v.Checksum != "" && v.Checksum != csumOK {
		t.buf = append(t.buf, " ("...)
		t.buf = append(t.buf, v.Checksum...)
		t.buf = append(t.buf, ')')
	}
	t.pad(6, start)
	sep := ""
	if v.Where != "" {
		t.buf = append(t.buf, "in "...)
		t.buf = append(t.buf, v.Where...)
		sep = "; "
	}
	if v.Code != "" || v.Reason != "" {
		t.buf = append(t.buf, sep...)
		if v.Code != "" {
			t.buf = append(t.buf, v.Code...)
			t.buf = append(t.buf, ": "...)
		}
		t.buf = append(t.buf, v.Reason...)
		sep = "; "
	}
	if v.Note != "" {
		t.buf = append(t.buf, sep...)
		t.buf = append(t.buf, "note: "...)
		t.buf = append(t.buf, v.Note...)
	}
	return t.endLine()
}

// Diagnostic writes one line, "! frame 12: LinuxSLL: ...".
func (t *TextWriter) Diagnostic(d *Diagnostic) error {
	_, err := t.w.WriteString("! " + d.String() + "\n")
	return err
}

// Close writes the summary line(s) and flushes.
func (t *TextWriter) Close(s Stats) error {
	if _, err := t.w.WriteString(SummaryText(s)); err != nil {
		return err
	}
	return t.w.Flush()
}

// SummaryText says in words what Stats count, ending in a newline.
func SummaryText(s Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d frames, %d bytes captured: %d datagrams judged", s.Frames, s.Bytes, s.Datagrams)
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.Delivered, "delivered")
	add(s.Dropped, "dropped")
	add(s.NotCaptured, "not captured (cut by the capture)")
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString("\n")
	if s.IPv6 > 0 {
		fmt.Fprintf(&b, "IPv6: %d packets\n", s.IPv6)
	}
	parts = parts[:0]
	add(s.NotUDP, "IP packets of other protocols")
	add(s.NotIP, "frames without an IP packet")
	if len(parts) > 0 {
		b.WriteString("skipped: " + strings.Join(parts, ", ") + "\n")
	}
	if s.Unjudged > 0 || s.Diagnostics > 0 {
		fmt.Fprintf(&b, "%d frames not judged, %d diagnostics (lines marked !)\n", s.Unjudged, s.Diagnostics)
	}
	if !s.Complete {
		b.WriteString("the capture was not read to its end\n")
	}
	return b.String()
}

// JSONWriter writes one JSON object per line (JSON Lines) as results come:
// {"type":"verdict",...Verdict}, {"type":"diagnostic",...Diagnostic} and,
// from Close, {"type":"summary",...Stats}. It is a Sink.
type JSONWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewJSONWriter writes to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &JSONWriter{w: bw, enc: json.NewEncoder(bw)}
}

// Verdict writes a verdict line.
func (j *JSONWriter) Verdict(v *Verdict) error {
	return j.enc.Encode(struct {
		Type string `json:"type"`
		*Verdict
	}{"verdict", v})
}

// Diagnostic writes a diagnostic line.
func (j *JSONWriter) Diagnostic(d *Diagnostic) error {
	return j.enc.Encode(struct {
		Type string `json:"type"`
		*Diagnostic
	}{"diagnostic", d})
}

// Close writes the summary line and flushes.
func (j *JSONWriter) Close(s Stats) error {
	if err := j.enc.Encode(struct {
		Type string `json:"type"`
		Stats
	}{"summary", s}); err != nil {
		return err
	}
	return j.w.Flush()
}

// protoName spells the transport protocol.
func protoName(p uint8) string {
	switch p {
	case protoUDP:
		return "udp"
	case protoUDPLite:
		return "udplite"
	case protoIPIP:
		return "ipip"
	case protoGRE:
		return "gre"
	}
	return strconv.Itoa(int(p))
}

// maxRanges bounds the ranges frameList writes.
const maxRanges = 8

// frameList writes sorted frame numbers compactly: "3", "3-5", "1,4-6",
// with "+N" for frames not listed.
func frameList(fs []int, more int) string { return string(appendFrameList(nil, fs, more)) }

// appendFrameList appends frameList's text to b.
func appendFrameList(b []byte, fs []int, more int) []byte {
	ranges := 0
	for i := 0; i < len(fs); {
		k := i
		for k+1 < len(fs) && fs[k+1] == fs[k]+1 {
			k++
		}
		if ranges == maxRanges {
			more += len(fs) - i
			break
		}
		if ranges > 0 {
			b = append(b, ',')
		}
		ranges++
		b = strconv.AppendInt(b, int64(fs[i]), 10)
		if k > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(fs[k]), 10)
		}
		i = k + 1
	}
	if more > 0 {
		b = append(b, ",+"...)
		b = strconv.AppendInt(b, int64(more), 10)
	}
	return b
}
