// Package runloop is the loop behind Flume's runners: call a unit of work
// again and again on one goroutine, sleeping on the clock between calls by
// Flume's backoff rules, waking early when new work arrives, and stopping
// only between units of work.
package runloop

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Backoff is Flume's runner timing: after the n-th consecutive idle result
// sleep min(n*Increment, Max); after an error sleep OnError (or less, when
// the error says sooner).
type Backoff struct {
	Increment time.Duration
	Max       time.Duration
	OnError   time.Duration
	idle      int
}

// Next returns how long to sleep after a unit of work that found nothing to
// do (idle), failed (err != nil; hint > 0 if it knows when retrying helps),
// or did work (neither: no sleep).
func (b *Backoff) Next(idle bool, err error, hint time.Duration) time.Duration {
	switch {
	case err != nil:
		b.idle = 0
		if hint > 0 && hint < b.OnError {
			return hint
		}
		return b.OnError
	case idle:
		b.idle++
		return min(time.Duration(b.idle)*b.Increment, b.Max)
	}
	b.idle = 0
	return 0
}

// Woken resets the idle count: new work arrived during a sleep.
func (b *Backoff) Woken() { b.idle = 0 }

// Step is one unit of work. woken says the sleep before it was cut short by
// new work; it returns how long to sleep before the next (0: at once) and
// whether an early wake may cut that sleep short.
type Step func(ctx context.Context, woken bool) (sleep time.Duration, wakeable bool)

// Loop runs a Step on its own goroutine between Start and Stop.
type Loop struct {
	Clock clock.Clock
	// Wake, if set, returns a channel closed when there is new work.
	Wake func() <-chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc // aborts the unit of work in hand
	stop   chan struct{}      // closed to stop between units of work
	done   chan struct{}
}

// Start launches the loop.
func (l *Loop) Start(step Step) {
	if l.Clock == nil {
		l.Clock = clock.Real()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	l.cancel, l.stop, l.done = cancel, make(chan struct{}), make(chan struct{})
	stop, done := l.stop, l.done
	l.mu.Unlock()
	go l.run(ctx, step, stop, done)
}

func (l *Loop) run(ctx context.Context, step Step, stop, done chan struct{}) {
	defer close(done)
	woken := false
	for {
		select {
		case <-stop:
			return
		default:
		}
		sleep, wakeable := step(ctx, woken)
		woken = false
		if ctx.Err() != nil {
			return
		}
		if sleep <= 0 {
			continue
		}
		var wake <-chan struct{}
		if wakeable && l.Wake != nil {
			wake = l.Wake()
		}
		t := l.Clock.NewTimer(sleep)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
		case <-wake:
			t.Stop()
			woken = true
		}
	}
}

// Stop ends the loop after the unit of work in hand; if ctx ends first, the
// work in hand is cancelled. It reports whether the loop was running.
func (l *Loop) Stop(ctx context.Context) bool {
	l.mu.Lock()
	cancel, stop, done := l.cancel, l.stop, l.done
	l.cancel = nil
	l.mu.Unlock()
	if cancel == nil {
		return false
	}
	close(stop)
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
	}
	cancel()
	return true
}
