package processor

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/sink"
)

// TestRunnerSleepsUntilFirstPenaltyEnds: when every sink of a group has
// failed, Flume's runner sleeps 5 s whatever the penalties; Sluice's sleeps
// until the first penalty ends (2 s here), so recovery is not held back.
func TestRunnerSleepsUntilFirstPenaltyEnds(t *testing.T) {
	f := newFixture()
	p, by := seed(t, f, 30*time.Second)
	for _, s := range by {
		s.mode = down
	}
	r := &sink.Runner{Name: "g1", P: p, Clock: f.clk, Log: f.env.Log}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())

	if err := f.clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if next, _ := f.clk.Next(); next != t0.Add(2*time.Second) {
		t.Fatalf("runner sleeps until %v after all sinks failed, want %v (the first penalty's end)", next.Sub(t0), 2*time.Second)
	}
	// k1 recovers; the runner wakes at 2 s and delivers through it.
	by["k1"].mode = up
	f.clk.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for p.Active() != "k1" {
		if time.Now().After(deadline) {
			t.Fatalf("k1 not active 2 s after the failure; state %s", p.State("k1"))
		}
		time.Sleep(time.Millisecond)
	}
}
