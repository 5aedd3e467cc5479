// Package reports renders a run record (reports/record) as a recovery
// report a person can read: a Markdown file and a self-contained HTML page
// with the verdict, the failover table, the latency percentiles, the text
// timeline, the topology and the configuration files. Runs are stored as
// Jepsen stores them: <root>/<scenario>/<UTC time>/ with "latest" links.
package reports

import (
	"fmt"
	htmltemplate "html/template"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/reports/record"
)

// view is the record with every cell already formatted, shared by the
// Markdown and HTML templates so both say exactly the same thing.
type view struct {
	R            *record.Run
	Title        string
	Verdict      string
	Valid        bool
	Start        string
	Duration     string
	Summary      [][2]string
	FailoverHead []string
	Failover     [][]string
	FailoverNote []string
	LatencyHead  []string
	Latency      []string
	LatencyNote  string
	Expectations []expectation
	Anomalies    []string
	Lost         []string
	Copies       string
	Unexpected   []string
	Timeline     []string
	Nodes        [][]string
	Hops         [][]string
	HopsNote     string
	Stores       [][]string
	Faults       [][]string
	SeriesHead   []string
	Series       [][]string
	SeriesNote   string
	Params       [][2]string
	Phases       string
	Charts       []Chart
	ChartsHTML   []chartHTML
	TimelineNote string
	// FailoverFirst puts a short failover table above the charts; a long
	// one (a swarm of faults) goes below them.
	FailoverFirst bool
}

type chartHTML struct {
	ID, Title, Note string
	SVG             htmltemplate.HTML
}

type expectation struct {
	Mark, Claim, Detail string
	Held                bool
}

func secs(ms int64) string { return fmt.Sprintf("+%.3fs", float64(ms)/1000) }

func optSecs(v *int64) string {
	if v == nil {
		return "—"
	}
	return secs(*v)
}

// since is an offset with its delay after the injection.
func since(v *int64, from int64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%s (%+.2fs)", secs(*v), float64(*v-from)/1000)
}

func ms(us int64) string {
	switch {
	case us >= 10_000_000:
		return fmt.Sprintf("%.1f s", float64(us)/1e6)
	case us >= 1000:
		return fmt.Sprintf("%.1f ms", float64(us)/1000)
	default:
		return fmt.Sprintf("%.3f ms", float64(us)/1000)
	}
}

func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TimelineLines formats the text timeline, one line per event, in time
// order (after TigerBeetle's VOPR output).
func TimelineLines(r *record.Run) []string {
	es := append([]record.TimelineEntry(nil), r.Timeline...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].AtMs < es[j].AtMs })
	width := 0
	for _, e := range es {
		width = max(width, len(e.Node))
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		mark := e.Mark
		if mark == "" {
			mark = record.MarkNote
		}
		out = append(out, fmt.Sprintf("%10s %s %-*s  %s", secs(e.AtMs), mark, width, e.Node, e.Text))
	}
	return out
}

func verdict(r *record.Run) string {
	c := r.Checker
	if c.Valid {
		return "VALID: nothing acknowledged was lost, nothing unexpected was read"
	}
	var why []string
	if c.Lost > 0 {
		why = append(why, fmt.Sprintf("%s acknowledged events lost", count(c.Lost)))
	}
	if c.Unexpected > 0 {
		why = append(why, fmt.Sprintf("%s unexpected events read", count(c.Unexpected)))
	}
	if len(why) == 0 {
		why = append(why, "the checker found the run invalid")
	}
	return "INVALID: " + strings.Join(why, ", ")
}

// maxFailoverFirst is the longest failover table shown above the charts.
const maxFailoverFirst = 8

// maxTimelineLines caps the text timeline on the page (a swarm simulation
// can log thousands of events); the first and last lines are kept and the
// record holds them all.
const maxTimelineLines = 3000

func newView(r *record.Run, charts []Chart) *view {
	c := r.Checker
	v := &view{R: r, Valid: c.Valid, Charts: charts}
	for _, ch := range charts {
		v.ChartsHTML = append(v.ChartsHTML, chartHTML{ID: ch.ID, Title: ch.Title, Note: ch.Note, SVG: htmltemplate.HTML(ch.SVG)})
	}
	v.Title = fmt.Sprintf("%s — recovery report", r.Scenario)
	v.FailoverFirst = len(r.Failover) <= maxFailoverFirst
	v.Verdict = verdict(r)
	v.Start = r.Start.UTC().Format("2006-01-02 15:04:05.000 UTC")
	v.Duration = fmt.Sprintf("%.1fs", float64(r.DurationMs)/1000)
	dup := fmt.Sprintf("%s extra copies of %s events", count(c.Duplicated), count(c.DuplicatedEvents))
	v.Summary = [][2]string{
		{"Kind", string(r.Kind)},
		{"Seed", strconv.FormatInt(r.Seed, 10)},
		{"Written (attempted)", count(c.Attempted)},
		{"Acknowledged", count(c.Acknowledged)},
		{"Delivered (distinct)", count(c.Delivered)},
		{"Lost", count(c.Lost)},
		{"Duplicated", dup},
		{"Unexpected", count(c.Unexpected)},
		{"Recovered (unacknowledged, delivered)", count(c.Recovered)},
		{"Unconfirmed (unacknowledged, not delivered)", count(c.Unconfirmed)},
	}
	if c.Torn > 0 {
		v.Summary = append(v.Summary, [2]string{"Torn trailing lines in stores", count(c.Torn)})
	}
	for _, k := range sortedKeys(c.PerStore) {
		v.Summary = append(v.Summary, [2]string{"Read from store " + k, count(c.PerStore[k])})
	}

	v.FailoverHead = []string{"#", "Fault", "Target", "Injected", "Detected", "Failed over", "Healed", "Failed back", "Longest gap", "Lost", "Duplicated"}
	for _, f := range r.Failover {
		v.Failover = append(v.Failover, []string{
			strconv.Itoa(f.Fault), f.Name, f.Target, secs(f.InjectedMs),
			since(f.DetectedMs, f.InjectedMs), since(f.FailedOverMs, f.InjectedMs),
			optSecs(f.HealedMs), failback(f),
			fmt.Sprintf("%.2fs", float64(f.LongestGapMs)/1000), count(f.Lost), count(f.Duplicated),
		})
		var note []string
		if len(f.Affected) > 0 {
			note = append(note, "affected: "+strings.Join(f.Affected, ", "))
		}
		if len(f.Via) > 0 {
			note = append(note, "traffic during the fault went to "+strings.Join(f.Via, ", "))
		}
		if f.Notes != "" {
			note = append(note, f.Notes)
		}
		if len(note) > 0 {
			v.FailoverNote = append(v.FailoverNote, fmt.Sprintf("Fault %d (%s): %s.", f.Fault, f.Name, strings.Join(note, "; ")))
		}
	}

	l := c.Latency
	v.LatencyHead = []string{"events", "p50", "p90", "p99", "p99.9", "max", "mean"}
	v.Latency = []string{count(l.Count), ms(l.P50Us), ms(l.P90Us), ms(l.P99Us), ms(l.P999Us), ms(l.MaxUs), ms(int64(l.MeanUs))}
	v.LatencyNote = "Delivery latency: from the time stamped in the line by the writer to the first arrival of the event in any store."
	if l.ResolutionUs > 0 {
		v.LatencyNote += fmt.Sprintf(" Arrivals were observed every %s, which bounds the precision.", ms(l.ResolutionUs))
	}

	for _, e := range r.Expectations {
		x := expectation{Claim: e.Claim, Detail: e.Detail, Held: e.Held, Mark: "held"}
		if !e.Held {
			x.Mark = "FAILED"
		}
		v.Expectations = append(v.Expectations, x)
	}
	v.Anomalies = r.Anomalies
	for _, w := range c.LostIntervals {
		v.Lost = append(v.Lost, fmt.Sprintf("%s: %s lost, seq %s", w.Writer, count(w.Count), ivs(w.Intervals)))
	}
	if len(c.Copies) > 0 {
		var parts []string
		for _, b := range c.Copies {
			parts = append(parts, fmt.Sprintf("%s events × %d copies", count(b.Events), b.Copies))
		}
		v.Copies = strings.Join(parts, ", ")
	}
	v.Unexpected = c.UnexpectedSamples
	v.Timeline = TimelineLines(r)
	if n := len(v.Timeline); n > maxTimelineLines {
		head, tail := maxTimelineLines*2/3, maxTimelineLines/3
		cut := fmt.Sprintf("           … %s lines left out (the run record holds them all) …", count(int64(n-head-tail)))
		v.Timeline = append(append(v.Timeline[:head:head], cut), v.Timeline[n-tail:]...)
		v.TimelineNote = fmt.Sprintf("The first %d and the last %d of %s lines.", head, tail, count(int64(n)))
	}

	var rows [][]string
	for _, n := range r.Topology.Nodes {
		var gs []string
		for _, g := range n.Groups {
			var ss []string
			for _, s := range g.Sinks {
				x := s.Name + "→" + s.Target
				if s.Priority != 0 {
					x += fmt.Sprintf(" (%d)", s.Priority)
				}
				ss = append(ss, x)
			}
			gs = append(gs, fmt.Sprintf("%s %s: %s", g.Name, g.Processor, strings.Join(ss, ", ")))
		}
		name := n.Name
		if n.Count > 1 {
			name = fmt.Sprintf("%s ×%d", n.Name, n.Count)
		}
		rows = append(rows, []string{name, string(n.Role), n.Runtime, strings.Join(gs, "; ")})
	}
	v.Nodes = mergeNodes(rows)
	for i, h := range r.Topology.Hops {
		if i == maxHopRows {
			v.HopsNote = fmt.Sprintf("The first %d of %s hops.", maxHopRows, count(int64(len(r.Topology.Hops))))
			break
		}
		v.Hops = append(v.Hops, []string{h.From, h.Sink, h.To, h.Via})
	}
	for _, s := range r.Topology.Stores {
		v.Stores = append(v.Stores, []string{s.Name, s.Kind, s.Node, s.Location})
	}
	for _, f := range r.Faults {
		p := make([]string, 0, len(f.Params))
		for _, k := range sortedKeys(f.Params) {
			p = append(p, k+"="+f.Params[k])
		}
		v.Faults = append(v.Faults, []string{strconv.Itoa(f.ID), f.Name, f.Kind, f.Action, f.Target, strings.Join(p, " "), secs(f.InjectedMs), optSecs(f.HealedMs), f.Error})
	}
	for _, k := range sortedKeys(r.Params) {
		v.Params = append(v.Params, [2]string{k, r.Params[k]})
	}
	ph := r.Phases
	v.Phases = fmt.Sprintf("load until %s, all faults healed at %s, drain until %s (%s)", secs(ph.LoadEndMs), secs(ph.HealMs), secs(ph.DrainEndMs), map[bool]string{true: "every channel empty", false: "gave up before every channel was empty"}[ph.Drained])
	v.series(r)
	return v
}

// maxHopRows caps the hops table (a fleet has thousands).
const maxHopRows = 200

// mergeNodes folds runs of alike nodes (same role, runtime and sink
// groups: a fleet of agents) into one row "first … last (N nodes)".
func mergeNodes(rows [][]string) [][]string {
	var out [][]string
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j][1] == rows[i][1] && rows[j][2] == rows[i][2] && rows[j][3] == rows[i][3] {
			j++
		}
		if j-i >= 4 {
			row := append([]string(nil), rows[i]...)
			row[0] = fmt.Sprintf("%s … %s (%d nodes)", rows[i][0], rows[j-1][0], j-i)
			out = append(out, row)
		} else {
			out = append(out, rows[i:j]...)
		}
		i = j
	}
	return out
}

func failback(f record.FailoverRow) string {
	if f.FailedBackMs == nil || f.HealedMs == nil {
		return optSecs(f.FailedBackMs)
	}
	return since(f.FailedBackMs, *f.HealedMs)
}

func ivs(iv [][2]int64) string {
	parts := make([]string, 0, len(iv))
	for _, x := range iv {
		if x[0] == x[1] {
			parts = append(parts, strconv.FormatInt(x[0], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", x[0], x[1]))
		}
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// maxSeriesRows caps the per-interval table; longer runs are summed into
// coarser rows so the page stays small.
const maxSeriesRows = 120

func (v *view) series(r *record.Run) {
	s := r.Series
	n := len(s.Written)
	if n == 0 || s.IntervalMs <= 0 {
		return
	}
	step := (n + maxSeriesRows - 1) / maxSeriesRows
	tiers := sortedKeys(s.Backlog)
	v.SeriesHead = []string{"from", "written", "delivered", "duplicates"}
	for _, t := range tiers {
		v.SeriesHead = append(v.SeriesHead, "backlog "+t)
	}
	stores := sortedKeys(s.Stores)
	for _, st := range stores {
		v.SeriesHead = append(v.SeriesHead, "→ "+st)
	}
	v.SeriesHead = append(v.SeriesHead, "faults active")
	for i := 0; i < n; i += step {
		j := min(i+step, n)
		from, to := int64(i)*s.IntervalMs, int64(j)*s.IntervalMs
		row := []string{secs(from), count(sum(s.Written, i, j)), count(sum(s.Delivered, i, j)), count(sum(s.Duplicates, i, j))}
		for _, t := range tiers {
			b := s.Backlog[t]
			val := int64(0)
			if j-1 < len(b) {
				val = b[j-1]
			}
			row = append(row, count(val))
		}
		for _, st := range stores {
			row = append(row, count(sum(s.Stores[st], i, j)))
		}
		var active []string
		for _, f := range r.Faults {
			if f.InjectedMs < to && (f.HealedMs == nil || *f.HealedMs > from) {
				active = append(active, fmt.Sprintf("%d:%s", f.ID, f.Name))
			}
		}
		row = append(row, strings.Join(active, " "))
		v.Series = append(v.Series, row)
	}
	if step > 1 {
		v.SeriesNote = fmt.Sprintf("Each row sums %d intervals of %dms (backlog at the end of the row).", step, s.IntervalMs)
	} else {
		v.SeriesNote = fmt.Sprintf("One row per %dms (backlog at the end of the interval).", s.IntervalMs)
	}
}

func sum(s []int64, i, j int) int64 {
	var n int64
	for k := i; k < j && k < len(s); k++ {
		n += s[k]
	}
	return n
}
