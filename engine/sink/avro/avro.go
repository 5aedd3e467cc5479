// Package avro is Flume's Avro sink (type avro): the agent end of the
// agent -> collector hop, wire-compatible with Flume 1.9-1.11 avro sources
// (flume-facts §1.9, §6.1).
//
// Process takes up to batch-size events in one channel transaction, sends
// them in one appendBatch call and commits only on OK. Any failure — no
// connection, a timeout, FAILED, a system error — rolls the transaction
// back, drops the connection and returns an error, so a failover group
// switches sinks and nothing is lost (a retry may duplicate).
package avro

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Config is the avro sink's configuration.
type Config struct {
	Hostname       string
	Port           int
	BatchSize      int
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	// ResetInterval, when > 0, reconnects after this long so that new
	// hosts behind a load balancer get traffic.
	ResetInterval time.Duration
	Deflate       bool
	Level         int
	Layering      avroipc.Layering
	TLS           avroipc.TLSOptions
}

// Defaults are Flume's (RpcClientConfigurationConstants).
const (
	DefaultBatchSize = 100
	DefaultTimeout   = 20 * time.Second
)

// ParseConfig reads Flume's avro sink keys.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{BatchSize: DefaultBatchSize, ConnectTimeout: DefaultTimeout, RequestTimeout: DefaultTimeout, Level: 6}
	c.Hostname = r.Required("hostname", "the collector's host name or address")
	if p := r.Required("port", "the collector's avro source port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			r.Errorf("port", "%q is not a port number; use 1 to 65535", p)
		}
		c.Port = n
	}
	c.BatchSize = r.Int("batch-size", c.BatchSize)
	if c.BatchSize < 1 {
		r.Notef(config.Warning, "batch-size", "avro-batch-size", "set batch-size to 1 or more",
			"batch-size %d is invalid; Flume and Sluice use %d", c.BatchSize, DefaultBatchSize)
		c.BatchSize = DefaultBatchSize
	}
	for _, t := range []struct {
		key string
		d   *time.Duration
	}{{"connect-timeout", &c.ConnectTimeout}, {"request-timeout", &c.RequestTimeout}} {
		*t.d = r.Millis(t.key, *t.d)
		switch {
		case *t.d <= 0:
			r.Errorf(t.key, "%v: must be > 0 milliseconds", *t.d)
		case *t.d < time.Second:
			r.Notef(config.Note, t.key, "avro-timeout-floor", "",
				"%s = %d ms: Sluice honours it; Flume silently replaces values under 1000 ms with 20000 ms", t.key, t.d.Milliseconds())
		}
	}
	c.ResetInterval = r.Seconds("reset-connection-interval", 0)
	if c.ResetInterval < 0 {
		r.Errorf("reset-connection-interval", "must be >= 0 seconds (0: never)")
	}
	c.Deflate = r.Enum("compression-type", "none", "none", "deflate") == "deflate"
	c.Level = r.IntRange("compression-level", 6, 0, 9)
	c.TLS = avroipc.ReadTLSOptions(r, false)
	c.TLS.ServerName = c.Hostname
	switch r.Enum("deflate-tls-layering", "flume-1.10", "flume-1.10", "flume-1.9") {
	case "flume-1.9":
		c.Layering = avroipc.TLSOutside
	}
	if c.TLS.Enabled && c.Deflate && !r.Has("deflate-tls-layering") {
		r.Notef(config.Note, "compression-type", "avro-deflate-tls-layering", "set deflate-tls-layering = flume-1.9 for Flume 1.9 or older collectors",
			"ssl with deflate: Flume 1.10+ compresses the TLS records, Flume 1.9 encrypts the compressed stream; Sluice speaks the 1.10 layering unless told otherwise (a Sluice collector accepts both)")
	}
	if r.Has("maxIoWorkers") {
		r.Notef(config.Note, "maxIoWorkers", "avro-maxioworkers", "delete it", "maxIoWorkers is ignored (as in Flume 1.10+): Sluice needs no I/O worker pool")
	}
	return c, r.Err()
}

// Sink is an avro sink.
type Sink struct {
	name    string
	cfg     Config
	ch      channel.Channel
	clk     clock.Clock
	env     registry.Env
	log     *slog.Logger
	counter *metrics.SinkCounter

	client      *avroipc.Client
	connectedAt time.Time
	clientCfg   avroipc.ClientConfig
}

var _ sink.Sink = (*Sink)(nil)

// New returns an unstarted sink.
func New(name string, cfg Config, ch channel.Channel, env registry.Env) *Sink {
	if env.Clock == nil {
		env.Clock = clock.Real()
	}
	if env.Metrics == nil {
		env.Metrics = metrics.NewRegistry(env.Clock)
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	return &Sink{name: name, cfg: cfg, ch: ch, clk: env.Clock, env: env, log: env.Log,
		counter: metrics.NewSinkCounter(env.Metrics, name)}
}

func (s *Sink) Name() string { return s.name }

// Counter exposes the sink's counters (tests, benchmarks).
func (s *Sink) Counter() *metrics.SinkCounter { return s.counter }

// ClientConfig is the avroipc client configuration for cfg; it reads the
// TLS stores through fs.
func (c Config) ClientConfig(fs vfs.FS) (avroipc.ClientConfig, error) {
	cc := avroipc.ClientConfig{
		Addr:           net.JoinHostPort(c.Hostname, strconv.Itoa(c.Port)),
		Deflate:        c.Deflate,
		Level:          c.Level,
		Layering:       c.Layering,
		ConnectTimeout: c.ConnectTimeout,
		RequestTimeout: c.RequestTimeout,
	}
	if c.TLS.Enabled {
		if fs == nil {
			return cc, fmt.Errorf("no file system to read the truststore from")
		}
		t, err := c.TLS.ClientConfig(fs)
		if err != nil {
			return cc, err
		}
		cc.TLS = t
	}
	return cc, nil
}

// Start reads the TLS stores; the connection is made by Process, so a
// collector that is down never stops the agent from starting.
func (s *Sink) Start(ctx context.Context) error {
	cc, err := s.cfg.ClientConfig(s.env.FS)
	if err != nil {
		return fmt.Errorf("avro sink %s: %w", s.name, err)
	}
	s.clientCfg = cc
	s.counter.Start()
	return nil
}

// Stop closes the connection. Process is never running concurrently (the
// runner stops it first), so no transaction is open.
func (s *Sink) Stop(ctx context.Context) error {
	s.disconnect()
	s.counter.Stop()
	return nil
}

func (s *Sink) disconnect() {
	if s.client != nil {
		s.client.Close()
		s.client = nil
		s.counter.ConnectionClosedCount.Inc()
	}
}

func (s *Sink) connect(ctx context.Context) error {
	c, err := avroipc.Dial(ctx, s.clientCfg)
	if err != nil {
		s.counter.ConnectionFailedCount.Inc()
		return err
	}
	s.client, s.connectedAt = c, s.clk.Now()
	s.counter.ConnectionCreatedCount.Inc()
	s.log.Info("avro sink connected", "addr", s.clientCfg.Addr)
	return nil
}

// Process sends one batch.
func (s *Sink) Process(ctx context.Context) (sink.Status, error) {
	if s.client != nil && s.cfg.ResetInterval > 0 && clock.Since(s.clk, s.connectedAt) >= s.cfg.ResetInterval {
		s.log.Debug("avro sink: reset-connection-interval reached; reconnecting", "addr", s.clientCfg.Addr)
		s.disconnect()
	}
	if s.client != nil && !s.client.Usable() {
		s.disconnect()
	}
	if s.client == nil {
		if err := s.connect(ctx); err != nil {
			return sink.Backoff, fmt.Errorf("avro sink %s: %w", s.name, err)
		}
	}
	return sink.Deliver(s.ch, s.cfg.BatchSize, s.counter, func(events []event.Event) error {
		if err := s.client.AppendBatch(ctx, events); err != nil {
			s.disconnect()
			return fmt.Errorf("avro sink %s: %w; %d events rolled back to channel %s", s.name, err, len(events), s.ch.Name())
		}
		return nil
	})
}

func init() {
	registry.Register(registry.Entry{
		Kind:         registry.Sink,
		Name:         "avro",
		Aliases:      []string{"org.apache.flume.sink.AvroSink"},
		BatchKey:     "batch-size",
		BatchDefault: DefaultBatchSize,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, ch, env), nil
		}),
	})
}
