package sink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/runloop"
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

	loop runloop.Loop
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
	b := runloop.Backoff{Increment: r.Backoff.Increment, Max: r.Backoff.Max, OnError: r.Backoff.OnError}
	r.loop = runloop.Loop{Clock: r.Clock, Wake: r.Wake}
	r.loop.Start(func(ctx context.Context, woken bool) (time.Duration, bool) {
		if woken {
			b.Woken() // new events arrived: start the backoff over
		}
		st, err := r.P.Process(ctx)
		hint, _ := RetryAfter(err)
		wait := b.Next(st == Backoff, err, hint)
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			r.Log.Warn("sink runner: unable to deliver events", "runner", r.Name, "err", err, "retry_in", wait)
		}
		return wait, err == nil
	})
	return nil
}

// Drain waits until Idle reports the runner's channel empty or ctx ends.
// It is how an agent shuts down without leaving acknowledged events behind.
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
	if !r.loop.Stop(ctx) {
		return nil
	}
	return r.P.Stop(context.WithoutCancel(ctx))
}
