package picture_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/picture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg from the current drawing (read the diff before committing it)")

// draw runs sc's steps once through the model and draws them.
func draw(t *testing.T, sc *scenario.Scenario) (picture.Set, *report.Report, []builder.Event) {
	t.Helper()
	once := *sc
	once.Repeat = 1
	var events []builder.Event
	var steps []report.Step
	rep, err := builder.Run(&once, builder.Options{View: report.Tap, Seed: 1,
		Trace: func(e builder.Event) { events = append(events, e) },
		Steps: func(_ int, r report.Step) error { steps = append(steps, r); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rep.Steps = steps
	return picture.Collect(&once, rep, events), rep, events
}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	return files
}

// node is an SVG element as the structure checks read it.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) num(t *testing.T, name string) int {
	t.Helper()
	v, err := strconv.Atoi(n.attr(name))
	if err != nil {
		t.Fatalf("<%s> %s=%q: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// all returns every element below n (n included) of the given class.
func (n node) all(class string) []node {
	var out []node
	if n.attr("class") == class {
		out = append(out, n)
	}
	for _, c := range n.Nodes {
		out = append(out, c.all(class)...)
	}
	return out
}

func parse(t *testing.T, b []byte) node {
	t.Helper()
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatalf("the SVG does not parse: %v", err)
	}
	return n
}

// sumBytes adds the data-bytes of n's rects.
func sumBytes(t *testing.T, n node) int {
	s := 0
	for _, c := range n.Nodes {
		if c.XMLName.Local == "rect" {
			s += c.num(t, "data-bytes")
		}
	}
	return s
}

// TestExamplesDrawn holds every bundled example's picture to the run it
// draws: one frame group per frame, its parts adding up to the frame's
// length with the header sizes the bytes say; one skb group per skb
// __ip_append_data allocated, its parts adding up to its length; each
// datagram's skbs carrying tot_len's bytes; the kernel's names in the
// labels.
func TestExamplesDrawn(t *testing.T) {
	for _, f := range examples(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			set, rep, events := draw(t, sc)
			var buf bytes.Buffer
			if err := picture.SVG(&buf, sc.Name, set); err != nil {
				t.Fatal(err)
			}
			doc := parse(t, buf.Bytes())
			frames := doc.all("frame")
			if len(frames) != len(rep.Frames) {
				t.Fatalf("%d frames drawn, the run has %d", len(frames), len(rep.Frames))
			}
			for i, g := range frames {
				want := rep.Frames[i]
				if g.num(t, "data-len") != want.Len || g.num(t, "data-offset") != want.Offset || g.attr("data-kind") != string(want.Kind) {
					t.Errorf("frame %d drawn as len %s offset %s kind %s, the run has %d %d %s", i, g.attr("data-len"), g.attr("data-offset"), g.attr("data-kind"), want.Len, want.Offset, want.Kind)
				}
				if s := sumBytes(t, g); s != want.Len {
					t.Errorf("frame %d: parts add up to %d bytes, the frame has %d", i, s, want.Len)
				}
				if first := g.Nodes[0]; first.attr("data-name") != "Ethernet" || first.num(t, "data-bytes") != 14 {
					t.Errorf("frame %d starts with %s %s, want Ethernet 14", i, first.attr("data-name"), first.attr("data-bytes"))
				}
			}
			var allocs, joins, joined int
			var totLens []int
			for _, e := range events {
				if e.Skb == nil {
					continue
				}
				switch e.Skb.Op {
				case builder.SkbAlloc:
					allocs++
				case builder.SkbJoin:
					joins++
					joined += e.Skb.Index
					n, _ := strconv.Atoi(e.Value)
					totLens = append(totLens, n-e.Skb.Fragheaderlen)
				}
			}
			var built []node
			for _, q := range doc.all("queue") {
				if q.attr("data-kind") == "built" {
					built = append(built, q)
				}
			}
			if len(built) != joins {
				t.Fatalf("%d datagrams drawn as built, the trace joined %d", len(built), joins)
			}
			skbs := 0
			for k, q := range built {
				data := 0
				for _, s := range q.all("skb") {
					skbs++
					if got, want := sumBytes(t, s), s.num(t, "data-len"); got != want {
						t.Errorf("an skb's parts add up to %d, its len is %d", got, want)
					}
					data += s.num(t, "data-linear") + s.num(t, "data-paged")
				}
				if k < len(totLens) && data != totLens[k] {
					t.Errorf("datagram %d: its skbs carry %d bytes of data, the joined datagram %d", k, data, totLens[k])
				}
			}
			if skbs != joined {
				t.Errorf("%d skbs drawn in built datagrams, the joins took %d", skbs, joined)
			}
			if allocs > 0 && !strings.Contains(buf.String(), "fragheaderlen") {
				t.Error("no label names fragheaderlen")
			}
		})
	}
}

// TestGoldenStructure compares each example's SVG with the one kept in
// testdata by its structure: every element's class, name, sizes and text,
// in order, never its coordinates or colours. -update rewrites them.
func TestGoldenStructure(t *testing.T) {
	for _, f := range examples(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			set, _, _ := draw(t, sc)
			var buf bytes.Buffer
			if err := picture.SVG(&buf, sc.Name, set); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".svg")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./picture -run TestGoldenStructure -update writes it)", err)
			}
			got, exp := structure(parse(t, buf.Bytes())), structure(parse(t, want))
			for i := range max(len(got), len(exp)) {
				g, e := "(none)", "(none)"
				if i < len(got) {
					g = got[i]
				}
				if i < len(exp) {
					e = exp[i]
				}
				if g != e {
					t.Fatalf("element %d differs from %s:\n got  %s\n want %s", i, golden, g, e)
				}
			}
		})
	}
}

// structure lists n's elements as "tag class name bytes data-*: text",
// leaving out what only places or paints them.
func structure(n node) []string {
	var out []string
	var walk func(node)
	walk = func(n node) {
		if n.XMLName.Local == "style" {
			return
		}
		var b strings.Builder
		b.WriteString(n.XMLName.Local)
		for _, a := range n.Attrs {
			switch a.Name.Local {
			case "x", "y", "x1", "x2", "y1", "y2", "width", "height", "viewBox", "fill":
				continue
			}
			fmt.Fprintf(&b, " %s=%q", a.Name.Local, a.Value)
		}
		if t := strings.TrimSpace(n.Text); t != "" {
			b.WriteString(": " + t)
		}
		out = append(out, b.String())
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	walk(n)
	return out
}

// TestHTMLIsSelfContained: the report names no outside resource, links
// every frame to an element of the page, and escapes what it shows.
func TestHTMLIsSelfContained(t *testing.T) {
	sc, err := scenario.Load("../examples/fragmented.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = `<script>alert("x")</script>`
	set, rep, events := draw(t, sc)
	var buf bytes.Buffer
	if err := picture.HTML(&buf, picture.Page{Title: sc.Name, Scenario: "name: x", Report: rep, Set: set, Events: events}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"http://", "https://", "src=", `<script>alert`} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	for i := range rep.Frames {
		for _, want := range []string{fmt.Sprintf(`href="#frame-%d"`, i), fmt.Sprintf(`id="frame-%d"`, i)} {
			if !strings.Contains(page, want) {
				t.Errorf("no %s", want)
			}
		}
	}
}

// TestManyFramesSummarised: a run beyond MaxFrames draws MaxFrames and
// counts the rest.
func TestManyFramesSummarised(t *testing.T) {
	sc, err := scenario.Parse([]byte("link: {mtu: 576}\nsteps:\n"+strings.Repeat("  - send: {len: 65000}\n", 100)), "")
	if err != nil {
		t.Fatal(err)
	}
	set, rep, _ := draw(t, sc)
	drawn := 0
	for _, s := range set.Steps {
		drawn += len(s.Frames)
	}
	if len(rep.Frames) <= picture.MaxFrames || drawn != picture.MaxFrames || set.Omitted != len(rep.Frames)-picture.MaxFrames {
		t.Fatalf("%d frames, %d drawn, %d omitted", len(rep.Frames), drawn, set.Omitted)
	}
	if err := picture.SVG(io.Discard, "many", set); err != nil {
		t.Fatal(err)
	}
}

// TestReadsDrawn: a recv step's calls are drawn as the bytes copied, the
// tail MSG_TRUNC discarded (when the length was asked for) and the
// buffer's unused room.
func TestReadsDrawn(t *testing.T) {
	sc, err := scenario.Parse([]byte("steps:\n  - send: {len: 1000}\n  - recv: {socket: 0, len: 100, flags: [MSG_TRUNC], count: 3}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	rep := &report.Report{Steps: []report.Step{{Op: "send", Ret: 1000}, {Op: "recv", Recv: []report.Recv{
		{Ret: 1000, Len: 100, MsgFlags: []string{"MSG_TRUNC"}, From: "10.0.0.1:40000"},
		{Ret: 40, Len: 40},
		{Err: 11},
	}}}}
	set := picture.Collect(sc, rep, nil)
	got := set.Steps[1].Reads
	want := []picture.Read{{Buffer: 100, Copied: 100, Datagram: 1000}, {Buffer: 100, Copied: 40, Datagram: 40}, {Buffer: 100, Copied: 0, Datagram: 0}}
	if len(got) != len(want) {
		t.Fatalf("reads %+v", got)
	}
	for i := range want {
		if got[i].Buffer != want[i].Buffer || got[i].Copied != want[i].Copied || got[i].Datagram != want[i].Datagram || got[i].Text == "" {
			t.Errorf("read %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	var buf bytes.Buffer
	if err := picture.SVG(&buf, "r", set); err != nil {
		t.Fatal(err)
	}
	reads := parse(t, buf.Bytes()).all("read")
	if len(reads) != 3 {
		t.Fatalf("%d reads drawn", len(reads))
	}
	names := func(n node) (out []string) {
		for _, r := range n.Nodes {
			out = append(out, fmt.Sprintf("%s %s", r.attr("data-name"), r.attr("data-bytes")))
		}
		return out
	}
	if g := strings.Join(names(reads[0]), ", "); g != "copied 100, truncated 900" {
		t.Errorf("the truncated read is drawn as %s", g)
	}
	if g := strings.Join(names(reads[1]), ", "); g != "copied 40, unused 60" {
		t.Errorf("the short read is drawn as %s", g)
	}
	if !strings.Contains(buf.String(), "MSG_TRUNC") || !strings.Contains(buf.String(), "EAGAIN") {
		t.Error("the calls' outcomes are not written")
	}
}
