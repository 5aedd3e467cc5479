package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/runloop"
)

// PollingRunner drives a Pollable source as Flume's PollableSourceRunner:
// after BACKOFF it sleeps min(n*Increment, Max) for the n-th consecutive
// backoff; after an error it sleeps Max. Sources may offer Wake to cut a
// sleep short when input arrives (taildir's inotify).
type PollingRunner struct {
	S         Pollable
	Clock     clock.Clock
	Log       *slog.Logger
	Increment time.Duration // backoffSleepIncrement, default 1 s
	Max       time.Duration // maxBackoffSleep, default 5 s
	Wake      func() <-chan struct{}

	loop runloop.Loop
}

// Start starts the source and the polling loop.
func (r *PollingRunner) Start(ctx context.Context) error {
	if r.Clock == nil {
		r.Clock = clock.Real()
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.Increment <= 0 {
		r.Increment = time.Second
	}
	if r.Max <= 0 {
		r.Max = 5 * time.Second
	}
	if err := r.S.Start(ctx); err != nil {
		return err
	}
	b := runloop.Backoff{Increment: r.Increment, Max: r.Max, OnError: r.Max}
	r.loop = runloop.Loop{Clock: r.Clock, Wake: r.Wake}
	r.loop.Start(func(ctx context.Context, woken bool) (time.Duration, bool) {
		if woken {
			b.Woken()
		}
		st, err := r.S.Process(ctx)
		wait := b.Next(st == Backoff, err, 0)
		if err != nil && ctx.Err() == nil {
			r.Log.Error("source poll failed", "source", r.S.Name(), "err", err, "retry_in", wait)
		}
		return wait, err == nil
	})
	return nil
}

// Stop ends polling after the batch in hand and stops the source.
func (r *PollingRunner) Stop(ctx context.Context) error {
	if !r.loop.Stop(ctx) {
		return nil
	}
	return r.S.Stop(context.WithoutCancel(ctx))
}

func (r *PollingRunner) Name() string { return r.S.Name() }
