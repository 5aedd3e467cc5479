package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/reports"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios"
)

func TestScenarioList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"scenario", "list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, name := range []string{"kill-primary", "partition-primary", "rolling-restart", "kill-agents", "flapping-lb", "slow-network", "frozen-collector", "lossy-memory-channel"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("scenario list lacks %s:\n%s", name, out.String())
		}
	}
}

func TestScenarioRunRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"scenario"},
		{"scenario", "nope"},
		{"scenario", "run"},
		{"scenario", "run", "no-such-scenario"},
		{"scenario", "run", "--agent-conf", "../../examples/agent.conf", "--collector-conf", "../../examples/collector.conf", "--fault", "explode"},
		{"scenario", "run", "--agent-conf", "../../examples/agent.conf"},
		{"report"},
		{"report", t.TempDir()},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		} else if errb.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

// logLine is a slog text line's time and message.
var logLine = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]*)"`)

// logTimes returns the times of the lines of a node log whose message
// starts with prefix.
func logTimes(t *testing.T, path, prefix string) []time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := logLine.FindStringSubmatch(sc.Text())
		if m != nil && strings.HasPrefix(m[2], prefix) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, at)
		}
	}
	return out
}

func firstLog(t *testing.T, path, prefix string) (time.Time, bool) {
	t.Helper()
	ts := logTimes(t, path, prefix)
	if len(ts) == 0 {
		return time.Time{}, false
	}
	return ts[0], true
}

// `sluice scenario run` on the examples' seed configs with --fault
// kill-primary produces a report whose failover table matches what
// happened, as told independently by the agents' own logs (the failover
// processor logs every failover and failback) and the stores.
func TestScenarioRunExamplesKillPrimary(t *testing.T) {
	sc, err := scenarios.FromConfigs(scenarios.UserConfig{AgentConf: "../../examples/agent.conf", CollectorConf: "../../examples/collector.conf", Fault: "kill-primary", Agents: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m := sc.Missing(); m != "" {
		t.Skipf("the examples need components this build lacks: %s", m)
	}
	out := t.TempDir()
	p := startSluice(t, "scenario", "run", "--agent-conf", "../../examples/agent.conf", "--collector-conf", "../../examples/collector.conf",
		"--fault", "kill-primary", "--duration", "20s", "--seed", "7", "--out", out)
	if err := p.wait(t, 5*time.Minute); err != nil {
		t.Fatalf("sluice scenario run: %v\n%s", err, p.Log())
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(out, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, reports.RecordFile))
	if err != nil {
		t.Fatal(err)
	}
	r, err := record.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Checker.Valid || r.Checker.Lost != 0 || r.Checker.Delivered == 0 {
		t.Fatalf("verdict: %+v", r.Checker)
	}
	if len(r.Failover) != 1 {
		t.Fatalf("%d failover rows, want 1", len(r.Failover))
	}
	row := r.Failover[0]
	if row.Target != "collector1" || row.DetectedMs == nil || row.FailedOverMs == nil || row.HealedMs == nil || row.FailedBackMs == nil {
		t.Fatalf("row %+v", row)
	}
	off := func(at time.Time) int64 { return at.Sub(r.Start).Milliseconds() }

	// What the agents say happened.
	var firstFailover, lastFailover, lastFailback int64 = -1, -1, -1
	for _, a := range []string{"agent1", "agent2", "agent3"} {
		log := filepath.Join(dir, "nodes", a+".log")
		fo, ok := firstLog(t, log, "sink group failover")
		if !ok {
			t.Fatalf("%s never logged a failover", a)
		}
		fb, ok := firstLog(t, log, "sink group failback")
		if !ok {
			t.Fatalf("%s never logged a failback", a)
		}
		if firstFailover < 0 || off(fo) < firstFailover {
			firstFailover = off(fo)
		}
		lastFailover = max(lastFailover, off(fo))
		lastFailback = max(lastFailback, off(fb))
	}
	// What the collector's log says: killed, then started again.
	starts := logTimes(t, filepath.Join(dir, "nodes", "collector1.log"), "agent started")
	if len(starts) != 2 {
		t.Fatalf("collector1 started %d times, want 2 (before the kill and at the heal)", len(starts))
	}
	if row.InjectedMs < off(starts[0]) || *row.HealedMs < off(starts[1]) {
		t.Errorf("injected %d / healed %d do not follow collector1's starts at %d and %d", row.InjectedMs, *row.HealedMs, off(starts[0]), off(starts[1]))
	}
	t.Logf("table: injected %d detected %d failed over %d healed %d failed back %d; agents' logs: failover %d..%d, failback by %d",
		row.InjectedMs, *row.DetectedMs, *row.FailedOverMs, *row.HealedMs, *row.FailedBackMs, firstFailover, lastFailover, lastFailback)

	within := func(name string, got, lo, hi int64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s at %dms, want within [%d, %d]ms (from the agents' logs)", name, got, lo, hi)
		}
	}
	// The first failed batch: the metrics are read every 250ms and the
	// injection is stamped once the kill has been reaped.
	within("detected", *row.DetectedMs, firstFailover-50, firstFailover+400)
	within("injected", row.InjectedMs, firstFailover-1000, firstFailover+50)
	// Failed over: every agent's events reached another store after it
	// logged its failover (store polled every 50ms; a batch takes a
	// moment).
	within("failed over", *row.FailedOverMs, lastFailover-50, lastFailover+2500)
	// Failed back: after the heal, once every agent logged its failback.
	within("failed back", *row.FailedBackMs, lastFailback-100, lastFailback+2500)
	if *row.FailedBackMs < *row.HealedMs {
		t.Errorf("failed back (%d) before the heal (%d)", *row.FailedBackMs, *row.HealedMs)
	}
	// During the fault the traffic went to priority 80 (collector2).
	if len(row.Via) == 0 || !strings.HasPrefix(row.Via[0], "collector2/") {
		t.Errorf("traffic during the fault went to %v, want collector2 first", row.Via)
	}
	md, err := os.ReadFile(filepath.Join(dir, reports.MarkdownFile))
	if err != nil || !strings.Contains(string(md), "| 1 | kill-primary | collector1 |") {
		t.Errorf("report lacks the failover row: %v", err)
	}
}
