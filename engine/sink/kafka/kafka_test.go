package kafka

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/sinktest"
)

func reader(kv ...string) *config.Reader {
	c := &config.Component{Kind: config.KindSink, Name: "k1", Type: "kafka", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	for i := 0; i < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1], Pos: config.Position{File: "agent.conf", Line: i/2 + 1}}
	}
	return config.NewReader("a1", c)
}

func newSink(t testing.TB, ch channel.Channel, kv ...string) (*Sink, *metrics.Registry) {
	t.Helper()
	r := reader(kv...)
	cfg, err := ParseConfig(r)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	reg := metrics.NewRegistry(nil)
	s, err := New("k1", cfg, ch, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, reg
}

func memChannel(t testing.TB) channel.Channel {
	c := memory.DefaultConfig()
	c.Capacity, c.TransactionCapacity, c.KeepAlive = 100000, 1000, 0
	ch := memory.New("c1", c, nil, nil, nil)
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

func put(t testing.TB, ch channel.Channel, events ...event.Event) {
	t.Helper()
	for len(events) > 0 {
		n := min(len(events), ch.TransactionCapacity())
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Put(events[:n]); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		events = events[n:]
	}
}

func drain(t testing.TB, s *Sink, ch channel.Channel) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for ch.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events left after 60s", ch.Len())
		}
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatalf("Process: %v", err)
		}
	}
}

// The shared sink contract, against three brokers with acks=all; the
// broken destination rejects every produce.
func TestContract(t *testing.T) {
	var c *kafkatest.Cluster
	var fault *kfake.FaultHandle
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T, ch channel.Channel, batch int) sink.Sink {
			c = kafkatest.New(t, 3, 1, "events")
			s, _ := newSink(t, ch, "kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "events",
				"flumeBatchSize", strconv.Itoa(batch), "kafka.producer.acks", "all", "useFlumeEventFormat", "true")
			return s
		},
		Delivered: func(t *testing.T) []event.Event {
			var out []event.Event
			for _, r := range c.Read(t, "events", true) {
				out = append(out, r.Event)
			}
			return out
		},
		Break: func(t *testing.T) {
			fault = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "events", Err: kerr.PolicyViolation, Count: -1})
		},
		Heal:        func(t *testing.T) { fault.Remove() },
		HeadersKept: true,
	})
}

func TestConfig(t *testing.T) {
	r := reader("brokerList", "h1:9092,h2:9092", "topic", "t1", "batchSize", "7", "requiredAcks", "-1",
		"kafka.flumeBatchSize", "3000", "kafka.producer.linger.ms", "5", "kafka.producer.compression.type", "lz4",
		"kafka.producer.max.request.size", "2097152", "kafka.producer.frobnicate", "1",
		"header.host", "origin-host", "defaultPartitionId", "2", "timestampHeader", "ts")
	cfg, err := ParseConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Brokers, " ") != "h1:9092 h2:9092" || cfg.Topic != "t1" || cfg.BatchSize != 7 || cfg.Producer.Acks != flumekafka.AcksAll {
		t.Fatalf("deprecated aliases not honoured: %+v", cfg)
	}
	if cfg.DefaultPartition != 2 || cfg.TimestampHeader != "ts" || cfg.Headers["host"] != "origin-host" || !cfg.AllowTopicOverride || cfg.TopicHeader != "topic" {
		t.Fatalf("config %+v", cfg)
	}
	rules := map[string]bool{}
	for _, n := range r.Notes() {
		rules[n.Rule+" "+n.Key] = true
	}
	for _, want := range []string{"deprecated-key a1.sinks.k1.brokerList",
		"kafka-property-unsupported a1.sinks.k1.kafka.producer.frobnicate"} {
		if !rules[want] {
			t.Errorf("missing finding %q in %v", want, rules)
		}
	}
	if rules["kafka-acks a1.sinks.k1.kafka.producer.acks"] {
		t.Error("acks=all warned about")
	}
	if len(r.Unused()) != 0 {
		t.Errorf("keys not read: %v", r.Unused())
	}

	// Flume's default acks is 1: sluice check must say it can lose data.
	r = reader("kafka.bootstrap.servers", "h:1")
	cfg, err = ParseConfig(r)
	if err != nil || cfg.Producer.Acks != flumekafka.AcksLeader || cfg.BatchSize != 100 || cfg.Topic != "default-flume-topic" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	warned := false
	for _, n := range r.Notes() {
		warned = warned || (n.Rule == "kafka-acks" && n.Severity == config.Warning)
	}
	if !warned {
		t.Fatal("no warning for acks=1")
	}

	for _, bad := range [][]string{
		{"kafka.topic", "t"},
		{"kafka.bootstrap.servers", "h:1", "kafka.producer.acks", "2"},
		{"kafka.bootstrap.servers", "h:1", "flumeBatchSize", "-1"},
		{"kafka.bootstrap.servers", "h:1", "kafka.producer.compression.type", "brotli"},
		{"kafka.bootstrap.servers", "h:1", "kafka.topic", "%[nohost]"},
	} {
		if _, err := ParseConfig(reader(bad...)); err == nil || !strings.Contains(err.Error(), "agent.conf") {
			t.Errorf("%v: error %v should name the file and key", bad, err)
		}
	}
}

func TestRecordFields(t *testing.T) {
	c := kafkatest.New(t, 1, 4, "main", "other", "by-host-web1")
	ch := memChannel(t)
	s, reg := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "main",
		"partitionIdHeader", "p", "timestampHeader", "ts", "header.host", "x-host", "kafka.producer.acks", "all")
	put(t, ch,
		event.Event{Headers: map[string]string{"key": "k1", "p": "3", "ts": "1700000000123", "host": "web1"}, Body: []byte("a")},
		event.Event{Headers: map[string]string{"topic": "other"}, Body: []byte("b")},
		event.Event{Headers: map[string]string{"p": "not-a-number"}, Body: []byte("c")},
		event.Event{Headers: map[string]string{"p": "99"}, Body: []byte("d")},
	)
	drain(t, s, ch)
	main := c.Read(t, "main", false)
	if len(main) != 3 {
		t.Fatalf("main has %d records, want 3", len(main))
	}
	byBody := map[string]flumekafka.Record{}
	for _, r := range main {
		byBody[string(r.Event.Body)] = r
	}
	a := byBody["a"]
	if string(a.Key) != "k1" || a.Partition != 3 || a.Headers["x-host"] != "web1" {
		t.Fatalf("record a: %+v", a)
	}
	if _, ok := byBody["c"]; !ok {
		t.Fatal("event with a bad partition header was not delivered")
	}
	if _, ok := byBody["d"]; !ok {
		t.Fatal("event naming a missing partition was not delivered")
	}
	if other := c.Read(t, "other", false); len(other) != 1 || string(other[0].Event.Body) != "b" {
		t.Fatalf("topic header override: %+v", other)
	}
	g, _ := reg.Lookup("SINK.k1")
	if v, _ := g.Get("EventHeaderIgnoredCount"); v != "1" {
		t.Errorf("EventHeaderIgnoredCount = %s, want 1", v)
	}
	if v, _ := g.Get("InvalidPartitionCount"); v != "1" {
		t.Errorf("InvalidPartitionCount = %s, want 1", v)
	}
	if v, _ := g.Get("EventDrainSuccessCount"); v != "4" {
		t.Errorf("EventDrainSuccessCount = %s", v)
	}
}

func TestRecordTimestampAndKeyHashing(t *testing.T) {
	c := kafkatest.New(t, 1, 8, "t")
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "t", "timestampHeader", "ts")
	var evs []event.Event
	for i := 0; i < 40; i++ {
		evs = append(evs, event.Event{Headers: map[string]string{"key": "same-key", "ts": "1700000000123"}, Body: []byte(strconv.Itoa(i))})
	}
	put(t, ch, evs...)
	drain(t, s, ch)
	recs := c.Read(t, "t", false)
	if len(recs) != 40 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if r.Partition != recs[0].Partition {
			t.Fatal("records with the same key landed on different partitions")
		}
		if string(r.Event.Body) != strconv.Itoa(i) {
			t.Fatalf("order within the key's partition broken at %d: %s", i, r.Event.Body)
		}
	}
	for _, r := range recs {
		if r.Timestamp.UnixMilli() != 1700000000123 {
			t.Fatalf("record timestamp %v, want the header's", r.Timestamp)
		}
	}
}

func TestTopicEscapes(t *testing.T) {
	c := kafkatest.New(t, 1, 1, "logs-web", "logs-", "fixed-%{svc}")
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "logs-%{svc}")
	put(t, ch, event.Event{Headers: map[string]string{"svc": "web"}, Body: []byte("1")},
		event.Event{Body: []byte("2")})
	drain(t, s, ch)
	if got := c.Read(t, "logs-web", false); len(got) != 1 {
		t.Fatalf("logs-web: %d", len(got))
	}
	if got := c.Read(t, "logs-", false); len(got) != 1 {
		t.Fatalf("logs-: %d", len(got))
	}
	// allowTopicOverride=false: the literal topic, no header, no escapes.
	ch2 := memChannel(t)
	s2, _ := newSink(t, ch2, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "fixed-%{svc}", "allowTopicOverride", "false")
	put(t, ch2, event.Event{Headers: map[string]string{"svc": "web", "topic": "logs-web"}, Body: []byte("3")})
	drain(t, s2, ch2)
	if got := c.Read(t, "fixed-%{svc}", false); len(got) != 1 {
		t.Fatalf("literal topic: %d", len(got))
	}
}

// A cluster that refuses every produce with a retriable error (every
// broker unreachable as far as the producer can tell) must turn into an
// error within delivery.timeout.ms, with the batch rolled back; after it
// heals, everything arrives.
func TestOutageRollsBackThenHeals(t *testing.T) {
	c := kafkatest.New(t, 3, 2, "t")
	ch := memChannel(t)
	s, reg := newSink(t, ch, "kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "t",
		"flumeBatchSize", "50", "kafka.producer.acks", "all", "kafka.producer.delivery.timeout.ms", "1500",
		"kafka.producer.request.timeout.ms", "1000", "kafka.producer.metadata.max.age.ms", "1000")
	put(t, ch, evs("e", 0, 120)...)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	for i := 0; i < 2; i++ {
		start := time.Now()
		_, err := s.Process(context.Background())
		if err == nil {
			t.Fatal("Process succeeded while every produce failed")
		}
		t.Logf("failed batch after %v: %v", time.Since(start), err)
		if ch.Len() != 120 {
			t.Fatalf("channel holds %d after a failed batch, want 120", ch.Len())
		}
	}
	g, _ := reg.Lookup("SINK.k1")
	if v, _ := g.Get("RollbackCount"); v != "2" {
		t.Errorf("RollbackCount = %s", v)
	}
	// Each failed batch replaces the producer: the retry starts afresh.
	if v, _ := g.Get("ConnectionCreatedCount"); v != "3" {
		t.Errorf("ConnectionCreatedCount = %s after two failed batches, want 3", v)
	}
	if v, _ := g.Get("ConnectionClosedCount"); v != "2" {
		t.Errorf("ConnectionClosedCount = %s after two failed batches, want 2", v)
	}
	f.Remove()
	drain(t, s, ch)
	checkAll(t, c.Read(t, "t", false), "e", 120)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Get("ConnectionClosedCount"); v != "3" {
		t.Errorf("ConnectionClosedCount = %s after Stop, want 3", v)
	}
}

// One partition failing fails the whole batch: the channel keeps all of it
// even though the other partition's records were written.
func TestPartialFailureFailsBatch(t *testing.T) {
	c := kafkatest.New(t, 1, 2, "t")
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "t", "partitionIdHeader", "p",
		"kafka.producer.acks", "all")
	var batch []event.Event
	for i := 0; i < 10; i++ {
		batch = append(batch, event.Event{Headers: map[string]string{"p": strconv.Itoa(i % 2)}, Body: []byte("e-" + strconv.Itoa(i))})
	}
	put(t, ch, batch...)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{1}, Err: kerr.PolicyViolation, Count: -1})
	if _, err := s.Process(context.Background()); err == nil {
		t.Fatal("a batch with a failed partition was committed")
	}
	if ch.Len() != 10 {
		t.Fatalf("channel holds %d, want 10", ch.Len())
	}
	f.Remove()
	drain(t, s, ch)
	recs := c.Read(t, "t", false)
	seen := checkAll(t, recs, "e", 10)
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if dups != 5 {
		t.Logf("duplicates after the retry: %d (partition 0's half of the batch is sent twice)", dups)
	}
}

// Leaders move between brokers while batches flow: nothing is lost;
// duplicates are possible and reported.
func TestLeaderMovesUnderLoad(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "t")
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "t",
		"flumeBatchSize", "100", "kafka.producer.acks", "all", "kafka.producer.delivery.timeout.ms", "20000")
	const total = 3000
	put(t, ch, evs("m", 0, total)...)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	moves := 0
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			c.MoveTopicPartition("t", int32(i%3), int32((i/3)%3))
			c.ShufflePartitionLeaders()
			moves++
			// Let the producer get a produce request in between moves.
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
			h.Wait(ctx, 1)
			h.Remove()
		}
	}()
	errs := 0
	deadline := time.Now().Add(90 * time.Second)
	for ch.Len() > 0 && time.Now().Before(deadline) {
		if _, err := s.Process(context.Background()); err != nil {
			errs++
		}
	}
	stop()
	wg.Wait()
	if ch.Len() > 0 {
		t.Fatalf("%d events undelivered", ch.Len())
	}
	seen := checkAll(t, c.Read(t, "t", false), "m", total)
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d leader moves: %d events, 0 lost, %d duplicates, %d failed batches", moves, total, dups, errs)
}

func evs(prefix string, from, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{Body: []byte(fmt.Sprintf("%s-%d", prefix, from+i))}
	}
	return out
}

// checkAll fails unless every prefix-i for i < n is among recs, and returns
// the delivery count of each body.
func checkAll(t *testing.T, recs []flumekafka.Record, prefix string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Event.Body)]++
	}
	for i := 0; i < n; i++ {
		if seen[fmt.Sprintf("%s-%d", prefix, i)] == 0 {
			t.Fatalf("%s-%d lost", prefix, i)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct bodies, want %d (unexpected records)", len(seen), n)
	}
	return seen
}

// BenchmarkProcess measures events/s of 1000-event batches into a
// three-broker kfake cluster with acks=all.
func BenchmarkProcess(b *testing.B) {
	c := kafkatest.New(b, 3, 6, "bench")
	ch := memChannel(b)
	s, _ := newSink(b, ch, "kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "bench",
		"flumeBatchSize", "1000", "kafka.producer.acks", "all")
	batch := make([]event.Event, 1000)
	body := []byte(strings.Repeat("x", 200))
	for i := range batch {
		batch[i] = event.Event{Headers: map[string]string{"id": strconv.Itoa(i)}, Body: body}
	}
	b.SetBytes(int64(len(body) * len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		put(b, ch, batch...)
		if _, err := s.Process(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}

// Network faults between the sink and a broker behind toxiproxy: a black
// hole (packets vanish, connections stay open) and connection resets. Each
// failed batch returns an error within delivery.timeout.ms plus franz-go's
// refresh floor (so a failover group can switch), the channel keeps the
// batch, and after the network heals every event arrives.
func TestNetworkFaultsThroughToxiproxy(t *testing.T) {
	p := kafkatest.NewProxied(t, 2, "t")
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", p.Addrs[0], "kafka.topic", "t", "flumeBatchSize", "50",
		"kafka.producer.acks", "all", "kafka.producer.delivery.timeout.ms", "2000", "kafka.producer.request.timeout.ms", "1000",
		"kafka.producer.metadata.max.age.ms", "1000")
	put(t, ch, evs("n", 0, 50)...)
	drain(t, s, ch) // connected and healthy
	faults := []struct{ name, toxic string }{
		{"blackhole", `{"name":"blackhole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`},
		{"reset", `{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`},
	}
	for _, f := range faults {
		heal := p.Toxic(t, f.toxic)
		put(t, ch, evs(f.name, 0, 100)...)
		start := time.Now()
		_, err := s.Process(context.Background())
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s: batch committed through a dead network", f.name)
		}
		if took > 15*time.Second {
			t.Fatalf("%s: the failed batch took %v; a failover group would wait that long", f.name, took)
		}
		if ch.Len() != 100 {
			t.Fatalf("%s: channel holds %d, want 100", f.name, ch.Len())
		}
		t.Logf("%s: batch failed after %v: %v", f.name, took.Round(time.Millisecond), err)
		heal()
		drain(t, s, ch)
	}
	seen := map[string]int{}
	for _, r := range p.Read(t, "t", false) {
		seen[string(r.Event.Body)]++
	}
	for _, prefix := range []string{"n", "blackhole", "reset"} {
		n := 100
		if prefix == "n" {
			n = 50
		}
		for i := 0; i < n; i++ {
			if seen[fmt.Sprintf("%s-%d", prefix, i)] == 0 {
				t.Fatalf("%s-%d lost", prefix, i)
			}
		}
	}
}

// Producer properties are applied: compressed, lingering batches arrive
// intact, and a record over max.request.size fails the batch (rolled back)
// instead of vanishing.
func TestProducerProperties(t *testing.T) {
	c := kafkatest.New(t, 1, 1, "t")
	for _, codec := range []string{"gzip", "snappy", "lz4", "zstd"} {
		ch := memChannel(t)
		s, _ := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "t", "kafka.producer.acks", "all",
			"kafka.producer.compression.type", codec, "kafka.producer.linger.ms", "20")
		put(t, ch, evs(codec, 0, 200)...)
		drain(t, s, ch)
	}
	seen := map[string]int{}
	for _, r := range c.Read(t, "t", false) {
		seen[string(r.Event.Body)]++
	}
	if len(seen) != 800 {
		t.Fatalf("%d distinct records, want 800", len(seen))
	}
	ch := memChannel(t)
	s, _ := newSink(t, ch, "kafka.bootstrap.servers", c.Addrs[0], "kafka.topic", "t", "kafka.producer.max.request.size", "2048")
	put(t, ch, event.Event{Body: []byte(strings.Repeat("x", 4096))})
	if _, err := s.Process(context.Background()); err == nil {
		t.Fatal("a record over max.request.size was reported delivered")
	}
	if ch.Len() != 1 {
		t.Fatal("the oversized event left the channel")
	}
}
