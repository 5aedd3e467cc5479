package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicehq/sluice/reports/record"
)

func loadTestdata(t testing.TB, name string) *record.Run {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := record.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// figure returns the HTML of the chart figure id, or "".
func figure(page, id string) string {
	i := strings.Index(page, `<figure id="chart-`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</figure>")
	if j < 0 {
		return ""
	}
	return page[i : i+j]
}

// section returns the HTML of <section id="id">.
func section(page, id string) string {
	i := strings.Index(page, `<section id="`+id+`"`)
	if i < 0 {
		i = strings.Index(page, `id="`+id+`"`)
	}
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}

var timeCharts = []string{ChartThroughput, ChartBacklog, ChartLatencyTime, ChartActiveSinks}

// TestStoredScenarioPage renders a stored scenario run record (kill -9 of
// the primary collector, recorded by scenarios/) and checks the page's
// structure against the record.
func TestStoredScenarioPage(t *testing.T) {
	r := loadTestdata(t, "kill-primary.json")
	p, err := NewPage(r)
	if err != nil {
		t.Fatal(err)
	}
	page := string(p.HTML)

	// Every chart is on the page, as inline SVG.
	for _, id := range append(timeCharts, ChartLatencyDist) {
		fig := figure(page, id)
		if fig == "" || !strings.Contains(fig, "<svg") || !strings.Contains(fig, "</svg>") {
			t.Fatalf("chart %s missing or not inline SVG", id)
		}
	}
	// Each time chart shades and labels every fault window.
	if len(r.Faults) == 0 {
		t.Fatal("testdata has no fault")
	}
	for _, id := range timeCharts {
		fig := figure(page, id)
		for _, f := range r.Faults {
			if n := strings.Count(fig, fmt.Sprintf(`class="fault-window fault-%d"`, f.ID)); n != 1 {
				t.Errorf("chart %s: %d windows for fault %d, want 1", id, n, f.ID)
			}
			if !strings.Contains(fig, fmt.Sprintf(">#%d %s</text>", f.ID, f.Name)) {
				t.Errorf("chart %s: no label for fault %d", id, f.ID)
			}
		}
	}
	if strings.Contains(figure(page, ChartLatencyDist), "fault-window") {
		t.Error("the latency distribution has no time axis, yet has fault windows")
	}
	// The active-sink timeline names every group and every sink that carried traffic.
	fig := figure(page, ChartActiveSinks)
	for _, a := range r.ActiveSinks {
		if !strings.Contains(fig, ">"+a.Node+"/"+a.Group+"</text>") {
			t.Errorf("active sinks: no row for %s/%s", a.Node, a.Group)
		}
		for _, c := range a.Changes {
			if c.Sink != "" && !strings.Contains(fig, ">"+c.Sink+" → ") {
				t.Errorf("active sinks: no legend for %s", c.Sink)
			}
		}
	}

	// Tables match the record.
	fo := html.UnescapeString(section(page, "failover"))
	if n := strings.Count(fo, "<tr>"); n != len(r.Failover)+1 {
		t.Errorf("failover table: %d rows, want %d + header", n, len(r.Failover))
	}
	for _, f := range r.Failover {
		for _, cell := range []string{f.Name, f.Target, secs(f.InjectedMs), since(f.DetectedMs, f.InjectedMs), since(f.FailedOverMs, f.InjectedMs), failback(f)} {
			if !strings.Contains(fo, "<td>"+cell+"</td>") {
				t.Errorf("failover table lacks cell %q", cell)
			}
		}
	}
	ft := section(page, "faults")
	if n := strings.Count(ft, "<tr>"); n != len(r.Faults)+1 {
		t.Errorf("faults table: %d rows, want %d + header", n, len(r.Faults))
	}
	tl := section(page, "timeline")
	pre := tl[strings.Index(tl, "<pre>")+5 : strings.Index(tl, "</pre>")]
	if n := strings.Count(pre, "\n"); n != len(r.Timeline) {
		t.Errorf("timeline: %d lines, want %d", n, len(r.Timeline))
	}
	topo := html.UnescapeString(section(page, "topology"))
	for _, n := range r.Topology.Nodes {
		if !strings.Contains(topo, "<tr><td>"+n.Name+"</td>") {
			t.Errorf("topology lacks node %s", n.Name)
		}
	}
	for _, c := range r.Topology.Configs {
		if !strings.Contains(topo, "<summary>"+c.Name+"</summary>") || !strings.Contains(topo, c.Text) {
			t.Errorf("topology lacks config %s", c.Name)
		}
	}
	if !strings.Contains(page, "VALID: nothing acknowledged was lost") {
		t.Error("no verdict")
	}
	selfContained(t, page)

	// The Markdown says the same and references each chart's SVG file.
	md := string(p.Markdown)
	for _, c := range p.Charts {
		if !strings.Contains(md, "]("+c.File()+")") {
			t.Errorf("markdown does not reference %s", c.File())
		}
		if !strings.HasPrefix(c.Doc, "<?xml") || !strings.Contains(c.Doc, `xmlns="http://www.w3.org/2000/svg"`) {
			t.Errorf("%s is not a standalone SVG document", c.File())
		}
	}
	for _, f := range r.Failover {
		if !strings.Contains(md, "| "+f.Name+" | "+f.Target+" | "+secs(f.InjectedMs)+" |") {
			t.Errorf("markdown failover row for fault %d", f.Fault)
		}
	}

	// The JSON summary.
	var s Summary
	if err := json.Unmarshal(p.Summary, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.Attempted != r.Checker.Attempted || s.Latency.P99Us != r.Checker.Latency.P99Us || len(s.Failover) != len(r.Failover) || len(s.Charts) != len(p.Charts) {
		t.Errorf("summary does not match the record: %+v", s)
	}
}

func selfContained(t *testing.T, page string) {
	t.Helper()
	if m := regexp.MustCompile(`(?i)<script|<link|<img|<iframe|src=|href="(http|//)|@import|url\(|@font-face`).FindString(page); m != "" {
		t.Errorf("page is not self-contained: %q", m)
	}
}

// TestStoredSimPage renders a stored `sluice sim` record: its older-style
// Backlog keys split into channel tiers, gauges and active-sink counts.
func TestStoredSimPage(t *testing.T) {
	r := loadTestdata(t, "sim-20-agents.json")
	p, err := NewPage(r)
	if err != nil {
		t.Fatal(err)
	}
	page := string(p.HTML)
	for _, id := range []string{ChartThroughput, ChartBacklog, ChartGauges, ChartLatencyDist, ChartActiveSinks, ChartActiveCounts} {
		if figure(page, id) == "" {
			t.Errorf("chart %s missing", id)
		}
	}
	tiers, gauges, active := Tiers(r)
	if strings.Join(tiers, ",") != "agent,collector" || len(gauges) != 3 || len(active) != 2 {
		t.Errorf("tiers %v gauges %v active %d", tiers, gauges, len(active))
	}
	bl := figure(page, ChartBacklog)
	if !strings.Contains(bl, ">agent channels</text>") || strings.Contains(bl, "nodes-down") {
		t.Errorf("backlog chart lines wrong")
	}
	for _, id := range []string{ChartThroughput, ChartBacklog, ChartGauges, ChartActiveSinks, ChartActiveCounts} {
		for _, f := range r.Faults {
			if !strings.Contains(figure(page, id), fmt.Sprintf(`class="fault-window fault-%d"`, f.ID)) {
				t.Errorf("chart %s: no window for fault %d", id, f.ID)
			}
		}
	}
	selfContained(t, page)
}

func TestFaultWindowsDistinct(t *testing.T) {
	r := loadTestdata(t, "kill-primary.json")
	f := r.Faults[0]
	r.Faults = nil
	for i := range 300 {
		g := f
		g.ID = i + 1
		g.InjectedMs = int64(i) * 50
		g.HealedMs = record.Ms(g.InjectedMs + 2000)
		r.Faults = append(r.Faults, g)
	}
	r.Faults[299].HealedMs = nil // never healed: shaded to the end
	cs := newChartSet(r)
	if len(cs.tags) != 300 {
		t.Fatalf("%d distinct fault fills for 300 faults", len(cs.tags))
	}
	c, err := cs.throughput()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Faults {
		if !strings.Contains(c.SVG, fmt.Sprintf(`class="fault-window fault-%d"`, f.ID)) {
			t.Fatalf("fault %d not drawn", f.ID)
		}
	}
}

func TestDistributionExact(t *testing.T) {
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for i := int64(1); i <= 100_000; i++ {
		if err := h.RecordValue(i * 10); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Distribution(record.Latency{Histogram: string(enc)})
	if err != nil {
		t.Fatal(err)
	}
	last := d[len(d)-1]
	if last[1] != float64(h.Max()) {
		t.Errorf("curve ends at %v, histogram max %d", last[1], h.Max())
	}
	for _, x := range d {
		if want := float64(h.ValueAtQuantile(x[0] * 100)); x[0] < last[0] && x[1] != want {
			t.Errorf("q=%v: %v, histogram says %v", x[0], x[1], want)
		}
	}
	if _, err := Distribution(record.Latency{Histogram: "not base64!"}); err == nil {
		t.Error("a corrupt histogram was accepted")
	}
}

func TestCompare(t *testing.T) {
	a := loadTestdata(t, "kill-primary.json")
	b := loadTestdata(t, "kill-primary.json")
	b.Params["request-timeout"] = "5000ms"
	b.Checker.Latency.P99Us *= 2
	for i := range b.Series.Backlog["agents"] {
		b.Series.Backlog["agents"][i] *= 10
	}
	c, err := Compare(a, b, "before", "after")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := c.WriteComparison(dir); err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile(filepath.Join(dir, CompareHTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(h)
	if !strings.Contains(page, "<th>param request-timeout</th>") || !strings.Contains(page, `<td class="diff">5000ms</td>`) {
		t.Error("compare: the changed parameter is not shown")
	}
	for _, id := range append(timeCharts, ChartLatencyDist) {
		fig := figure(page, id)
		want := 2
		if id == ChartLatencyDist {
			want = 1 // both curves on one chart
		}
		if n := strings.Count(fig, "<svg"); n != want {
			t.Errorf("compare chart %s: %d SVGs, want %d", id, n, want)
		}
	}
	// Side by side on one y scale: the backlog axes of both runs end at the same tick.
	pair := figure(page, ChartBacklog)
	svgs := strings.Split(pair, "<svg")[1:]
	top := regexp.MustCompile(`>([0-9.]+)</text>`)
	maxTick := func(s string) float64 {
		m := 0.0
		for _, x := range top.FindAllStringSubmatch(s, -1) {
			if v, err := strconv.ParseFloat(x[1], 64); err == nil && v > m && v < 1e4 {
				m = v
			}
		}
		return m
	}
	if maxTick(svgs[0]) != maxTick(svgs[1]) {
		t.Errorf("backlog charts on different scales: %v vs %v", maxTick(svgs[0]), maxTick(svgs[1]))
	}
	selfContained(t, page)
	for _, f := range []string{CompareMarkdownFile, CompareJSONFile, "a-" + ChartBacklog + ".svg", "b-" + ChartBacklog + ".svg", ChartLatencyDist + ".svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// largeRecord is a synthetic record of a 2000-agent simulation: an hour
// at one sample a second, per-node sink groups, a swarm of faults and a
// long timeline.
func largeRecord(t testing.TB) *record.Run {
	t.Helper()
	const agents, collectors, n = 2000, 8, 3600
	rng := rand.New(rand.NewPCG(1, 2))
	r := &record.Run{Version: record.Version, Scenario: "sim-2000", Kind: record.KindSim, Seed: 1,
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), DurationMs: n * 1000,
		Phases: record.Phases{LoadEndMs: 3000_000, HealMs: 3000_000, DrainEndMs: 3500_000, Drained: true}}
	series := func(base, spread int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = base + rng.Int64N(spread+1)
		}
		return v
	}
	s := record.Series{IntervalMs: 1000, Written: series(20000, 2000), Delivered: series(19000, 4000), Duplicates: series(0, 20),
		Backlog:      map[string][]int64{"agent": series(0, 500000), "collector": series(0, 100000)},
		Gauges:       map[string][]int64{"agent-source-lag": series(0, 1e6), "nodes-down": series(0, 5), "agents-channel-full": series(0, 50)},
		ActiveCount:  map[string][]int64{},
		SinkDrained:  map[string][]int64{},
		Stores:       map[string][]int64{},
		LatencyP50Us: series(1000, 50000), LatencyP99Us: series(100000, 1e6), LatencyMaxUs: series(1e6, 1e8)}
	var sinks []record.GroupSink
	for c := range collectors {
		col := fmt.Sprintf("collector%02d", c+1)
		sink := fmt.Sprintf("k%d", c+1)
		sinks = append(sinks, record.GroupSink{Name: sink, Priority: 100 - c, Target: col})
		s.ActiveCount["g1/"+sink] = series(0, agents/collectors)
		s.SinkDrained["agent/"+sink] = series(0, 5000)
		s.Stores["hdfs-"+col] = series(0, 5000)
		r.Topology.Nodes = append(r.Topology.Nodes, record.Node{Name: col, Role: record.RoleCollector, Tier: "collector", Runtime: "sim", Config: "collector.conf"})
		r.Topology.Stores = append(r.Topology.Stores, record.Store{Name: "hdfs-" + col, Kind: "sim", Node: col})
	}
	r.Series = s
	for a := range agents {
		name := fmt.Sprintf("agent%04d", a+1)
		r.Topology.Nodes = append(r.Topology.Nodes, record.Node{Name: name, Role: record.RoleAgent, Tier: "agent", Runtime: "sim", Config: "agent.conf",
			Groups: []record.SinkGroup{{Name: "g1", Processor: "failover", Sinks: sinks}}})
		as := record.ActiveSink{Node: name, Group: "g1", Source: "inferred"}
		for at := int64(0); at < n*1000; at += 60_000 + rng.Int64N(600_000) {
			as.Changes = append(as.Changes, record.SinkChange{AtMs: at, Sink: sinks[rng.IntN(collectors)].Name})
		}
		r.ActiveSinks = append(r.ActiveSinks, as)
	}
	r.Topology.Configs = []record.Config{{Name: "agent.conf", Text: strings.Repeat("a1.sinks.k1.type = avro\n", 40)}, {Name: "collector.conf", Text: strings.Repeat("c1.sinks.k1.type = hdfs\n", 40)}}
	for i := range 120 {
		at := rng.Int64N(2900_000)
		f := record.Fault{ID: i + 1, Name: fmt.Sprintf("collector-crash collector%02d", i%collectors+1), Kind: "process", Action: "collector-crash",
			Target: fmt.Sprintf("collector%02d", i%collectors+1), InjectedMs: at, HealedMs: record.Ms(at + 5000 + rng.Int64N(120_000))}
		r.Faults = append(r.Faults, f)
		r.Failover = append(r.Failover, record.FailoverRow{Fault: f.ID, Name: f.Name, Target: f.Target, InjectedMs: at, DetectedMs: record.Ms(at + 100),
			FailedOverMs: record.Ms(at + 900), HealedMs: f.HealedMs, LongestGapMs: 1200})
	}
	for i := range 20000 {
		r.Timeline = append(r.Timeline, record.TimelineEntry{AtMs: int64(i) * 170, Mark: record.MarkNote, Node: fmt.Sprintf("agent%04d", i%agents+1), Text: "g1 active sink k1 -> k2"})
	}
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for range 200_000 {
		h.RecordValue(int64(rng.ExpFloat64()*20000) + 500)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	r.Checker = record.Result{Valid: true, Attempted: 72_000_000, Acknowledged: 72_000_000, Delivered: 72_000_000,
		Latency: record.Latency{Count: h.TotalCount(), P50Us: h.ValueAtQuantile(50), P90Us: h.ValueAtQuantile(90), P99Us: h.ValueAtQuantile(99),
			P999Us: h.ValueAtQuantile(99.9), MaxUs: h.Max(), Histogram: string(enc)}}
	return r
}

// TestLargeRecordPage: a 2000-agent simulation's page stays under 2 MB
// (series downsampled, timeline and sink rows capped) and its percentiles
// are the record's, exactly.
func TestLargeRecordPage(t *testing.T) {
	r := largeRecord(t)
	start := time.Now()
	p, err := NewPage(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2000-agent page: %d bytes HTML, %d bytes Markdown, rendered in %v", len(p.HTML), len(p.Markdown), time.Since(start))
	if len(p.HTML) >= 2<<20 {
		t.Errorf("page is %d bytes, over 2 MB", len(p.HTML))
	}
	page := string(p.HTML)
	for _, c := range p.Charts {
		if len(c.SVG) > 300<<10 {
			t.Errorf("chart %s is %d bytes", c.ID, len(c.SVG))
		}
	}
	for _, id := range []string{ChartThroughput, ChartBacklog, ChartGauges, ChartLatencyTime, ChartLatencyDist, ChartActiveSinks, ChartActiveCounts} {
		if figure(page, id) == "" {
			t.Errorf("chart %s missing", id)
		}
	}
	l := r.Checker.Latency
	lat := section(page, "latency")
	for _, us := range []int64{l.P50Us, l.P90Us, l.P99Us, l.P999Us, l.MaxUs} {
		if !strings.Contains(lat, "<td class=\"n\">"+ms(us)+"</td>") {
			t.Errorf("percentile %s not on the page", ms(us))
		}
	}
	if !strings.Contains(page, "lines left out") {
		t.Error("long timeline not capped")
	}
	if !strings.Contains(page, "<td>agent0001 … agent2000 (2000 nodes)</td>") {
		t.Error("a fleet of alike agents is not one topology row")
	}
}

func TestDownsampleKeepsTotals(t *testing.T) {
	v := make([]int64, 10_000)
	var total int64
	for i := range v {
		v[i] = int64(i % 7)
		total += v[i]
	}
	segs := points(v, 1000, aggRate, 1, false)
	if len(segs) != 1 || len(segs[0]) > maxPoints {
		t.Fatalf("%d segments, %d points", len(segs), len(segs[0]))
	}
	// Rates times bucket lengths add up to the total.
	st := step(len(v))
	var sum float64
	for i, p := range segs[0] {
		w := float64(min(st, len(v)-i*st))
		sum += p.Y * w
	}
	if int64(sum+0.5) != total {
		t.Errorf("downsampled total %v, want %d", sum, total)
	}
	peak := points([]int64{0, 0, 9, 0, 0}, 1000, aggMax, 1, false)
	if peak[0][2].Y != 9 {
		t.Error("peak lost")
	}
	gaps := points([]int64{5, 0, 0, 6}, 1000, aggMax, 1, true)
	if len(gaps) != 2 {
		t.Errorf("zeros did not split the line: %d segments", len(gaps))
	}
}

func BenchmarkLargeRecordPage(b *testing.B) {
	r := largeRecord(b)
	var size int
	for b.Loop() {
		p, err := NewPage(r)
		if err != nil {
			b.Fatal(err)
		}
		size = len(p.HTML)
	}
	b.ReportMetric(float64(size), "html-bytes")
}

func TestRenderSimDir(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "sim-20-agents.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SimRecordFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{HTMLFile, MarkdownFile, SummaryFile, ChartThroughput + ".svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if r.Kind != record.KindSim {
		t.Errorf("kind %q", r.Kind)
	}
	var sb bytes.Buffer
	if err := Markdown(&sb, r); err != nil || !strings.Contains(sb.String(), "![Backlog per tier](backlog.svg)") {
		t.Errorf("markdown: %v", err)
	}
}
