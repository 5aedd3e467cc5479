// Package source defines sources, the pollable-source runner and the
// channel processor through which every source delivers its batches.
package source

import (
	"context"
)

// Status is the result of one poll of a pollable source.
type Status int

const (
	Ready Status = iota
	Backoff
)

// Source produces events into a ChannelProcessor. Event-driven sources
// (avro, http, netcat) run their own listeners between Start and Stop;
// pollable sources (taildir, seq) also implement Pollable and are driven by
// a PollingRunner.
type Source interface {
	Name() string
	Start(ctx context.Context) error
	// Stop stops accepting input and waits for batches in flight to be
	// committed or refused; ctx bounds the wait.
	Stop(ctx context.Context) error
}

// Pollable is a source driven by a runner: Process reads and delivers one
// batch and says whether more is ready.
type Pollable interface {
	Source
	Process(ctx context.Context) (Status, error)
}
