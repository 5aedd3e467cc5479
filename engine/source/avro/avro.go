// Package avro is Flume's Avro source (type avro): the collector end of the
// agent -> collector hop, wire-compatible with Flume 1.9-1.11 avro sinks and
// the Flume SDK (flume-facts §1, §5.2).
//
// Each append or appendBatch call is one ChannelProcessor batch, one
// transaction per channel; the reply is OK only after every required
// channel committed, and FAILED when a channel is full or failing, so the
// sender keeps the batch and retries.
package avro

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Config is the avro source's configuration.
type Config struct {
	Bind    string
	Port    int
	Threads int // Sluice: cap on calls handled at once (0: none)
	Deflate bool
	TLS     avroipc.TLSOptions
	// IPFilter is nil unless ipFilter = true.
	IPFilter     *avroipc.IPFilter
	Limits       avroipc.Limits
	FrameTimeout time.Duration
}

// ParseConfig reads Flume's avro source keys and Sluice's limits.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{Limits: avroipc.DefaultLimits, FrameTimeout: avroipc.DefaultFrameTimeout}
	c.Bind = r.Required("bind", "the address to listen on, e.g. 0.0.0.0")
	if p := r.Required("port", "the TCP port to listen on"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			r.Errorf("port", "%q is not a port number; use 0 to 65535", p)
		}
		c.Port = n
	}
	c.Threads = r.Int("threads", 0)
	if c.Threads < 0 {
		r.Errorf("threads", "%d is negative; use 0 (no cap) or a positive number", c.Threads)
	}
	if c.Threads > 0 {
		r.Notef(config.Note, "threads", "avro-threads", "",
			"threads = %d caps the calls Sluice handles at once; Flume 1.9 sized its I/O worker pool with it and Flume 1.10+ ignores it", c.Threads)
	}
	c.Deflate = r.Enum("compression-type", "none", "none", "deflate") == "deflate"
	c.TLS = avroipc.ReadTLSOptions(r, true)
	if r.Bool("ipFilter", false) {
		rules, _ := r.Raw("ipFilterRules")
		f, err := avroipc.ParseIPFilter(rules)
		if err != nil {
			r.Errorf("ipFilterRules", "%v", err)
		}
		c.IPFilter = f
	} else {
		r.Use("ipFilterRules")
	}
	c.Limits.MaxFrameBytes = r.Int("max-frame-bytes", c.Limits.MaxFrameBytes)
	if c.Limits.MaxFrameBytes < 1<<16 {
		r.Errorf("max-frame-bytes", "%d is too small for a batch; use at least 65536", c.Limits.MaxFrameBytes)
	}
	c.Limits.MaxFrameBuffers = r.Int("max-frame-buffers", c.Limits.MaxFrameBuffers)
	if c.Limits.MaxFrameBuffers < 1 {
		r.Errorf("max-frame-buffers", "%d: use at least 1", c.Limits.MaxFrameBuffers)
	}
	c.FrameTimeout = r.Millis("frame-timeout", c.FrameTimeout)
	if c.FrameTimeout <= 0 {
		r.Errorf("frame-timeout", "must be > 0 milliseconds")
	}
	return c, r.Err()
}

// Source is an avro source.
type Source struct {
	name    string
	cfg     Config
	cp      *source.ChannelProcessor
	env     registry.Env
	log     *slog.Logger
	counter *metrics.SourceCounter
	// Sluice extras: why connections were closed, and handshake outcomes.
	rejected   map[avroipc.Reason]*metrics.Counter
	handshakes map[avroipc.Match]*metrics.Counter
	srv        *avroipc.Server
}

var reasonAttr = map[avroipc.Reason]string{
	avroipc.ReasonTooManyBuffers: "RejectedTooManyBuffers",
	avroipc.ReasonFrameTooLarge:  "RejectedFrameTooLarge",
	avroipc.ReasonBadFrame:       "RejectedBadFrame",
	avroipc.ReasonStalled:        "RejectedStalled",
	avroipc.ReasonBadHandshake:   "RejectedBadHandshake",
	avroipc.ReasonTLS:            "RejectedTLS",
	avroipc.ReasonCompression:    "RejectedCompression",
	avroipc.ReasonIPFilter:       "RejectedIPFilter",
}

// New returns an unstarted source.
func New(name string, cfg Config, cp *source.ChannelProcessor, env registry.Env) *Source {
	if env.Metrics == nil {
		env.Metrics = metrics.NewRegistry(env.Clock)
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	s := &Source{name: name, cfg: cfg, cp: cp, env: env, log: env.Log,
		counter:    metrics.NewSourceCounter(env.Metrics, name),
		rejected:   map[avroipc.Reason]*metrics.Counter{},
		handshakes: map[avroipc.Match]*metrics.Counter{}}
	for _, r := range avroipc.Reasons {
		s.rejected[r] = s.counter.Extra(reasonAttr[r], metrics.KindCounter)
	}
	for _, m := range []avroipc.Match{avroipc.MatchBoth, avroipc.MatchClient, avroipc.MatchNone} {
		s.handshakes[m] = s.counter.Extra("Handshake"+m.String(), metrics.KindCounter)
	}
	return s
}

func (s *Source) Name() string { return s.name }

// Addr is the address the source listens on, once started.
func (s *Source) Addr() net.Addr { return s.srv.Addr() }

// Counter exposes the source's counters (tests, benchmarks).
func (s *Source) Counter() *metrics.SourceCounter { return s.counter }

func (s *Source) Start(ctx context.Context) error {
	sc := avroipc.ServerConfig{
		Addr:          net.JoinHostPort(s.cfg.Bind, strconv.Itoa(s.cfg.Port)),
		Deflate:       s.cfg.Deflate,
		Limits:        s.cfg.Limits,
		FrameTimeout:  s.cfg.FrameTimeout,
		Filter:        s.cfg.IPFilter,
		MaxConcurrent: s.cfg.Threads,
		Handler:       s,
		Log:           s.log,
		Clock:         s.env.Clock,
		Observer: avroipc.Observer{
			Opened:    func() { s.counter.OpenConnectionCount.Add(1) },
			Closed:    func() { s.counter.OpenConnectionCount.Add(-1) },
			Rejected:  func(r avroipc.Reason) { s.rejected[r].Inc() },
			Handshake: func(m avroipc.Match) { s.handshakes[m].Inc() },
			BadCall:   func() { s.counter.EventReadFail.Inc() },
		},
	}
	if s.cfg.TLS.Enabled {
		fs := s.env.FS
		if fs == nil {
			return fmt.Errorf("avro source %s: no file system to read the keystore from", s.name)
		}
		t, err := s.cfg.TLS.ServerConfig(fs)
		if err != nil {
			return fmt.Errorf("avro source %s: %w", s.name, err)
		}
		sc.TLS = t
	}
	srv, err := avroipc.NewServer(sc)
	if err != nil {
		return fmt.Errorf("avro source %s: %w", s.name, err)
	}
	s.counter.Start()
	if err := srv.Start(); err != nil {
		s.counter.Stop()
		return fmt.Errorf("avro source %s: %w", s.name, err)
	}
	s.srv = srv
	s.log.Info("avro source listening", "addr", srv.Addr().String(), "ssl", s.cfg.TLS.Enabled, "compression", s.cfg.Deflate)
	return nil
}

// Stop closes the port and idle connections and waits (bounded by ctx) for
// calls in progress to commit and reply.
func (s *Source) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close(ctx)
	s.srv = nil
	s.counter.Stop()
	return err
}

// Handle is one append or appendBatch: one ChannelProcessor batch.
func (s *Source) Handle(events []event.Event, batch bool) avroipc.Status {
	n := int64(len(events))
	if batch {
		s.counter.AppendBatchReceivedCount.Inc()
	} else {
		s.counter.AppendReceivedCount.Inc()
	}
	s.counter.EventReceivedCount.Add(n)
	if err := s.cp.ProcessBatch(events); err != nil {
		s.counter.ChannelWriteFail.Inc()
		s.log.Warn("avro source: unable to put batch on channel; replying FAILED so the sender retries", "events", n, "err", err)
		return avroipc.Failed
	}
	if batch {
		s.counter.AppendBatchAcceptedCount.Inc()
	} else {
		s.counter.AppendAcceptedCount.Inc()
	}
	s.counter.EventAcceptedCount.Add(n)
	return avroipc.OK
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Source,
		Name:    "avro",
		Aliases: []string{"org.apache.flume.source.AvroSource"},
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, cp, env), nil
		}),
	})
}
