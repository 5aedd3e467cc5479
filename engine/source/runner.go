package source

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
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

	mu     sync.Mutex
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
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
	lctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.cancel, r.stop, r.done = cancel, make(chan struct{}), make(chan struct{})
	stop, done := r.stop, r.done
	r.mu.Unlock()
	go r.loop(lctx, stop, done)
	return nil
}

func (r *PollingRunner) loop(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	backoffs := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		st, err := r.S.Process(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		switch {
		case err != nil:
			r.Log.Error("source poll failed", "source", r.S.Name(), "err", err, "retry_in", r.Max)
			wait, backoffs = r.Max, 0
		case st == Backoff:
			backoffs++
			wait = min(time.Duration(backoffs)*r.Increment, r.Max)
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

// Stop ends polling after the batch in hand and stops the source.
func (r *PollingRunner) Stop(ctx context.Context) error {
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
	return r.S.Stop(context.WithoutCancel(ctx))
}

func (r *PollingRunner) Name() string { return r.S.Name() }
