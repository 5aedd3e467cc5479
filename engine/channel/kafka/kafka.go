// Package kafka is Flume's Kafka channel
// (org.apache.flume.channel.kafka.KafkaChannel, flume-facts §4.5): the
// buffer is a Kafka topic, so agents that outgrow one collector tier spread
// buffering across a Kafka cluster, and an agent restart loses nothing.
//
// A put transaction produces its events on Commit and commits only when
// Kafka acknowledged every record (acks=all by default). A take transaction
// hands out records fetched by the channel's consumer-group member and, on
// Commit, commits the group offset up to the oldest record still not
// committed-taken; Rollback returns its records to the head. A crash
// therefore re-delivers what was in flight (at-least-once), never loses it.
//
// Differences from Flume, both additions: Take returns what is fetched
// (waiting up to kafka.pollTimeout only while records are known to be on the
// way), and an optional capacity bounds the consumer group's backlog (lag),
// so a source sees ErrFull and backs off instead of growing the topic
// without limit. A put commit that fails part-way may leave part of its
// records in the topic; the source retries the whole batch, so they are
// duplicated, as with Flume.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
)

// Config is the Kafka channel's configuration.
type Config struct {
	Brokers           []string
	Topic             string
	Group             string
	ParseAsFlumeEvent bool
	PollTimeout       time.Duration
	DefaultPartition  int32 // -1: none
	PartitionIDHeader string
	Producer          flumekafka.Producer
	ConsumerOpts      []kgo.Opt
	// Capacity bounds the group's lag (0: unbounded, as in Flume).
	Capacity int
	// TransactionCapacity bounds one transaction (0: unbounded, as in Flume).
	TransactionCapacity int
	// ResetEarliest: a partition without a committed offset is read from
	// its start (auto.offset.reset = earliest, Flume's channel default).
	ResetEarliest bool
	// CommitTimeout bounds an offset commit (the consumer's
	// default.api.timeout.ms, which bounds Java's commitSync).
	CommitTimeout time.Duration
}

// ParseConfig reads Flume's Kafka channel keys.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{DefaultPartition: -1}
	servers := r.String("kafka.bootstrap.servers", "")
	if servers == "" {
		if v, ok := r.Raw("brokerList"); ok {
			servers = v
			flumekafka.Deprecated(r, "brokerList", "kafka.bootstrap.servers")
		} else {
			r.Required("kafka.bootstrap.servers", "host:port list of Kafka brokers")
		}
	}
	c.Brokers = flumekafka.Brokers(servers)
	c.Topic = r.String("kafka.topic", "")
	if c.Topic == "" {
		if v, ok := r.Raw("topic"); ok {
			c.Topic = v
			flumekafka.Deprecated(r, "topic", "kafka.topic")
		} else {
			c.Topic = "flume-channel"
		}
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
	if v, ok := r.Raw("readSmallestOffset"); ok {
		flumekafka.Deprecated(r, "readSmallestOffset", "kafka.consumer.auto.offset.reset")
		if _, set := cons["auto.offset.reset"]; !set {
			if strings.EqualFold(strings.TrimSpace(v), "true") {
				cons["auto.offset.reset"] = "earliest"
			} else {
				cons["auto.offset.reset"] = "latest"
			}
		}
	}
	for _, k := range []string{"migrateZookeeperOffsets", "zookeeperConnect"} {
		if r.Has(k) {
			r.Notef(config.Note, k, "deprecated-key", "remove it", "%s is ignored: offsets live in Kafka (as in Flume 1.10+)", k)
		}
	}
	// pollTimeout (the user guide's spelling) is ignored, as in Flume; the
	// config lint says so (rule ignored-key).
	r.Use("pollTimeout")
	c.ParseAsFlumeEvent = r.Bool("parseAsFlumeEvent", true)
	c.PollTimeout = r.Millis("kafka.pollTimeout", 500*time.Millisecond)
	if c.PollTimeout <= 0 {
		r.Errorf("kafka.pollTimeout", "must be > 0 milliseconds")
	}
	if r.Has("defaultPartitionId") {
		c.DefaultPartition = int32(r.IntRange("defaultPartitionId", 0, 0, math.MaxInt32))
	}
	c.PartitionIDHeader = r.String("partitionIdHeader", "")
	c.Producer = flumekafka.ProducerOpts(r, "kafka.producer.", r.Prefix("kafka.producer."), flumekafka.AcksAll)
	if c.Producer.Acks != flumekafka.AcksAll {
		r.Notef(config.Warning, "kafka.producer.acks", "kafka-acks", "set kafka.producer.acks = all",
			"acks=%s: a put can be acknowledged before every in-sync replica has it, so a broker failure can lose events the source was told are safe", c.Producer.Acks)
	}
	c.CommitTimeout = 60 * time.Second
	if v, ok := cons["default.api.timeout.ms"]; ok {
		delete(cons, "default.api.timeout.ms")
		ms, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || ms <= 0 {
			r.Errorf("kafka.consumer.default.api.timeout.ms", "%q is not a positive number of milliseconds", v)
		} else {
			c.CommitTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	c.ResetEarliest = !strings.EqualFold(strings.TrimSpace(cons["auto.offset.reset"]), "latest") &&
		!strings.EqualFold(strings.TrimSpace(cons["auto.offset.reset"]), "none")
	c.ConsumerOpts = flumekafka.ConsumerOpts(r, "kafka.consumer.", cons, "earliest")
	c.Capacity = r.Int("capacity", 0)
	c.TransactionCapacity = r.Int("transactionCapacity", 0)
	if c.Capacity < 0 || c.TransactionCapacity < 0 {
		r.Errorf("capacity", "capacity and transactionCapacity must be >= 0 (0: unbounded)")
	}
	if c.Capacity > 0 && c.TransactionCapacity > c.Capacity {
		r.Errorf("transactionCapacity", "%d is greater than capacity %d", c.TransactionCapacity, c.Capacity)
	}
	return c, r.Err()
}

// Channel is a Kafka channel.
type Channel struct {
	name    string
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	counter *metrics.ChannelCounter
	getMs   *metrics.Counter // KafkaEventGetTimer
	sendMs  *metrics.Counter // KafkaEventSendTimer
	commMs  *metrics.Counter // KafkaCommitTimer
	rolls   *metrics.Counter // RollbackCount

	pollMu sync.Mutex // one poll at a time
	// commitMu orders offset commits: the offsets are computed and sent
	// under it, so a commit computed earlier (lower) can never reach the
	// group after a later (higher) one and move the group's offset back.
	commitMu sync.Mutex
	probes   sync.WaitGroup // running probe goroutines

	mu       sync.Mutex
	cl       *kgo.Client
	adm      *kadm.Client
	closed   bool
	assigned bool                 // the member has had an assignment
	gen      int                  // last partition generation handed out
	parts    map[int32]*partState // assigned partitions of the topic
	queue    []*kgo.Record        // fetched, not taken; per-partition order
	takers   map[*txn]struct{}    // transactions holding taken records
	// committed is, per assigned partition, the highest offset this member
	// committed; commits never go below it.
	committed map[int32]int64
	lastLen   int

	// The backlog estimate for capacity (see backlog).
	lagAt                          time.Time
	lagBase, putsSince, takesSince int
}

// partState tracks one assigned partition.
type partState struct {
	gen    int   // new on every assignment: takes of an earlier one are void
	next   int64 // offset after the last record fetched; -1 unknown
	end    int64 // highest end offset known (high watermark, own produce)
	probed bool  // probe has run for it
}

var _ channel.Channel = (*Channel)(nil)

// New returns an unstarted Kafka channel.
func New(name string, cfg Config, clk clock.Clock, reg *metrics.Registry, log *slog.Logger) *Channel {
	if clk == nil {
		clk = clock.Real()
	}
	if reg == nil {
		reg = metrics.NewRegistry(clk)
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 500 * time.Millisecond
	}
	c := &Channel{name: name, cfg: cfg, clk: clk, log: log.With("channel", name)}
	c.counter = metrics.NewChannelCounter(reg, name, func() int64 { return int64(c.Len()) })
	c.getMs = c.counter.Extra("KafkaEventGetTimer", metrics.KindCounter)
	c.sendMs = c.counter.Extra("KafkaEventSendTimer", metrics.KindCounter)
	c.commMs = c.counter.Extra("KafkaCommitTimer", metrics.KindCounter)
	c.rolls = c.counter.Extra("RollbackCount", metrics.KindCounter)
	return c
}

func (c *Channel) Name() string { return c.name }

// Capacity is the configured lag bound, or MaxInt32 when unbounded.
func (c *Channel) Capacity() int {
	if c.cfg.Capacity > 0 {
		return c.cfg.Capacity
	}
	return math.MaxInt32
}

// TransactionCapacity is the configured bound, or MaxInt32 when unbounded.
func (c *Channel) TransactionCapacity() int {
	if c.cfg.TransactionCapacity > 0 {
		return c.cfg.TransactionCapacity
	}
	return math.MaxInt32
}

// Start creates the client and joins the consumer group in the background.
func (c *Channel) Start() error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.WithLogger(flumekafka.Logger(c.log)),
		kgo.DefaultProduceTopic(c.cfg.Topic),
		kgo.RecordPartitioner(partitioner{kgo.StickyKeyPartitioner(nil)}),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topic),
		kgo.OnPartitionsAssigned(c.assignedCb),
		kgo.OnPartitionsRevoked(c.revokedCb(true)),
		kgo.OnPartitionsLost(c.revokedCb(false)),
	}
	opts = append(opts, c.cfg.Producer.Opts...)
	opts = append(opts, c.cfg.ConsumerOpts...)
	// The group callbacks can run before NewClient returns.
	c.mu.Lock()
	c.parts = map[int32]*partState{}
	c.queue = nil
	c.takers = map[*txn]struct{}{}
	c.committed = map[int32]int64{}
	c.assigned = false
	c.mu.Unlock()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka channel %s: %w", c.name, err)
	}
	c.mu.Lock()
	c.cl, c.adm = cl, kadm.NewClient(cl)
	c.closed = false
	c.mu.Unlock()
	c.counter.Start()
	c.counter.ChannelCapacity.Set(int64(c.Capacity()))
	return nil
}

// Stop leaves the group and closes the client. Records in flight in open
// take transactions were never committed, so the group re-delivers them.
func (c *Channel) Stop() error {
	c.mu.Lock()
	cl := c.cl
	c.closed = true
	c.cl = nil
	c.queue = nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	c.probes.Wait()
	c.counter.Stop()
	return nil
}

func (c *Channel) assignedCb(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assigned = true
	var fresh []int32
	for _, p := range m[c.cfg.Topic] {
		if _, ok := c.parts[p]; !ok {
			c.gen++
			c.parts[p] = &partState{next: -1, gen: c.gen}
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		c.probes.Add(1)
		go c.probe(ctx, cl, fresh)
	}
}

// probe learns where newly assigned partitions start (the group's
// committed offset, or the reset position) and end, so that a take knows
// whether records are on the way before the first fetch answers. It runs
// on the client's context, which Close cancels.
func (c *Channel) probe(ctx context.Context, cl *kgo.Client, parts []int32) {
	defer c.probes.Done()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, c.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(ctx, c.cfg.Topic)
	}
	var committed kadm.OffsetResponses
	if err == nil {
		committed, err = adm.FetchOffsets(ctx, c.cfg.Group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range parts {
		st, ok := c.parts[p]
		if !ok || st.next >= 0 {
			continue // revoked, or fetched already
		}
		st.probed = true
		if err != nil {
			continue
		}
		end, ok := ends.Lookup(c.cfg.Topic, p)
		if !ok || end.Err != nil {
			continue
		}
		from := end.Offset // auto.offset.reset = latest or none
		if o, ok := committed.Lookup(c.cfg.Topic, p); ok && o.Err == nil && o.At >= 0 {
			from = o.At
		} else if c.cfg.ResetEarliest {
			if s, ok := starts.Lookup(c.cfg.Topic, p); ok && s.Err == nil {
				from = s.Offset
			}
		}
		st.end = max(st.end, end.Offset)
		if from >= end.Offset {
			st.next = end.Offset // nothing to fetch yet
		}
	}
}

// revokedCb drops what the member no longer owns. On a revoke (not a loss)
// it first commits what is committable, so the next owner starts there.
func (c *Channel) revokedCb(commit bool) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		revoked := m[c.cfg.Topic]
		if len(revoked) == 0 {
			return
		}
		if commit {
			c.commitMu.Lock()
			c.mu.Lock()
			offs := c.committableLocked(revoked, nil)
			c.mu.Unlock()
			if len(offs) > 0 {
				cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.cfg.Topic: offs}, nil)
			}
			c.commitMu.Unlock()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		gone := map[int32]bool{}
		for _, p := range revoked {
			gone[p] = true
			delete(c.parts, p)
			delete(c.committed, p)
		}
		kept := c.queue[:0]
		for _, r := range c.queue {
			if !gone[r.Partition] {
				kept = append(kept, r)
			}
		}
		c.queue = kept
	}
}

// committableLocked returns, for each partition, the offset to commit: the
// oldest record fetched but not yet committed-taken (the records of
// committing, which is being committed, excepted), or the fetch position.
// Partitions whose offset would not move past what this member committed
// already are left out, so the group's offset only moves forward.
func (c *Channel) committableLocked(only []int32, committing *txn) map[int32]kgo.EpochOffset {
	out := map[int32]kgo.EpochOffset{}
	low := map[int32]int64{}
	note := func(r *kgo.Record) {
		if o, ok := low[r.Partition]; !ok || r.Offset < o {
			low[r.Partition] = r.Offset
		}
	}
	for _, r := range c.queue {
		note(r)
	}
	for t := range c.takers {
		if t == committing {
			continue
		}
		for _, r := range t.takes {
			note(r)
		}
	}
	want := func(p int32) bool {
		if only == nil {
			return true
		}
		for _, q := range only {
			if q == p {
				return true
			}
		}
		return false
	}
	for p, st := range c.parts {
		if !want(p) || st.next < 0 {
			continue
		}
		at := st.next
		if o, ok := low[p]; ok && o < at {
			at = o
		}
		if done, ok := c.committed[p]; ok && at <= done {
			continue
		}
		out[p] = kgo.EpochOffset{Epoch: -1, Offset: at}
	}
	return out
}

// Len is the group's lag on the topic: records produced and not yet
// committed-taken (in flight takes included). It asks the cluster; on
// error it returns the last answer.
func (c *Channel) Len() int {
	c.mu.Lock()
	adm, last := c.adm, c.lastLen
	c.mu.Unlock()
	if adm == nil {
		return last
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.lag(ctx, adm)
	if err != nil {
		return last
	}
	c.mu.Lock()
	c.lastLen = n
	c.mu.Unlock()
	return n
}

func (c *Channel) lag(ctx context.Context, adm *kadm.Client) (int, error) {
	ends, err := adm.ListEndOffsets(ctx, c.cfg.Topic)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, c.cfg.Topic)
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, c.cfg.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // nothing committed yet
	}
	if err != nil {
		return 0, err
	}
	total := int64(0)
	ends.Each(func(e kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok && s.Err == nil {
			from = s.Offset
		}
		if o, ok := committed.Lookup(e.Topic, e.Partition); ok && o.Err == nil && o.At >= 0 {
			from = max(from, o.At)
		}
		if e.Offset > from {
			total += e.Offset - from
		}
	})
	return int(total), nil
}

// backlog estimates the group's lag for a put of n events: the last
// measurement plus this channel's own puts and takes since, measured again
// when it is older than a second or the put would not fit by the estimate.
// Other agents' puts are seen within a second, so capacity is a soft bound
// across agents and an exact one for a single agent.
func (c *Channel) backlog(n int) (int, error) {
	c.mu.Lock()
	est := max(c.lagBase+c.putsSince-c.takesSince, 0)
	fresh := !c.lagAt.IsZero() && clock.Since(c.clk, c.lagAt) < time.Second
	adm := c.adm
	c.mu.Unlock()
	if fresh && est+n <= c.cfg.Capacity {
		return est, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := c.lag(ctx, adm)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.lagBase, c.putsSince, c.takesSince, c.lagAt = lag, 0, 0, c.clk.Now()
	c.mu.Unlock()
	return lag, nil
}

// Begin starts a transaction.
func (c *Channel) Begin() (channel.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.cl == nil {
		return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
	}
	return &txn{c: c}, nil
}

type txn struct {
	c     *Channel
	puts  []event.Event
	takes []*kgo.Record
	gens  map[int32]int // partition generation at take time
	done  bool
}

func (t *txn) Put(events []event.Event) error {
	if t.done {
		return channel.ErrTxnDone
	}
	t.c.counter.EventPutAttemptCount.Add(int64(len(events)))
	if len(t.puts)+len(events) > t.c.TransactionCapacity() {
		return channel.TxnCapacityError(t.c.name, "put", t.c.TransactionCapacity())
	}
	t.puts = append(t.puts, events...)
	return nil
}

func (t *txn) Take(max int) ([]event.Event, error) {
	if t.done {
		return nil, channel.ErrTxnDone
	}
	if max <= 0 {
		return nil, nil
	}
	c := t.c
	if len(t.takes)+max > c.TransactionCapacity() {
		return nil, channel.TxnCapacityError(c.name, "take", c.TransactionCapacity())
	}
	start := c.clk.Now()
	recs, err := c.take(t, max)
	c.getMs.Add(clock.Since(c.clk, start).Milliseconds())
	if err != nil {
		return nil, err
	}
	out := make([]event.Event, 0, len(recs))
	for _, r := range recs {
		e, err := c.decode(r)
		if err != nil {
			// A record that is not a Flume event cannot be delivered and
			// must not stop the channel: it is skipped (committed with the
			// take) and logged.
			c.log.Error("kafka channel: skipping a record that is not an Avro Flume event (is parseAsFlumeEvent right?)",
				"partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		out = append(out, e)
	}
	attempts := int64(len(out))
	if len(out) < max {
		attempts++
	}
	c.counter.EventTakeAttemptCount.Add(attempts)
	return out, nil
}

// holdLocked makes recs part of t's takes, with the generation of their
// partitions, so commits and revokes account for them.
func (t *txn) holdLocked(recs []*kgo.Record) {
	c := t.c
	if t.gens == nil {
		t.gens = map[int32]int{}
	}
	for _, r := range recs {
		if st, ok := c.parts[r.Partition]; ok {
			t.gens[r.Partition] = st.gen
		}
	}
	t.takes = append(t.takes, recs...)
	c.takers[t] = struct{}{}
}

func (c *Channel) decode(r *kgo.Record) (event.Event, error) {
	if !c.cfg.ParseAsFlumeEvent {
		return event.Event{Body: r.Value}, nil
	}
	return flumekafka.DecodeEvent(r.Value)
}

// take hands out up to max records to t: first those already fetched,
// then a non-blocking poll, then, while records are known to be on the way
// (or the member has not joined yet), polls for up to pollTimeout.
//
// A record leaves the queue and joins t's takes in one step under c.mu, so
// an offset commit computed meanwhile always sees it (in the queue or held
// by a taker) and never moves the group's offset past a record that is
// handed out but not yet committed.
func (c *Channel) take(t *txn, max int) ([]*kgo.Record, error) {
	var out []*kgo.Record
	deadline := c.clk.Now().Add(c.cfg.PollTimeout)
	for first := true; ; first = false {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
		}
		n := min(max-len(out), len(c.queue))
		if n > 0 {
			got := c.queue[:n]
			c.queue = c.queue[n:]
			t.holdLocked(got)
			out = append(out, got...)
		}
		cl := c.cl
		wait := c.pendingLocked()
		c.mu.Unlock()
		if len(out) == max {
			return out, nil
		}
		remaining := deadline.Sub(c.clk.Now())
		if !first && (!wait || remaining <= 0) {
			return out, nil
		}
		var fs kgo.Fetches
		c.pollMu.Lock()
		if first || remaining <= 0 {
			fs = cl.PollRecords(nil, max-len(out))
		} else {
			// Short slices, so that the wait ends as soon as the member has
			// joined and found nothing pending.
			ctx, cancel := context.WithTimeout(context.Background(), min(remaining, pollSlice))
			fs = cl.PollRecords(ctx, max-len(out))
			cancel()
		}
		// Absorbed under pollMu: two polls absorbed in the other order
		// would queue records out of order and move the partition's fetch
		// position back, so that records known to exist would never be
		// fetched again and every take would wait for them (the livelock
		// of a drain that never converges).
		err := c.absorb(fs)
		c.pollMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

const pollSlice = 50 * time.Millisecond

// pendingLocked reports whether records are known to exist beyond what was
// fetched, or the member has no assignment yet.
func (c *Channel) pendingLocked() bool {
	if !c.assigned {
		return true
	}
	for _, st := range c.parts {
		if st.next < 0 && !st.probed {
			return true // where it starts is not known yet
		}
		if st.end > 0 && (st.next < 0 || st.next < st.end) {
			return true
		}
	}
	return false
}

// absorb queues fetched records of owned partitions.
func (c *Channel) absorb(fs kgo.Fetches) error {
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			ferr = fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
			return
		}
		c.log.Warn("kafka channel: fetch error", "topic", t, "partition", p, "err", err)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		st, ok := c.parts[p.Partition]
		if p.Topic != c.cfg.Topic || !ok {
			return
		}
		if p.HighWatermark > st.end {
			st.end = p.HighWatermark
		}
		// Records come in fetch order (absorbed under pollMu). An offset
		// below next is not skipped: the client fetches again only after a
		// reset (a truncated partition, "lost records"), and what it finds
		// there now is what the partition holds.
		for _, r := range p.Records {
			c.queue = append(c.queue, r)
			st.next = r.Offset + 1
		}
	})
	return ferr
}

func (t *txn) Commit() error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	c.mu.Lock()
	closed, cl := c.closed, c.cl
	c.mu.Unlock()
	if closed || cl == nil {
		return fmt.Errorf("channel %s: commit: %w", c.name, channel.ErrClosed)
	}
	if len(t.puts) > 0 {
		if err := t.commitPuts(cl); err != nil {
			return err
		}
	}
	if len(t.takes) > 0 {
		if err := t.commitTakes(cl); err != nil {
			return err
		}
	}
	c.counter.EventPutSuccessCount.Add(int64(len(t.puts)))
	c.counter.EventTakeSuccessCount.Add(int64(len(t.takes)))
	t.done = true
	t.puts, t.takes = nil, nil
	return nil
}

func (t *txn) commitPuts(cl *kgo.Client) error {
	c := t.c
	if c.cfg.Capacity > 0 {
		lag, err := c.backlog(len(t.puts))
		if err != nil {
			return fmt.Errorf("channel %s: measure backlog for capacity %d: %w", c.name, c.cfg.Capacity, err)
		}
		if lag+len(t.puts) > c.cfg.Capacity {
			return fmt.Errorf("channel %s: %d events behind in consumer group %s, capacity %d; sinks are likely not keeping up: %w",
				c.name, lag, c.cfg.Group, c.cfg.Capacity, channel.ErrFull)
		}
	}
	recs := make([]*kgo.Record, len(t.puts))
	for i, e := range t.puts {
		r := &kgo.Record{Topic: c.cfg.Topic, Partition: c.cfg.DefaultPartition}
		if k, ok := e.Headers["key"]; ok {
			r.Key = []byte(k)
		}
		if c.cfg.PartitionIDHeader != "" {
			if v, ok := e.Headers[c.cfg.PartitionIDHeader]; ok {
				if p, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil && p >= 0 {
					r.Partition = int32(p)
				}
			}
		}
		if c.cfg.ParseAsFlumeEvent {
			r.Value = flumekafka.AppendEvent(make([]byte, 0, flumekafka.EncodedSize(e)), e)
		} else {
			r.Value = e.Body
		}
		recs[i] = r
	}
	timeout := c.cfg.Producer.DeliveryTimeout
	if timeout <= 0 {
		timeout = flumekafka.DefaultDeliveryTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := c.clk.Now()
	res := cl.ProduceSync(ctx, recs...)
	c.sendMs.Add(clock.Since(c.clk, start).Milliseconds())
	failed := 0
	var first error
	for _, pr := range res {
		if pr.Err != nil {
			failed++
			if first == nil {
				first = pr.Err
			}
		}
	}
	c.mu.Lock()
	c.putsSince += len(res) - failed
	for _, pr := range res {
		if pr.Err == nil {
			if st, ok := c.parts[pr.Record.Partition]; ok && pr.Record.Offset+1 > st.end {
				st.end = pr.Record.Offset + 1
			}
		}
	}
	c.mu.Unlock()
	if first != nil {
		return fmt.Errorf("channel %s: put commit: %d of %d records not acknowledged (acknowledged ones will be duplicated by the retry), first: %w",
			c.name, failed, len(recs), first)
	}
	return nil
}

func (t *txn) commitTakes(cl *kgo.Client) error {
	c := t.c
	// Computing and sending under commitMu keeps the group's offset
	// monotonic: two take commits racing to the broker could otherwise land
	// in the opposite order and move it back, re-delivering what was
	// taken, and leave the group's lag (Len) above zero for ever once
	// nothing is left to commit (a drain that never ends).
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	var parts []int32
	for p, g := range t.gens {
		if st, ok := c.parts[p]; ok && st.gen == g {
			parts = append(parts, p)
		}
	}
	// t stays a taker until the commit succeeded: a commit made meanwhile
	// (a revoke) must not move the offset past its records.
	offs := c.committableLocked(parts, t)
	c.mu.Unlock()
	if len(offs) == 0 {
		// The partitions moved to another member, which re-delivers, or
		// another transaction's commit already covered these records.
		c.mu.Lock()
		delete(c.takers, t)
		c.takesSince += len(t.takes)
		c.mu.Unlock()
		return nil
	}
	timeout := c.cfg.CommitTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := c.clk.Now()
	var cerr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.cfg.Topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, tp := range resp.Topics {
				for _, p := range tp.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = fmt.Errorf("partition %d: %w", p.Partition, e)
					}
				}
			}
		})
	c.commMs.Add(clock.Since(c.clk, start).Milliseconds())
	if cerr != nil {
		return fmt.Errorf("channel %s: commit offsets of group %s: %w", c.name, c.cfg.Group, cerr)
	}
	c.mu.Lock()
	delete(c.takers, t)
	c.takesSince += len(t.takes)
	for p, o := range offs {
		if _, ok := c.parts[p]; ok && o.Offset > c.committed[p] {
			c.committed[p] = o.Offset
		}
	}
	c.mu.Unlock()
	return nil
}

func (t *txn) Rollback() error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	c.mu.Lock()
	delete(c.takers, t)
	var back []*kgo.Record
	for _, r := range t.takes {
		if st, ok := c.parts[r.Partition]; ok && st.gen == t.gens[r.Partition] {
			back = append(back, r)
		}
	}
	if len(back) > 0 {
		c.queue = append(back, c.queue...)
	}
	c.mu.Unlock()
	if len(t.takes) > 0 {
		c.rolls.Inc()
	}
	t.done = true
	t.puts, t.takes = nil, nil
	return nil
}

// partitioner: an explicit partition (Record.Partition >= 0) wins, else
// the Java client's: murmur2 of the key, sticky without one.
type partitioner struct{ inner kgo.Partitioner }

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return topicPartitioner{p.inner.ForTopic(t)}
}

type topicPartitioner struct{ inner kgo.TopicPartitioner }

func (p topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.inner.RequiresConsistency(r)
}

func (p topicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 && int(r.Partition) < n {
		return int(r.Partition)
	}
	return p.inner.Partition(r, n)
}

func (p topicPartitioner) OnNewBatch() {
	if o, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		o.OnNewBatch()
	}
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Channel,
		Name:    "kafka",
		Aliases: []string{"org.apache.flume.channel.kafka.KafkaChannel"},
		Factory: registry.ChannelFactory(func(env registry.Env, r *config.Reader) (channel.Channel, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, env.Clock, env.Metrics, env.Log), nil
		}),
	})
}
