// Package logger is Flume's logger sink: it logs each event (headers and
// the first maxBytesToLog bytes of the body as hex and text) at INFO.
package logger

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// Sink logs events.
type Sink struct {
	name     string
	ch       channel.Channel
	maxBytes int
	batch    int
	log      *slog.Logger
	counter  *metrics.SinkCounter
}

// New returns a logger sink.
func New(name string, ch channel.Channel, maxBytes, batch int, log *slog.Logger, reg *metrics.Registry) *Sink {
	return &Sink{name: name, ch: ch, maxBytes: maxBytes, batch: batch, log: log, counter: metrics.NewSinkCounter(reg, name)}
}

func (s *Sink) Name() string { return s.name }

func (s *Sink) Start(context.Context) error { s.counter.Start(); return nil }

func (s *Sink) Stop(context.Context) error { s.counter.Stop(); return nil }

func (s *Sink) Process(ctx context.Context) (sink.Status, error) {
	return sink.Deliver(s.ch, s.batch, s.counter, func(events []event.Event) error {
		for _, e := range events {
			s.log.Info("Event: " + Dump(e, s.maxBytes))
		}
		return nil
	})
}

// Dump renders an event as Flume's EventHelper.dumpEvent does:
// { headers:{k=v} body: <hex> <printable> }.
func Dump(e event.Event, maxBytes int) string {
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var h strings.Builder
	for i, k := range keys {
		if i > 0 {
			h.WriteString(", ")
		}
		h.WriteString(k + "=" + e.Headers[k])
	}
	body := e.Body
	if len(body) > maxBytes {
		body = body[:maxBytes]
	}
	var hex, text strings.Builder
	for i, b := range body {
		if i > 0 {
			hex.WriteByte(' ')
		}
		fmt.Fprintf(&hex, "%02X", b)
		if b >= 0x20 && b < 0x7f {
			text.WriteByte(b)
		} else {
			text.WriteByte('.')
		}
	}
	return fmt.Sprintf("{ headers:{%s} body: %s %s }", h.String(), hex.String(), text.String())
}

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Sink, Name: "logger",
		Aliases:  []string{"org.apache.flume.sink.LoggerSink"},
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			max := r.Int("maxBytesToLog", 16)
			// Flume's logger sink has no batch size (one event per take);
			// Sluice takes batches, never more than the channel allows.
			batch := min(r.Int("batchSize", 100), ch.TransactionCapacity())
			if batch <= 0 {
				r.Errorf("batchSize", "must be > 0")
			}
			if err := r.Err(); err != nil {
				return nil, err
			}
			return New(r.Name(), ch, max, batch, env.Log, env.Metrics), nil
		}),
	})
}
