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

// cell appends s padded to column c.
func (t *TextWriter) cell(c int, s string) {
	t.buf = append(t.buf, s...)
	if w := textColumns[c].width; w > 0 {
		n := utf8.RuneCountInString(s)
		for ; n < w-1; n++ {
			t.buf = append(t.buf, ' ')
		}
		t.buf = append(t.buf, ' ')
	}
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
	for len(t.buf) > 0 && t.buf[len(t.buf)-1] == ' ' {
		t.buf = t.buf[:len(t.buf)-1]
	}
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf)
}

// Verdict writes one row.
func (t *TextWriter) Verdict(v *Verdict) error {
	if t.quiet && v.Delivered {
		return nil
	}
	t.writeHeader()
	t.buf = t.buf[:0]
	t.cell(0, strconv.Itoa(v.Datagram))
	t.cell(1, frameList(v.Frames, v.MoreFrames))
	t.cell(2, v.Src.String()+" → "+v.Dst.String())
	t.cell(3, protoName(v.Proto))
	t.cell(4, strconv.Itoa(int(v.ID)))
	t.cell(5, strconv.Itoa(v.Len))
	verdict := v.Result
	if verdict == "" {
		verdict = ResultDropped
		if v.Delivered {
			verdict = ResultDelivered
		}
	}
	if v.Checksum != "" && v.Checksum != csumOK {
		verdict += " (" + v.Checksum + ")"
	}
	t.cell(6, verdict)
	var last []string
	if v.Where != "" {
		last = append(last, "in "+v.Where)
	}
	switch {
	case v.Code != "":
		last = append(last, string(v.Code)+": "+v.Reason)
	case v.Reason != "":
		last = append(last, v.Reason)
	}
	if v.Note != "" {
		last = append(last, "note: "+v.Note)
	}
	t.buf = append(t.buf, strings.Join(last, "; ")...)
	for len(t.buf) > 0 && t.buf[len(t.buf)-1] == ' ' {
		t.buf = t.buf[:len(t.buf)-1]
	}
	t.buf = append(t.buf, '\n')
	_, err := t.w.Write(t.buf)
	return err
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
	parts = parts[:0]
	add(s.IPv6, "IPv6 packets (IPv6 is not judged yet)")
	add(s.NotUDP, "IPv4 packets of other protocols")
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
func frameList(fs []int, more int) string {
	var b strings.Builder
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
		ranges++
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(fs[i]))
		if k > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(fs[k]))
		}
		i = k + 1
	}
	if more > 0 {
		fmt.Fprintf(&b, ",+%d", more)
	}
	return b.String()
}
