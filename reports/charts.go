package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sluicehq/sluice/reports/record"
)

// Charts are drawn with gonum.org/v1/plot and its SVG backend (vgsvg), in
// the manner of Jepsen's perf plots: time on x, every fault window shaded
// and labelled, phase boundaries as dashed lines.

// Chart is one rendered chart.
type Chart struct {
	ID    string // file name stem and HTML id: "throughput", "backlog", ...
	Title string
	Note  string // one sentence under the chart saying how to read it
	SVG   string // the <svg> element, inline-ready
	// Doc is the standalone SVG document (written as File next to
	// report.md).
	Doc string
}

// File is the chart's SVG file name next to report.md.
func (c Chart) File() string { return c.ID + ".svg" }

// Chart ids, in page order.
const (
	ChartThroughput   = "throughput"
	ChartBacklog      = "backlog"
	ChartGauges       = "gauges"
	ChartLatencyTime  = "latency-time"
	ChartLatencyDist  = "latency-distribution"
	ChartActiveSinks  = "active-sinks"
	ChartActiveCounts = "active-counts"
)

// maxPoints caps the points of one series in a chart. Longer series are
// downsampled into buckets (rates averaged, backlog and latency peaks
// kept); the latency distribution and the percentile table always come
// from the full histogram and are exact.
const maxPoints = 600

const (
	chartW vg.Length = 760
	chartH vg.Length = 250
)

func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// Line colours (Okabe–Ito, readable by the colour blind and in print).
var palette = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky
	{0x00, 0x00, 0x00, 0xff}, // black
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
}

func lineColor(i int) color.NRGBA { return palette[i%len(palette)] }

// Fault windows: translucent fills, one distinct colour per fault so the
// SVG paths can be told apart (and tagged with the fault's id).
var faultBase = []color.NRGBA{
	{0xE0, 0x40, 0x40, 0x30}, {0x90, 0x50, 0xD0, 0x30}, {0xE0, 0x90, 0x20, 0x30}, {0x30, 0x90, 0x90, 0x30},
}

// chartSet builds the charts of one run; faults and phases are shared by
// every time chart.
type chartSet struct {
	r      *record.Run
	endS   float64 // x axis end, seconds
	faults []faultWindow
	// tags maps a fault window's exact SVG fill style to its fault id.
	tags map[string]int
	// yMax fixes a chart's y maximum (compare mode: both runs on one
	// scale); seen is each chart's data maximum as drawn.
	yMax, seen map[string]float64
}

type faultWindow struct {
	id       int
	label    string
	from, to float64 // seconds
	open     bool    // never healed
	fill     color.NRGBA
}

func newChartSet(r *record.Run) *chartSet {
	cs := &chartSet{r: r, tags: map[string]int{}, yMax: map[string]float64{}, seen: map[string]float64{}}
	cs.endS = float64(r.DurationMs) / 1000
	if s := r.Series; s.IntervalMs > 0 {
		cs.endS = max(cs.endS, float64(int64(len(s.Written))*s.IntervalMs)/1000)
	}
	if cs.endS <= 0 {
		cs.endS = 1
	}
	used := map[string]bool{}
	for i, f := range r.Faults {
		w := faultWindow{id: f.ID, label: fmt.Sprintf("#%d %s", f.ID, f.Name), from: float64(f.InjectedMs) / 1000}
		if f.HealedMs != nil {
			w.to = float64(*f.HealedMs) / 1000
		} else {
			w.to, w.open = cs.endS, true
		}
		// Shift the colour by steps too small to see until its SVG style
		// is unique (steps of 2: vgsvg's rounding may merge neighbours).
		base := faultBase[i%len(faultBase)]
		c := base
		for k := 0; k < 1024; k++ {
			c = base
			c.R -= byte(2 * (k % 32))
			c.G -= byte(2 * (k / 32))
			if !used[fillStyle(c)] {
				break
			}
		}
		used[fillStyle(c)] = true
		w.fill = c
		cs.tags[fillStyle(c)] = f.ID
		cs.faults = append(cs.faults, w)
	}
	return cs
}

// fillStyle is the style vgsvg writes for a fill in colour c (its own
// un-premultiplying arithmetic, reproduced).
func fillStyle(c color.Color) string {
	r, g, b, a := c.RGBA()
	k := 255.0 / float64(a)
	return fmt.Sprintf("fill:#%02X%02X%02X;fill-opacity:%.*g", int(float64(r)*k), int(float64(g)*k), int(float64(b)*k), 5, float64(a)/math.MaxUint16)
}

// Charts renders every chart the record has data for, in page order.
func Charts(r *record.Run) ([]Chart, error) { return newChartSet(r).all() }

func (cs *chartSet) all() ([]Chart, error) {
	type build func() (*Chart, error)
	var out []Chart
	for _, b := range []build{cs.throughput, cs.backlog, cs.gauges, cs.latencyTime, cs.latencyDist, cs.activeSinks, cs.activeCounts} {
		c, err := b()
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// --- downsampling ---

type agg int

const (
	aggRate   agg = iota // sum per bucket / bucket seconds
	aggMax               // peak in the bucket
	aggMedian            // median of the bucket's values
)

// step is how many intervals one plotted point covers.
func step(n int) int { return max(1, (n+maxPoints-1)/maxPoints) }

// points turns a per-interval series into plotted points; with skipZero,
// zeros (no data) end a segment. x is the bucket's start, in seconds.
func points(v []int64, intervalMs int64, a agg, scale float64, skipZero bool) []plotter.XYs {
	st := step(len(v))
	var segs []plotter.XYs
	var cur plotter.XYs
	buf := make([]int64, 0, st)
	for i := 0; i < len(v); i += st {
		j := min(i+st, len(v))
		buf = buf[:0]
		for _, x := range v[i:j] {
			if !skipZero || x != 0 {
				buf = append(buf, x)
			}
		}
		x := float64(int64(i)*intervalMs) / 1000
		if len(buf) == 0 {
			if skipZero {
				if len(cur) > 0 {
					segs = append(segs, cur)
				}
				cur = nil
				continue
			}
			buf = append(buf, 0)
		}
		var y float64
		switch a {
		case aggRate:
			var s int64
			for _, b := range buf {
				s += b
			}
			y = float64(s) / (float64(int64(j-i)*intervalMs) / 1000)
		case aggMax:
			m := buf[0]
			for _, b := range buf {
				m = max(m, b)
			}
			y = float64(m)
		case aggMedian:
			s := append([]int64(nil), buf...)
			sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
			y = float64(s[len(s)/2])
		}
		cur = append(cur, plotter.XY{X: x, Y: y * scale})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// --- plot scaffolding ---

func (cs *chartSet) timePlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	_ = title // the page's heading names the chart
	p.X.Label.Text = "time since start (s)"
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{n: 5}
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 0, cs.endS
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = 10
	p.Legend.Padding = vg.Points(1.5)
	p.Add(plotter.NewGrid())
	p.Add(&windows{cs: cs})
	return p
}

func addLine(p *plot.Plot, name string, segs []plotter.XYs, c color.Color, dashed bool) error {
	for i, s := range segs {
		l, err := plotter.NewLine(s)
		if err != nil {
			return fmt.Errorf("chart line %s: %w", name, err)
		}
		l.LineStyle.Color = c
		l.LineStyle.Width = vg.Points(1.3)
		if dashed {
			l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		if i == 0 {
			p.Legend.Add(name, l)
		}
	}
	return nil
}

var svgHead = regexp.MustCompile(`(?s)^.*?<svg width="([0-9.]+)pt" height="([0-9.]+)pt"`)
var faultFill = regexp.MustCompile(`<path d="([^"]*)" style="(fill:#[0-9A-F]{6};fill-opacity:[0-9.e-]+)"`)

// render draws p and returns the inline <svg>, fault windows tagged with
// class="fault-window fault-N" and data-fault="N".
func (cs *chartSet) render(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render chart: %w", err)
	}
	s := faultFill.ReplaceAllStringFunc(b.String(), func(m string) string {
		sm := faultFill.FindStringSubmatch(m)
		id, ok := cs.tags[sm[2]]
		if !ok {
			return m
		}
		return fmt.Sprintf(`<path class="fault-window fault-%d" data-fault="%d" d="%s" style="%s"`, id, id, sm[1], sm[2])
	})
	return s, nil
}

// inline turns a standalone SVG document into an element for the page:
// no XML prolog or comment, scaling with the page (the viewBox keeps its
// proportions).
func inline(doc string) string {
	return svgHead.ReplaceAllString(doc, `<svg class="chart" width="100%" style="max-width:${1}pt" role="img"`)
}

// windows draws the fault windows (shaded, labelled with the fault's id
// and name) and the phase boundaries (dashed) behind a time chart's data.
type windows struct{ cs *chartSet }

func (wd *windows) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	lab := text.Style{Color: color.NRGBA{0x55, 0x22, 0x22, 0xff}, Font: font.From(plot.DefaultFont, 8), Handler: p.Title.TextStyle.Handler}
	lh := lab.Height("#")
	rowsEnd := map[int]vg.Length{} // label rows: where the last label ended
	for _, f := range wd.cs.faults {
		x0, x1 := max(trX(f.from), c.Min.X), min(trX(f.to), c.Max.X)
		if x1 < x0 {
			continue
		}
		if x1-x0 < vg.Points(1.5) {
			x1 = x0 + vg.Points(1.5)
		}
		c.SetColor(f.fill)
		c.Fill(rect(x0, c.Min.Y, x1, c.Max.Y))
		// Label: the full "#id name" when it fits in a free row, else
		// the id alone.
		label := f.label
		if lab.Width(label) > max(x1-x0, vg.Points(60)) {
			label = "#" + strconv.Itoa(f.id)
		}
		row := 0
		for ; row < 6; row++ {
			if rowsEnd[row] <= x0 {
				break
			}
		}
		if row == 6 {
			continue // crowded: the shading and the fault table suffice
		}
		rowsEnd[row] = x0 + lab.Width(label) + vg.Points(3)
		c.FillText(lab, vg.Point{X: x0 + vg.Points(1.5), Y: c.Max.Y - lh*vg.Length(row+1)}, label)
	}
	ph := wd.cs.r.Phases
	ls := draw.LineStyle{Color: color.NRGBA{0x66, 0x66, 0x66, 0xff}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(3)}}
	small := text.Style{Color: color.NRGBA{0x55, 0x55, 0x55, 0xff}, Font: font.From(plot.DefaultFont, 7), Handler: p.Title.TextStyle.Handler, Rotation: math.Pi / 2, XAlign: draw.XLeft, YAlign: draw.YTop}
	type mark struct {
		x    vg.Length
		name string
	}
	var marks []mark
	for _, m := range []struct {
		ms   int64
		name string
	}{{ph.LoadEndMs, "load end"}, {ph.HealMs, "healed"}, {ph.DrainEndMs, "drained"}} {
		if m.ms <= 0 {
			continue
		}
		x := trX(float64(m.ms) / 1000)
		if x < c.Min.X || x > c.Max.X {
			continue
		}
		// Marks closer than a label's height share one label.
		if n := len(marks); n > 0 && x-marks[n-1].x < vg.Points(9) {
			marks[n-1].name += ", " + m.name
			continue
		}
		marks = append(marks, mark{x, m.name})
	}
	for _, m := range marks {
		c.StrokeLine2(ls, m.x, c.Min.Y, m.x, c.Max.Y)
		c.FillText(small, vg.Point{X: m.x + vg.Points(1), Y: c.Min.Y + vg.Points(2)}, m.name)
	}
}

func rect(x0, y0, x1, y1 vg.Length) vg.Path {
	var p vg.Path
	p.Move(vg.Point{X: x0, Y: y0})
	p.Line(vg.Point{X: x1, Y: y0})
	p.Line(vg.Point{X: x1, Y: y1})
	p.Line(vg.Point{X: x0, Y: y1})
	p.Close()
	return p
}

// niceTicks marks a linear axis every 1, 2 or 5 × 10^k, about n labelled
// ticks (10 when n is 0), with unlabelled ticks in between.
type niceTicks struct{ n int }

func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi <= lo {
		return nil
	}
	n := t.n
	if n <= 0 {
		n = 10
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	st := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			st = m * mag
			break
		}
	}
	var out []plot.Tick
	for v := math.Ceil(lo/st) * st; v <= hi+st*1e-9; v += st / 2 {
		t := plot.Tick{Value: v}
		if k := math.Round(v / st * 2); int64(k)%2 == 0 {
			t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			if st < 1 {
				t.Label = strconv.FormatFloat(v, 'f', int(math.Ceil(-math.Log10(st))), 64)
			}
		}
		out = append(out, t)
	}
	return out
}

// --- the charts ---

func (cs *chartSet) throughput() (*Chart, error) {
	s := cs.r.Series
	if s.IntervalMs <= 0 || len(s.Written) == 0 {
		return nil, nil
	}
	p := cs.timePlot("Events written vs delivered", "events / s")
	if err := addLine(p, "written", points(s.Written, s.IntervalMs, aggRate, 1, false), lineColor(0), false); err != nil {
		return nil, err
	}
	if err := addLine(p, "delivered (first copies)", points(s.Delivered, s.IntervalMs, aggRate, 1, false), lineColor(2), false); err != nil {
		return nil, err
	}
	if anyNonZero(s.Duplicates) {
		if err := addLine(p, "duplicates", points(s.Duplicates, s.IntervalMs, aggRate, 1, false), lineColor(1), true); err != nil {
			return nil, err
		}
	}
	entries := 2
	if anyNonZero(s.Duplicates) {
		entries++
	}
	cs.fixY(p, ChartThroughput, entries)
	return cs.chart(p, ChartThroughput, "Events written vs delivered per second",
		"Delivered dropping below written means events wait in channels (or are stuck); delivered above written afterwards is the backlog draining.")
}

func anyNonZero(v []int64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}

func (cs *chartSet) fixY(p *plot.Plot, id string, entries int) {
	p.Y.Min = 0
	cs.seen[id] = p.Y.Max
	if m, ok := cs.yMax[id]; ok && m > p.Y.Max {
		p.Y.Max = m
	}
	// Headroom so the lines stay clear of the legend at the top.
	p.Y.Max *= 1 + 0.08*float64(max(entries, 1))
}

func (cs *chartSet) chart(p *plot.Plot, id, title, note string) (*Chart, error) {
	return cs.make(p, chartW, chartH, id, title, note)
}

func (cs *chartSet) make(p *plot.Plot, w, h vg.Length, id, title, note string) (*Chart, error) {
	doc, err := cs.render(p, w, h)
	if err != nil {
		return nil, err
	}
	return &Chart{ID: id, Title: title, Note: note, SVG: inline(doc), Doc: doc}, nil
}

// Tiers splits the record's Backlog keys into channel-backlog tiers and
// other gauges. Records of format v1 written before Series.Gauges existed
// kept gauges in Backlog: a key is a channel tier when a topology node has
// that tier (or no node declares tiers), "active:" keys are active-sink
// counts, anything else is a gauge.
func Tiers(r *record.Run) (tiers, gauges []string, active map[string][]int64) {
	known := map[string]bool{}
	for _, n := range r.Topology.Nodes {
		if n.Tier != "" {
			known[n.Tier] = true
		}
	}
	active = map[string][]int64{}
	for k, v := range r.Series.ActiveCount {
		active[k] = v
	}
	for _, k := range sortedKeys(r.Series.Backlog) {
		switch {
		case strings.HasPrefix(k, "active:"):
			if _, ok := active[strings.TrimPrefix(k, "active:")]; !ok {
				active[strings.TrimPrefix(k, "active:")] = r.Series.Backlog[k]
			}
		case len(known) == 0 || known[k]:
			tiers = append(tiers, k)
		default:
			gauges = append(gauges, k)
		}
	}
	for _, k := range sortedKeys(r.Series.Gauges) {
		if _, dup := r.Series.Backlog[k]; !dup {
			gauges = append(gauges, k)
		}
	}
	sort.Strings(gauges)
	return tiers, gauges, active
}

func gauge(r *record.Run, k string) []int64 {
	if v, ok := r.Series.Gauges[k]; ok {
		return v
	}
	return r.Series.Backlog[k]
}

func (cs *chartSet) backlog() (*Chart, error) {
	s := cs.r.Series
	tiers, _, _ := Tiers(cs.r)
	if s.IntervalMs <= 0 || len(tiers) == 0 {
		return nil, nil
	}
	p := cs.timePlot("Channel backlog per tier", "events in channels")
	for i, t := range tiers {
		if err := addLine(p, t+" channels", points(s.Backlog[t], s.IntervalMs, aggMax, 1, false), lineColor(i), false); err != nil {
			return nil, err
		}
	}
	cs.fixY(p, ChartBacklog, len(tiers))
	return cs.chart(p, ChartBacklog, "Backlog per tier",
		"Events waiting in each tier's channels (summed over the tier's nodes, peak per point). A rising line during a fault is back-pressure at work; it must come back to zero after the heal.")
}

func (cs *chartSet) gauges() (*Chart, error) {
	s := cs.r.Series
	_, gs, _ := Tiers(cs.r)
	if s.IntervalMs <= 0 || len(gs) == 0 {
		return nil, nil
	}
	p := cs.timePlot("Other gauges", "value")
	for i, g := range gs {
		if err := addLine(p, g, points(gauge(cs.r, g), s.IntervalMs, aggMax, 1, false), lineColor(i+3), false); err != nil {
			return nil, err
		}
	}
	cs.fixY(p, ChartGauges, len(gs))
	return cs.chart(p, ChartGauges, "Other gauges", "Further per-interval gauges the run recorded (peak per point).")
}

func (cs *chartSet) latencyTime() (*Chart, error) {
	s := cs.r.Series
	if s.IntervalMs <= 0 || !anyNonZero(s.LatencyMaxUs) {
		return nil, nil
	}
	p := cs.timePlot("Delivery latency over time (by write time)", "latency (ms, log)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	series := []struct {
		name string
		v    []int64
		a    agg
	}{{"p50", s.LatencyP50Us, aggMedian}, {"p99", s.LatencyP99Us, aggMax}, {"max", s.LatencyMaxUs, aggMax}}
	lo, hi := math.Inf(1), 0.0
	for i, x := range series {
		segs := points(x.v, s.IntervalMs, x.a, 0.001, true)
		for _, sg := range segs {
			for _, pt := range sg {
				lo, hi = min(lo, pt.Y), max(hi, pt.Y)
			}
		}
		if err := addLine(p, x.name, segs, lineColor(i), i == 0); err != nil {
			return nil, err
		}
	}
	if hi == 0 {
		return nil, nil
	}
	p.Y.Min, p.Y.Max = decadeBelow(lo), decadeAbove(hi)
	cs.seen[ChartLatencyTime] = hi
	if m, ok := cs.yMax[ChartLatencyTime]; ok && m > p.Y.Max {
		p.Y.Max = decadeAbove(m)
	}
	note := "Latency of the events written in each interval (p50 median of the interval values, p99 and max the peak per point when downsampled). Gaps: no event written then was delivered."
	return cs.chart(p, ChartLatencyTime, "Delivery latency over time", note)
}

func decadeBelow(v float64) float64 {
	if v <= 0 {
		return 0.001
	}
	return math.Pow(10, math.Floor(math.Log10(v)))
}

func decadeAbove(v float64) float64 {
	if v <= 0 {
		return 1
	}
	return math.Pow(10, math.Ceil(math.Log10(v)+1e-9))
}

// Distribution is the latency percentile curve from the record's HDR
// histogram: (quantile, microseconds) pairs, exact to the histogram's
// precision. Nil when the record has no histogram.
func Distribution(l record.Latency) ([][2]float64, error) {
	if l.Histogram == "" {
		return nil, nil
	}
	if _, err := base64.StdEncoding.DecodeString(l.Histogram); err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	h, err := hdrhistogram.Decode([]byte(l.Histogram))
	if err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	n := h.TotalCount()
	if n == 0 {
		return nil, nil
	}
	var out [][2]float64
	// 20 points per decade of 1/(1-q), up to the last event.
	top := math.Log10(float64(n))
	for k := 0; ; k++ {
		d := float64(k) / 20
		if d > top {
			break
		}
		q := 1 - math.Pow(10, -d)
		out = append(out, [2]float64{q, float64(h.ValueAtQuantile(q * 100))})
	}
	out = append(out, [2]float64{1 - 1/float64(n), float64(h.Max())})
	return out, nil
}

var percentileTicks = []struct {
	x     float64
	label string
}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1e3, "99.9%"}, {1e4, "99.99%"}, {1e5, "99.999%"}, {1e6, "99.9999%"}, {1e7, "99.99999%"}}

// distPlot draws one or more percentile curves (compare mode overlays).
func distPlot(runs []distRun) (*plot.Plot, bool, error) {
	p := plot.New()
	p.X.Label.Text = "percentile (log scale on 1/(1−q))"
	p.Y.Label.Text = "latency (ms, log)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = 10
	p.Legend.Padding = vg.Points(1.5)
	p.Add(plotter.NewGrid())
	lo, hi, xmax := math.Inf(1), 0.0, 10.0
	any := false
	for i, rn := range runs {
		var xy plotter.XYs
		for _, d := range rn.dist {
			v := max(d[1], 1) / 1000
			xy = append(xy, plotter.XY{X: 1 / (1 - d[0]), Y: v})
			if d[0] >= 0.1 { // the y axis starts near p10: the few fastest events would squash the rest
				lo = min(lo, v)
			}
			hi, xmax = max(hi, v), max(xmax, 1/(1-d[0]))
		}
		if len(xy) == 0 {
			continue
		}
		any = true
		if err := addLine(p, rn.name, []plotter.XYs{xy}, lineColor(i), false); err != nil {
			return nil, false, err
		}
		// The record's exact percentiles as points on the curve.
		l := rn.lat
		var marks plotter.XYs
		for _, m := range []struct {
			q  float64
			us int64
		}{{0.5, l.P50Us}, {0.9, l.P90Us}, {0.99, l.P99Us}, {0.999, l.P999Us}} {
			if m.us > 0 && 1/(1-m.q) <= xmax*1.0001 {
				marks = append(marks, plotter.XY{X: 1 / (1 - m.q), Y: float64(m.us) / 1000})
			}
		}
		if len(marks) > 0 {
			sc, err := plotter.NewScatter(marks)
			if err != nil {
				return nil, false, fmt.Errorf("chart percentiles: %w", err)
			}
			sc.GlyphStyle.Color = lineColor(i)
			sc.GlyphStyle.Radius = vg.Points(2.5)
			p.Add(sc)
		}
	}
	if !any {
		return nil, false, nil
	}
	var ticks plot.ConstantTicks
	for _, t := range percentileTicks {
		if t.x <= xmax*1.0001 {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = 1, xmax
	if math.IsInf(lo, 1) {
		lo = hi
	}
	p.Y.Min, p.Y.Max = decadeBelow(lo), decadeAbove(hi)
	return p, true, nil
}

type distRun struct {
	name string
	dist [][2]float64
	lat  record.Latency
}

const distNote = "Every delivered event's latency from the HDR histogram, exact to its precision: x is the percentile on a log scale of 1/(1−q), so the tail gets as much room as the median; dots are the reported p50, p90, p99 and p99.9."

func (cs *chartSet) latencyDist() (*Chart, error) {
	d, err := Distribution(cs.r.Checker.Latency)
	if err != nil || d == nil {
		return nil, err
	}
	p, ok, err := distPlot([]distRun{{"all delivered events", d, cs.r.Checker.Latency}})
	if err != nil || !ok {
		return nil, err
	}
	return cs.make(p, chartW, chartH, ChartLatencyDist, "Latency distribution", distNote)
}

// maxSinkRows caps the rows of the active-sink timeline.
const maxSinkRows = 40

// activeSinks draws one row per sink group, coloured by the sink that
// carried the group's traffic, so failover and failback show as colour
// changes inside fault windows.
func (cs *chartSet) activeSinks() (*Chart, error) {
	as := cs.r.ActiveSinks
	if len(as) == 0 {
		return nil, nil
	}
	if len(as) > maxSinkRows {
		as = as[:maxSinkRows]
	}
	targets := map[string]string{} // sink -> target, for the legend
	for _, n := range cs.r.Topology.Nodes {
		for _, g := range n.Groups {
			for _, s := range g.Sinks {
				targets[s.Name] = s.Target
			}
		}
	}
	sinks := map[string]int{}
	var order []string
	for _, a := range as {
		for _, c := range a.Changes {
			if _, ok := sinks[c.Sink]; !ok && c.Sink != "" {
				sinks[c.Sink] = len(order)
				order = append(order, c.Sink)
			}
		}
	}
	p := cs.timePlot("Active sink per sink group", "")
	entries := len(order)
	if hasNone(as) {
		entries++
	}
	// Headroom above the rows for the legend and the fault labels.
	p.Y.Min, p.Y.Max = -0.5, float64(len(as))-0.5+0.6*float64(entries)+0.4
	var ticks plot.ConstantTicks
	for i, a := range as {
		ticks = append(ticks, plot.Tick{Value: float64(len(as) - 1 - i), Label: a.Node + "/" + a.Group})
	}
	p.Y.Tick.Marker = ticks
	p.Add(&gantt{cs: cs, rows: as, sinks: sinks})
	for _, s := range order {
		name := s
		if t := targets[s]; t != "" {
			name += " → " + t
		}
		p.Legend.Add(name, swatch(lineColor(sinks[s])))
	}
	if hasNone(as) {
		p.Legend.Add("no sink delivering", swatch(noneColor))
	}
	h := vg.Points(80) + vg.Points(22)*(vg.Length(len(as))+0.6*vg.Length(entries)+0.4)
	note := "Which sink carried each group's traffic when (from the SINKGROUP metrics, or inferred from per-sink drain counts): a colour change inside a fault window is a failover, one after the heal a failback."
	if len(cs.r.ActiveSinks) > maxSinkRows {
		note += fmt.Sprintf(" The first %d of %d groups are shown.", maxSinkRows, len(cs.r.ActiveSinks))
	}
	return cs.make(p, chartW, h, ChartActiveSinks, "Active sink per sink group", note)
}

var noneColor = color.NRGBA{0xBB, 0xBB, 0xBB, 0xff}

func hasNone(as []record.ActiveSink) bool {
	for _, a := range as {
		for _, c := range a.Changes {
			if c.Sink == "" {
				return true
			}
		}
	}
	return false
}

type swatch color.NRGBA

func (s swatch) Thumbnail(c *draw.Canvas) {
	c.SetColor(color.NRGBA(s))
	c.Fill(c.Rectangle.Path())
}

type gantt struct {
	cs    *chartSet
	rows  []record.ActiveSink
	sinks map[string]int
}

func (g *gantt) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	minW := (c.Max.X - c.Min.X) / 1000 // narrower segments merge into the next
	for i, a := range g.rows {
		y := float64(len(g.rows) - 1 - i)
		y0, y1 := trY(y-0.35), trY(y+0.35)
		ch := append([]record.SinkChange(nil), a.Changes...)
		sort.SliceStable(ch, func(i, j int) bool { return ch[i].AtMs < ch[j].AtMs })
		for k, s := range ch {
			end := g.cs.endS
			if k+1 < len(ch) {
				end = float64(ch[k+1].AtMs) / 1000
			}
			x0, x1 := max(trX(float64(s.AtMs)/1000), c.Min.X), min(trX(end), c.Max.X)
			if x1 <= x0 || (x1-x0 < minW && k+1 < len(ch)) {
				continue
			}
			col := noneColor
			if s.Sink != "" {
				col = lineColor(g.sinks[s.Sink])
			}
			col.A = 0xd8 // the fault windows show through
			c.SetColor(col)
			c.Fill(rect(x0, y0, x1, y1))
		}
	}
}

// activeCounts draws, for simulated tiers, how many nodes delivered
// through each sink (Series.ActiveCount).
func (cs *chartSet) activeCounts() (*Chart, error) {
	s := cs.r.Series
	_, _, active := Tiers(cs.r)
	if s.IntervalMs <= 0 || len(active) == 0 {
		return nil, nil
	}
	p := cs.timePlot("Nodes delivering through each sink", "nodes")
	for i, k := range sortedKeys(active) {
		if err := addLine(p, k, points(active[k], s.IntervalMs, aggMedian, 1, false), lineColor(i), false); err != nil {
			return nil, err
		}
	}
	cs.fixY(p, ChartActiveCounts, len(active))
	return cs.chart(p, ChartActiveCounts, "Nodes per active sink",
		"For a tier of many nodes: how many had each sink of their group active, per interval — traffic leaving a sink during a fault and returning after the heal.")
}
