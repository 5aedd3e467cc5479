package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/sink"
)

func lb(t *testing.T, f *fixture, cfg LoadBalanceConfig, names ...string) (*LoadBalance, map[string]*scripted) {
	t.Helper()
	list, by := mocks(t, names...)
	return NewLoadBalance(f.env, "g1", list, cfg), by
}

// delivered counts, per sink, the units of work it delivered.
func deliveries(t *testing.T, p *LoadBalance, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		if st := process(t, p); st == sink.Ready {
			out[metricLast(t, p)]++
		}
	}
	return out
}

func metricLast(t *testing.T, p *LoadBalance) string {
	t.Helper()
	v, _ := p.group.Get("LastSink")
	return v
}

func TestRoundRobinIsEven(t *testing.T) {
	f := newFixture()
	p, _ := lb(t, f, LoadBalanceConfig{}, "k1", "k2", "k3")
	var order []string
	for range 6 {
		process(t, p)
		order = append(order, metricLast(t, p))
	}
	if got := strings.Join(order, " "); got != "k1 k2 k3 k1 k2 k3" {
		t.Fatalf("round robin order %q, want config order repeated", got)
	}
	if got := deliveries(t, p, 3000); got["k1"] != 1000 || got["k2"] != 1000 || got["k3"] != 1000 {
		t.Fatalf("3000 units of work: %v, want 1000 each", got)
	}
	if v, _ := p.group.Get("SinkReadyCount.k2"); v != "1002" {
		t.Fatalf("SinkReadyCount.k2 = %s, want 1002", v)
	}
}

// TestRoundRobinOneDown: without backoff Flume hands a dead sink's turn to
// the next sink in order, so that sink gets twice the load; with backoff
// the dead sink leaves the rotation and the others share evenly.
func TestRoundRobinOneDown(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{}, "k1", "k2", "k3")
	by["k1"].mode = down
	got := deliveries(t, p, 300)
	if got["k2"] != 200 || got["k3"] != 100 || by["k1"].calls != 100 {
		t.Fatalf("no backoff, k1 down: %v, k1 tried %d times; want k2 200, k3 100, k1 tried on each of its 100 turns (Flume)", got, by["k1"].calls)
	}
	if v := metric(t, f.reg, "g1", "FailoverCount"); v != "1" {
		t.Fatalf("FailoverCount = %s; a sink that keeps failing fails over once until it delivers", v)
	}

	f = newFixture()
	p, by = lb(t, f, LoadBalanceConfig{Backoff: true}, "k1", "k2", "k3")
	by["k1"].mode = down
	got = map[string]int{}
	for range 3000 {
		if process(t, p) == sink.Ready {
			got[metricLast(t, p)]++
		}
		f.clk.Advance(10 * time.Millisecond)
	}
	if d := got["k2"] - got["k3"]; d < -30 || d > 30 || got["k2"]+got["k3"] != 3000 {
		t.Fatalf("backoff, k1 down: %v; want k2 and k3 sharing 3000 evenly", got)
	}
	// 30 s of virtual time: k1 was tried at 0 s and again as each
	// blacklisting ended, at 2, 6 and 14 s (the next is due at 30 s).
	if by["k1"].calls != 4 {
		t.Fatalf("k1 tried %d times in 30 s with backoff, want 4 (t=0, 2, 6, 14 s)", by["k1"].calls)
	}
}

func TestRandomSelectionIsSeeded(t *testing.T) {
	run := func(seed uint64) (string, map[string]int) {
		f := newFixture()
		p, _ := lb(t, f, LoadBalanceConfig{Selector: "random", Seed: seed}, "k1", "k2", "k3")
		var seq []string
		for range 20 {
			process(t, p)
			seq = append(seq, metricLast(t, p))
		}
		return strings.Join(seq, " "), deliveries(t, p, 3000)
	}
	a, dist := run(42)
	b, _ := run(42)
	c, _ := run(43)
	if a != b {
		t.Fatalf("same seed, different choices:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("seeds 42 and 43 chose the same 20 sinks: %s", a)
	}
	for _, n := range []string{"k1", "k2", "k3"} {
		if dist[n] < 900 || dist[n] > 1100 {
			t.Fatalf("seed 42, 3000 units of work: %v; want about 1000 each", dist)
		}
	}
}

func TestRandomOrderIsAPermutation(t *testing.T) {
	f := newFixture()
	p, _ := lb(t, f, LoadBalanceConfig{Selector: "random", Seed: 7}, "k1", "k2", "k3")
	seen := map[string]int{}
	for range 600 {
		o := p.sel.Order([]int{0, 1, 2})
		seen[fmt.Sprint(o)]++
	}
	if len(seen) != 6 {
		t.Fatalf("600 draws gave %d of the 6 orders: %v", len(seen), seen)
	}
	if o := p.sel.Order(nil); len(o) != 0 {
		t.Fatalf("order of no sinks: %v (Flume throws here; Sluice returns none)", o)
	}
}

// TestLoadBalanceBackoffFormula follows Flume's OrderSelector.informFailure
// exactly: 2, 4, 8, 16, 30 s; no reset on success (Flume has no success
// callback); a reset only after an hour past the last blacklisting.
func TestLoadBalanceBackoffFormula(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{Backoff: true}, "k1", "k2")
	by["k1"].mode = down
	var pens []time.Duration
	for range 7 {
		for by["k1"].calls == len(pens) {
			process(t, p)
			if by["k1"].calls == len(pens) {
				f.clk.Advance(100 * time.Millisecond)
			}
		}
		_, pen, restore := p.Penalty("k1")
		if !restore.Equal(f.clk.Now().Add(pen)) {
			t.Fatalf("restore %v, want now + %v", restore, pen)
		}
		pens = append(pens, pen)
	}
	if got, want := fmt.Sprint(pens), "[2s 4s 8s 16s 30s 30s 30s]"; got != want {
		t.Fatalf("blacklistings %s, want %s", got, want)
	}

	// It delivers, then fails again ten minutes later: Flume's count goes
	// on (the failure is within an hour of the last blacklisting).
	by["k1"].mode = up
	f.clk.Advance(31 * time.Second)
	for by["k1"].calls == 7 {
		process(t, p)
	}
	f.clk.Advance(10 * time.Minute)
	by["k1"].mode = down
	for by["k1"].calls == 8 {
		process(t, p)
	}
	if fails, pen, _ := p.Penalty("k1"); fails != 8 || pen != 30*time.Second {
		t.Fatalf("failure 10 min after delivering: fails=%d penalty=%v, want 8 and 30s (no reset on success)", fails, pen)
	}
	// An hour and the last blacklisting later, a failure starts afresh.
	f.clk.Advance(time.Hour + 30*time.Second)
	for by["k1"].calls == 9 {
		process(t, p)
	}
	if fails, pen, _ := p.Penalty("k1"); fails != 1 || pen != 2*time.Second {
		t.Fatalf("failure after an hour: fails=%d penalty=%v, want 1 and 2s", fails, pen)
	}
}

func TestLoadBalanceFailureCountCap(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{Backoff: true, MaxTimeout: 100 * time.Hour}, "k1", "k2")
	by["k1"].mode = down
	for i := 1; i <= 20; i++ {
		for by["k1"].calls < i {
			process(t, p)
			if by["k1"].calls < i {
				_, _, restore := p.Penalty("k1")
				f.clk.Set(restore)
			}
		}
	}
	if fails, pen, _ := p.Penalty("k1"); fails != 16 || pen != 65536*time.Second {
		t.Fatalf("after 20 failures: fails=%d penalty=%v, want Flume's cap of 16 and 2^16 s", fails, pen)
	}
}

func TestLoadBalanceAllBackedOff(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{Backoff: true, Selector: "random", Seed: 1}, "k1", "k2", "k3")
	for _, s := range by {
		s.mode = down
	}
	_, err := p.Process(context.Background())
	if !errors.Is(err, sink.ErrAllFailed) {
		t.Fatalf("all down: %v, want ErrAllFailed", err)
	}
	if d, ok := sink.RetryAfter(err); !ok || d != 2*time.Second {
		t.Fatalf("RetryAfter %v %v, want 2s", d, ok)
	}
	// All blacklisted: Flume's random selector throws; Sluice tries no
	// sink and says when the first blacklisting ends.
	f.clk.Advance(time.Second)
	calls := by["k1"].calls + by["k2"].calls + by["k3"].calls
	_, err = p.Process(context.Background())
	if got := by["k1"].calls + by["k2"].calls + by["k3"].calls; got != calls || !errors.Is(err, sink.ErrAllFailed) {
		t.Fatalf("while all are blacklisted: %d sinks called, err %v", got-calls, err)
	}
	if d, _ := sink.RetryAfter(err); d != time.Second || !strings.Contains(err.Error(), "backed off for another 1s") {
		t.Fatalf("while all are blacklisted: %v (RetryAfter %v)", err, d)
	}
	for _, n := range []string{"k1", "k2", "k3"} {
		if p.State(n) != "backedoff" {
			t.Fatalf("%s state %q, want backedoff", n, p.State(n))
		}
	}
	// Without backoff there is nothing to wait for: the runner's own
	// error backoff applies, as in Flume.
	f = newFixture()
	p, by = lb(t, f, LoadBalanceConfig{}, "k1", "k2")
	by["k1"].mode, by["k2"].mode = down, down
	_, err = p.Process(context.Background())
	if _, ok := sink.RetryAfter(err); ok || !errors.Is(err, sink.ErrAllFailed) {
		t.Fatalf("no backoff, all down: %v; want ErrAllFailed without a retry hint", err)
	}
}

func TestLoadBalanceFailback(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{Backoff: true}, "k1", "k2")
	by["k1"].mode = down
	process(t, p)
	if p.State("k1") != "backedoff" || metric(t, f.reg, "g1", "SinkPenaltyMillis.k1") != "2000" {
		t.Fatalf("k1 %s, penalty %s ms", p.State("k1"), metric(t, f.reg, "g1", "SinkPenaltyMillis.k1"))
	}
	by["k1"].mode = up
	f.clk.Advance(2 * time.Second)
	for metricLast(t, p) != "k1" {
		process(t, p)
	}
	if p.State("k1") != "live" || metric(t, f.reg, "g1", "FailbackCount") != "1" {
		t.Fatalf("after k1 delivered: %s, FailbackCount %s", p.State("k1"), metric(t, f.reg, "g1", "FailbackCount"))
	}
	if l := f.logs.lines("failback"); len(l) != 1 || !strings.Contains(l[0], "sink=k1") {
		t.Fatalf("failback log: %q", l)
	}
	if l := f.logs.lines("sink group failover"); len(l) != 1 || !strings.Contains(l[0], "sink=k1") ||
		!strings.Contains(l[0], "connection refused") || !strings.Contains(l[0], "penalty=2s") {
		t.Fatalf("failover log: %q", l)
	}
}

func TestLoadBalanceOneSink(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{Backoff: true}, "k1")
	if st := process(t, p); st != sink.Ready || by["k1"].calls != 1 {
		t.Fatalf("one-sink group: %v", st)
	}
}

// TestLoadBalanceBackoffStatus: the first sink that answers decides, even
// with BACKOFF (its channel is empty), as in Flume.
func TestLoadBalanceBackoffStatus(t *testing.T) {
	f := newFixture()
	p, by := lb(t, f, LoadBalanceConfig{}, "k1", "k2")
	by["k1"].mode = empty
	if st := process(t, p); st != sink.Backoff || by["k2"].calls != 0 {
		t.Fatalf("k1 empty: %v, k2 called %d times; want BACKOFF from k1 alone", st, by["k2"].calls)
	}
	if st := process(t, p); st != sink.Ready {
		t.Fatalf("next unit of work starts at k2: %v", st)
	}
}
