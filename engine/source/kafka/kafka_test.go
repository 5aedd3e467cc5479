package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/sink/kafka"
	"github.com/sluicehq/sluice/engine/source"
)

func reader(kind config.Kind, kv ...string) *config.Reader {
	c := &config.Component{Kind: kind, Name: "x", Type: "kafka", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	for i := 0; i < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1], Pos: config.Position{File: "agent.conf", Line: i/2 + 2}}
	}
	return config.NewReader("a1", c)
}

func memChannel(t testing.TB, capacity int) channel.Channel {
	c := memory.DefaultConfig()
	c.Capacity, c.TransactionCapacity, c.KeepAlive = capacity, min(capacity, 1000), 0
	ch := memory.New("c1", c, nil, nil, nil)
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

func newSource(t testing.TB, ch channel.Channel, kv ...string) (*Source, *metrics.Registry) {
	t.Helper()
	cfg, err := ParseConfig(reader(config.KindSource, kv...))
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := selector.NewReplicating([]channel.Channel{ch}, nil)
	reg := metrics.NewRegistry(nil)
	s := New("r1", cfg, &source.ChannelProcessor{Selector: sel}, nil, reg, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, reg
}

// produce writes n events to topic through the Kafka sink.
func produce(t *testing.T, addrs []string, topic string, from, n int, flumeFormat bool) {
	t.Helper()
	ch := memChannel(t, 100000)
	var evs []event.Event
	for i := from; i < from+n; i++ {
		evs = append(evs, event.Event{Headers: map[string]string{"id": fmt.Sprint(i), "key": "k"}, Body: []byte(fmt.Sprintf("e-%d", i))})
	}
	for len(evs) > 0 {
		k := min(len(evs), 1000)
		channeltest.Put(t, ch, evs[:k])
		evs = evs[k:]
	}
	cfg, err := kafka.ParseConfig(reader(config.KindSink, "kafka.bootstrap.servers", strings.Join(addrs, ","), "kafka.topic", topic,
		"useFlumeEventFormat", fmt.Sprint(flumeFormat), "kafka.producer.acks", "all", "flumeBatchSize", "500"))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kafka.New("k1", cfg, ch, nil, nil, nil)
	k.Start(context.Background())
	defer k.Stop(context.Background())
	for ch.Len() > 0 {
		if _, err := k.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func drainSource(t *testing.T, s *Source, ch channel.Channel, want int, seen map[string]event.Event) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < want {
		if time.Now().After(deadline) {
			t.Fatalf("read %d distinct events of %d", len(seen), want)
		}
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, e := range channeltest.Take(t, ch, ch.TransactionCapacity()) {
			seen[string(e.Body)] = e
		}
	}
}

// A pipeline reads back what it wrote: Kafka sink -> topic -> Kafka source,
// with Flume's Avro event format keeping the headers, plus the source's own.
func TestReadsBackWhatTheSinkWrote(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "t")
	produce(t, c.Addrs, "t", 0, 500, true)
	ch := memChannel(t, 10000)
	s, reg := newSource(t, ch, "kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topics", "t",
		"useFlumeEventFormat", "true", "batchSize", "100", "batchDurationMillis", "200")
	seen := map[string]event.Event{}
	drainSource(t, s, ch, 500, seen)
	e := seen["e-7"]
	if e.Headers["id"] != "7" || e.Headers["topic"] != "t" || e.Headers["key"] != "k" || e.Headers["partition"] == "" || e.Headers["offset"] == "" || e.Headers["timestamp"] == "" {
		t.Fatalf("headers %v", e.Headers)
	}
	g, _ := reg.Lookup("SOURCE.r1")
	if v, _ := g.Get("EventAcceptedCount"); v != "500" {
		t.Fatalf("EventAcceptedCount %s", v)
	}
}

// A full channel holds the batch in the source (no offsets committed) and
// delivers it once there is room; a restart then resumes after the last
// committed batch without losing any record.
func TestBackPressureAndRestart(t *testing.T) {
	c := kafkatest.New(t, 1, 1, "t")
	produce(t, c.Addrs, "t", 0, 300, false)
	ch := memChannel(t, 50)
	kv := []string{"kafka.bootstrap.servers", c.Addrs[0], "kafka.topics", "t", "batchSize", "40", "batchDurationMillis", "200",
		"kafka.consumer.group.id", "g1"}
	s, reg := newSource(t, ch, kv...)
	seen := map[string]event.Event{}
	// Fill the channel: the second batch does not fit.
	for ch.Len() == 0 {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.Process(context.Background()); err != nil || st != source.Backoff {
		t.Fatalf("full channel: %v %v, want BACKOFF", st, err)
	}
	g, _ := reg.Lookup("SOURCE.r1")
	if v, _ := g.Get("ChannelWriteFail"); v == "0" {
		t.Fatal("ChannelWriteFail not counted")
	}
	for _, e := range channeltest.Take(t, ch, ch.TransactionCapacity()) {
		seen[string(e.Body)] = e
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, e := range channeltest.Take(t, ch, ch.TransactionCapacity()) {
			seen[string(e.Body)] = e
		}
	}
	s.Stop(context.Background())
	s2, _ := newSource(t, ch, kv...)
	drainSource(t, s2, ch, 300, seen)
	for i := 0; i < 300; i++ {
		if _, ok := seen[fmt.Sprintf("e-%d", i)]; !ok {
			t.Fatalf("e-%d lost across back-pressure and restart", i)
		}
	}
}

func TestConfig(t *testing.T) {
	r := reader(config.KindSource, "kafka.bootstrap.servers", "h:1", "topic", "old", "groupId", "g", "zookeeperConnect", "zk")
	cfg, err := ParseConfig(r)
	if err != nil || cfg.Topics[0] != "old" || cfg.Group != "g" || cfg.BatchSize != 1000 || cfg.BatchDuration != time.Second || !cfg.SetTopicHeader {
		t.Fatalf("%+v %v", cfg, err)
	}
	if len(r.Unused()) != 0 {
		t.Fatalf("unused %v", r.Unused())
	}
	if _, err := ParseConfig(reader(config.KindSource, "kafka.bootstrap.servers", "h:1")); err == nil || !strings.Contains(err.Error(), "kafka.topics") {
		t.Fatalf("missing topics: %v", err)
	}
	if _, err := ParseConfig(reader(config.KindSource, "kafka.bootstrap.servers", "h:1", "kafka.topics.regex", "(")); err == nil {
		t.Fatal("bad regex accepted")
	}
}
