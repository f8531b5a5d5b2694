package picture

import (
	"bufio"
	"fmt"
	"html/template"
	"io"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/report"
)

// MaxEvents is how many explain lines an HTML report lists; a longer
// trace is cut and the report says so.
const MaxEvents = 50000

// Page is everything an HTML report shows of one run.
type Page struct {
	// Title names the run ("examples/fragmented.yaml").
	Title string
	// Scenario is the scenario file as udpbuild reads it (Marshal).
	Scenario string
	// Note, when set, is said at the top (a repeat: that is not drawn).
	Note string
	// Report is the run's report (its Steps and Setup are listed; its
	// frames are Set's).
	Report *report.Report
	// Set is the run's pictures.
	Set Set
	// Events is the explain trace.
	Events []builder.Event
}

type pageData struct {
	Page
	Pictures []template.HTML
	Frames   []Frame
	Events   []builder.Event
	Cut      int
}

// HTML writes p as one self-contained HTML document: no network, no
// external script or style. The frames table links every frame to its
// place in the pictures (#frame-N), each step to its picture (#step-N),
// and the explain trace can be filtered as one types. A small inline
// script checks, once the page has loaded, that every link resolves and
// records the result on the body (data-links="ok", or the missing
// targets), which the tests read in a real browser.
func HTML(w io.Writer, p Page) error {
	d := pageData{Page: p, Events: p.Events}
	if len(d.Events) > MaxEvents {
		d.Cut = len(d.Events) - MaxEvents
		d.Events = d.Events[:MaxEvents]
	}
	for _, st := range p.Set.Steps {
		// stepSVG escapes every text it writes (html.EscapeString).
		d.Pictures = append(d.Pictures, template.HTML(stepSVG(st)))
		d.Frames = append(d.Frames, st.Frames...)
	}
	bw := bufio.NewWriter(w)
	if err := page.Execute(bw, d); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return bw.Flush()
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"add": func(a, b int) int { return a + b },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>udpbuild: {{.Title}}</title>
<style>
body { font: 14px sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
tr:target, g:target rect { outline: 2px solid #d62728; }
.note { background: #fff3cd; padding: 0.4em 0.6em; }
.steps svg { display: block; margin-bottom: 1em; }
#filter { width: 30em; }
</style>
</head>
<body>
<h1>udpbuild: {{.Title}}</h1>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<p>Source: {{.Report.Source}}{{if .Report.Kernel}} ({{.Report.Kernel}}){{end}}; view {{.Report.View}};
features {{.Report.Features.Enabled}}; {{.Set.Frames}} frame(s){{if .Set.Omitted}}, of which {{.Set.Omitted}} are not drawn or listed (a report shows at most 10000){{end}}.</p>

<h2>Scenario</h2>
<pre>{{.Scenario}}</pre>

<h2>Steps</h2>
<table id="steps">
<tr><th>step</th><th>call</th><th>result</th><th>frames</th></tr>
{{range .Set.Steps}}<tr id="row-step-{{.Index}}"><td><a href="#step-{{.Index}}">{{.Index}}</a></td><td>{{.Call}}</td><td>{{.Result}}</td><td>{{len .Frames}}</td></tr>
{{end}}</table>

<h2>Frames</h2>
<table id="frames">
<tr><th>frame</th><th>step</th><th>datagram</th><th>kind</th><th>piece</th><th>offset</th><th>bytes</th><th>headers</th><th>why</th></tr>
{{range .Frames}}<tr id="row-frame-{{.N}}"><td><a href="#frame-{{.N}}">{{.N}}</a></td><td><a href="#step-{{.Step}}">{{.Step}}</a></td><td>{{.Datagram}}</td><td>{{.Kind}}{{if .Dir}} ({{.Dir}}){{end}}</td><td>{{add .Index 1}}/{{.Count}}</td><td>{{.Offset}}</td><td>{{.Len}}</td><td>{{range .Spans}}{{.Name}} {{.Bytes}}; {{end}}</td><td>{{.Why}}</td></tr>
{{end}}</table>

<h2>Pictures</h2>
<p>Every bar is to scale in bytes within its step. Grey: the header room every skb reserves (fragheaderlen);
blue: linear data; green: page fragments; a red line: the fraggap an skb took from the one before.
Frames sit at their offset in the datagram. Hover for the fields.</p>
<div class="steps">
{{range .Pictures}}{{.}}{{end}}
</div>

<h2>Explain</h2>
<p><input id="filter" type="search" placeholder="filter: a function, a variable, a value ..." aria-label="filter the trace"></p>
{{if .Cut}}<p class="note">The trace has {{.Cut}} more lines than shown.</p>{{end}}
<table id="trace">
<tr><th>step</th><th>function</th><th>variable</th><th>value</th><th>why</th></tr>
{{range .Events}}<tr><td>{{.Step}}</td><td>{{.Func}}</td><td>{{.Var}}</td><td>{{.Value}}</td><td>{{.Why}}</td></tr>
{{end}}</table>

<script>
(function () {
  var rows = document.querySelectorAll("#trace tr:not(:first-child)");
  document.getElementById("filter").addEventListener("input", function (e) {
    var q = e.target.value.toLowerCase();
    rows.forEach(function (r) { r.style.display = r.textContent.toLowerCase().indexOf(q) < 0 ? "none" : ""; });
  });
  var missing = [];
  document.querySelectorAll('a[href^="#"]').forEach(function (a) {
    var id = a.getAttribute("href").slice(1);
    if (!document.getElementById(id)) { missing.push(id); }
  });
  document.body.setAttribute("data-links", missing.length ? "missing " + missing.join(" ") : "ok");
  document.body.setAttribute("data-rendered", "1");
})();
</script>
</body>
</html>
`))
