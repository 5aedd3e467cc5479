// Package seq is Flume's sequence generator source: bodies are the decimal
// numbers 0, 1, 2, ... up to totalEvents, batchSize per poll.
package seq

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Source generates sequence numbers.
type Source struct {
	name    string
	batch   int
	total   int64
	next    int64
	cp      *source.ChannelProcessor
	counter *metrics.SourceCounter
}

// New returns a seq source.
func New(name string, batch int, total int64, cp *source.ChannelProcessor, reg *metrics.Registry) *Source {
	return &Source{name: name, batch: batch, total: total, cp: cp, counter: metrics.NewSourceCounter(reg, name)}
}

func (s *Source) Name() string                { return s.name }
func (s *Source) Start(context.Context) error { s.counter.Start(); return nil }
func (s *Source) Stop(context.Context) error  { s.counter.Stop(); return nil }

// Process delivers the next batch; a refused batch is retried with the
// same numbers, so the sequence has no gaps.
func (s *Source) Process(context.Context) (source.Status, error) {
	n := int64(s.batch)
	if left := s.total - s.next; left < n {
		n = left
	}
	if n <= 0 {
		return source.Backoff, nil
	}
	events := make([]event.Event, n)
	for i := range events {
		events[i] = event.New([]byte(strconv.FormatInt(s.next+int64(i), 10)))
	}
	s.counter.EventReceivedCount.Add(n)
	s.counter.AppendBatchReceivedCount.Inc()
	if err := s.cp.ProcessBatch(events); err != nil {
		s.counter.ChannelWriteFail.Inc()
		if errors.Is(err, channel.ErrFull) {
			return source.Backoff, nil
		}
		return source.Backoff, err
	}
	s.next += n
	s.counter.EventAcceptedCount.Add(n)
	s.counter.AppendBatchAcceptedCount.Inc()
	return source.Ready, nil
}

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Source, Name: "seq",
		Aliases:  []string{"org.apache.flume.source.SequenceGeneratorSource"},
		BatchKey: "batchSize", BatchDefault: 1,
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			batch := r.Int("batchSize", 1)
			total := r.Int64("totalEvents", math.MaxInt64)
			if batch <= 0 {
				r.Errorf("batchSize", "must be > 0")
			}
			if err := r.Err(); err != nil {
				return nil, err
			}
			return New(r.Name(), batch, total, cp, env.Metrics), nil
		}),
	})
}
