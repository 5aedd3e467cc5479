package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
)

// avroSink is the simulated half of the Avro hop on the agent side. It is a
// real sink.Sink driven by the real sink processors: Process takes a batch
// from the real channel through sink.Deliver (the engine's take / deliver /
// commit-or-rollback transaction) and "sends" it to the collector.
//
// Because Process is synchronous and the simulator single-threaded, the RPC
// is resolved when it is sent: whether the connection is refused, the
// request or the response is lost, the link resets, or the collector
// accepts or refuses the batch is decided from the network's and the
// collector's state at that instant, and the collector's side effects (its
// channel commit) happen then. What the RPC costs in time — round trips,
// the collector's service time, or the whole request-timeout on a black
// hole — is charged to the runner, whose next step starts that much later.
// So failover timing (request-timeout, then the processor's penalty) is
// faithful on virtual time, while the failover processor reads the clock at
// the start of the call, not after the timeout.
type avroSink struct {
	n              *node
	name           string
	ch             channel.Channel
	counter        *metrics.SinkCounter
	hostname       string
	port           int
	batch          int
	connectTimeout time.Duration
	requestTimeout time.Duration
	connected      bool
	commitFirst    bool
	runner         *runnerActor
	index          int
	drainKey       string // "agent/" + name, the series key
	drainID        int32  // drainKey and name interned for the sample views
	failID         int32
	slot           int  // index in its agent's view
	called         bool // Process ran since the view last read the counters
}

func (k *avroSink) Name() string                    { return k.name }
func (k *avroSink) Start(ctx context.Context) error { k.counter.Start(); return nil }
func (k *avroSink) Stop(ctx context.Context) error  { k.counter.Stop(); return nil }
func (k *avroSink) Process(context.Context) (sink.Status, error) {
	k.called = true
	var st sink.Status
	var err error
	if k.commitFirst {
		st, err = k.processCommitFirst()
	} else {
		st, err = sink.Deliver(k.ch, k.batch, k.counter, k.send)
	}
	if err == nil && st == sink.Ready && k.runner != nil {
		k.runner.active = k.index
	}
	return st, err
}

// processCommitFirst is the planted bug the tests must catch: the take is
// committed before the batch is sent, so a failed RPC loses it.
func (k *avroSink) processCommitFirst() (sink.Status, error) {
	tx, err := k.ch.Begin()
	if err != nil {
		return sink.Backoff, nil
	}
	events, err := tx.Take(k.batch)
	if err != nil {
		tx.Rollback()
		return sink.Backoff, err
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		return sink.Backoff, err
	}
	if len(events) == 0 {
		return sink.Backoff, nil
	}
	if err := k.send(events); err != nil {
		return sink.Backoff, err
	}
	return sink.Ready, nil
}

var (
	errRefused = errors.New("connection refused")
	errTimeout = errors.New("timed out")
	errReset   = errors.New("connection reset by peer")
	errFailed  = errors.New("collector returned status FAILED")
	errNoHost  = errors.New("no such host")
)

// rpcError is what a failed appendBatch reports; failover processors only
// care that it is an error.
type rpcError struct {
	sink, host string
	err        error
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("avro sink %s: appendBatch to %s: %v", e.sink, e.host, e.err)
}
func (e *rpcError) Unwrap() error { return e.err }

func (k *avroSink) fail(err error) error {
	if k.connected {
		k.counter.ConnectionClosedCount.Inc()
	}
	k.connected = false
	k.n.w.stats.rpcFailed++
	return &rpcError{sink: k.name, host: k.hostname, err: err}
}

// send is one appendBatch of events to the collector.
func (k *avroSink) send(events []event.Event) error {
	w := k.n.w
	c := w.resolve(k.hostname)
	if c == nil {
		w.meter.Elapsed += time.Millisecond
		return k.fail(errNoHost)
	}
	a, b := k.n.host, c.host
	if !k.connected {
		d1, ok := w.net.Send(a, b, 64)
		if !ok || c.hostDown {
			w.meter.Elapsed += k.connectTimeout
			k.counter.ConnectionFailedCount.Inc()
			return k.fail(errTimeout)
		}
		d2, ok := w.net.Send(b, a, 64)
		if !ok {
			w.meter.Elapsed += k.connectTimeout
			k.counter.ConnectionFailedCount.Inc()
			return k.fail(errTimeout)
		}
		w.meter.Elapsed += d1 + d2
		if c.state == down || c.endpoint == nil || c.endpoint.port != k.port {
			k.counter.ConnectionFailedCount.Inc()
			return k.fail(errRefused)
		}
		k.connected = true
		k.counter.ConnectionCreatedCount.Inc()
	}
	start := w.meter.Elapsed
	size := 64 + len(events)*w.opts.Model.EventBytes
	d3, ok := w.net.Send(a, b, size)
	if !ok || c.hostDown {
		w.meter.Elapsed = start + k.requestTimeout
		return k.fail(errTimeout)
	}
	w.meter.Elapsed += d3
	reset := w.net.Reset(a, b)
	if reset && w.net.Float() < 0.5 {
		return k.fail(errReset) // reset before the collector read the request
	}
	switch c.state {
	case down:
		// The process died: its kernel answers with a reset.
		d, _ := w.net.Send(b, a, 64)
		w.meter.Elapsed += d
		return k.fail(errReset)
	case frozen:
		// The kernel buffers the request; the frozen process reads it
		// only when thawed, long after this client gave up.
		c.endpoint.hold(events)
		w.meter.Elapsed = start + k.requestTimeout
		return k.fail(errTimeout)
	}
	ok = c.endpoint.appendBatch(events)
	if reset {
		return k.fail(errReset) // processed, then the connection reset
	}
	d4, delivered := w.net.Send(b, a, 16)
	if !delivered || w.meter.Elapsed+d4-start > k.requestTimeout {
		w.meter.Elapsed = start + k.requestTimeout
		return k.fail(errTimeout)
	}
	w.meter.Elapsed += d4
	if !ok {
		return k.fail(errFailed)
	}
	return nil
}

// endpoint is a collector's Avro source: it accepts appendBatch by putting
// the batch through the collector's real ChannelProcessor, answering OK or
// FAILED as Flume's AvroSource does.
type endpoint struct {
	n           *node
	port        int
	cp          *source.ChannelProcessor
	chans       []*chanNode
	busy        time.Duration // CPU busy until (virtual)
	frozenQueue [][]event.Event
}

// hold keeps a request that reached a frozen collector, up to the socket
// buffer's worth.
func (e *endpoint) hold(events []event.Event) {
	if len(e.frozenQueue) < e.n.w.opts.Model.FrozenBacklogMax {
		e.frozenQueue = append(e.frozenQueue, append([]event.Event(nil), events...))
	}
}

// appendBatch handles one request; service time is charged to the caller.
func (e *endpoint) appendBatch(events []event.Event) bool {
	w := e.n.w
	m := w.opts.Model
	arrive := w.s.Now() + w.meter.Elapsed
	if e.busy > arrive {
		w.meter.Elapsed += e.busy - arrive
		arrive = e.busy
	}
	cost := m.RPCBase + time.Duration(len(events))*m.RPCPerEvent
	e.busy = arrive + cost
	w.meter.Elapsed += cost
	if err := e.cp.ProcessBatch(events); err != nil {
		if errors.Is(err, channel.ErrFull) {
			w.meter.Elapsed += e.chans[0].keepAlive
			w.stats.collectorFull++
		} else if !strings.Contains(err.Error(), "closed") {
			w.stats.collectorPutErr++
		}
		return false
	}
	for _, c := range e.chans {
		c.woke()
	}
	return true
}
