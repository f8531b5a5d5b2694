package picture

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Layout of a step's picture, in SVG user units (pixels).
const (
	width     = 1000 // the drawing, labels included
	barLeft   = 20   // where byte 0 of every row is
	barWidth  = 900  // the most bytes of a step's rows span this
	rowHeight = 18   // one bar
	rowGap    = 22   // between a bar and the next row's label
	textLine  = 16
	skbGap    = 3 // between skbs of one queue, so that each stands out
)

// colours of the parts, by span or skb part name; anything else is data.
var colours = map[string]string{
	"payload": "#9ecae1", "data": "#9ecae1",
	"header": "#bdbdbd", "linear": "#6baed6", "paged": "#74c476",
	"Ethernet": "#fdd0a2", "IPv4": "#fdae6b", "IPv4 options": "#fd8d3c", "IPv6": "#fdae6b",
	"Hop-by-hop": "#fd8d3c", "Routing": "#fd8d3c", "Destination options": "#fd8d3c", "Fragment": "#e6550d",
	"UDP": "#c7e9c0", "UDP-Lite": "#c7e9c0", "ICMP": "#fcbba1",
	"copied": "#6baed6", "truncated": "#d62728", "unused": "#f0f0f0",
}

func colour(name string) string {
	if c, ok := colours[name]; ok {
		return c
	}
	return "#9ecae1"
}

// canvas collects one picture's elements and how tall it has grown.
type canvas struct {
	b     strings.Builder
	y     int
	scale float64 // pixels per byte
}

func (c *canvas) text(x, y int, class, s string) {
	fmt.Fprintf(&c.b, "<text x=\"%d\" y=\"%d\" class=\"%s\">%s</text>\n", x, y, class, html.EscapeString(s))
}

// bar draws one part of a row: bytes long at byte position at, with a
// tooltip and the data attributes tests and the HTML report read.
func (c *canvas) bar(at float64, bytes int, class, name, tip string, attrs string) float64 {
	w := float64(bytes) * c.scale
	fmt.Fprintf(&c.b, "<rect class=\"%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" data-name=\"%s\" data-bytes=\"%d\"%s><title>%s</title></rect>\n",
		class, barLeft+at*c.scale, c.y, w, rowHeight, colour(name), html.EscapeString(name), bytes, attrs, html.EscapeString(tip))
	return at + float64(bytes)
}

// label writes a row's caption above its bar.
func (c *canvas) label(s string) {
	c.y += textLine
	c.text(barLeft, c.y-4, "label", s)
}

func (c *canvas) next() { c.y += rowHeight + rowGap - textLine }

// span is the most bytes any of the step's rows covers.
func (p Step) span() int {
	m := p.Payload
	rows := [][]Skb{p.Corked}
	for _, j := range p.Built {
		rows = append(rows, j.Skbs)
	}
	for _, q := range rows {
		n := 0
		for _, s := range q {
			n += s.Len()
		}
		m = max(m, n)
	}
	for _, f := range p.Frames {
		m = max(m, f.Offset+f.Len)
	}
	for _, r := range p.Reads {
		// Not the buffer: a default 65536-byte one would shrink the
		// datagram to a sliver.
		m = max(m, r.Copied, r.Datagram)
	}
	return max(m, 1)
}

// draw lays out step p from the canvas's current height.
func (c *canvas) draw(p Step) {
	c.scale = float64(barWidth) / float64(p.span())
	fmt.Fprintf(&c.b, "<g class=\"step\" id=\"step-%d\" data-step=\"%d\">\n", p.Index, p.Index)
	c.y += textLine + 4
	head := fmt.Sprintf("step %d: %s", p.Index, p.Call)
	if p.Result != "" {
		head += " = " + p.Result
	}
	c.text(4, c.y, "title", head)
	if len(p.Limits) > 0 {
		var parts []string
		for _, l := range p.Limits {
			parts = append(parts, fmt.Sprintf("%s %d", l.Name, l.Value))
		}
		c.y += textLine
		c.text(barLeft, c.y, "limits", strings.Join(parts, " · "))
	}
	if p.Payload > 0 {
		c.label(fmt.Sprintf("payload: %d bytes", p.Payload))
		c.bar(0, p.Payload, "payload", "payload", fmt.Sprintf("the %d bytes the call passed", p.Payload), "")
		c.next()
	}
	for k, j := range p.Built {
		c.queue(j.Skbs, fmt.Sprintf("datagram %d of the step: %d skb(s) joined by %s", k, len(j.Skbs), j.By), "built")
	}
	if len(p.Corked) > 0 {
		c.queue(p.Corked, fmt.Sprintf("queued, corked: %d skb(s) wait for more data or the uncork", len(p.Corked)), "corked")
	}
	for _, f := range p.Frames {
		c.frame(f)
	}
	for k, r := range p.Reads {
		c.read(k, r, p.span())
	}
	c.b.WriteString("</g>\n")
}

// read draws one recvmsg() call: the bytes copied, the datagram's tail
// that did not fit (MSG_TRUNC), and the buffer's unused room up to the
// step's widest row.
func (c *canvas) read(k int, r Read, span int) {
	c.label(fmt.Sprintf("recvmsg %d: %s", k, r.Text))
	fmt.Fprintf(&c.b, "<g class=\"read\" data-call=\"%d\" data-buffer=\"%d\" data-copied=\"%d\" data-datagram=\"%d\">\n", k, r.Buffer, r.Copied, r.Datagram)
	at := c.bar(0, r.Copied, "span", "copied", fmt.Sprintf("%d bytes copied into the %d-byte buffer", r.Copied, r.Buffer), "")
	if r.Datagram > r.Copied {
		at = c.bar(at, r.Datagram-r.Copied, "span", "truncated", fmt.Sprintf("%d bytes of the %d-byte datagram did not fit: MSG_TRUNC, discarded", r.Datagram-r.Copied, r.Datagram), "")
	}
	if room := min(r.Buffer-r.Copied, span-int(at)); room > 0 && r.Datagram <= r.Copied && r.Datagram >= 0 {
		c.bar(at, room, "span", "unused", fmt.Sprintf("the buffer's unused room (%d bytes in all)", r.Buffer-r.Copied), "")
	}
	c.b.WriteString("</g>\n")
	c.next()
}

// queue draws a queue of skbs side by side, each cut into its header
// room, linear and paged data, with the fraggap it took from the skb
// before marked.
func (c *canvas) queue(q []Skb, caption, kind string) {
	c.label(caption)
	fmt.Fprintf(&c.b, "<g class=\"queue\" data-kind=\"%s\" data-skbs=\"%d\">\n", kind, len(q))
	at := 0.0
	for i, s := range q {
		gap := float64(i*skbGap) / c.scale
		fmt.Fprintf(&c.b, "<g class=\"skb\" data-index=\"%d\" data-len=\"%d\" data-linear=\"%d\" data-paged=\"%d\" data-fraggap=\"%d\">\n", s.Index, s.Len(), s.Linear, s.Paged, s.Fraggap)
		tip := fmt.Sprintf("skb %d: len %d = fragheaderlen %d + %d linear + %d paged; alloclen %d", s.Index, s.Len(), s.Header, s.Linear, s.Paged, s.Alloclen)
		x := at + gap
		x = c.bar(x, s.Header, "part", "header", tip+" (header room)", "")
		fg := x
		x = c.bar(x, s.Linear, "part", "linear", tip+" (linear data)", "")
		c.bar(x, s.Paged, "part", "paged", tip+" (page fragments)", "")
		if s.Fraggap > 0 {
			fmt.Fprintf(&c.b, "<line class=\"fraggap\" x1=\"%.2f\" x2=\"%.2f\" y1=\"%d\" y2=\"%d\"><title>fraggap %d: moved from skb %d</title></line>\n",
				barLeft+fg*c.scale, barLeft+(fg+float64(s.Fraggap))*c.scale, c.y+rowHeight+2, c.y+rowHeight+2, s.Fraggap, s.Index-1)
		}
		c.b.WriteString("</g>\n")
		at += float64(s.Len())
	}
	c.b.WriteString("</g>\n")
	c.next()
}

// frame draws one frame at its offset in the datagram, cut into its
// spans.
func (c *canvas) frame(f Frame) {
	what := fmt.Sprintf("frame %d: %s", f.N, f.Kind)
	if f.Count > 1 {
		what += fmt.Sprintf(" %d of %d, offset %d", f.Index+1, f.Count, f.Offset)
	}
	if f.Dir != "" {
		what += " (sent by the " + string(f.Dir) + ")"
	}
	what += fmt.Sprintf(", %d bytes", f.Len)
	c.label(what)
	fmt.Fprintf(&c.b, "<g class=\"frame\" id=\"frame-%d\" data-frame=\"%d\" data-kind=\"%s\" data-offset=\"%d\" data-len=\"%d\">\n", f.N, f.N, f.Kind, f.Offset, f.Len)
	at := float64(f.Offset)
	for _, s := range f.Spans {
		at = c.bar(at, s.Bytes, "span", s.Name, fmt.Sprintf("%s, %d bytes: %s", s.Name, s.Bytes, s.Label), "")
	}
	c.b.WriteString("</g>\n")
	c.next()
}

const svgStyle = `<style>
text { font: 12px sans-serif; fill: #222; }
text.title { font-weight: bold; font-size: 13px; }
text.limits { fill: #555; }
rect { stroke: #fff; stroke-width: 0.5; }
line.fraggap { stroke: #d62728; stroke-width: 3; }
</style>
`

// stepSVG is one step's picture as a standalone <svg> element.
func stepSVG(p Step) string {
	var c canvas
	c.draw(p)
	c.y += 8
	return fmt.Sprintf("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"picture\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n%s%s</svg>\n",
		width, c.y, width, c.y, svgStyle, c.b.String())
}

// SVG writes the pictures of set as one SVG document, the steps one below
// the other, titled name.
func SVG(w io.Writer, name string, set Set) error {
	var c canvas
	c.y = textLine
	c.text(4, c.y, "title", "scenario "+name)
	for _, p := range set.Steps {
		c.y += 6
		c.draw(p)
	}
	if set.Omitted > 0 {
		c.y += textLine
		c.text(4, c.y, "note", fmt.Sprintf("%d of the run's %d frames are not drawn (at most %d are)", set.Omitted, set.Frames, MaxFrames))
	}
	c.y += 8
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"picture\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n%s",
		width, c.y, width, c.y, svgStyle)
	bw.WriteString(c.b.String())
	bw.WriteString("</svg>\n")
	return bw.Flush()
}
