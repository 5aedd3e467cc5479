// Package kafka is Flume's Kafka source
// (org.apache.flume.source.kafka.KafkaSource): a consumer-group member that
// reads batches of records and commits their offsets only after the channel
// committed the batch, so a pipeline can read back what it wrote and a crash
// re-reads (never skips) what was in flight.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Config is the Kafka source's configuration.
type Config struct {
	Brokers             []string
	Topics              []string
	TopicRegex          string
	Group               string
	BatchSize           int
	BatchDuration       time.Duration
	UseFlumeEventFormat bool
	SetTopicHeader      bool
	TopicHeader         string
	ConsumerOpts        []kgo.Opt
	CommitTimeout       time.Duration
}

// ParseConfig reads Flume's Kafka source keys.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{}
	servers := r.String("kafka.bootstrap.servers", "")
	if servers == "" {
		r.Required("kafka.bootstrap.servers", "host:port list of Kafka brokers")
	}
	c.Brokers = flumekafka.Brokers(servers)
	if v := r.String("kafka.topics", ""); v != "" {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.Topics = append(c.Topics, t)
			}
		}
	}
	c.TopicRegex = r.String("kafka.topics.regex", "")
	if c.TopicRegex != "" {
		if _, err := regexp.Compile(c.TopicRegex); err != nil {
			r.Errorf("kafka.topics.regex", "%q is not a regular expression: %v", c.TopicRegex, err)
		}
		if len(c.Topics) > 0 {
			r.Notef(config.Warning, "kafka.topics", "kafka-topics-regex", "remove one of them",
				"kafka.topics.regex overrides kafka.topics, as in Flume")
			c.Topics = nil
		}
	}
	if v, ok := r.Raw("topic"); ok && len(c.Topics) == 0 && c.TopicRegex == "" {
		c.Topics = []string{strings.TrimSpace(v)}
		flumekafka.Deprecated(r, "topic", "kafka.topics")
	}
	if len(c.Topics) == 0 && c.TopicRegex == "" {
		r.Required("kafka.topics", "comma-separated topics to read, or kafka.topics.regex")
	}
	cons := r.Prefix("kafka.consumer.")
	c.Group = cons["group.id"]
	delete(cons, "group.id")
	if c.Group == "" {
		if v, ok := r.Raw("groupId"); ok {
			c.Group = v
			flumekafka.Deprecated(r, "groupId", "kafka.consumer.group.id")
		} else {
			c.Group = "flume"
		}
	}
	for _, k := range []string{"migrateZookeeperOffsets", "zookeeperConnect"} {
		if r.Has(k) {
			r.Notef(config.Note, k, "deprecated-key", "remove it", "%s is ignored: offsets live in Kafka", k)
		}
	}
	c.BatchSize = r.Int("batchSize", 1000)
	if c.BatchSize <= 0 {
		r.Errorf("batchSize", "%d is invalid; it must be > 0", c.BatchSize)
	}
	c.BatchDuration = r.Millis("batchDurationMillis", time.Second)
	if c.BatchDuration <= 0 {
		r.Errorf("batchDurationMillis", "must be > 0")
	}
	c.UseFlumeEventFormat = r.Bool("useFlumeEventFormat", false)
	c.SetTopicHeader = r.Bool("setTopicHeader", true)
	c.TopicHeader = r.String("topicHeader", "topic")
	c.CommitTimeout = 60 * time.Second
	if v, ok := cons["default.api.timeout.ms"]; ok {
		delete(cons, "default.api.timeout.ms")
		if ms, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && ms > 0 {
			c.CommitTimeout = time.Duration(ms) * time.Millisecond
		} else {
			r.Errorf("kafka.consumer.default.api.timeout.ms", "%q is not a positive number of milliseconds", v)
		}
	}
	c.ConsumerOpts = flumekafka.ConsumerOpts(r, "kafka.consumer.", cons, "earliest")
	return c, r.Err()
}

// Source is a Kafka source.
type Source struct {
	name    string
	cfg     Config
	cp      *source.ChannelProcessor
	clk     clock.Clock
	log     *slog.Logger
	counter *metrics.SourceCounter
	getMs   *metrics.Counter // KafkaEventGetTimer
	commMs  *metrics.Counter // KafkaCommitTimer
	empty   *metrics.Counter // KafkaEmptyCount
	bad     *metrics.Counter // records that are not Flume events

	mu sync.Mutex
	cl *kgo.Client

	// A batch the channel refused, delivered again before anything new.
	held     []event.Event
	heldRecs []*kgo.Record
}

var _ source.Pollable = (*Source)(nil)

// New returns an unstarted Kafka source.
func New(name string, cfg Config, cp *source.ChannelProcessor, clk clock.Clock, reg *metrics.Registry, log *slog.Logger) *Source {
	if clk == nil {
		clk = clock.Real()
	}
	if reg == nil {
		reg = metrics.NewRegistry(clk)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Source{name: name, cfg: cfg, cp: cp, clk: clk, log: log.With("source", name), counter: metrics.NewSourceCounter(reg, name)}
	s.getMs = s.counter.Extra("KafkaEventGetTimer", metrics.KindCounter)
	s.commMs = s.counter.Extra("KafkaCommitTimer", metrics.KindCounter)
	s.empty = s.counter.Extra("KafkaEmptyCount", metrics.KindCounter)
	s.bad = s.counter.Extra("EventDecodeFail", metrics.KindCounter)
	return s
}

func (s *Source) Name() string { return s.name }

// Start joins the consumer group (in the background: a dead cluster does
// not stop the agent).
func (s *Source) Start(ctx context.Context) error {
	opts := []kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.WithLogger(flumekafka.Logger(s.log)), kgo.ConsumerGroup(s.cfg.Group)}
	if s.cfg.TopicRegex != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(s.cfg.TopicRegex))
	} else {
		opts = append(opts, kgo.ConsumeTopics(s.cfg.Topics...))
	}
	opts = append(opts, s.cfg.ConsumerOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka source %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.cl = cl
	s.held, s.heldRecs = nil, nil
	s.mu.Unlock()
	s.counter.Start()
	return nil
}

// Stop leaves the group. A batch not yet in the channel was never
// committed, so the group re-delivers it.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	cl := s.cl
	s.cl = nil
	s.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	s.counter.Stop()
	return nil
}

// Process reads one batch (up to batchSize records or batchDurationMillis),
// puts it into the channel and then commits its offsets.
func (s *Source) Process(ctx context.Context) (source.Status, error) {
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if cl == nil {
		return source.Backoff, fmt.Errorf("kafka source %s: not started", s.name)
	}
	if s.heldRecs == nil {
		recs, err := s.poll(ctx, cl)
		if err != nil {
			s.counter.EventReadFail.Inc()
			return source.Backoff, err
		}
		if len(recs) == 0 {
			s.empty.Inc()
			return source.Backoff, nil
		}
		s.heldRecs, s.held = recs, s.events(recs)
		s.counter.EventReceivedCount.Add(int64(len(s.held)))
		s.counter.AppendBatchReceivedCount.Inc()
	}
	if len(s.held) > 0 {
		if err := s.cp.ProcessBatch(s.held); err != nil {
			s.counter.ChannelWriteFail.Inc()
			if errors.Is(err, channel.ErrFull) {
				return source.Backoff, nil // back-pressure: the same batch next time
			}
			return source.Backoff, fmt.Errorf("kafka source %s: %w", s.name, err)
		}
		s.counter.EventAcceptedCount.Add(int64(len(s.held)))
		s.counter.AppendBatchAcceptedCount.Inc()
	}
	recs := s.heldRecs
	s.held, s.heldRecs = nil, nil
	start := s.clk.Now()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	err := cl.CommitRecords(cctx, recs...)
	cancel()
	s.commMs.Add(clock.Since(s.clk, start).Milliseconds())
	if err != nil {
		// The batch is in the channel; the next commit covers these
		// offsets too. A crash before then re-reads them (duplicates).
		s.counter.GenericProcessingFail.Inc()
		s.log.Warn("kafka source: offset commit failed; a restart before the next commit re-reads the batch", "err", err)
	}
	return source.Ready, nil
}

func (s *Source) poll(ctx context.Context, cl *kgo.Client) ([]*kgo.Record, error) {
	start := s.clk.Now()
	defer func() { s.getMs.Add(clock.Since(s.clk, start).Milliseconds()) }()
	pctx, cancel := context.WithTimeout(ctx, s.cfg.BatchDuration)
	defer cancel()
	var out []*kgo.Record
	for len(out) < s.cfg.BatchSize {
		fs := cl.PollRecords(pctx, s.cfg.BatchSize-len(out))
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if errors.Is(err, kgo.ErrClientClosed) {
				ferr = fmt.Errorf("kafka source %s: client closed", s.name)
				return
			}
			s.log.Warn("kafka source: fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if ferr != nil {
			return out, ferr
		}
		if pctx.Err() != nil {
			break
		}
	}
	return out, nil
}

// events builds Flume events with the source's headers: timestamp (now),
// topic, partition, offset and key, each only if the event lacks it.
func (s *Source) events(recs []*kgo.Record) []event.Event {
	now := strconv.FormatInt(s.clk.Now().UnixMilli(), 10)
	out := make([]event.Event, 0, len(recs))
	for _, r := range recs {
		var e event.Event
		if s.cfg.UseFlumeEventFormat {
			var err error
			if e, err = flumekafka.DecodeEvent(r.Value); err != nil {
				// Undeliverable as a Flume event; skipped, not a poison pill.
				s.bad.Inc()
				s.log.Error("kafka source: skipping a record that is not an Avro Flume event (is useFlumeEventFormat right?)",
					"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
				continue
			}
		} else {
			e.Body = r.Value
		}
		if e.Headers == nil {
			e.Headers = make(map[string]string, 5)
		}
		setIfMissing(e.Headers, "timestamp", now)
		if s.cfg.SetTopicHeader {
			setIfMissing(e.Headers, s.cfg.TopicHeader, r.Topic)
		}
		setIfMissing(e.Headers, "partition", strconv.Itoa(int(r.Partition)))
		setIfMissing(e.Headers, "offset", strconv.FormatInt(r.Offset, 10))
		if r.Key != nil {
			e.Headers["key"] = string(r.Key)
		}
		out = append(out, e)
	}
	return out
}

func setIfMissing(h map[string]string, k, v string) {
	if _, ok := h[k]; !ok {
		h[k] = v
	}
}

func init() {
	registry.Register(registry.Entry{
		Kind:         registry.Source,
		Name:         "kafka",
		Aliases:      []string{"org.apache.flume.source.kafka.KafkaSource"},
		BatchKey:     "batchSize",
		BatchDefault: 1000,
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, cp, env.Clock, env.Metrics, env.Log), nil
		}),
	})
}
