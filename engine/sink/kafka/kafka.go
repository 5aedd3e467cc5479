// Package kafka is Flume's Kafka sink (org.apache.flume.sink.kafka.KafkaSink,
// flume-facts §6.3) on franz-go.
//
// Each Process takes up to flumeBatchSize events in one channel transaction,
// produces them and commits only when every record is acknowledged at the
// configured acks; any failure rolls the whole batch back and is returned as
// an error, so a failover group switches sinks (records of the batch that did
// reach Kafka are duplicated by the retry, as in Flume).
//
// Deliberate differences from Flume, each a poison pill there: a
// partitionIdHeader that is not an integer (or names a partition the topic
// does not have), or a timestampHeader that is not a number, is ignored for
// that event, counted and logged, instead of failing the batch forever.
//
// With acks=all the producer is idempotent unless enable.idempotence=false
// (Kafka 3's default; Flume 1.9's Kafka 2.0 client was not). Against kfake,
// a batch produced just after its partition's leader moved then waits out
// delivery.timeout.ms once before the replaced producer delivers it (the
// kafka-broker-outage scenario: a 15 s gap with 10 s, 1-2.5 s with
// enable.idempotence=false); real brokers were not available to compare.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/escape"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// Config is the Kafka sink's configuration.
type Config struct {
	Brokers             []string
	Topic               string
	BatchSize           int
	UseFlumeEventFormat bool
	// DefaultPartition is the partition for every event, or -1.
	DefaultPartition   int32
	PartitionIDHeader  string
	AllowTopicOverride bool
	TopicHeader        string
	TimestampHeader    string
	// Headers maps Flume header names to Kafka record header names.
	Headers map[string]string
	// Producer holds the producer options from kafka.producer.*.
	Producer flumekafka.Producer
}

// ParseConfig reads Flume's Kafka sink keys, including the deprecated ones.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{DefaultPartition: -1}
	servers := r.String("kafka.bootstrap.servers", "")
	if servers == "" {
		if v, ok := r.Raw("brokerList"); ok {
			servers = v
			flumekafka.Deprecated(r, "brokerList", "kafka.bootstrap.servers")
		}
	}
	if servers == "" {
		r.Required("kafka.bootstrap.servers", "host:port list of Kafka brokers")
	}
	c.Brokers = flumekafka.Brokers(servers)
	c.Topic = r.String("kafka.topic", "")
	if c.Topic == "" {
		if v, ok := r.Raw("topic"); ok {
			c.Topic = v
			flumekafka.Deprecated(r, "topic", "kafka.topic")
		} else {
			c.Topic = "default-flume-topic"
		}
	}
	if _, err := escape.Compile(c.Topic); err != nil {
		r.Errorf("kafka.topic", "%v", err)
	}
	c.BatchSize = r.Int("flumeBatchSize", 0)
	if c.BatchSize == 0 {
		if r.Has("batchSize") {
			c.BatchSize = r.Int("batchSize", 100)
			flumekafka.Deprecated(r, "batchSize", "flumeBatchSize")
		} else {
			c.BatchSize = 100
		}
	}
	if c.BatchSize <= 0 {
		r.Errorf("flumeBatchSize", "%d is invalid; it must be > 0", c.BatchSize)
	}
	// kafka.flumeBatchSize (the user guide's spelling) is ignored, as in
	// Flume; the config lint says so (rule ignored-key).
	r.Use("kafka.flumeBatchSize")
	c.UseFlumeEventFormat = r.Bool("useFlumeEventFormat", false)
	if r.Has("defaultPartitionId") {
		c.DefaultPartition = int32(r.IntRange("defaultPartitionId", 0, 0, 1<<31-1))
	}
	c.PartitionIDHeader = r.String("partitionIdHeader", "")
	c.AllowTopicOverride = r.Bool("allowTopicOverride", true)
	c.TopicHeader = r.String("topicHeader", "topic")
	c.TimestampHeader = r.String("timestampHeader", "")
	c.Headers = r.Prefix("header.")

	prod := r.Prefix("kafka.producer.")
	def := flumekafka.AcksLeader // Flume's KafkaSink default
	if v, ok := r.Raw("requiredAcks"); ok {
		flumekafka.Deprecated(r, "requiredAcks", "kafka.producer.acks")
		if _, set := prod["acks"]; !set {
			prod["acks"] = v
		}
	}
	c.Producer = flumekafka.ProducerOpts(r, "kafka.producer.", prod, def)
	if c.Producer.Acks != flumekafka.AcksAll {
		r.Notef(config.Warning, "kafka.producer.acks", "kafka-acks", "set kafka.producer.acks = all",
			"acks=%s: Kafka acknowledges a batch before every in-sync replica has it, so a leader failure can lose records this sink already committed as delivered (Flume's default is 1)", c.Producer.Acks)
	}
	return c, r.Err()
}

// Sink is a Kafka sink.
type Sink struct {
	name    string
	cfg     Config
	ch      channel.Channel
	clk     clock.Clock
	log     *slog.Logger
	topic   *escape.Template
	counter *metrics.SinkCounter
	sendMs  *metrics.Counter // KafkaEventSendTimer
	rolls   *metrics.Counter // RollbackCount
	badHdr  *metrics.Counter // events whose partition or timestamp header was ignored
	badPart atomic.Int64     // set by the partitioner

	mu   sync.Mutex
	cl   *kgo.Client
	opts []kgo.Opt
}

var _ sink.Sink = (*Sink)(nil)

// New returns an unstarted Kafka sink reading ch.
func New(name string, cfg Config, ch channel.Channel, clk clock.Clock, reg *metrics.Registry, log *slog.Logger) (*Sink, error) {
	if clk == nil {
		clk = clock.Real()
	}
	if reg == nil {
		reg = metrics.NewRegistry(clk)
	}
	if log == nil {
		log = slog.Default()
	}
	t, err := escape.Compile(cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("kafka sink %s: %w", name, err)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	s := &Sink{name: name, cfg: cfg, ch: ch, clk: clk, log: log.With("sink", name), topic: t,
		counter: metrics.NewSinkCounter(reg, name)}
	s.sendMs = s.counter.Extra("KafkaEventSendTimer", metrics.KindCounter)
	s.rolls = s.counter.Extra("RollbackCount", metrics.KindCounter)
	s.badHdr = s.counter.Extra("EventHeaderIgnoredCount", metrics.KindCounter)
	s.counter.Func("InvalidPartitionCount", metrics.KindCounter, true, func() string { return strconv.FormatInt(s.badPart.Load(), 10) })
	return s, nil
}

func (s *Sink) Name() string { return s.name }

// Start creates the producer; it connects lazily, so a dead cluster never
// stops an agent from starting.
func (s *Sink) Start(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.RecordPartitioner(&partitioner{inner: kgo.StickyKeyPartitioner(nil), bad: &s.badPart}),
		kgo.WithLogger(flumekafka.Logger(s.log)),
	}, s.cfg.Producer.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka sink %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.cl = cl
	s.opts = opts
	s.mu.Unlock()
	s.counter.Start()
	s.counter.ConnectionCreatedCount.Inc()
	return nil
}

// Stop closes the producer. Between Process calls nothing is buffered.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	cl := s.cl
	s.cl = nil
	s.mu.Unlock()
	if cl != nil {
		cl.Close()
		s.counter.ConnectionClosedCount.Inc()
	}
	s.counter.Stop()
	return nil
}

func (s *Sink) client() *kgo.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl
}

// Process delivers one batch.
func (s *Sink) Process(ctx context.Context) (sink.Status, error) {
	cl := s.client()
	if cl == nil {
		return sink.Backoff, fmt.Errorf("kafka sink %s: not started", s.name)
	}
	return sink.Deliver(s.ch, s.cfg.BatchSize, s.counter, func(events []event.Event) error {
		records, err := s.records(events)
		if err == nil {
			start := s.clk.Now()
			pctx, cancel := context.WithTimeout(ctx, s.deliveryTimeout())
			err = produce(pctx, cl, records)
			cancel()
			s.sendMs.Add(clock.Since(s.clk, start).Milliseconds())
		}
		if err == nil {
			return nil
		}
		s.rolls.Inc()
		err = fmt.Errorf("kafka sink %s: %d events rolled back: %w", s.name, len(events), err)
		return errors.Join(err, s.renew(cl))
	})
}

// renew replaces the producer old after a failed batch with a fresh one.
// franz-go's idempotent producer can keep a partition wedged after records
// were failed in flight (every later produce to it times out), so the retry
// starts from a new producer ID and fresh metadata, as Flume's sink gets
// when a failed producer is rebuilt. Nothing is done when the sink was
// stopped or old was already replaced.
func (s *Sink) renew(old *kgo.Client) error {
	s.mu.Lock()
	if s.cl != old || old == nil {
		s.mu.Unlock()
		return nil
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("kafka sink %s: new producer: %w", s.name, err)
	}
	s.cl = cl
	s.mu.Unlock()
	s.counter.ConnectionCreatedCount.Inc()
	old.Close()
	s.counter.ConnectionClosedCount.Inc()
	return nil
}

func (s *Sink) deliveryTimeout() time.Duration {
	if d := s.cfg.Producer.DeliveryTimeout; d > 0 {
		return d
	}
	return flumekafka.DefaultDeliveryTimeout
}

// produce sends every record and waits for every acknowledgement; the first
// failure is returned. A failed batch leaves nothing buffered behind it.
func produce(ctx context.Context, cl *kgo.Client, records []*kgo.Record) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	failed := 0
	wg.Add(len(records))
	for _, r := range records {
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("record to %s: %w", r.Topic, err)
				}
				failed++
				mu.Unlock()
			}
			wg.Done()
		})
	}
	// Flush ends lingering so the batch goes out now, as Flume's
	// producer.flush() does.
	ferr := cl.Flush(ctx)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%d of %d records failed, first: %w", failed, len(records), first)
	}
	if ferr != nil {
		return ferr
	}
	return nil
}

// records builds the Kafka records of a batch.
func (s *Sink) records(events []event.Event) ([]*kgo.Record, error) {
	now := s.clk.Now()
	out := make([]*kgo.Record, len(events))
	var buf []byte
	if s.cfg.UseFlumeEventFormat {
		n := 0
		for _, e := range events {
			n += flumekafka.EncodedSize(e)
		}
		buf = make([]byte, 0, n)
	}
	for i, e := range events {
		r := &kgo.Record{Partition: s.cfg.DefaultPartition}
		topic, err := s.topicFor(e, now)
		if err != nil {
			return nil, err
		}
		r.Topic = topic
		if k, ok := e.Headers["key"]; ok {
			r.Key = []byte(k)
		}
		if s.cfg.UseFlumeEventFormat {
			start := len(buf)
			buf = flumekafka.AppendEvent(buf, e)
			r.Value = buf[start:len(buf):len(buf)]
		} else {
			r.Value = e.Body
		}
		if s.cfg.PartitionIDHeader != "" {
			if v, ok := e.Headers[s.cfg.PartitionIDHeader]; ok {
				p, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
				if err != nil || p < 0 {
					s.badHdr.Inc()
					s.log.Warn("kafka sink: partition header is not a partition number; using the default partitioning for this event",
						"header", s.cfg.PartitionIDHeader, "value", v)
				} else {
					r.Partition = int32(p)
				}
			}
		}
		if s.cfg.TimestampHeader != "" {
			if v, ok := e.Headers[s.cfg.TimestampHeader]; ok {
				ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					s.badHdr.Inc()
					s.log.Warn("kafka sink: timestamp header is not epoch milliseconds; the record gets the send time",
						"header", s.cfg.TimestampHeader, "value", v)
				} else {
					r.Timestamp = time.UnixMilli(ms)
				}
			}
		}
		for from, to := range s.cfg.Headers {
			if v, ok := e.Headers[from]; ok {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: to, Value: []byte(v)})
			}
		}
		out[i] = r
	}
	return out, nil
}

func (s *Sink) topicFor(e event.Event, now time.Time) (string, error) {
	if !s.cfg.AllowTopicOverride {
		return s.cfg.Topic, nil
	}
	if t, ok := e.Headers[s.cfg.TopicHeader]; ok && t != "" {
		return t, nil
	}
	if s.topic.Static() {
		return s.cfg.Topic, nil
	}
	t, err := s.topic.Expand(e.Headers, now, &escape.Options{Location: time.Local})
	if err != nil {
		// Flume fails the batch forever here; the send time is a better
		// bucket than a stuck pipeline.
		t, err = s.topic.Expand(e.Headers, now, &escape.Options{Location: time.Local, UseLocalTime: true})
	}
	if err != nil {
		return "", err
	}
	if t == "" {
		return "", fmt.Errorf("topic %q expands to nothing for an event with headers %v", s.cfg.Topic, e.Headers)
	}
	return t, nil
}

// partitioner honours an explicit partition (defaultPartitionId or the
// partition header, carried in Record.Partition, -1 when none) and otherwise
// partitions as the Java client does: murmur2 of the key, sticky without one.
type partitioner struct {
	inner kgo.Partitioner
	bad   *atomic.Int64
}

func (p *partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &topicPartitioner{inner: p.inner.ForTopic(t), bad: p.bad}
}

type topicPartitioner struct {
	inner kgo.TopicPartitioner
	bad   *atomic.Int64
}

func (p *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.inner.RequiresConsistency(r)
}

func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		if int(r.Partition) < n {
			return int(r.Partition)
		}
		p.bad.Add(1)
	}
	return p.inner.Partition(r, n)
}

func (p *topicPartitioner) OnNewBatch() {
	if o, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		o.OnNewBatch()
	}
}

func init() {
	registry.Register(registry.Entry{
		Kind:         registry.Sink,
		Name:         "kafka",
		Aliases:      []string{"org.apache.flume.sink.kafka.KafkaSink"},
		BatchKey:     "flumeBatchSize",
		BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, ch, env.Clock, env.Metrics, env.Log)
		}),
	})
}
