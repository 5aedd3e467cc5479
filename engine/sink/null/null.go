// Package null is Flume's null sink: it takes events and discards them,
// logging a count every logEveryNEvents.
package null

import (
	"context"
	"log/slog"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// Sink discards events.
type Sink struct {
	name     string
	ch       channel.Channel
	batch    int
	logEvery int64
	log      *slog.Logger
	counter  *metrics.SinkCounter
	total    int64
}

func (s *Sink) Name() string                { return s.name }
func (s *Sink) Start(context.Context) error { s.counter.Start(); return nil }
func (s *Sink) Stop(context.Context) error  { s.counter.Stop(); return nil }

func (s *Sink) Process(context.Context) (sink.Status, error) {
	return sink.Deliver(s.ch, s.batch, s.counter, func(events []event.Event) error {
		before := s.total
		s.total += int64(len(events))
		if s.logEvery > 0 && before/s.logEvery != s.total/s.logEvery {
			s.log.Info("null sink discarded events", "sink", s.name, "total", s.total)
		}
		return nil
	})
}

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Sink, Name: "null",
		Aliases:  []string{"org.apache.flume.sink.NullSink"},
		BatchKey: "batchSize", BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			s := &Sink{name: r.Name(), ch: ch, log: env.Log, counter: metrics.NewSinkCounter(env.Metrics, r.Name())}
			s.batch = r.Int("batchSize", 100)
			s.logEvery = r.Int64("logEveryNEvents", 10000)
			if s.batch <= 0 {
				r.Errorf("batchSize", "must be > 0")
			}
			return s, r.Err()
		}),
	})
}
