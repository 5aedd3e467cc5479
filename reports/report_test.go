package reports

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/reports/record"
)

func sampleRun() *record.Run {
	healed := int64(20000)
	return &record.Run{
		Scenario: "kill-primary", Kind: record.KindScenario, Seed: 7,
		Start:      time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC),
		DurationMs: 31000,
		Phases:     record.Phases{LoadEndMs: 25000, HealMs: 20000, DrainEndMs: 30000, Drained: true},
		Topology: record.Topology{
			Nodes: []record.Node{
				{Name: "agent1", Role: record.RoleAgent, Runtime: "process", Groups: []record.SinkGroup{{Name: "g1", Processor: "failover",
					Sinks: []record.GroupSink{{Name: "k1", Priority: 100, Target: "collector1"}, {Name: "k2", Priority: 80, Target: "collector2"}}}}},
				{Name: "collector1", Role: record.RoleCollector, Runtime: "process"},
			},
			Hops:    []record.Hop{{From: "agent1", Sink: "k1", To: "collector1", Via: "127.0.0.1:1"}},
			Stores:  []record.Store{{Name: "collector1", Kind: "file_roll", Node: "collector1", Location: "/tmp/c1"}},
			Configs: []record.Config{{Name: "agent1.conf", Text: "a.sources = r1 <script>alert(1)</script>\n"}},
		},
		Faults: []record.Fault{{ID: 1, Name: "kill-primary", Kind: "process", Action: "kill", Target: "collector1", InjectedMs: 10000, HealedMs: &healed}},
		Series: record.Series{IntervalMs: 1000, Written: []int64{5, 5, 5}, Delivered: []int64{4, 6, 5}, Duplicates: []int64{0, 1, 0},
			Backlog: map[string][]int64{"agents": {1, 0, 0}}, Stores: map[string][]int64{"collector1": {4, 7, 5}}},
		Checker: record.Result{Valid: true, Attempted: 15, Acknowledged: 15, Delivered: 15, Duplicated: 1, DuplicatedEvents: 1,
			Copies:  []record.CopiesBucket{{Copies: 2, Events: 1}},
			Latency: record.Latency{Count: 15, P50Us: 12345, P90Us: 23456, P99Us: 34567, P999Us: 45678, MaxUs: 56789, MeanUs: 15000, ResolutionUs: 50000}},
		Failover: []record.FailoverRow{{Fault: 1, Name: "kill-primary", Target: "collector1", InjectedMs: 10000,
			DetectedMs: record.Ms(10250), FailedOverMs: record.Ms(10400), HealedMs: &healed, FailedBackMs: record.Ms(22100),
			LongestGapMs: 1300, Duplicated: 1, Affected: []string{"agent1"}, Via: []string{"collector2 (100 events)"}}},
		Timeline: []record.TimelineEntry{
			{AtMs: 10400, Mark: record.MarkFailover, Node: "agent1", Text: "failed over to collector2"},
			{AtMs: 10000, Mark: record.MarkCrash, Node: "collector1", Text: "kill -9"},
		},
		Expectations: []record.Expectation{{Claim: "traffic failed over to priority 80", Held: true}},
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"**VALID: nothing acknowledged was lost",
		"| # | Fault | Target | Injected | Detected | Failed over | Healed | Failed back | Longest gap | Lost | Duplicated |",
		"| 1 | kill-primary | collector1 | +10.000s | +10.250s (+0.25s) | +10.400s (+0.40s) | +20.000s | +22.100s (+2.10s) | 1.30s | 0 | 1 |",
		"| 15 | 12.3 ms | 23.5 ms | 34.6 ms | 45.7 ms | 56.8 ms | 15.0 ms |",
		"1 events × 2 copies",
		"- **held**: traffic failed over to priority 80",
		// Timeline sorted by time, one line per event.
		"  +10.000s $ collector1  kill -9\n  +10.400s > agent1      failed over to collector2",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
}

func TestInvalidVerdictListsLost(t *testing.T) {
	r := sampleRun()
	r.Checker.Valid = false
	r.Checker.Lost = 12
	r.Checker.LostIntervals = []record.WriterIntervals{{Writer: "agent1w0", Count: 12, Intervals: [][2]int64{{100, 110}, {200, 200}}}}
	var md, h bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&h, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{md.String(), h.String()} {
		if !strings.Contains(s, "INVALID: 12 acknowledged events lost") || !strings.Contains(s, "agent1w0: 12 lost, seq 100–110, 200") {
			t.Errorf("invalid verdict not reported:\n%s", s)
		}
	}
}

func TestHTMLStructure(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, id := range []string{"summary", "expectations", "failover", "charts", "latency", "duplicates", "timeline", "series", "faults", "topology"} {
		if !strings.Contains(h, `id="`+id+`"`) {
			t.Errorf("no section %q", id)
		}
	}
	// One failover row per record row, cells as in the record.
	sec := html.UnescapeString(h[strings.Index(h, `id="failover"`):strings.Index(h, `id="charts"`)])
	if n := strings.Count(sec, "<tr>"); n != 2 {
		t.Errorf("failover table has %d rows, want header + 1", n)
	}
	if !strings.Contains(sec, "<td>+10.250s (+0.25s)</td>") || !strings.Contains(sec, "<td>+22.100s (+2.10s)</td>") {
		t.Errorf("failover cells:\n%s", sec)
	}
	// Self-contained: no external resources, no scripts; config text escaped.
	if regexp.MustCompile(`(?i)<script|src=|href="http|@import|url\(`).MatchString(h) {
		t.Errorf("page is not self-contained or not escaped")
	}
	if !strings.Contains(h, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("config text not escaped")
	}
}

func TestSaveAndRender(t *testing.T) {
	root := t.TempDir()
	r := sampleRun()
	dir, err := Save(root, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "kill-primary", "20260102T030405.678Z"); dir != want {
		t.Fatalf("run dir %s, want %s", dir, want)
	}
	for _, f := range []string{RecordFile, MarkdownFile, HTMLFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{filepath.Join(root, "kill-primary", "latest"), filepath.Join(root, "latest")} {
		got, err := filepath.EvalSymlinks(l)
		if err != nil || got != dir {
			t.Fatalf("%s -> %s (%v), want %s", l, got, err, dir)
		}
	}
	// A second run moves latest; the first stays.
	r2 := sampleRun()
	r2.Start = r2.Start.Add(time.Minute)
	dir2, err := Save(root, r2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.EvalSymlinks(filepath.Join(root, "latest")); got != dir2 {
		t.Fatalf("latest -> %s, want %s", got, dir2)
	}
	// Render re-creates the reports from the record alone.
	os.Remove(filepath.Join(dir, MarkdownFile))
	got, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scenario != "kill-primary" {
		t.Fatalf("rendered %q", got.Scenario)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil || !strings.Contains(string(md), "kill-primary — recovery report") {
		t.Fatalf("re-rendered markdown: %v", err)
	}
	if _, err := Render(t.TempDir()); err == nil {
		t.Fatal("Render of an empty directory succeeded")
	}
}

func TestSeriesDownsampled(t *testing.T) {
	r := sampleRun()
	n := 1000
	r.Series = record.Series{IntervalMs: 1000, Written: make([]int64, n), Delivered: make([]int64, n), Duplicates: make([]int64, n)}
	for i := range r.Series.Written {
		r.Series.Written[i] = 1
	}
	v := newView(r, nil)
	if len(v.Series) > maxSeriesRows {
		t.Fatalf("%d rows", len(v.Series))
	}
	var total int
	for _, row := range v.Series {
		total += atoi(row[1])
	}
	if total != n {
		t.Fatalf("downsampled rows sum to %d, want %d", total, n)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
		}
	}
	return n
}
