// Package sink defines sinks, sink processors and the sink runner.
//
// A Sink takes a batch from its channel in one transaction, delivers it,
// and commits only when the next hop acknowledged it. Process does one such
// unit of work synchronously and returns Ready (there may be more) or Backoff
// (nothing to do); an error means delivery failed and the transaction was
// rolled back, which is what makes a failover processor switch sinks.
package sink

import (
	"context"
	"errors"
	"time"
)

// Status is the result of one unit of work.
type Status int

const (
	Ready Status = iota
	Backoff
)

func (s Status) String() string {
	if s == Ready {
		return "READY"
	}
	return "BACKOFF"
}

// Sink delivers events from one channel to a destination.
type Sink interface {
	Name() string
	// Start prepares the sink (connections are made lazily by Process, so a
	// dead destination never stops an agent from starting).
	Start(ctx context.Context) error
	// Stop releases the sink's resources; an open transaction is rolled back.
	Stop(ctx context.Context) error
	// Process takes one batch, delivers it and commits, or rolls back and
	// returns an error.
	Process(ctx context.Context) (Status, error)
}

// Processor drives one or more sinks: default (one sink), failover and
// load_balance. It is what a Runner calls.
type Processor interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Process(ctx context.Context) (Status, error)
	Sinks() []Sink
}

// ErrAllFailed is returned by a group processor when no sink is left to try.
var ErrAllFailed = errors.New("all sinks failed")

// RetryAfter reports how soon retrying can help after Process failed, when
// the error knows (it has a RetryAfter() time.Duration method): a group
// whose sinks are all penalized knows when the first penalty ends. The
// runner then sleeps no longer than that, where Flume always sleeps 5 s, so
// a group recovers from a total outage as soon as its penalties allow.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), MinRetryAfter), true
	}
	return 0, false
}

// MinRetryAfter is the shortest wait RetryAfter reports, so that a tiny
// configured penalty cannot make a runner spin against dead destinations.
const MinRetryAfter = 100 * time.Millisecond

// Single is the default processor: it runs exactly one sink.
type Single struct{ S Sink }

func (p Single) Start(ctx context.Context) error             { return p.S.Start(ctx) }
func (p Single) Stop(ctx context.Context) error              { return p.S.Stop(ctx) }
func (p Single) Process(ctx context.Context) (Status, error) { return p.S.Process(ctx) }
func (p Single) Sinks() []Sink                               { return []Sink{p.S} }
