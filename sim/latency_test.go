package sim

import (
	"testing"
	"time"
)

func TestLatencyBins(t *testing.T) {
	prevTop := int64(-1)
	for b := 0; b < latBins; b++ {
		top := latTop(b)
		if top <= prevTop {
			t.Fatalf("bin %d top %d not above bin %d's %d", b, top, b-1, prevTop)
		}
		// The bin's bottom and top fall in it, and the next value does not.
		if got := latBin(prevTop + 1); got != b {
			t.Fatalf("latBin(%d) = %d, want %d", prevTop+1, got, b)
		}
		if got := latBin(top); got != b {
			t.Fatalf("latBin(%d) = %d, want %d", top, got, b)
		}
		// Within an eighth of an octave.
		if lo := prevTop + 1; lo >= latSub && float64(top) > float64(lo)*(1+1.0/latSub) {
			t.Fatalf("bin %d spans %d..%d, wider than an eighth of an octave", b, lo, top)
		}
		prevTop = top
	}
	if got := latBin(1 << 50); got != latBins-1 {
		t.Fatalf("a latency past the cap goes to bin %d, want the last (%d)", got, latBins-1)
	}
}

func TestLatencySeriesByWriteTime(t *testing.T) {
	l := latencyByWrite{every: time.Second}
	// Written in the first second: 99 fast and one slow; in the third
	// second: one held through an outage; and one written after the last
	// sample.
	for i := range 99 {
		l.add(time.Duration(i)*10*time.Millisecond, 2*time.Millisecond)
	}
	l.add(990*time.Millisecond, 700*time.Millisecond)
	l.add(2500*time.Millisecond, 30*time.Minute)
	l.add(10*time.Second, 5*time.Millisecond)
	// Samples at 0, 1 s, 2 s, 3 s, and the liveness phase's second sample
	// at 3 s.
	at := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	p50, p99, mx := l.series(at)
	want := func(name string, got []int64, i int, lo, hi int64) {
		t.Helper()
		if got[i] < lo || got[i] > hi {
			t.Errorf("%s[%d] = %dµs, want %d..%d (all: %v)", name, i, got[i], lo, hi, got)
		}
	}
	want("p50", p50, 0, 0, 0)
	want("p50", p50, 1, 2000, 2250) // the fast ones, within an eighth of an octave
	want("p99", p99, 1, 2000, 2250)
	want("max", mx, 1, 700000, 700000) // exact
	want("max", mx, 2, 0, 0)
	want("p50", p50, 3, int64(30*time.Minute/time.Microsecond), int64(30*time.Minute/time.Microsecond))
	want("max", mx, 3, int64(30*time.Minute/time.Microsecond), int64(30*time.Minute/time.Microsecond))
	// Written after the last sample: counted in the last point.
	want("max", mx, 4, 5000, 5000)
}

// A capacity run's page has a latency-over-time line that shows the outage.
func TestSimRecordHasLatencyOverTime(t *testing.T) {
	res, err := Run(Options{Seed: 3, Agents: 6, Collectors: 3, Duration: 4 * time.Minute, Outages: []Outage{{Target: "all-collectors", Length: time.Minute, Start: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Record.Series
	n := len(s.Written)
	if len(s.LatencyP50Us) != n || len(s.LatencyP99Us) != n || len(s.LatencyMaxUs) != n {
		t.Fatalf("latency series of %d, %d, %d points for %d intervals", len(s.LatencyP50Us), len(s.LatencyP99Us), len(s.LatencyMaxUs), n)
	}
	var before, during int64
	for i := range n {
		at := time.Duration(int64(i)*s.IntervalMs) * time.Millisecond
		switch {
		case at > 10*time.Second && at < 40*time.Second: // not held by the outage
			before = max(before, s.LatencyMaxUs[i])
		case at > time.Minute+5*time.Second && at < 2*time.Minute:
			during = max(during, s.LatencyP50Us[i])
		}
	}
	if before == 0 || before > int64(10*time.Second/time.Microsecond) {
		t.Errorf("max latency before the outage %dµs, want some, under 10 s", before)
	}
	if during < int64(10*time.Second/time.Microsecond) {
		t.Errorf("p50 latency of events written during the outage %dµs, want them held (over 10 s)", during)
	}
	if res.Record.Checker.Latency.MaxUs < during {
		t.Errorf("overall max %dµs below an interval's p50 %dµs", res.Record.Checker.Latency.MaxUs, during)
	}
}
