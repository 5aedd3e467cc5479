package processor

// A loopback harness for sink groups: one agent whose group of three
// network sinks delivers to three collectors on 127.0.0.1, under a steady
// load, while collectors die, go silent and come back.
//
// The sinks and collectors here speak a minimal framed protocol (a batch
// of length-prefixed events, answered by a one-byte ack after the collector
// stored it). They stand in for the Avro sink and a Sluice collector's Avro
// source until those are on main; the sink reads the Avro sink's keys
// (hostname, port, batch-size, request-timeout, connect-timeout), so the
// agent configuration is the one a Flume operator writes, and the timing
// of a refused or black-holed connection is the same as over Avro.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

func init() {
	registry.Register(registry.Entry{Kind: registry.Sink, Name: "processor_test_net", BatchKey: "batch-size", BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			s := &netSink{name: r.Name(), ch: ch, counter: metrics.NewSinkCounter(env.Metrics, r.Name())}
			s.addr = net.JoinHostPort(r.Required("hostname", "collector host"), r.Required("port", "collector port"))
			s.batch = r.Int("batch-size", 100)
			s.requestTimeout = r.Millis("request-timeout", 20*time.Second)
			s.connectTimeout = r.Millis("connect-timeout", 20*time.Second)
			s.dialPerBatch = r.Bool("dial-per-batch", false)
			return s, r.Err()
		})})
}

// maxFrameEvents and maxEventBytes bound what a collector accepts.
const (
	maxFrameEvents = 10000
	maxEventBytes  = 1 << 20
)

// netSink delivers one channel transaction per batch and commits only
// after the collector's ack.
type netSink struct {
	name                           string
	ch                             channel.Channel
	counter                        *metrics.SinkCounter
	addr                           string
	batch                          int
	requestTimeout, connectTimeout time.Duration
	dialPerBatch                   bool // so a dead collector is met with ECONNREFUSED
	conn                           net.Conn
}

func (s *netSink) Name() string                { return s.name }
func (s *netSink) Start(context.Context) error { s.counter.Start(); return nil }
func (s *netSink) Stop(context.Context) error {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.counter.Stop()
	return nil
}

func (s *netSink) Process(ctx context.Context) (sink.Status, error) {
	return sink.Deliver(s.ch, s.batch, s.counter, func(events []event.Event) error {
		err := s.send(events)
		if (err != nil || s.dialPerBatch) && s.conn != nil {
			s.conn.Close()
			s.conn = nil
		}
		if err != nil {
			return fmt.Errorf("sink %s to %s: %w", s.name, s.addr, err)
		}
		return nil
	})
}

func (s *netSink) send(events []event.Event) error {
	if s.conn == nil {
		c, err := net.DialTimeout("tcp", s.addr, s.connectTimeout)
		if err != nil {
			s.counter.ConnectionFailedCount.Inc()
			return err
		}
		s.counter.ConnectionCreatedCount.Inc()
		s.conn = c
	}
	if err := s.conn.SetDeadline(time.Now().Add(s.requestTimeout)); err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(events)))
	for _, e := range events {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(e.Body)))
		buf = append(buf, e.Body...)
	}
	if _, err := s.conn.Write(buf); err != nil {
		return err
	}
	var ack [1]byte
	_, err := io.ReadFull(s.conn, ack[:])
	return err
}

// collector stores what it receives, and can die, go silent and come back
// on the same port.
type collector struct {
	t    *testing.T
	name string
	addr string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	silent bool
	gate   chan struct{} // while set, acks wait for it to close
	got    []string      // event bodies, in arrival order
	at     []arrival     // when each batch was stored
	wg     sync.WaitGroup
}

type arrival struct {
	t time.Time
	n int
}

func newCollector(t *testing.T, name string) *collector {
	c := &collector{t: t, name: name, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	c.start()
	t.Cleanup(c.kill)
	return c
}

func (c *collector) start() {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatalf("collector %s: %v", c.name, err)
	}
	c.mu.Lock()
	c.ln, c.addr = ln, ln.Addr().String()
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns[conn] = true
			c.mu.Unlock()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.serve(conn)
			}()
		}
	}()
}

func (c *collector) serve(conn net.Conn) {
	defer func() {
		conn.Close()
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
	}()
	r := bufio.NewReader(conn)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrameEvents {
			return
		}
		batch := make([]string, 0, n)
		for range n {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			size := binary.BigEndian.Uint32(hdr[:])
			if size > maxEventBytes {
				return
			}
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			batch = append(batch, string(body))
		}
		c.mu.Lock()
		silent := c.silent
		if !silent {
			c.got = append(c.got, batch...)
			c.at = append(c.at, arrival{time.Now(), len(batch)})
		}
		c.mu.Unlock()
		if silent {
			continue // a black hole: the batch is read and never answered
		}
		c.mu.Lock()
		gate := c.gate
		c.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if _, err := conn.Write([]byte{1}); err != nil {
			return
		}
	}
}

// kill closes the listener and every connection: new connections are
// refused, batches in flight fail.
func (c *collector) kill() {
	c.release()
	c.mu.Lock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// hold makes the collector store batches but delay their acks until
// release, so that a backlog builds up in the agent's channel.
func (c *collector) hold() {
	c.mu.Lock()
	c.gate = make(chan struct{})
	c.mu.Unlock()
}

func (c *collector) release() {
	c.mu.Lock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
	c.mu.Unlock()
}

func (c *collector) setSilent(on bool) {
	c.mu.Lock()
	c.silent = on
	c.mu.Unlock()
}

// firstAfter is when the collector stored its first batch after t.
func (c *collector) firstAfter(t time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.at {
		if a.t.After(t) {
			return a.t, true
		}
	}
	return time.Time{}, false
}

func (c *collector) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func (c *collector) port() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := net.SplitHostPort(c.addr)
	return p
}

// producer puts uniquely numbered events into the agent's channel at a
// steady rate until stopped.
type producer struct {
	ch     channel.Channel
	n      int
	stop   chan struct{}
	done   chan struct{}
	failed error
}

func startProducer(ch channel.Channel, batch int, every time.Duration) *producer {
	p := &producer{ch: ch, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			events := make([]event.Event, batch)
			for i := range events {
				events[i] = event.Event{Body: []byte(fmt.Sprintf("e-%07d", p.n+i))}
			}
			tx, err := p.ch.Begin()
			if err != nil {
				p.failed = err
				return
			}
			if err := tx.Put(events); err != nil {
				tx.Rollback()
				p.failed = err
				return
			}
			if err := tx.Commit(); err != nil {
				tx.Rollback() // full: back-pressure, retry on the next tick
				if !errors.Is(err, channel.ErrFull) {
					p.failed = err
					return
				}
				continue
			}
			p.n += batch
		}
	}()
	return p
}

func (p *producer) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.failed != nil {
		t.Fatalf("producer: %v", p.failed)
	}
	return p.n
}

// fill puts n uniquely numbered events into ch at once, in transactions
// of size batch.
func fill(t *testing.T, ch channel.Channel, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		events := make([]event.Event, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			events = append(events, event.Event{Body: []byte(fmt.Sprintf("e-%07d", j))})
		}
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Put(events); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type loopback struct {
	t     *testing.T
	agent *agent.Agent
	reg   *metrics.Registry
	cols  map[string]*collector
	ch    channel.Channel
}

func startLoopback(t *testing.T, sinkKeys []string, group ...string) *loopback {
	t.Helper()
	lb := &loopback{t: t, cols: map[string]*collector{}}
	lines := []string{
		"a1.channels = c1",
		"a1.channels.c1.type = memory",
		"a1.channels.c1.capacity = 200000",
		"a1.channels.c1.transactionCapacity = 1000",
		"a1.sinks = k1 k2 k3",
		"a1.sinkgroups = g1",
		"a1.sinkgroups.g1.sinks = k1 k2 k3",
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		c := newCollector(t, k)
		lb.cols[k] = c
		lines = append(lines,
			"a1.sinks."+k+".type = processor_test_net",
			"a1.sinks."+k+".channel = c1",
			"a1.sinks."+k+".hostname = 127.0.0.1",
			"a1.sinks."+k+".port = "+c.port(),
			"a1.sinks."+k+".batch-size = 100",
			"a1.sinks."+k+".request-timeout = 1000",
			"a1.sinks."+k+".connect-timeout = 1000")
		for _, kv := range sinkKeys {
			lines = append(lines, "a1.sinks."+k+"."+kv)
		}
	}
	lines = append(lines, group...)
	cfg := loadAgent(t, strings.Join(lines, "\n"))
	lb.reg = metrics.NewRegistry(clock.Real())
	log := slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	env := registry.Env{Agent: "a1", Clock: clock.Real(), Log: log, Metrics: lb.reg}
	lb.agent = agent.New(cfg, env)
	lb.agent.DrainTimeout = 20 * time.Second
	if err := lb.agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range lb.agent.Findings() {
		if f.Severity == config.Error {
			t.Fatalf("config: %v", f)
		}
	}
	lb.ch = lb.agent.Graph().Channel("c1")
	t.Cleanup(func() { lb.agent.Stop(context.Background()) })
	return lb
}

// checkAll stops the agent after draining and checks that every event
// reached some collector; it returns deliveries per collector and the
// number of duplicates.
func (lb *loopback) checkAll(n int) (per map[string]int, dups int) {
	t := lb.t
	t.Helper()
	waitFor(t, "the channel to drain", func() bool { return lb.ch.Len() == 0 })
	if err := lb.agent.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	per = map[string]int{}
	for name, c := range lb.cols {
		for _, b := range c.received() {
			seen[b]++
			per[name]++
		}
	}
	var lost []string
	for i := range n {
		id := fmt.Sprintf("e-%07d", i)
		switch seen[id] {
		case 0:
			lost = append(lost, id)
		case 1:
		default:
			dups += seen[id] - 1
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d events lost, first %s", len(lost), n, lost[0])
	}
	if len(seen) != n {
		t.Fatalf("collectors received %d distinct events, %d were written", len(seen), n)
	}
	return per, dups
}

func (lb *loopback) metric(attr string) string {
	v, _ := lb.reg.Lookup("SINKGROUP.g1")
	s, _ := v.Get(attr)
	return s
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLoopbackFailover: the seed topology under load. The primary dies
// (connection refused), traffic moves to priority 80, the primary comes
// back and takes over after its 2 s penalty; then it goes silent (a black
// hole) and traffic moves again after the 1 s request-timeout. Every event
// is delivered; the measured times are logged.
func TestLoopbackFailover(t *testing.T) {
	// A killed collector's open connections are reset (the sink sees EOF
	// or a reset); a sink that dials per batch meets ECONNREFUSED.
	for _, c := range []struct {
		name     string
		sinkKeys []string
	}{
		{"killed", nil},
		{"refused", []string{"dial-per-batch = true"}},
	} {
		t.Run(c.name, func(t *testing.T) { loopbackFailover(t, c.name, c.sinkKeys) })
	}
}

func loopbackFailover(t *testing.T, mode string, sinkKeys []string) {
	lb := startLoopback(t, sinkKeys,
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 100",
		"a1.sinkgroups.g1.processor.priority.k2 = 80",
		"a1.sinkgroups.g1.processor.priority.k3 = 60",
		"a1.sinkgroups.g1.processor.maxpenalty = 30000")
	k1, k2, k3 := lb.cols["k1"], lb.cols["k2"], lb.cols["k3"]
	prod := startProducer(lb.ch, 20, 2*time.Millisecond)
	start := time.Now()
	waitFor(t, "k1 to receive", func() bool { return len(k1.received()) > 2000 })
	if len(k2.received())+len(k3.received()) != 0 {
		t.Fatalf("standbys received events while the primary was healthy")
	}

	// Refused: the primary dies.
	died := time.Now()
	k1.kill()
	var viaBackup time.Time
	waitFor(t, "traffic to move to k2", func() bool { var ok bool; viaBackup, ok = k2.firstAfter(died); return ok })
	refused := viaBackup.Sub(died)
	if lb.metric("ActiveSink") != "k2" || len(k3.received()) != 0 {
		t.Fatalf("after k1 died: active %s, k3 got %d events; want k2 active and k3 unused", lb.metric("ActiveSink"), len(k3.received()))
	}
	restart := time.Now()
	k1.start()
	var back time.Time
	waitFor(t, "k1 to take over again", func() bool { var ok bool; back, ok = k1.firstAfter(restart); return ok })
	failback := back.Sub(died)
	if failback < 2*time.Second {
		t.Fatalf("k1 took over %v after it died, before its 2 s penalty ended", failback)
	}
	waitFor(t, "k1 to be active", func() bool { return lb.metric("ActiveSink") == "k1" })

	// Black hole: the primary accepts and reads but never answers.
	carried := len(k1.received())
	waitFor(t, "k1 to carry the load again", func() bool { return len(k1.received()) > carried+2000 })
	silent := time.Now()
	k1.setSilent(true)
	waitFor(t, "traffic to move to k2 after the request timeout", func() bool { var ok bool; viaBackup, ok = k2.firstAfter(silent); return ok })
	blackHole := viaBackup.Sub(silent)
	// A batch sent just before the primary went silent started its 1 s
	// timeout a moment earlier; half a second is a safe lower bound.
	if blackHole < 500*time.Millisecond {
		t.Fatalf("traffic left the silent primary after %v, well before the 1 s request-timeout", blackHole)
	}
	k1.setSilent(false)
	healed := time.Now()
	waitFor(t, "k1 to take over after the black hole", func() bool { _, ok := k1.firstAfter(healed); return ok })
	waitFor(t, "k1 active", func() bool { return lb.metric("ActiveSink") == "k1" })
	backAfterHole, _ := k1.firstAfter(healed)

	n := prod.finish(t)
	per, dups := lb.checkAll(n)
	t.Logf("failover: %d events in %v; per collector %v; %d duplicates", n, time.Since(start).Round(time.Millisecond), per, dups)
	t.Logf("MEASURED %s: primary death to first batch via k2: %v", mode, refused)
	t.Logf("MEASURED %s: failback after a 2 s penalty: primary death to first batch via k1 again: %v (primary restarted %v after death)", mode, failback, restart.Sub(died).Round(time.Millisecond))
	t.Logf("MEASURED %s: black hole, request-timeout 1 s: primary silent to first batch via k2: %v", mode, blackHole)
	t.Logf("MEASURED %s: failback after the black hole (penalty 4 s: the primary failed again within maxpenalty of coming back): silent to k1 again: %v", mode, backAfterHole.Sub(silent))
	if per["k3"] != 0 {
		t.Fatalf("k3 (priority 60) received %d events; k2 was healthy throughout", per["k3"])
	}
	if lb.metric("FailoverCount") != "2" || lb.metric("FailbackCount") != "2" {
		t.Fatalf("FailoverCount %s, FailbackCount %s; want 2 and 2", lb.metric("FailoverCount"), lb.metric("FailbackCount"))
	}
}

// TestLoopbackLoadBalance: round robin with backoff over three collectors,
// one of them down from the start. A backlog of 20000 events drains in
// full batches; the two live collectors share it evenly and every event is
// delivered.
func TestLoopbackLoadBalance(t *testing.T) {
	lb := startLoopback(t, nil,
		"a1.sinkgroups.g1.processor.type = load_balance",
		"a1.sinkgroups.g1.processor.selector = round_robin",
		"a1.sinkgroups.g1.processor.backoff = true")
	k1, k2, k3 := lb.cols["k1"], lb.cols["k2"], lb.cols["k3"]
	k2.kill()
	k1.hold()
	k3.hold()
	const n = 20000
	fill(t, lb.ch, n, 1000)
	k1.release()
	k3.release()
	per, dups := lb.checkAll(n)
	share := float64(per["k1"]) / float64(per["k1"]+per["k3"])
	t.Logf("load_balance with k2 down: %d events; per collector %v (k1 share %.3f); %d duplicates; k2 state %s",
		n, per, share, dups, lb.metric("SinkState.k2"))
	if per["k2"] != 0 {
		t.Fatalf("dead k2 received %d events", per["k2"])
	}
	// 200 full batches alternate between k1 and k3; a retry of k2 when
	// its blacklisting ends shifts the rotation by one.
	if d := per["k1"] - per["k3"]; d < -500 || d > 500 {
		t.Fatalf("k1 and k3 did not share evenly: %v", per)
	}
	if f, _ := strconv.Atoi(lb.metric("SinkFailures.k2")); f < 1 {
		t.Fatalf("k2 never recorded as failed")
	}
}
