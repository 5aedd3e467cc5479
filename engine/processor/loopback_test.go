package processor_test

// A loopback harness for sink groups: one agent whose group of three
// network sinks delivers to three collectors on 127.0.0.1 under load,
// while collectors die, go silent and come back.
//
// Faults are made by a proxy in front of each collector (a small
// toxiproxy): killing it closes its listener and connections (a dead
// collector: connections reset, new ones refused), silencing it swallows
// traffic both ways (a black hole), holding it delays the answers.
//
// When the Avro sink and source are registered (engine/components links
// them in once they are on main), the group is three `type = avro` sinks
// and each collector is a Sluice agent with an Avro source. Until then a
// stand-in speaks a minimal framed protocol (a batch of length-prefixed
// events, answered by a one-byte ack once stored) with the Avro sink's
// keys (hostname, port, batch-size, request-timeout, connect-timeout);
// its timing under a refused or black-holed connection is the same.

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
	_ "github.com/sluicehq/sluice/engine/components"
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
	registry.Register(registry.Entry{Kind: registry.Sink, Name: "processor_test_record", BatchKey: "batch-size", BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			rec, ok := recorders.Load(r.Required("recorder", "recorder name"))
			if !ok {
				return nil, errors.New("no such recorder")
			}
			return &recordSink{name: r.Name(), ch: ch, rec: rec.(*recorder), counter: metrics.NewSinkCounter(env.Metrics, r.Name())}, nil
		})})
}

// useAvro reports whether the real Avro sink and source are linked in.
func useAvro() bool {
	_, sinkOK := registry.Lookup(registry.Sink, "avro")
	_, srcOK := registry.Lookup(registry.Source, "avro")
	return sinkOK && srcOK
}

// Bounds on what a stand-in collector accepts.
const (
	maxFrameEvents = 10000
	maxEventBytes  = 1 << 20
)

// recorder keeps what a collector stored, with when.
type recorder struct {
	mu  sync.Mutex
	got []string
	at  []time.Time // per stored batch
}

var recorders sync.Map // name -> *recorder, for processor_test_record sinks

func (r *recorder) store(bodies []string) {
	r.mu.Lock()
	r.got = append(r.got, bodies...)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
}

// firstAfter is when the collector stored its first batch after t.
func (r *recorder) firstAfter(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.at {
		if a.After(t) {
			return a, true
		}
	}
	return time.Time{}, false
}

func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// netSink is the stand-in for the Avro sink: one channel transaction per
// batch, committed only after the collector's ack.
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

// recordSink is a Sluice collector's store: it records what its channel
// received.
type recordSink struct {
	name    string
	ch      channel.Channel
	rec     *recorder
	counter *metrics.SinkCounter
}

func (s *recordSink) Name() string                { return s.name }
func (s *recordSink) Start(context.Context) error { return nil }
func (s *recordSink) Stop(context.Context) error  { return nil }
func (s *recordSink) Process(ctx context.Context) (sink.Status, error) {
	return sink.Deliver(s.ch, 1000, s.counter, func(events []event.Event) error {
		bodies := make([]string, len(events))
		for i, e := range events {
			bodies[i] = string(e.Body)
		}
		s.rec.store(bodies)
		return nil
	})
}

// standIn is a collector for netSink: it stores each batch, then acks.
type standIn struct {
	rec  *recorder
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]bool
}

func newStandIn(t *testing.T, rec *recorder) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{rec: rec, ln: ln, conn: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conn {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

func (s *standIn) serve(conn net.Conn) {
	defer func() {
		conn.Close()
		s.mu.Lock()
		delete(s.conn, conn)
		s.mu.Unlock()
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
		s.rec.store(batch)
		if _, err := conn.Write([]byte{1}); err != nil {
			return
		}
	}
}

// newSluiceCollector runs a Sluice collector agent: Avro source, memory
// channel, a recording sink. It returns the source's address.
func newSluiceCollector(t *testing.T, name string, rec *recorder) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	recorders.Store(t.Name()+"/"+name, rec)
	cfg := loadAgentConfig(t, "c", strings.Join([]string{
		"c.sources = r1", "c.channels = ch", "c.sinks = rec",
		"c.sources.r1.type = avro", "c.sources.r1.bind = 127.0.0.1", "c.sources.r1.port = " + strconv.Itoa(port),
		"c.sources.r1.channels = ch",
		"c.channels.ch.type = memory", "c.channels.ch.capacity = 200000", "c.channels.ch.transactionCapacity = 1000",
		"c.sinks.rec.type = processor_test_record", "c.sinks.rec.channel = ch", "c.sinks.rec.recorder = " + t.Name() + "/" + name,
		"c.sinks.rec.batch-size = 1000",
	}, "\n"))
	clk := clock.Real()
	a := agent.New(cfg, registry.Env{Agent: "c", Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.NewRegistry(clk)})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("collector %s: %v", name, err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// proxy sits in front of a collector and injects its faults.
type proxy struct {
	t       *testing.T
	addr    string // fixed after the first start, so restarts reuse it
	backend string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	silent bool
	gate   chan struct{} // while set, answers wait for it to close
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, backend string) *proxy {
	p := &proxy{t: t, addr: "127.0.0.1:0", backend: backend, conns: map[net.Conn]bool{}}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *proxy) start() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.backend)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client, server) {
				return
			}
			p.wg.Add(2)
			go p.pipe(server, client, false)
			go p.pipe(client, server, true)
		}
	}()
}

// track registers a connection pair unless the proxy was killed meanwhile.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

// pipe copies src to dst; answers (toClient) wait while the proxy holds,
// and both directions are dropped while it is silent.
func (p *proxy) pipe(dst, src net.Conn, toClient bool) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 64*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			silent, gate := p.silent, p.gate
			p.mu.Unlock()
			if toClient && gate != nil {
				<-gate
			}
			if !silent {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// kill closes the listener and every connection: batches in flight fail,
// new connections are refused.
func (p *proxy) kill() {
	p.release()
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) setSilent(on bool) {
	p.mu.Lock()
	p.silent = on
	p.mu.Unlock()
}

// hold delays answers until release, so a backlog builds up upstream.
func (p *proxy) hold() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

func (p *proxy) release() {
	p.mu.Lock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	p.mu.Unlock()
}

func (p *proxy) port() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

// collector is one collector with its fault proxy.
type collector struct {
	*proxy
	*recorder
}

func body(i int) []byte { return []byte(fmt.Sprintf("e-%07d", i)) }

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
				events[i] = event.Event{Body: body(p.n + i)}
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

// fill puts n uniquely numbered events into ch at once.
func fill(t *testing.T, ch channel.Channel, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		events := make([]event.Event, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			events = append(events, event.Event{Body: body(j)})
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

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func loadAgentConfig(t *testing.T, name, text string) *config.Agent {
	t.Helper()
	props, err := config.ParseProperties(name+".conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return config.Build(props, name, config.Options{})
}

type loopback struct {
	t     *testing.T
	agent *agent.Agent
	reg   *metrics.Registry
	cols  map[string]collector
	ch    channel.Channel
}

// startLoopback starts three collectors and an agent a1 whose sinks k1, k2
// and k3 form group g1 (group holds its processor lines).
func startLoopback(t *testing.T, sinkKeys []string, group ...string) *loopback {
	t.Helper()
	lb := &loopback{t: t, cols: map[string]collector{}}
	lines := []string{
		"a1.channels = c1",
		"a1.channels.c1.type = memory",
		"a1.channels.c1.capacity = 200000",
		"a1.channels.c1.transactionCapacity = 1000",
		"a1.sinks = k1 k2 k3",
		"a1.sinkgroups = g1",
		"a1.sinkgroups.g1.sinks = k1 k2 k3",
	}
	typ := "processor_test_net"
	if useAvro() {
		typ = "avro"
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		rec := &recorder{}
		var backend string
		if typ == "avro" {
			backend = newSluiceCollector(t, k, rec)
		} else {
			backend = newStandIn(t, rec)
		}
		c := collector{newProxy(t, backend), rec}
		lb.cols[k] = c
		lines = append(lines,
			"a1.sinks."+k+".type = "+typ,
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
	t.Logf("sinks: type %s", typ)
	lines = append(lines, group...)
	cfg := loadAgentConfig(t, "a1", strings.Join(lines, "\n"))
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

// checkAll drains and stops the agent and checks that each of the n
// events reached some collector; it returns deliveries per collector and
// the number of duplicates.
func (lb *loopback) checkAll(n int) (per map[string]int, dups int) {
	t := lb.t
	t.Helper()
	waitFor(t, "the channel to drain", func() bool { return lb.ch.Len() == 0 })
	if err := lb.agent.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A Sluice collector stores asynchronously after it acknowledged.
	var seen map[string]int
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen, per = map[string]int{}, map[string]int{}
		for name, c := range lb.cols {
			for _, b := range c.received() {
				seen[b]++
				per[name]++
			}
		}
		if len(seen) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var lost []string
	for i := range n {
		id := string(body(i))
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
	g, ok := lb.reg.Lookup("SINKGROUP.g1")
	if !ok {
		return ""
	}
	v, _ := g.Get(attr)
	return v
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLoopbackFailover: the seed topology under load. The primary dies,
// traffic moves to priority 80, the primary comes back and takes over after
// its 2 s penalty; then it goes silent (a black hole) and traffic moves
// again after the 1 s request-timeout. Every event is delivered; the
// measured times are logged.
func TestLoopbackFailover(t *testing.T) {
	// A killed collector's open connections are reset; a sink that dials
	// per batch (the stand-in only) meets ECONNREFUSED.
	for _, c := range []struct {
		name     string
		sinkKeys []string
	}{
		{"killed", nil},
		{"refused", []string{"dial-per-batch = true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.sinkKeys != nil && useAvro() {
				t.Skip("the Avro sink keeps its connection: a killed collector covers it")
			}
			loopbackFailover(t, c.name, c.sinkKeys)
		})
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

	// The primary dies.
	died := time.Now()
	k1.kill()
	var viaBackup time.Time
	waitFor(t, "traffic to move to k2", func() bool {
		var ok bool
		viaBackup, ok = k2.firstAfter(died)
		return ok
	})
	failover := viaBackup.Sub(died)
	if lb.metric("ActiveSink") != "k2" || len(k3.received()) != 0 {
		t.Fatalf("after k1 died: active %s, k3 got %d events; want k2 active and k3 unused", lb.metric("ActiveSink"), len(k3.received()))
	}
	restart := time.Now()
	k1.start()
	var back time.Time
	waitFor(t, "k1 to take over again", func() bool {
		var ok bool
		back, ok = k1.firstAfter(restart)
		return ok
	})
	failback := back.Sub(died)
	if failback < 2*time.Second {
		t.Fatalf("k1 took over %v after it died, before its 2 s penalty ended", failback)
	}
	waitFor(t, "k1 to be active", func() bool { return lb.metric("ActiveSink") == "k1" })
	carried := len(k1.received())
	waitFor(t, "k1 to carry the load again", func() bool { return len(k1.received()) > carried+2000 })

	// Black hole: the primary swallows everything and never answers.
	silent := time.Now()
	k1.setSilent(true)
	waitFor(t, "traffic to move to k2 after the request timeout", func() bool {
		var ok bool
		viaBackup, ok = k2.firstAfter(silent)
		return ok
	})
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
	t.Logf("MEASURED %s: primary death to first batch via k2: %v", mode, failover)
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
