package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/sluicehq/sluice/reports/record"
)

// Comparison is two runs side by side (before and after a config
// change): one table of the headline numbers, the failover tables, each
// time chart of both runs on the same axes, and both latency
// distributions on one chart.
type Comparison struct {
	A, B  *record.Run
	NameA string
	NameB string
	Rows  [][3]string // metric, A, B
	FailA [][]string
	FailB [][]string
	Head  []string
	// Fail interleaves both failover tables, fault by fault, with a
	// leading "run" cell.
	Fail   [][]string
	Pairs  []chartPair
	Dist   *Chart
	DistMD string
}

type chartPair struct {
	ID, Title, Note string
	A, B            *Chart
	SVGA, SVGB      htmltemplate.HTML
}

// Compare renders a against b. Names label the columns (e.g. the run
// directories).
func Compare(a, b *record.Run, nameA, nameB string) (*Comparison, error) {
	c := &Comparison{A: a, B: b, NameA: nameA, NameB: nameB}
	ca, cb := newChartSet(a), newChartSet(b)
	end := max(ca.endS, cb.endS)
	ca.setEnd(end)
	cb.setEnd(end)
	// First pass finds each chart's data maximum, the second draws both
	// runs on the same y scale.
	if _, err := ca.all(); err != nil {
		return nil, err
	}
	if _, err := cb.all(); err != nil {
		return nil, err
	}
	for id, v := range ca.seen {
		ca.yMax[id] = max(v, cb.seen[id])
	}
	for id, v := range cb.seen {
		ca.yMax[id] = max(ca.yMax[id], v)
	}
	cb.yMax = ca.yMax
	as, err := ca.all()
	if err != nil {
		return nil, err
	}
	bs, err := cb.all()
	if err != nil {
		return nil, err
	}
	byID := func(cs []Chart, id string) *Chart {
		for i := range cs {
			if cs[i].ID == id {
				return &cs[i]
			}
		}
		return nil
	}
	for _, id := range []string{ChartThroughput, ChartBacklog, ChartGauges, ChartLatencyTime, ChartActiveSinks, ChartActiveCounts} {
		x, y := byID(as, id), byID(bs, id)
		if x == nil && y == nil {
			continue
		}
		p := chartPair{ID: id, A: x, B: y}
		for _, ch := range []*Chart{x, y} {
			if ch != nil {
				p.Title, p.Note = ch.Title, ch.Note
			}
		}
		if x != nil {
			p.SVGA = htmltemplate.HTML(x.SVG)
		}
		if y != nil {
			p.SVGB = htmltemplate.HTML(y.SVG)
		}
		c.Pairs = append(c.Pairs, p)
	}
	var runs []distRun
	for _, x := range []struct {
		name string
		r    *record.Run
	}{{"A: " + nameA, a}, {"B: " + nameB, b}} {
		d, err := Distribution(x.r.Checker.Latency)
		if err != nil {
			return nil, err
		}
		runs = append(runs, distRun{name: x.name, dist: d, lat: x.r.Checker.Latency})
	}
	p, ok, err := distPlot(runs)
	if err != nil {
		return nil, err
	}
	if ok {
		c.Dist, err = newChartSet(a).make(p, chartW, chartH, ChartLatencyDist, "Latency distribution, both runs", distNote)
		if err != nil {
			return nil, err
		}
	}

	va, vb := newView(a, nil), newView(b, nil)
	row := func(name, x, y string) { c.Rows = append(c.Rows, [3]string{name, x, y}) }
	row("Scenario", a.Scenario, b.Scenario)
	row("Verdict", va.Verdict, vb.Verdict)
	row("Started", va.Start, vb.Start)
	row("Duration", va.Duration, vb.Duration)
	row("Faults", strconv.Itoa(len(a.Faults)), strconv.Itoa(len(b.Faults)))
	for i := range va.Summary {
		if i < len(vb.Summary) && va.Summary[i][0] == vb.Summary[i][0] {
			row(va.Summary[i][0], va.Summary[i][1], vb.Summary[i][1])
		}
	}
	for i, h := range va.LatencyHead {
		row("latency "+h, va.Latency[i], vb.Latency[i])
	}
	row("Drain after heal", drainAfter(a), drainAfter(b))
	row("Longest gap (any fault)", longestGap(a), longestGap(b))
	for _, k := range sortedKeys(union(a.Params, b.Params)) {
		if a.Params[k] != b.Params[k] {
			row("param "+k, a.Params[k], b.Params[k])
		}
	}
	c.Head, c.FailA, c.FailB = append([]string{"run"}, va.FailoverHead...), va.Failover, vb.Failover
	for i := range max(len(c.FailA), len(c.FailB)) {
		if i < len(c.FailA) {
			c.Fail = append(c.Fail, append([]string{"A"}, c.FailA[i]...))
		}
		if i < len(c.FailB) {
			c.Fail = append(c.Fail, append([]string{"B"}, c.FailB[i]...))
		}
	}
	return c, nil
}

func (cs *chartSet) setEnd(end float64) {
	cs.endS = end
	for i := range cs.faults {
		if cs.faults[i].open {
			cs.faults[i].to = end
		}
	}
}

func union(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func drainAfter(r *record.Run) string {
	ph := r.Phases
	if !ph.Drained {
		return "did not drain"
	}
	return fmt.Sprintf("%.1fs", float64(ph.DrainEndMs-ph.HealMs)/1000)
}

func longestGap(r *record.Run) string {
	var m int64
	for _, f := range r.Failover {
		m = max(m, f.LongestGapMs)
	}
	return fmt.Sprintf("%.2fs", float64(m)/1000)
}

// File names of a comparison.
const (
	CompareHTMLFile     = "compare.html"
	CompareMarkdownFile = "compare.md"
	CompareJSONFile     = "compare.json"
)

// WriteComparison writes compare.html, compare.md (with a-<chart>.svg and
// b-<chart>.svg beside it) and compare.json (both summaries) into dir.
func (c *Comparison) WriteComparison(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	var h, md bytes.Buffer
	if err := compareHTML.Execute(&h, c); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	if err := compareMD.Execute(&md, c); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	for _, p := range c.Pairs {
		for _, x := range []struct {
			pre string
			ch  *Chart
		}{{"a-", p.A}, {"b-", p.B}} {
			if x.ch != nil {
				if err := writeFile(filepath.Join(dir, x.pre+x.ch.File()), []byte(x.ch.Doc)); err != nil {
					return err
				}
			}
		}
	}
	if c.Dist != nil {
		if err := writeFile(filepath.Join(dir, c.Dist.File()), []byte(c.Dist.Doc)); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(map[string]any{
		"a": map[string]any{"name": c.NameA, "summary": NewSummary(c.A, nil)},
		"b": map[string]any{"name": c.NameB, "summary": NewSummary(c.B, nil)},
	}, "", " ")
	if err != nil {
		return fmt.Errorf("encode comparison: %w", err)
	}
	if err := writeFile(filepath.Join(dir, CompareJSONFile), append(js, '\n')); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, CompareMarkdownFile), md.Bytes()); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CompareHTMLFile), h.Bytes())
}

var compareHTML = htmltemplate.Must(htmltemplate.New("compare").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.NameA}} vs {{.NameB}} — comparison</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:96em;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1em;margin:.2em 0}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.diff{background:#fff6d6}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}
figure{margin:1.2em 0}
svg.chart{display:block;height:auto}
.note{color:#555;font-size:.88em}
@media print{body{margin:0;max-width:none;font-size:9pt}.pair,table,figure{break-inside:avoid}}
</style>
</head>
<body>
<h1>Comparison: A = {{.NameA}}, B = {{.NameB}}</h1>
<section id="numbers">
<table><tr><th></th><th>A: {{.NameA}}</th><th>B: {{.NameB}}</th></tr>
{{range .Rows}}<tr><th>{{index . 0}}</th><td{{if ne (index . 1) (index . 2)}} class="diff"{{end}}>{{index . 1}}</td><td{{if ne (index . 1) (index . 2)}} class="diff"{{end}}>{{index . 2}}</td></tr>
{{end}}</table>
<p class="note">Highlighted: the runs differ.</p>
</section>
<section id="failover">
<h2>Failover</h2>
{{if .Fail}}<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>{{range .Fail}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
<p class="note">Fault by fault, A then B; in parentheses the delay after the injection (after the heal for <em>failed back</em>).</p>{{else}}<p>Neither run injected a fault.</p>{{end}}
</section>
<section id="charts">
<h2>Charts</h2>
<p class="note">Both runs on the same axes; shaded bands are each run's fault windows.</p>
{{with .Dist}}<figure id="chart-{{.ID}}"><h3>{{.Title}}</h3>{{$.DistSVG}}<figcaption class="note">{{.Note}}</figcaption></figure>{{end}}
{{range .Pairs}}<figure id="chart-{{.ID}}"><h3>{{.Title}}</h3>
<div class="pair"><div>{{if .A}}{{.SVGA}}{{else}}<p>A has no data for this chart.</p>{{end}}</div><div>{{if .B}}{{.SVGB}}{{else}}<p>B has no data for this chart.</p>{{end}}</div></div>
<figcaption class="note">{{.Note}}</figcaption></figure>
{{end}}
</section>
</body>
</html>
`))

// DistSVG is the overlaid distribution chart as HTML.
func (c *Comparison) DistSVG() htmltemplate.HTML {
	if c.Dist == nil {
		return ""
	}
	return htmltemplate.HTML(c.Dist.SVG)
}

var compareMD = template.Must(template.New("comparemd").Funcs(funcs).Parse(`# Comparison: A = {{.NameA}}, B = {{.NameB}}

| | A | B |
|---|---|---|
{{- range .Rows}}
| {{cell (index . 0)}} | {{cell (index . 1)}} | {{cell (index . 2)}} |
{{- end}}

## Failover
{{if .Fail}}
{{row .Head}}
{{rule .Head}}
{{- range .Fail}}
{{row .}}
{{- end}}

Fault by fault, A then B; in parentheses the delay after the injection (after the heal for *failed back*).
{{else}}
Neither run injected a fault.
{{end}}
## Charts
{{with .Dist}}
### {{.Title}}

![{{.Title}}]({{.File}})
{{end}}
{{- range .Pairs}}
### {{.Title}}

| A | B |
|---|---|
| {{with .A}}![A]({{printf "a-%s" .File}}){{else}}no data{{end}} | {{with .B}}![B]({{printf "b-%s" .File}}){{else}}no data{{end}} |
{{end}}`))
