package avro_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/avroipc/avrotest"
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/sink"
	avrosink "github.com/sluicehq/sluice/engine/sink/avro"
	"github.com/sluicehq/sluice/engine/sink/sinktest"
	"github.com/sluicehq/sluice/engine/source"
	avrosrc "github.com/sluicehq/sluice/engine/source/avro"
	"github.com/sluicehq/sluice/engine/vfs"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func reader(kind config.Kind, props map[string]string) *config.Reader {
	c := &config.Component{Kind: kind, Name: "k1", Type: "avro", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	for k, v := range props {
		c.Props[k] = config.Property{Key: k, Value: v, Pos: config.Position{File: "agent.conf", Line: 2}}
	}
	return config.NewReader("a1", c)
}

func newChannel(t testing.TB, name string, capacity, txCap int) *memory.Channel {
	cfg := memory.DefaultConfig()
	cfg.Capacity, cfg.TransactionCapacity, cfg.KeepAlive = capacity, txCap, 0
	ch := memory.New(name, cfg, nil, nil, quiet())
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

// collector is a Sluice avro source in front of a memory channel: the real
// next hop.
type collector struct {
	t     testing.TB
	addr  string
	ch    *memory.Channel
	props map[string]string
	src   *avrosrc.Source
	got   []event.Event
}

func newCollector(t testing.TB, props map[string]string) *collector {
	c := &collector{t: t, addr: "127.0.0.1:0", ch: newChannel(t, "collected", 100000, 10000), props: props}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *collector) start() {
	host, port, _ := net.SplitHostPort(c.addr)
	props := map[string]string{"bind": host, "port": port}
	for k, v := range c.props {
		props[k] = v
	}
	cfg, err := avrosrc.ParseConfig(reader(config.KindSource, props))
	if err != nil {
		c.t.Fatal(err)
	}
	sel, _ := selector.NewReplicating([]channel.Channel{c.ch}, nil)
	c.src = avrosrc.New("collector", cfg, &source.ChannelProcessor{Selector: sel, Log: quiet()},
		registry.Env{Clock: clock.Real(), FS: vfs.OS{}, Log: quiet(), Metrics: metrics.NewRegistry(nil)})
	if err := c.src.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.addr = c.src.Addr().String()
}

func (c *collector) stop() {
	if c.src != nil {
		c.src.Stop(context.Background())
		c.src = nil
	}
}

func (c *collector) port() string { _, p, _ := net.SplitHostPort(c.addr); return p }

// delivered drains the collector's channel and returns everything so far.
func (c *collector) delivered() []event.Event {
	for c.ch.Len() > 0 {
		tx, _ := c.ch.Begin()
		evs, _ := tx.Take(c.ch.TransactionCapacity())
		tx.Commit()
		c.got = append(c.got, evs...)
	}
	return c.got
}

func newSink(t testing.TB, ch channel.Channel, props map[string]string, env registry.Env) *avrosink.Sink {
	t.Helper()
	cfg, err := avrosink.ParseConfig(reader(config.KindSink, props))
	if err != nil {
		t.Fatal(err)
	}
	if env.Log == nil {
		env.Log = quiet()
	}
	if env.FS == nil {
		env.FS = vfs.OS{}
	}
	return avrosink.New("k1", cfg, ch, env)
}

// The shared sink contract, with a Sluice avro source as the destination;
// Break stops the collector (connections reset, then refused), Heal starts
// it again on the same port.
func TestSinkContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  map[string]string
		snk  map[string]string
	}{
		{"plain", nil, nil},
		{"deflate", map[string]string{"compression-type": "deflate"}, map[string]string{"compression-type": "deflate", "compression-level": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var col *collector
			sinktest.Run(t, sinktest.Harness{
				New: func(t *testing.T, ch channel.Channel, batch int) sink.Sink {
					col = newCollector(t, tc.src)
					props := map[string]string{"hostname": "127.0.0.1", "port": col.port(), "batch-size": strconv.Itoa(batch),
						"connect-timeout": "2000", "request-timeout": "2000"}
					for k, v := range tc.snk {
						props[k] = v
					}
					return newSink(t, ch, props, registry.Env{})
				},
				Delivered:   func(t *testing.T) []event.Event { return col.delivered() },
				Break:       func(t *testing.T) { col.stop() },
				Heal:        func(t *testing.T) { col.start() },
				HeadersKept: true,
			})
		})
	}
}

func fill(t testing.TB, ch channel.Channel, n int) {
	t.Helper()
	tx, _ := ch.Begin()
	batch := make([]event.Event, n)
	for i := range batch {
		batch[i] = event.Event{Headers: map[string]string{"i": strconv.Itoa(i)}, Body: []byte("e" + strconv.Itoa(i))}
	}
	if err := tx.Put(batch); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, s *avrosink.Sink, attr string) string {
	t.Helper()
	v, ok := s.Counter().Get(attr)
	if !ok {
		t.Fatalf("no attribute %s", attr)
	}
	return v
}

func TestCounters(t *testing.T) {
	col := newCollector(t, nil)
	ch := newChannel(t, "c1", 1000, 100)
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": col.port(), "batch-size": "10"}, registry.Env{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	fill(t, ch, 15)
	for i, want := range []sink.Status{sink.Ready, sink.Ready, sink.Backoff} {
		st, err := s.Process(context.Background())
		if err != nil || st != want {
			t.Fatalf("Process %d = %v, %v; want %v", i, st, err, want)
		}
	}
	for attr, want := range map[string]string{
		"ConnectionCreatedCount": "1", "BatchCompleteCount": "1", "BatchUnderflowCount": "1", "BatchEmptyCount": "1",
		"EventDrainAttemptCount": "15", "EventDrainSuccessCount": "15", "EventWriteFail": "0", "ConnectionFailedCount": "0",
	} {
		if v := get(t, s, attr); v != want {
			t.Errorf("%s = %s, want %s", attr, v, want)
		}
	}
	if n := len(col.delivered()); n != 15 {
		t.Fatalf("collector got %d events", n)
	}
}

// A collector whose channel is full answers FAILED: the sink rolls back,
// counts EventWriteFail, drops the connection and errors (failover).
func TestFailedReplyRollsBack(t *testing.T) {
	col := newCollector(t, nil)
	tx, _ := col.ch.Begin()
	tx.Put(make([]event.Event, 10000))
	tx.Commit()
	for col.ch.Len() < 100000 {
		tx, _ := col.ch.Begin()
		tx.Put(make([]event.Event, 10000))
		if tx.Commit() != nil {
			break
		}
	}
	ch := newChannel(t, "c1", 1000, 100)
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": col.port()}, registry.Env{})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	fill(t, ch, 5)
	_, err := s.Process(context.Background())
	if !errors.Is(err, avroipc.ErrFailed) {
		t.Fatalf("Process = %v, want ErrFailed", err)
	}
	if ch.Len() != 5 || get(t, s, "EventWriteFail") != "1" || get(t, s, "ConnectionClosedCount") != "1" {
		t.Fatalf("len %d EventWriteFail %s ConnectionClosedCount %s", ch.Len(), get(t, s, "EventWriteFail"), get(t, s, "ConnectionClosedCount"))
	}
}

// A black-holed collector (accepts, never answers, like a partitioned
// network behind toxiproxy) fails the batch after request-timeout.
func TestBlackHoleTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ch := newChannel(t, "c1", 1000, 100)
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": port, "connect-timeout": "150", "request-timeout": "150"}, registry.Env{})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	fill(t, ch, 5)
	for i := 0; i < 2; i++ {
		_, err := s.Process(context.Background())
		if err == nil || !strings.Contains(err.Error(), "request-timeout") {
			t.Fatalf("Process %d = %v, want a timeout", i, err)
		}
		if ch.Len() != 5 {
			t.Fatalf("channel holds %d after a timeout, want 5", ch.Len())
		}
	}
	if get(t, s, "ConnectionCreatedCount") != "2" {
		t.Fatalf("the sink must reconnect after a timeout; ConnectionCreatedCount = %s", get(t, s, "ConnectionCreatedCount"))
	}
}

// A refused connection fails at once, not after connect-timeout (an hour
// here: the test would hang instead of failing).
func TestRefusedFailsAtOnce(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	ch := newChannel(t, "c1", 1000, 100)
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": port, "connect-timeout": "3600000"}, registry.Env{})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	if _, err := s.Process(context.Background()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Process = %v, want connection refused", err)
	}
	if get(t, s, "ConnectionFailedCount") != "1" {
		t.Fatal("ConnectionFailedCount not counted")
	}
}

// reset-connection-interval reconnects on the agent's clock.
func TestResetConnectionInterval(t *testing.T) {
	col := newCollector(t, nil)
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	ch := newChannel(t, "c1", 1000, 100)
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": col.port(), "reset-connection-interval": "60"}, registry.Env{Clock: clk})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	step := func() {
		fill(t, ch, 1)
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	step()
	clk.Advance(59 * time.Second)
	step()
	if v := get(t, s, "ConnectionCreatedCount"); v != "1" {
		t.Fatalf("reconnected before the interval: %s", v)
	}
	clk.Advance(time.Second)
	step()
	if get(t, s, "ConnectionCreatedCount") != "2" || get(t, s, "ConnectionClosedCount") != "1" {
		t.Fatalf("created %s closed %s; want a reconnect at 60 s", get(t, s, "ConnectionCreatedCount"), get(t, s, "ConnectionClosedCount"))
	}
	if n := len(col.delivered()); n != 3 {
		t.Fatalf("collector got %d, want 3", n)
	}
}

// Sink -> source over every wire mode, with keystores of each format.
func TestModes(t *testing.T) {
	f := avrotest.Certs(t, t.TempDir())
	tlsSrc := map[string]string{"ssl": "true", "keystore": f.ServerJKS, "keystore-password": avrotest.Password}
	tlsSnk := map[string]string{"ssl": "true", "truststore": f.TrustP12, "truststore-password": avrotest.Password, "truststore-type": "PKCS12"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	defl := map[string]string{"compression-type": "deflate"}
	for _, tc := range []struct {
		name     string
		src, snk map[string]string
	}{
		{"tls", tlsSrc, tlsSnk},
		{"tls+deflate flume-1.10", merge(tlsSrc, defl), merge(tlsSnk, defl)},
		{"tls+deflate flume-1.9", merge(tlsSrc, defl), merge(tlsSnk, defl, map[string]string{"deflate-tls-layering": "flume-1.9"})},
		{"mutual tls", merge(tlsSrc, map[string]string{"client-auth": "required", "truststore": f.CAPEM}),
			merge(tlsSnk, map[string]string{"keystore": f.ClientPEM, "keystore-type": "PEM"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := newCollector(t, tc.src)
			ch := newChannel(t, "c1", 1000, 100)
			s := newSink(t, ch, merge(map[string]string{"hostname": "127.0.0.1", "port": col.port()}, tc.snk), registry.Env{})
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer s.Stop(context.Background())
			fill(t, ch, 50)
			if _, err := s.Process(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := col.delivered()
			if len(got) != 50 || got[49].Headers["i"] != "49" || string(got[49].Body) != "e49" {
				t.Fatalf("collector got %d events", len(got))
			}
		})
	}
}

func TestConfig(t *testing.T) {
	r := reader(config.KindSink, map[string]string{"hostname": "h", "port": "4141", "connect-timeout": "500", "request-timeout": "999",
		"ssl": "true", "compression-type": "deflate", "maxIoWorkers": "4", "truststore": "/x", "trust-all-certs": "false",
		"exclude-protocols": "SSLv3", "reset-connection-interval": "30"})
	cfg, err := avrosink.ParseConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnectTimeout != 500*time.Millisecond || cfg.RequestTimeout != 999*time.Millisecond || cfg.ResetInterval != 30*time.Second {
		t.Fatalf("timeouts not honoured as written: %+v", cfg)
	}
	rules := map[string]bool{}
	for _, n := range r.Notes() {
		rules[n.Rule] = true
	}
	for _, want := range []string{"avro-timeout-floor", "avro-deflate-tls-layering", "avro-maxioworkers"} {
		if !rules[want] {
			t.Errorf("no %s note for `sluice check` (notes: %v)", want, r.Notes())
		}
	}
	if u := r.Unused(); len(u) != 0 {
		t.Errorf("keys not read: %v", u)
	}
	for _, bad := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"port": "1"}, "hostname: is required"},
		{map[string]string{"hostname": "h"}, "port: is required"},
		{map[string]string{"hostname": "h", "port": "1", "compression-level": "11"}, "valid values are 0 to 9"},
		{map[string]string{"hostname": "h", "port": "1", "request-timeout": "0"}, "must be > 0"},
		{map[string]string{"hostname": "h", "port": "1", "deflate-tls-layering": "1.8"}, "flume-1.10, flume-1.9"},
		{map[string]string{"hostname": "h", "port": "1", "include-cipher-suites": "NOPE"}, "unknown cipher suite"},
	} {
		if _, err := avrosink.ParseConfig(reader(config.KindSink, bad.props)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want %q", bad.props, err, bad.want)
		}
	}
	e, ok := registry.Lookup(registry.Sink, "org.apache.flume.sink.AvroSink")
	if !ok || e.BatchKey != "batch-size" || e.BatchDefault != 100 {
		t.Fatalf("registry entry %+v", e)
	}
}
