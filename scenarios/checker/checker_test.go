package checker

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicehq/sluice/reports/record"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestLineRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 30, 31, 32, 100, 4096} {
		l := Line(nil, "agent1w0", 1234, t0.UnixNano(), size)
		if size > 40 && len(l) != size {
			t.Fatalf("size %d: line is %d bytes: %q", size, len(l), l)
		}
		p, ok := Parse(l)
		if !ok {
			t.Fatalf("size %d: Parse(%q) failed", size, l)
		}
		if p.Writer != "agent1w0" || p.Seq != 1234 || p.Nanos != t0.UnixNano() || p.Size != len(l) {
			t.Fatalf("size %d: parsed %+v", size, p)
		}
	}
	// Dashes inside the writer name are fine: the sequence follows the last.
	p, ok := Parse(Line(nil, "a-b-c", 7, 1, 50))
	if !ok || p.Writer != "a-b-c" || p.Seq != 7 {
		t.Fatalf("writer with dashes: %+v %v", p, ok)
	}
}

func TestParseRejectsAlteredLines(t *testing.T) {
	good := Line(nil, "w", 42, 99, 64)
	bad := [][]byte{
		nil,
		[]byte(""),
		[]byte("w-42"),
		[]byte("w42 99"),
		[]byte("-42 99"),
		[]byte("w- 99"),
		[]byte("w-x 99"),
		[]byte("w-42 notanumber"),
		[]byte("w-42 99 "),
		[]byte("w-042 99"),
		[]byte("w-42 +99"),
		[]byte("w-42 099"),
		append(append([]byte(nil), good[:len(good)-1]...), 'Z'),               // last padding byte flipped
		append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-2]), // padding shifted
	}
	for _, b := range bad {
		if p, ok := Parse(b); ok {
			t.Errorf("Parse(%q) accepted: %+v", b, p)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Line(nil, "w", 1, 2, 40))
	f.Add([]byte("a-1 2"))
	f.Add([]byte("a-1 2 x"))
	f.Add([]byte("--- -- -"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := Parse(b)
		if !ok {
			return
		}
		// Anything accepted is exactly what Line would have written.
		if again := Line(nil, p.Writer, p.Seq, p.Nanos, p.Size); string(again) != string(b) {
			t.Fatalf("Parse accepted %q, Line gives %q", b, again)
		}
	})
}

// write attempts and (optionally) acknowledges seq for writer w at ms and
// returns the line.
func write(c *Checker, w string, seq, ms int64, ack bool) []byte {
	l := Line(nil, w, seq, at(ms).UnixNano(), 48)
	c.Attempt(w, seq, at(ms), len(l))
	if ack {
		c.Ack(w, seq)
	}
	return l
}

func TestTotalQueue(t *testing.T) {
	c := New(Options{Start: t0})
	var lines [][]byte
	for i := int64(0); i < 10; i++ {
		lines = append(lines, write(c, "w", i, i, i != 7)) // 7: indeterminate write
	}
	for i, l := range lines {
		switch i {
		case 3, 4, 5: // lost (acknowledged, never read)
		case 7: // indeterminate, but it landed: recovered
			c.Deliver("s1", l, at(100))
		case 8:
			c.Deliver("s1", l, at(100))
			c.Deliver("s2", l, at(150))
			c.Deliver("s2", l, at(160))
		case 9:
			c.Deliver("s1", l, at(100))
			c.Deliver("s1", l, at(200))
		default:
			c.Deliver("s1", l, at(int64(i)+25))
		}
	}
	c.Deliver("s1", []byte("garbage"), at(300))
	c.Deliver("s1", Line(nil, "w", 99, at(0).UnixNano(), 48), at(300))     // never attempted
	c.Deliver("s1", Line(nil, "nobody", 0, at(0).UnixNano(), 48), at(300)) // unknown writer
	c.Deliver("s1", Line(nil, "w", 1, at(5).UnixNano(), 48), at(300))      // wrong timestamp
	c.Torn("s2")

	r := c.Result()
	type counts struct {
		Valid                                                           bool
		Attempted, Acknowledged, Delivered, Lost, Recovered, Duplicated int64
		DuplicatedEvents, Unexpected, Torn                              int64
	}
	want := counts{
		Valid: false, Attempted: 10, Acknowledged: 9, Delivered: 7, Lost: 3, Recovered: 1,
		Duplicated: 3, DuplicatedEvents: 2, Unexpected: 4, Torn: 1,
	}
	got := counts{
		Valid: r.Valid, Attempted: r.Attempted, Acknowledged: r.Acknowledged, Delivered: r.Delivered, Lost: r.Lost,
		Recovered: r.Recovered, Duplicated: r.Duplicated, DuplicatedEvents: r.DuplicatedEvents, Unexpected: r.Unexpected, Torn: r.Torn,
	}
	if got != want {
		t.Fatalf("result\n got %+v\nwant %+v", got, want)
	}
	if len(r.LostIntervals) != 1 || r.LostIntervals[0].Writer != "w" || fmt.Sprint(r.LostIntervals[0].Intervals) != "[[3 5]]" || r.LostIntervals[0].Count != 3 {
		t.Errorf("lost intervals %+v", r.LostIntervals)
	}
	if fmt.Sprint(r.Copies) != "[{2 1} {3 1}]" {
		t.Errorf("copies histogram %+v", r.Copies)
	}
	if len(r.UnexpectedSamples) != 4 || r.UnexpectedSamples[0] != "garbage" {
		t.Errorf("unexpected samples %q", r.UnexpectedSamples)
	}
	if r.PerStore["s1"] != 12 || r.PerStore["s2"] != 2 {
		t.Errorf("per store %v", r.PerStore)
	}
	if r.Unconfirmed != 0 {
		t.Errorf("unconfirmed %d", r.Unconfirmed)
	}
}

func TestValidWithDuplicates(t *testing.T) {
	c := New(Options{})
	l := write(c, "w", 0, 0, true)
	c.Deliver("s", l, at(1))
	c.Deliver("s", l, at(2))
	u := write(c, "w", 1, 0, false) // never confirmed, never read: not lost
	_ = u
	r := c.Result()
	if !r.Valid || r.Duplicated != 1 || r.Unconfirmed != 1 || r.Lost != 0 {
		t.Fatalf("%+v", r)
	}
	if len(r.Gaps) != 1 || fmt.Sprint(r.Gaps[0].Intervals) != "[[1 1]]" {
		t.Fatalf("gaps %+v", r.Gaps)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	c := New(Options{Resolution: 50 * time.Millisecond})
	// Latencies 1..1000 ms.
	for i := int64(0); i < 1000; i++ {
		l := write(c, "w", i, 0, true)
		c.Deliver("s", l, at(i+1))
	}
	lat := c.Result().Latency
	near := func(name string, got, want int64) {
		if d := float64(got-want) / float64(want); d > 0.002 || d < -0.002 {
			t.Errorf("%s = %dus, want ~%dus", name, got, want)
		}
	}
	if lat.Count != 1000 {
		t.Fatalf("count %d", lat.Count)
	}
	near("min", lat.MinUs, 1000)
	near("p50", lat.P50Us, 500000)
	near("p90", lat.P90Us, 900000)
	near("p99", lat.P99Us, 990000)
	near("p99.9", lat.P999Us, 999000)
	near("max", lat.MaxUs, 1000000)
	if lat.ResolutionUs != 50000 {
		t.Errorf("resolution %d", lat.ResolutionUs)
	}
	h, err := hdrhistogram.Decode([]byte(lat.Histogram))
	if err != nil {
		t.Fatalf("decode histogram: %v", err)
	}
	if h.TotalCount() != 1000 || h.ValueAtQuantile(50) != lat.P50Us {
		t.Fatalf("decoded histogram: count %d p50 %d", h.TotalCount(), h.ValueAtQuantile(50))
	}
}

func TestIntervalCaps(t *testing.T) {
	c := New(Options{})
	// Every other event lost: as many intervals as lost events.
	for i := int64(0); i < 2*maxIntervalsPerWriter+10; i++ {
		l := write(c, "w", i, 0, true)
		if i%2 == 1 {
			c.Deliver("s", l, at(1))
		}
	}
	r := c.Result()
	if !r.Truncated || len(r.LostIntervals[0].Intervals) != maxIntervalsPerWriter || r.LostIntervals[0].Count != maxIntervalsPerWriter+5 || r.Lost != maxIntervalsPerWriter+5 {
		t.Fatalf("truncated %v, %d intervals, count %d, lost %d", r.Truncated, len(r.LostIntervals[0].Intervals), r.LostIntervals[0].Count, r.Lost)
	}
	if c.Attempt("w", -1, t0, 1) || c.Attempt("w", maxSeq, t0, 1) {
		t.Fatal("out-of-range sequence numbers accepted")
	}
}

func TestSeries(t *testing.T) {
	c := New(Options{Start: t0, Interval: time.Second})
	a := write(c, "w", 0, 100, true)
	b := write(c, "w", 1, 1500, true)
	c.Deliver("s1", a, at(900))
	c.Deliver("s2", b, at(2100))
	c.Deliver("s2", b, at(2200))
	c.Deliver("s1", a, at(9000)) // past the end: folded into the last bucket
	var s record.Series
	c.Series(&s, 3)
	if fmt.Sprint(s.Written, s.Delivered, s.Duplicates, s.Stores["s1"], s.Stores["s2"]) != "[1 1 0] [1 0 1] [0 0 2] [1 0 1] [0 0 2]" {
		t.Fatalf("series %v %v %v %v", s.Written, s.Delivered, s.Duplicates, s.Stores)
	}
	// Latency by write time: a written at 0.1 s took 0.8 s, b at 1.5 s took 0.6 s.
	if fmt.Sprint(s.LatencyP50Us, s.LatencyP99Us, s.LatencyMaxUs) != "[800000 600000 0] [800000 600000 0] [800000 600000 0]" {
		t.Fatalf("latency series %v %v %v", s.LatencyP50Us, s.LatencyP99Us, s.LatencyMaxUs)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New(Options{Start: t0})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			for i := int64(0); i < 2000; i++ {
				l := write(c, name, i, i, true)
				c.Deliver(fmt.Sprintf("s%d", i%3), l, at(i+10))
				if i%100 == 0 {
					c.Counts()
				}
			}
		}(w)
	}
	wg.Wait()
	r := c.Result()
	if !r.Valid || r.Delivered != 16000 || r.Duplicated != 0 || c.Outstanding() != 0 {
		t.Fatalf("%+v", r)
	}
}

// A failover, derived from arrivals and sink samples: agent a1 delivers to
// c1 via k1 until c1 is killed at 10 s; k1 first fails at the 10.5 s
// sample; a1's events arrive at c2 from 11.2 s (97 of them before the
// heal); c1 is back at 20 s and a1's events arrive there again from 22 s.
func TestFailoverTable(t *testing.T) {
	c := New(Options{Start: t0})
	c.Writer("a1w0", "a1")
	c.Writer("a2w0", "a2")
	seq := int64(0)
	emit := func(w string, writeMs, arriveMs int64, store string) {
		l := write(c, w, seq, writeMs, true)
		seq++
		c.Deliver(store, l, at(arriveMs))
	}
	for ms := int64(0); ms < 30000; ms += 100 {
		switch {
		case ms < 10000:
			emit("a1w0", ms, ms+20, "c1")
		case ms < 11000: // stuck: these arrive at c2 when a1 fails over
			emit("a1w0", ms, 11200+(ms-10000)/10, "c2")
		case ms < 22000:
			emit("a1w0", ms, ms+300, "c2")
		default:
			emit("a1w0", ms, ms+20, "c1")
		}
		emit("a2w0", ms, ms+10, "c3") // a2 never used c1
	}
	// An event c1 held in its own channel when it was killed reaches c1's
	// store when c1 is back: recovery, not a1 failing back.
	held := write(c, "a1w0", seq, 9985, true)
	seq++
	c.Deliver("c1", held, at(20100))
	// One lost event just before the kill, and a batch delivered twice.
	write(c, "a1w0", seq, 9950, true)
	seq++
	dup := write(c, "a1w0", seq, 9990, true)
	c.Deliver("c1", dup, at(9995))
	c.Deliver("c2", dup, at(11250))

	topo := record.Topology{
		Nodes: []record.Node{
			{Name: "a1", Role: record.RoleAgent}, {Name: "a2", Role: record.RoleAgent},
			{Name: "c1", Role: record.RoleCollector}, {Name: "c2", Role: record.RoleCollector}, {Name: "c3", Role: record.RoleCollector},
		},
		Hops: []record.Hop{
			{From: "a1", Sink: "k1", To: "c1"}, {From: "a1", Sink: "k2", To: "c2"},
			{From: "a2", Sink: "k1", To: "c1"}, {From: "a2", Sink: "k3", To: "c3"},
		},
		Stores: []record.Store{{Name: "c1", Node: "c1"}, {Name: "c2", Node: "c2"}, {Name: "c3", Node: "c3"}},
	}
	samples := []SinkSample{
		{AtMs: 9000, Node: "a1", Sink: "k1", Failures: 0},
		{AtMs: 10000, Node: "a1", Sink: "k1", Failures: 0},
		{AtMs: 10500, Node: "a1", Sink: "k1", Failures: 1},
		{AtMs: 11000, Node: "a1", Sink: "k1", Failures: 2},
		{AtMs: 9000, Node: "a2", Sink: "k1", Failures: 5}, // a2's k1 fails all along: not affected
		{AtMs: 10200, Node: "a2", Sink: "k1", Failures: 6},
	}
	healed := int64(20000)
	faults := []record.Fault{{ID: 1, Name: "kill-primary", Kind: "process", Action: "kill", Target: "c1", InjectedMs: 10000, HealedMs: &healed}}
	rows, notes := c.Failover(Analysis{Start: t0, EndMs: 31000, Faults: faults, Topology: topo, Samples: samples})
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	check := func(name string, got *int64, want int64) {
		t.Helper()
		if got == nil || *got != want {
			t.Errorf("%s = %v, want %d", name, fmtMs(got), want)
		}
	}
	check("detected", r.DetectedMs, 10500)
	check("failed over", r.FailedOverMs, 11200)
	check("healed", r.HealedMs, 20000)
	check("failed back", r.FailedBackMs, 22020)
	if fmt.Sprint(r.Affected) != "[a1]" {
		t.Errorf("affected %v", r.Affected)
	}
	if r.LongestGapMs != 11200-9995 {
		t.Errorf("longest gap %d, want %d", r.LongestGapMs, 11200-9995)
	}
	if r.Lost != 1 || r.Duplicated != 1 {
		t.Errorf("lost %d duplicated %d", r.Lost, r.Duplicated)
	}
	if len(r.Via) != 1 || r.Via[0] != "c2 (97 events)" {
		t.Errorf("via %v", r.Via)
	}
	if len(notes) != 0 {
		t.Errorf("notes %v", notes)
	}
	t.Log(Describe(r))
}

// A fault on a node nothing went through says so, and a kill of an agent
// reports the agent's own gap.
func TestFailoverTableEdges(t *testing.T) {
	c := New(Options{Start: t0})
	c.Writer("a1w0", "a1")
	for i := int64(0); i < 100; i++ {
		ms := i * 100
		arrive := ms + 10
		if ms >= 3000 && ms < 5000 {
			arrive = 5000 + (ms-3000)/100 // a1 was down
		}
		l := write(c, "a1w0", i, ms, true)
		c.Deliver("c1", l, at(arrive))
	}
	topo := record.Topology{
		Nodes:  []record.Node{{Name: "a1", Role: record.RoleAgent}, {Name: "c1", Role: record.RoleCollector}, {Name: "c2", Role: record.RoleCollector}},
		Hops:   []record.Hop{{From: "a1", Sink: "k1", To: "c1"}, {From: "a1", Sink: "k2", To: "c2"}},
		Stores: []record.Store{{Name: "c1", Node: "c1"}, {Name: "c2", Node: "c2"}},
	}
	h1, h2 := int64(4000), int64(8000)
	faults := []record.Fault{
		{ID: 2, Name: "stop-standby", Target: "c2", InjectedMs: 7000, HealedMs: &h2},
		{ID: 1, Name: "kill-agent", Target: "a1", InjectedMs: 3000, HealedMs: &h1},
	}
	rows, _ := c.Failover(Analysis{Start: t0, EndMs: 11000, Faults: faults, Topology: topo})
	if rows[0].Fault != 1 || rows[1].Fault != 2 {
		t.Fatalf("rows not in injection order: %+v", rows)
	}
	if rows[0].LongestGapMs != 5000-2910 || rows[0].DetectedMs != nil || rows[0].FailedOverMs != nil {
		t.Errorf("agent kill row %+v", rows[0])
	}
	if len(rows[1].Affected) != 0 || rows[1].Notes == "" {
		t.Errorf("standby row %+v", rows[1])
	}
}

// Lost events and extra copies go to the faults that touched the event's
// node, even when another node's fault was nearer in time.
func TestAttributionFollowsTheNode(t *testing.T) {
	c := New(Options{Start: t0})
	c.Writer("a1w0", "a1")
	c.Writer("a2w0", "a2")
	write(c, "a1w0", 0, 5000, true) // lost, written right when a2 was killed
	d := write(c, "a2w0", 0, 1000, true)
	c.Deliver("s", d, at(1100))
	c.Deliver("s", d, at(5500)) // a copy after both kills
	topo := record.Topology{Nodes: []record.Node{{Name: "a1", Role: record.RoleAgent}, {Name: "a2", Role: record.RoleAgent}}}
	faults := []record.Fault{
		{ID: 1, Name: "kill-a1", Target: "a1", InjectedMs: 3000},
		{ID: 2, Name: "kill-a2", Target: "a2", InjectedMs: 5000},
	}
	rows, notes := c.Failover(Analysis{Start: t0, EndMs: 9000, Faults: faults, Topology: topo})
	if rows[0].Lost != 1 || rows[1].Lost != 0 || rows[0].Duplicated != 0 || rows[1].Duplicated != 1 || len(notes) != 0 {
		t.Fatalf("rows %+v notes %v", rows, notes)
	}
}

func TestCanonical(t *testing.T) {
	for _, s := range []string{"0", "7", "-7", "9223372036854775807", "-9223372036854775808", "1795309254628152511"} {
		n, ok := canonical([]byte(s))
		if !ok || strconv.FormatInt(n, 10) != s {
			t.Errorf("canonical(%q) = %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "-", "-0", "00", "07", "+7", "9223372036854775808", "-9223372036854775809", "99999999999999999999", "1a", " 1"} {
		if n, ok := canonical([]byte(s)); ok {
			t.Errorf("canonical(%q) accepted as %d", s, n)
		}
	}
}
