package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// Both group processors penalize a failing sink for 2^n seconds, n its
// count of sequential failures, up to a cap (flume-facts §3.3, §3.4).
const (
	failurePenalty = time.Second
	// maxShift keeps 2^n * failurePenalty inside time.Duration. Flume
	// computes (1 << n) * 1000 in 32-bit ints, which overflows from the
	// 22nd sequential failure on (negative or zero penalties, so a long
	// dead sink is suddenly retried on every call); Sluice stays at the cap.
	maxShift = 30
)

// penalty is min(limit, 2^n s).
func penalty(n int, limit time.Duration) time.Duration {
	return min(limit, failurePenalty<<min(max(n, 0), maxShift))
}

// groupEnv is what both processors take from registry.Env.
type groupEnv struct {
	name  string
	clk   clock.Clock
	log   *slog.Logger
	group *metrics.Group
}

func newGroupEnv(env registry.Env, name, kind string) groupEnv {
	clk := env.Clock
	if clk == nil {
		clk = clock.Real()
	}
	log := env.Log
	if log == nil {
		// The agent hands a logger already naming the group.
		log = slog.Default().With("sinkgroup", name)
	}
	reg := env.Metrics
	if reg == nil {
		reg = metrics.NewRegistry(clk)
	}
	g := reg.Group(metrics.SinkGroup, name)
	g.Func("Processor", metrics.KindInfo, false, func() string { return kind })
	return groupEnv{name: name, clk: clk, log: log, group: g}
}

// startAll starts the sinks in order; if one fails, those already started
// are stopped again so that a failed start leaves nothing running.
func startAll(ctx context.Context, group string, sinks []sink.Sink) error {
	for i, s := range sinks {
		if err := s.Start(ctx); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = sinks[j].Stop(ctx)
			}
			return fmt.Errorf("sink group %s: start sink %s: %w", group, s.Name(), err)
		}
	}
	return nil
}

// stopAll stops every sink, even after one fails to stop.
func stopAll(ctx context.Context, group string, sinks []sink.Sink) error {
	var errs []error
	for _, s := range sinks {
		if err := s.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink group %s: stop sink %s: %w", group, s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// allFailedError is a unit of work in which no sink could deliver. It wraps
// sink.ErrAllFailed and each sink's error.
type allFailedError struct {
	group   string
	errs    []error  // "sink k1: ..." for each sink tried
	waiting []string // sinks skipped because they are serving a penalty
}

func (e *allFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sink group %s: %v", e.group, sink.ErrAllFailed)
	var parts []string
	for _, err := range e.errs {
		parts = append(parts, err.Error())
	}
	parts = append(parts, e.waiting...)
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, "; "))
	}
	return b.String()
}

func (e *allFailedError) Unwrap() []error { return append([]error{sink.ErrAllFailed}, e.errs...) }

// sinkError is one sink's failure within a unit of work.
type sinkError struct {
	sink string
	err  error
}

func (e *sinkError) Error() string { return "sink " + e.sink + ": " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// tried reports whether errs, the errors of one unit of work, hold one of
// sink name's.
func tried(errs []error, name string) bool {
	for _, err := range errs {
		if se, ok := err.(*sinkError); ok && se.sink == name {
			return true
		}
	}
	return false
}

// retryAfterError tells the runner (sink.RetryAfter) when the earliest
// penalty ends, so it need not sleep Flume's fixed 5 s.
type retryAfterError struct {
	*allFailedError
	after time.Duration
}

func (e retryAfterError) RetryAfter() time.Duration { return e.after }

// millis formats a time for a metric: epoch milliseconds, 0 for none.
func millis(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return fmt.Sprint(t.UnixMilli())
}
