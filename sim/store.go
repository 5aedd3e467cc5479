package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
)

// store is a simulated end store (HDFS, Kafka): what it acknowledges is
// durable and is handed to the checker. It serves writes one at a time
// (per store, shared by every collector), so a slow store backs up the
// collectors' channels.
type store struct {
	w        *world
	name     string
	down     bool
	busy     time.Duration
	idx      int    // in the sorted store names
	received uint64 // copies acknowledged
}

var errStoreDown = errors.New("store unavailable")

// write is one batch that collector via's sink writes.
func (s *store) write(via *node, events []event.Event) error {
	w := s.w
	m := w.opts.Model
	if s.down {
		w.meter.Elapsed += m.StoreTimeout
		return fmt.Errorf("%s: %w", s.name, errStoreDown)
	}
	arrive := w.s.Now() + w.meter.Elapsed
	if s.busy > arrive {
		w.meter.Elapsed += s.busy - arrive
		arrive = s.busy
	}
	cost := m.StoreBase + time.Duration(len(events))*m.StorePerEvent
	s.busy = arrive + cost
	w.meter.Elapsed += cost
	now := w.s.Now()
	at := now + w.meter.Elapsed
	last := -1
	var wr *writer
	for _, e := range events {
		wi, seq, ok := readBody(e.Body)
		if !ok || wi >= len(w.agents) {
			w.unexpected++
			continue
		}
		if w.opts.onDeliver != nil {
			w.opts.onDeliver(s.name, via.name, wi, seq, at)
		}
		if wi != last {
			// A batch holds runs of one agent's events.
			wr, last = w.agents[wi].writer, wi
			w.chk.wrote(wi, wr.written(now))
		}
		wat := wr.writtenAt(seq)
		switch w.chk.delivered(wi, seq, at-wat) {
		case 0:
			w.unexpected++
		case 1:
			w.arr.first(wi, via, s, at, wat)
			w.lat.add(wat, at-wat)
		default:
			w.arr.again(wi, seq, w.agents[wi].name, at)
		}
	}
	s.received += uint64(len(events))
	return nil
}

// storeSink is a collector's HDFS or Kafka sink: a real sink.Sink over the
// real channel transaction (sink.Deliver) whose destination is a store.
// Like Flume's HDFS sink it reports a failed write as BACKOFF, not as an
// error (so HDFS trouble never triggers a failover, flume-facts §3.3); the
// Kafka sink reports an error.
type storeSink struct {
	n            *node
	name         string
	ch           channel.Channel
	counter      *metrics.SinkCounter
	store        *store
	batch        int
	flumeBackoff bool
	runner       *runnerActor
	index        int
	write        func([]event.Event) error // store.write through this collector
}

func (k *storeSink) Name() string                    { return k.name }
func (k *storeSink) Start(ctx context.Context) error { k.counter.Start(); return nil }
func (k *storeSink) Stop(ctx context.Context) error  { k.counter.Stop(); return nil }
func (k *storeSink) Process(context.Context) (sink.Status, error) {
	st, err := sink.Deliver(k.ch, k.batch, k.counter, k.write)
	if err != nil && k.flumeBackoff && errors.Is(err, errStoreDown) {
		return sink.Backoff, nil
	}
	if err == nil && st == sink.Ready && k.runner != nil {
		k.runner.active = k.index
	}
	return st, err
}
