package flumekafka

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/config"
)

// Brokers splits a bootstrap.servers list (comma or space separated).
func Brokers(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// Defaults Sluice applies where franz-go's own differ from the Java client's
// in a way that matters to a sink group: franz-go retries a record forever
// by default, which would hide a dead cluster from a failover processor.
const (
	DefaultDeliveryTimeout = 120 * time.Second // Java delivery.timeout.ms
	DefaultRequestTimeout  = 30 * time.Second  // Java request.timeout.ms
)

// props reads Kafka client properties under prefix (e.g. "kafka.producer.")
// and reports errors and notes on the full key.
type props struct {
	r      *config.Reader
	prefix string
	m      map[string]string
	done   map[string]bool
}

func newProps(r *config.Reader, prefix string, m map[string]string) *props {
	return &props{r: r, prefix: prefix, m: m, done: map[string]bool{}}
}

func (p *props) get(k string) (string, bool) {
	v, ok := p.m[k]
	p.done[k] = true
	return strings.TrimSpace(v), ok
}

func (p *props) millis(k string, apply func(time.Duration)) {
	v, ok := p.get(k)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		p.r.Errorf(p.prefix+k, "%q is not a number of milliseconds >= 0", v)
		return
	}
	apply(time.Duration(n) * time.Millisecond)
}

func (p *props) int32(k string, min int64, apply func(int32)) {
	v, ok := p.get(k)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < min {
		p.r.Errorf(p.prefix+k, "%q is not an integer >= %d", v, min)
		return
	}
	apply(int32(n))
}

// ignore accepts keys that have no franz-go equivalent or that Sluice
// sets itself, with a note saying so.
func (p *props) ignore(why string, keys ...string) {
	for _, k := range keys {
		if _, ok := p.get(k); ok {
			p.r.Notef(config.Note, p.prefix+k, "kafka-property-ignored", "", "%s", why)
		}
	}
}

// rest warns about every property nobody read.
func (p *props) rest() {
	keys := make([]string, 0, len(p.m))
	for k := range p.m {
		if !p.done[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.r.Notef(config.Warning, p.prefix+k, "kafka-property-unsupported", "remove it, or ask for it to be supported",
			"Sluice's Kafka client (franz-go) has no equivalent of Kafka property %s; it is not applied", k)
	}
}

func (p *props) common(opts *[]kgo.Opt) {
	if v, ok := p.get("client.id"); ok && v != "" {
		*opts = append(*opts, kgo.ClientID(v))
	}
	if v, ok := p.get("security.protocol"); ok && !strings.EqualFold(v, "PLAINTEXT") {
		p.r.Errorf(p.prefix+"security.protocol", "%q is not supported yet; Sluice speaks PLAINTEXT to Kafka", v)
	}
	if v, ok := p.get("bootstrap.servers"); ok && v != "" {
		*opts = append(*opts, kgo.SeedBrokers(Brokers(v)...))
	}
	p.millis("metadata.max.age.ms", func(d time.Duration) {
		// franz-go also rate-limits refreshes to one per 5 s, which is what
		// bounds how fast a failing batch gives up; a shorter max age
		// lowers that floor too.
		*opts = append(*opts, kgo.MetadataMaxAge(d), kgo.MetadataMinAge(min(d, 5*time.Second)))
	})
	p.millis("connections.max.idle.ms", func(d time.Duration) { *opts = append(*opts, kgo.ConnIdleTimeout(d)) })
	p.millis("retry.backoff.ms", func(d time.Duration) {
		*opts = append(*opts, kgo.RetryBackoffFn(func(int) time.Duration { return d }))
	})
	p.ignore("franz-go manages reconnect backoff itself", "reconnect.backoff.ms", "reconnect.backoff.max.ms")
	p.ignore("franz-go sizes socket buffers itself", "send.buffer.bytes", "receive.buffer.bytes")
}

// Acks is the parsed acks property.
type Acks int

const (
	AcksNone   Acks = 0
	AcksLeader Acks = 1
	AcksAll    Acks = -1
)

func (a Acks) String() string {
	switch a {
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	}
	return "all"
}

// Producer is what ProducerOpts reads.
type Producer struct {
	Opts []kgo.Opt
	Acks Acks
	// DeliveryTimeout bounds one batch (delivery.timeout.ms). The caller
	// applies it as a context deadline: franz-go measures its own record
	// timeout from the record timestamp, which timestampHeader may set far
	// in the past.
	DeliveryTimeout time.Duration
}

// ProducerOpts maps producer properties (the keys under prefix, read with
// r.Prefix) to franz-go options. def is the acks default (Flume's sink uses
// "1", its channel "all").
func ProducerOpts(r *config.Reader, prefix string, m map[string]string, def Acks) Producer {
	p := newProps(r, prefix, m)
	var opts []kgo.Opt
	p.common(&opts)
	acks := def
	if v, ok := p.get("acks"); ok {
		switch strings.ToLower(v) {
		case "all", "-1":
			acks = AcksAll
		case "1":
			acks = AcksLeader
		case "0":
			acks = AcksNone
		default:
			r.Errorf(prefix+"acks", "%q is not valid; use all, -1, 1 or 0", v)
		}
	}
	idempotent := acks == AcksAll
	if v, ok := p.get("enable.idempotence"); ok {
		switch strings.ToLower(v) {
		case "false":
			idempotent = false
		case "true":
			if acks != AcksAll {
				r.Errorf(prefix+"enable.idempotence", "idempotence needs acks=all (acks is %s)", acks)
			}
		default:
			r.Errorf(prefix+"enable.idempotence", "%q is not a boolean", v)
		}
	}
	switch acks {
	case AcksAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	} else {
		// A batch must fail within delivery.timeout.ms, so a failover group
		// can switch, even when a broker vanished with a request in flight;
		// the price is a possible duplicate when the batch is retried.
		opts = append(opts, kgo.AllowIdempotentProduceCancellation())
	}
	p.millis("linger.ms", func(d time.Duration) { opts = append(opts, kgo.ProducerLinger(d)) })
	if v, ok := p.get("compression.type"); ok {
		switch strings.ToLower(v) {
		case "none", "":
			opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
		case "gzip":
			opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
		case "snappy":
			opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
		case "lz4":
			opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
		case "zstd":
			opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
		default:
			r.Errorf(prefix+"compression.type", "%q is not valid; use none, gzip, snappy, lz4 or zstd", v)
		}
	} else {
		// The Java client does not compress unless asked; franz-go would
		// pick snappy.
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	p.int32("max.request.size", 1024, func(n int32) {
		opts = append(opts, kgo.ProducerBatchMaxBytes(n))
		if n > 100<<20 {
			opts = append(opts, kgo.BrokerMaxWriteBytes(n+1<<20))
		}
	})
	delivery, request := DefaultDeliveryTimeout, DefaultRequestTimeout
	p.millis("delivery.timeout.ms", func(d time.Duration) { delivery = d })
	p.millis("request.timeout.ms", func(d time.Duration) { request = d })
	opts = append(opts, kgo.ProduceRequestTimeout(request))
	p.int32("retries", 0, func(n int32) { opts = append(opts, kgo.RecordRetries(int(n))) })
	p.int32("max.in.flight.requests.per.connection", 1, func(n int32) {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(int(n)))
	})
	if v, ok := p.get("buffer.memory"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			r.Errorf(prefix+"buffer.memory", "%q is not a positive number of bytes", v)
		} else {
			opts = append(opts, kgo.MaxBufferedBytes(int(n)))
		}
	}
	p.ignore("franz-go sizes each batch itself, up to max.request.size", "batch.size")
	p.ignore("Sluice sets the serializers itself (String keys, byte-array values, as Flume does)", "key.serializer", "value.serializer")
	p.ignore("Sluice partitions as Flume does (key hash, partitionIdHeader, defaultPartitionId)", "partitioner.class")
	p.ignore("franz-go blocks only the caller's context", "max.block.ms")
	p.rest()
	return Producer{Opts: opts, Acks: acks, DeliveryTimeout: delivery}
}

// ConsumerOpts maps consumer properties to franz-go options; the caller
// removes group.id from m and sets the group itself. Auto-commit is always
// off: offsets are committed with the channel transaction.
func ConsumerOpts(r *config.Reader, prefix string, m map[string]string, defaultReset string) []kgo.Opt {
	p := newProps(r, prefix, m)
	opts := []kgo.Opt{kgo.DisableAutoCommit()}
	p.common(&opts)
	reset := defaultReset
	if v, ok := p.get("auto.offset.reset"); ok {
		reset = strings.ToLower(v)
	}
	switch reset {
	case "earliest":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	case "latest":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	case "none":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	default:
		r.Errorf(prefix+"auto.offset.reset", "%q is not valid; use earliest, latest or none", reset)
	}
	p.millis("session.timeout.ms", func(d time.Duration) { opts = append(opts, kgo.SessionTimeout(d)) })
	p.millis("heartbeat.interval.ms", func(d time.Duration) { opts = append(opts, kgo.HeartbeatInterval(d)) })
	p.millis("max.poll.interval.ms", func(d time.Duration) { opts = append(opts, kgo.RebalanceTimeout(d)) })
	p.millis("fetch.max.wait.ms", func(d time.Duration) { opts = append(opts, kgo.FetchMaxWait(d)) })
	p.int32("fetch.min.bytes", 1, func(n int32) { opts = append(opts, kgo.FetchMinBytes(n)) })
	p.int32("fetch.max.bytes", 1, func(n int32) { opts = append(opts, kgo.FetchMaxBytes(n)) })
	p.int32("max.partition.fetch.bytes", 1, func(n int32) { opts = append(opts, kgo.FetchMaxPartitionBytes(n)) })
	if v, ok := p.get("isolation.level"); ok {
		switch strings.ToLower(v) {
		case "read_committed":
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		case "read_uncommitted":
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
		default:
			r.Errorf(prefix+"isolation.level", "%q is not valid; use read_committed or read_uncommitted", v)
		}
	}
	if v, ok := p.get("partition.assignment.strategy"); ok {
		var bs []kgo.GroupBalancer
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			switch s[strings.LastIndexByte(s, '.')+1:] {
			case "RangeAssignor", "range":
				bs = append(bs, kgo.RangeBalancer())
			case "RoundRobinAssignor", "roundrobin":
				bs = append(bs, kgo.RoundRobinBalancer())
			case "StickyAssignor", "sticky":
				bs = append(bs, kgo.StickyBalancer())
			case "CooperativeStickyAssignor", "cooperative-sticky":
				bs = append(bs, kgo.CooperativeStickyBalancer())
			default:
				r.Errorf(prefix+"partition.assignment.strategy", "%q is not valid; use RangeAssignor, RoundRobinAssignor, StickyAssignor or CooperativeStickyAssignor", s)
			}
		}
		if len(bs) > 0 {
			opts = append(opts, kgo.Balancers(bs...))
		}
	}
	if v, ok := p.get("enable.auto.commit"); ok && strings.EqualFold(v, "true") {
		r.Notef(config.Warning, prefix+"enable.auto.commit", "kafka-auto-commit", "remove it",
			"Sluice commits offsets only with the transaction that delivered the records; enable.auto.commit=true is ignored (it would lose records on a crash)")
	}
	p.ignore("Sluice bounds each poll by the batch size", "max.poll.records")
	p.ignore("Sluice sets the deserializers itself", "key.deserializer", "value.deserializer")
	p.ignore("franz-go commits only when Sluice asks", "auto.commit.interval.ms")
	p.rest()
	return opts
}

// Deprecated notes a deprecated key of Flume's Kafka components that
// Sluice still reads, and the key that replaces it.
func Deprecated(r *config.Reader, old, cur string) {
	r.Notef(config.Note, old, "deprecated-key", "use "+cur, "%s is deprecated in Flume; use %s", old, cur)
}
