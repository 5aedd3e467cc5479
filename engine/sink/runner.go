package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Backoff configures how a runner waits. Flume hard-codes 1 s steps to a 5 s
// cap on BACKOFF and 5 s after an error (flume-facts §3.1); Sluice makes them
// settable and, when the channel supports it, wakes an idle sink as soon as
// events arrive instead of sleeping out the step.
type BackoffConfig struct {
	Increment time.Duration // added per consecutive BACKOFF
	Max       time.Duration // cap of the BACKOFF sleep
	OnError   time.Duration // sleep after an error
}

// FlumeBackoff is Flume's SinkRunner timing.
var FlumeBackoff = BackoffConfig{Increment: time.Second, Max: 5 * time.Second, OnError: 5 * time.Second}

// Runner calls a Processor in a loop on its own goroutine.
type Runner struct {
	Name    string
	P       Processor
	Clock   clock.Clock
	Log     *slog.Logger
	Backoff BackoffConfig
	// Wake, if set, returns a channel that is closed when there is new work
	// (channel.Notifier.Notify); a backing-off runner wakes on it.
	Wake func() <-chan struct{}
	// Idle, if set, reports whether the channels feeding the runner are
	// empty; Drain uses it.
	Idle func() bool

	mu     sync.Mutex
	cancel context.CancelFunc // aborts a unit of work in hand
	stop   chan struct{}      // closed to stop between units of work
	done   chan struct{}
}

// Start launches the loop.
func (r *Runner) Start(ctx context.Context) error {
	if r.Clock == nil {
		r.Clock = clock.Real()
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.Backoff == (BackoffConfig{}) {
		r.Backoff = FlumeBackoff
	}
	if err := r.P.Start(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.cancel = cancel
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	stop, done := r.stop, r.done
	r.mu.Unlock()
	go r.loop(lctx, stop, done)
	return nil
}

func (r *Runner) loop(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	backoffs := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		st, err := r.P.Process(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		switch {
		case err != nil:
			backoffs = 0
			wait = r.Backoff.OnError
			if d, ok := RetryAfter(err); ok && d < wait {
				wait = d
			}
			if !errors.Is(err, context.Canceled) {
				r.Log.Warn("sink runner: unable to deliver events", "runner", r.Name, "err", err, "retry_in", wait)
			}
		case st == Backoff:
			backoffs++
			wait = min(time.Duration(backoffs)*r.Backoff.Increment, r.Backoff.Max)
		default:
			backoffs = 0
			continue
		}
		var wake <-chan struct{}
		if r.Wake != nil && err == nil {
			wake = r.Wake()
		}
		t := r.Clock.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
		case <-wake:
			t.Stop()
			backoffs = 0
		}
	}
}

// Drain waits until Idle reports the runner's channel empty (checked after
// each unit of work) or ctx ends, then stops the runner. It is how an agent
// shuts down without leaving acknowledged events behind.
func (r *Runner) Drain(ctx context.Context, poll time.Duration) {
	if r.Idle != nil {
		for !r.Idle() {
			if err := r.Clock.Sleep(ctx, poll); err != nil {
				break
			}
		}
	}
}

// Stop ends the loop after the unit of work in hand (its transaction is
// committed or rolled back, never abandoned); if ctx ends first, the work
// in hand is cancelled, which rolls it back. Then the processor is stopped.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, stop, done := r.cancel, r.stop, r.done
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	close(stop)
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
	}
	cancel()
	return r.P.Stop(context.WithoutCancel(ctx))
}
