package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/sinkmock"
)

// seed is the seed topology's group: three collectors, 100/80/60.
func seed(t *testing.T, f *fixture, maxPenalty time.Duration) (*Failover, map[string]*scripted) {
	t.Helper()
	list, by := mocks(t, "k1", "k2", "k3")
	p := NewFailover(f.env, "g1", list, FailoverConfig{Priority: map[string]int{"k1": 100, "k2": 80, "k3": 60}, MaxPenalty: maxPenalty})
	return p, by
}

// flumePenaltyMillis is FailoverSinkProcessor's refresh delta, computed in
// Java int arithmetic: Math.min(maxPenalty, (1 << n) * 1000).
func flumePenaltyMillis(n int, maxPenalty int32) int32 {
	shifted := int32(1) << (uint(n) & 31) // Java masks int shifts to 5 bits
	return min(maxPenalty, shifted*1000)
}

func TestFailoverPenaltySequence(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	by["k1"].mode = down

	if st := process(t, p); st != sink.Ready {
		t.Fatalf("first unit of work: %v, want READY via k2", st)
	}
	if got := p.Active(); got != "k2" {
		t.Fatalf("active = %q after k1 failed, want k2", got)
	}
	want := []time.Duration{2, 4, 8, 16, 30, 30, 30}
	for i := range 40 {
		exp := 30 * time.Second
		if i < len(want) {
			exp = want[i] * time.Second
		}
		fails, pen, restore := p.Penalty("k1")
		if fails != i+1 || pen != exp || !restore.Equal(f.clk.Now().Add(exp)) {
			t.Fatalf("after failure %d: fails=%d penalty=%v restore=%v; want %d, %v, %v",
				i+1, fails, pen, restore, i+1, exp, f.clk.Now().Add(exp))
		}
		// Flume's int arithmetic goes negative at the 22nd failure; Sluice
		// stays at the cap (see TestFlumePenaltyOverflow).
		calls := by["k1"].calls
		f.clk.Advance(pen - time.Millisecond)
		process(t, p)
		if by["k1"].calls != calls {
			t.Fatalf("failure %d: k1 retried %v before its %v penalty ended", i+1, time.Millisecond, pen)
		}
		f.clk.Advance(time.Millisecond)
		process(t, p)
		if by["k1"].calls != calls+1 {
			t.Fatalf("failure %d: k1 not retried when its %v penalty ended", i+1, pen)
		}
	}
	if got := metric(t, f.reg, "g1", "FailoverCount"); got != "1" {
		t.Fatalf("FailoverCount = %s; retries of an already failed sink are not failovers", got)
	}
	if by["k3"].calls != 0 {
		t.Fatalf("k3 was called %d times while k2 delivered", by["k3"].calls)
	}
}

// TestFlumePenaltyOverflow shows Flume's penalty beside Sluice's for a sink
// that stays dead: Flume's 32-bit (1 << n) * 1000 turns negative at the
// 22nd sequential failure and cycles, so Flume hammers a long-dead
// collector; Sluice holds the cap.
func TestFlumePenaltyOverflow(t *testing.T) {
	for n := 1; n <= 64; n++ {
		sluice := penalty(n, 30*time.Second)
		flume := time.Duration(flumePenaltyMillis(n, 30000)) * time.Millisecond
		if n <= 21 && sluice != flume {
			t.Fatalf("failure %d: Sluice %v, Flume %v; they must agree before Flume overflows", n, sluice, flume)
		}
		if sluice != min(30*time.Second, time.Second<<min(n, 5)) {
			t.Fatalf("failure %d: Sluice penalty %v, want 2^n s capped at 30 s", n, sluice)
		}
	}
	for n, want := range map[int]int32{22: -100663296, 27: 30000, 29: 0, 32: 1000} {
		if got := flumePenaltyMillis(n, 30000); got != want {
			t.Fatalf("Flume penalty at failure %d = %d ms, want %d (checked with a JVM)", n, got, want)
		}
	}
}

func TestFailoverFailbackWhenPrimaryRecovers(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	by["k1"].mode = down
	process(t, p) // k1 fails (2 s), k2 delivers
	f.clk.Advance(2 * time.Second)
	process(t, p) // k1 retried, fails (4 s), k2 delivers
	by["k1"].mode = up
	f.clk.Advance(3 * time.Second)
	process(t, p)
	if p.Active() != "k2" {
		t.Fatalf("k1 came back before its 4 s penalty ended")
	}
	k2 := by["k2"].calls
	f.clk.Advance(time.Second)
	if st := process(t, p); st != sink.Ready {
		t.Fatalf("failback unit of work = %v, want READY", st)
	}
	if p.Active() != "k1" || p.State("k1") != "active" || p.State("k2") != "standby" {
		t.Fatalf("after k1 delivered: active=%s k1=%s k2=%s; want k1 active, k2 standby", p.Active(), p.State("k1"), p.State("k2"))
	}
	if by["k2"].calls != k2 {
		t.Fatalf("k2 was called in the unit of work k1 delivered")
	}
	for range 5 {
		process(t, p)
	}
	if by["k2"].calls != k2 {
		t.Fatalf("k2 still called after failback")
	}
	if got := metric(t, f.reg, "g1", "FailbackCount"); got != "1" {
		t.Fatalf("FailbackCount = %s, want 1", got)
	}
	lines := f.logs.lines("failback")
	if len(lines) != 1 || !strings.Contains(lines[0], "sink=k1") || !strings.Contains(lines[0], "down_for=6s") {
		t.Fatalf("failback log lines: %q; want one naming k1, down for 6s", lines)
	}
	over := f.logs.lines("sink group failover")
	if len(over) != 1 || !strings.Contains(over[0], "sink=k1") || !strings.Contains(over[0], "connection refused") ||
		!strings.Contains(over[0], "penalty=2s") || !strings.Contains(over[0], "active=k2") {
		t.Fatalf("failover log lines: %q; want one naming k1, its error, a 2s penalty and the new active k2", over)
	}
}

// TestFailoverFlappingPrimary: a primary that fails again soon after it
// came back keeps escalating (Sluice); Flume restarts its penalty at 2 s on
// every flap. One that stayed healthy for maxpenalty starts afresh.
func TestFailoverFlappingPrimary(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	k1 := by["k1"]
	var pens []time.Duration
	for range 6 {
		k1.mode = down
		process(t, p)
		_, pen, _ := p.Penalty("k1")
		pens = append(pens, pen)
		k1.mode = up
		f.clk.Advance(pen)
		process(t, p) // retried: delivers and rejoins
		if p.Active() != "k1" {
			t.Fatalf("k1 did not come back after its %v penalty", pen)
		}
		f.clk.Advance(5 * time.Second) // up for 5 s, then flaps
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(pens) != fmt.Sprint(want) {
		t.Fatalf("flapping penalties %v, want %v (Flume: 2s every time)", pens, want)
	}
	if got := metric(t, f.reg, "g1", "FailoverCount"); got != "6" {
		t.Fatalf("FailoverCount = %s, want 6", got)
	}
	if got := metric(t, f.reg, "g1", "FailbackCount"); got != "6" {
		t.Fatalf("FailbackCount = %s, want 6", got)
	}
	// Healthy for maxpenalty: the next failure is a fresh one.
	f.clk.Advance(30 * time.Second)
	k1.mode = down
	process(t, p)
	if fails, pen, _ := p.Penalty("k1"); fails != 1 || pen != 2*time.Second {
		t.Fatalf("failure after 35 s healthy: fails=%d penalty=%v, want 1 and 2s", fails, pen)
	}
}

func TestFailoverAllFailed(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	for _, s := range by {
		s.mode = down
	}
	st, err := p.Process(context.Background())
	if err == nil || st != sink.Backoff {
		t.Fatalf("all down: %v, %v; want BACKOFF and an error", st, err)
	}
	if !errors.Is(err, sink.ErrAllFailed) || !errors.Is(err, errRefused) {
		t.Fatalf("error %v does not wrap sink.ErrAllFailed and the sinks' errors", err)
	}
	for _, n := range []string{"k1", "k2", "k3"} {
		if !strings.Contains(err.Error(), "sink "+n+": dial tcp") {
			t.Fatalf("error %q does not name sink %s and its error", err, n)
		}
	}
	if d, ok := sink.RetryAfter(err); !ok || d != 2*time.Second {
		t.Fatalf("RetryAfter = %v, %v; want 2s, the first penalty's end", d, ok)
	}
	if p.Active() != "" || metric(t, f.reg, "g1", "ActiveSink") != "" {
		t.Fatalf("active = %q with every sink failed", p.Active())
	}
	// Within the penalties nothing is tried and the error says how long.
	f.clk.Advance(1500 * time.Millisecond)
	before := by["k1"].calls + by["k2"].calls + by["k3"].calls
	_, err = p.Process(context.Background())
	if after := by["k1"].calls + by["k2"].calls + by["k3"].calls; after != before {
		t.Fatalf("%d sinks called while every sink was penalized", after-before)
	}
	if d, _ := sink.RetryAfter(err); d != 500*time.Millisecond || !strings.Contains(err.Error(), "sink k2: penalized for another 500ms") {
		t.Fatalf("during the penalties: %v (RetryAfter %v)", err, d)
	}
	// k3 comes back first: it delivers and is active until k1 returns.
	by["k3"].mode = up
	f.clk.Advance(500 * time.Millisecond)
	if st := process(t, p); st != sink.Ready || p.Active() != "k3" {
		t.Fatalf("after k3 recovered: %v, active %q", st, p.Active())
	}
	if got := metric(t, f.reg, "g1", "AllFailedCount"); got != "2" {
		t.Fatalf("AllFailedCount = %s, want 2", got)
	}
}

// TestFailoverDoesNotRetryBelowActive: Flume retries every failed sink
// whose penalty ended before the active one on each call, so a dead
// low-priority collector stalls a healthy primary for a timeout every
// penalty period. Sluice retries a failed sink only when it would take over.
func TestFailoverDoesNotRetryBelowActive(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	by["k1"].mode, by["k2"].mode = down, down
	process(t, p) // k1, k2 fail; k3 delivers
	by["k1"].mode = up
	f.clk.Advance(2 * time.Second)
	process(t, p) // k1 due and outranks k3: retried, delivers
	if p.Active() != "k1" {
		t.Fatalf("active = %s, want k1", p.Active())
	}
	k2 := by["k2"].calls
	for range 100 {
		f.clk.Advance(time.Second)
		process(t, p)
	}
	if by["k2"].calls != k2 {
		t.Fatalf("dead standby k2 was retried %d times while k1 delivered", by["k2"].calls-k2)
	}
	if p.State("k2") != "due" {
		t.Fatalf("k2 state %q, want due", p.State("k2"))
	}
	// When k1 fails, k2 is next in line and is retried before k3.
	by["k1"].mode = down
	process(t, p)
	if by["k2"].calls != k2+1 || p.Active() != "k3" {
		t.Fatalf("after k1 failed: k2 tried %d times, active %s; want k2 retried once, k3 active", by["k2"].calls-k2, p.Active())
	}
}

// TestFailoverRetryWithNothingToDeliver: a failed sink retried when its
// channel is empty answers BACKOFF, which says nothing about its health.
// Flume returns BACKOFF right there, never reaching the live sinks; Sluice
// keeps the sink due and goes on.
func TestFailoverRetryWithNothingToDeliver(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	by["k1"].mode = down
	process(t, p)
	by["k1"].mode = empty
	f.clk.Advance(2 * time.Second)
	k2 := by["k2"].calls
	if st := process(t, p); st != sink.Ready || by["k2"].calls != k2+1 {
		t.Fatalf("status %v, k2 called %d times; want READY from k2", st, by["k2"].calls-k2)
	}
	if p.State("k1") != "due" || p.Active() != "k2" {
		t.Fatalf("k1 state %q, active %q; want k1 still failed and due, k2 active", p.State("k1"), p.Active())
	}
	by["k1"].mode = up
	process(t, p)
	if p.Active() != "k1" {
		t.Fatalf("k1 not restored once it delivered")
	}
}

func TestFailoverIgnoresCancellation(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	by["k1"].mode = down
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Process(ctx)
	if err == nil {
		t.Fatalf("Process with a cancelled context and a failing sink returned no error")
	}
	if p.Active() != "k1" || by["k2"].calls != 0 {
		t.Fatalf("a shutdown penalized k1 (active %s, k2 called %d times)", p.Active(), by["k2"].calls)
	}
}

// TestFailoverExactCalls scripts each sink call with gomock, in order: the
// primary fails once, the backup takes over, the primary is retried only
// after 2 s and delivers.
func TestFailoverExactCalls(t *testing.T) {
	f := newFixture()
	ctrl := gomock.NewController(t)
	k1, k2 := sinkmock.NewMockSink(ctrl), sinkmock.NewMockSink(ctrl)
	k1.EXPECT().Name().Return("k1").AnyTimes()
	k2.EXPECT().Name().Return("k2").AnyTimes()
	gomock.InOrder(
		k1.EXPECT().Process(gomock.Any()).Return(sink.Backoff, errRefused),
		k2.EXPECT().Process(gomock.Any()).Return(sink.Ready, nil),
		k2.EXPECT().Process(gomock.Any()).Return(sink.Ready, nil),
		k1.EXPECT().Process(gomock.Any()).Return(sink.Ready, nil),
		k1.EXPECT().Process(gomock.Any()).Return(sink.Backoff, nil),
	)
	p := NewFailover(f.env, "g1", []sink.Sink{k1, k2}, FailoverConfig{Priority: map[string]int{"k1": 10, "k2": 5}})
	process(t, p)
	f.clk.Advance(time.Second)
	process(t, p)
	f.clk.Advance(time.Second)
	process(t, p)
	if st := process(t, p); st != sink.Backoff {
		t.Fatalf("last unit of work: %v, want BACKOFF", st)
	}
}

func TestFailoverStartStop(t *testing.T) {
	f := newFixture()
	ctrl := gomock.NewController(t)
	var list []sink.Sink
	var ms []*sinkmock.MockSink
	for _, n := range []string{"k1", "k2", "k3"} {
		m := sinkmock.NewMockSink(ctrl)
		m.EXPECT().Name().Return(n).AnyTimes()
		list, ms = append(list, m), append(ms, m)
	}
	errDisk := errors.New("disk gone")
	gomock.InOrder(
		ms[0].EXPECT().Start(gomock.Any()).Return(nil),
		ms[1].EXPECT().Start(gomock.Any()).Return(errDisk),
		ms[0].EXPECT().Stop(gomock.Any()).Return(nil),
	)
	p := NewFailover(f.env, "g1", list, FailoverConfig{})
	if err := p.Start(context.Background()); !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "start sink k2") {
		t.Fatalf("Start = %v; want the error of k2, named", err)
	}
	for _, m := range ms {
		m.EXPECT().Start(gomock.Any()).Return(nil)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms[0].EXPECT().Stop(gomock.Any()).Return(nil)
	ms[1].EXPECT().Stop(gomock.Any()).Return(errDisk)
	ms[2].EXPECT().Stop(gomock.Any()).Return(nil)
	if err := p.Stop(context.Background()); !errors.Is(err, errDisk) {
		t.Fatalf("Stop = %v, want k2's error after stopping every sink", err)
	}
	if len(p.Sinks()) != 3 || p.Sinks()[0] != list[0] {
		t.Fatalf("Sinks() must return the sinks in config order")
	}
}

func TestFailoverMetrics(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	process(t, p)
	by["k1"].mode = down
	process(t, p)

	b, err := f.reg.JSON(true)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string]string
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	g := all["SINKGROUP.g1"]
	want := map[string]string{
		"Type": "SINKGROUP", "Processor": "failover", "ActiveSink": "k2",
		"FailoverCount": "1", "FailbackCount": "0", "AllFailedCount": "0",
		"SinkState.k1": "failed", "SinkState.k2": "active", "SinkState.k3": "standby",
		"SinkPriority.k1": "100", "SinkFailures.k1": "1", "SinkPenaltyMillis.k1": "2000",
		"SinkRestoreTime.k1": fmt.Sprint(t0.Add(2 * time.Second).UnixMilli()), "SinkRestoreTime.k2": "0",
		"SinkReadyCount.k1": "1", "SinkReadyCount.k2": "1",
		"StartTime": fmt.Sprint(t0.UnixMilli()), "StopTime": "0",
	}
	for k, v := range want {
		if g[k] != v {
			t.Errorf("/metrics?extended=1 SINKGROUP.g1 %s = %q, want %q", k, g[k], v)
		}
	}
	if plain, _ := f.reg.JSON(false); strings.Contains(string(plain), "SINKGROUP") {
		t.Errorf("plain /metrics (Flume's view) shows SINKGROUP: %s", plain)
	}

	rec := httptest.NewRecorder()
	f.reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/prometheus", nil))
	prom := rec.Body.String()
	for _, line := range []string{
		`sluice_sinkgroup_failover_count{name="g1"} 1`,
		`sluice_sinkgroup_active_sink_info{name="g1",value="k2"} 1`,
		`sluice_sinkgroup_sink_penalty_millis{name="g1",sink="k1"} 2000`,
		`sluice_sinkgroup_sink_state_info{name="g1",sink="k1",value="failed"} 1`,
		`sluice_sinkgroup_sink_priority{name="g1",sink="k3"} 60`,
	} {
		if !strings.Contains(prom, line) {
			t.Errorf("Prometheus text lacks %s:\n%s", line, prom)
		}
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if metric(t, f.reg, "g1", "StopTime") == "0" {
		t.Errorf("StopTime not set by Stop")
	}
}
