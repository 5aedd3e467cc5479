package runloop

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Flume's runner sequence: 1, 2, ... 5, 5 s while idle; reset by work;
// OnError after an error, or the error's hint when sooner.
func TestBackoffSequence(t *testing.T) {
	b := Backoff{Increment: time.Second, Max: 5 * time.Second, OnError: 5 * time.Second}
	var got []time.Duration
	for i := 0; i < 7; i++ {
		got = append(got, b.Next(true, nil, 0))
	}
	want := []time.Duration{1, 2, 3, 4, 5, 5, 5}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("idle sequence %v, want %v seconds", got, want)
		}
	}
	if d := b.Next(false, nil, 0); d != 0 {
		t.Fatalf("after work: %v, want 0", d)
	}
	if d := b.Next(true, nil, 0); d != time.Second {
		t.Fatalf("work did not reset the idle count: %v", d)
	}
	boom := errors.New("boom")
	if d := b.Next(false, boom, 0); d != 5*time.Second {
		t.Fatalf("error: %v, want 5s", d)
	}
	if d := b.Next(false, boom, 2*time.Second); d != 2*time.Second {
		t.Fatalf("error with a 2s hint: %v", d)
	}
	if d := b.Next(false, boom, 9*time.Second); d != 5*time.Second {
		t.Fatalf("a hint later than OnError must not lengthen the sleep: %v", d)
	}
	b.Next(true, nil, 0)
	b.Next(true, nil, 0)
	b.Woken()
	if d := b.Next(true, nil, 0); d != time.Second {
		t.Fatalf("Woken did not reset the idle count: %v", d)
	}
}

// The loop sleeps on the clock, wakes early on Wake, tells the step it was
// woken, and stops between units of work.
func TestLoopSleepsWakesAndStops(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	var mu sync.Mutex
	wake := make(chan struct{})
	steps := make(chan bool, 16)
	l := Loop{Clock: clk, Wake: func() <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return wake
	}}
	l.Start(func(ctx context.Context, woken bool) (time.Duration, bool) {
		select {
		case steps <- woken:
		case <-ctx.Done():
		}
		return time.Hour, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w := <-steps; w {
		t.Fatal("first step reported woken")
	}
	if err := clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if w := <-steps; w {
		t.Fatal("a step after the timer reported woken")
	}
	if err := clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	close(wake) // one wake: later sleeps get a fresh channel, as real wakers give
	wake = make(chan struct{})
	mu.Unlock()
	if w := <-steps; !w {
		t.Fatal("a step after an early wake did not report woken")
	}
	if !l.Stop(ctx) {
		t.Fatal("Stop of a running loop reported not running")
	}
	if l.Stop(ctx) {
		t.Fatal("second Stop reported running")
	}
}

// Stop lets the unit of work in hand finish, unless its context ends first,
// in which case the unit's context is cancelled.
func TestLoopStopWaitsThenCancels(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	cancelled := make(chan bool, 1)
	var l Loop
	l.Start(func(ctx context.Context, _ bool) (time.Duration, bool) {
		select {
		case <-entered:
		default:
			close(entered)
		}
		select {
		case <-release:
			cancelled <- false
		case <-ctx.Done():
			cancelled <- true
		}
		return 0, false
	})
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a stop that cannot wait
	l.Stop(ctx)
	if !<-cancelled {
		t.Fatal("Stop with an expired context did not cancel the work in hand")
	}
	close(release)

	var l2 Loop
	entered2 := make(chan struct{})
	done := make(chan bool, 1)
	l2.Start(func(ctx context.Context, _ bool) (time.Duration, bool) {
		close(entered2)
		select {
		case <-time.After(50 * time.Millisecond): // the unit of work itself
			done <- ctx.Err() == nil
		case <-ctx.Done():
			done <- false
		}
		return time.Hour, false
	})
	<-entered2
	l2.Stop(context.Background())
	if !<-done {
		t.Fatal("Stop cancelled a unit of work it could have waited for")
	}
}
