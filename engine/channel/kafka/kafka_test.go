package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
	kafkasink "github.com/sluicehq/sluice/engine/sink/kafka"
)

func reader(kv ...string) *config.Reader {
	c := &config.Component{Kind: config.KindChannel, Name: "kc", Type: "kafka", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	for i := 0; i < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1], Pos: config.Position{File: "agent.conf", Line: i/2 + 2}}
	}
	return config.NewReader("a1", c)
}

func newChannel(t testing.TB, addrs []string, kv ...string) *Channel {
	t.Helper()
	kv = append([]string{"kafka.bootstrap.servers", strings.Join(addrs, ","), "kafka.topic", "buf",
		"kafka.pollTimeout", "5000", "kafka.consumer.session.timeout.ms", "6000", "kafka.consumer.heartbeat.interval.ms", "500"}, kv...)
	cfg, err := ParseConfig(reader(kv...))
	if err != nil {
		t.Fatal(err)
	}
	return New("kc", cfg, nil, nil, nil)
}

// The shared channel contract, on a one-partition topic (the contract's
// FIFO order is per partition in Kafka), with Reopen as a new channel
// instance on the same topic and group.
func TestContract(t *testing.T) {
	var mu sync.Mutex
	clusters := map[channel.Channel]*kafkatest.Cluster{}
	channeltest.Run(t, channeltest.Suite{
		New: func(t *testing.T, cfg channeltest.Config) channel.Channel {
			c := kafkatest.New(t, 3, 1, "buf")
			ch := newChannel(t, c.Addrs, "capacity", strconv.Itoa(cfg.Capacity), "transactionCapacity", strconv.Itoa(cfg.TransactionCapacity))
			mu.Lock()
			clusters[ch] = c
			mu.Unlock()
			return ch
		},
		Reopen: func(t *testing.T, ch channel.Channel) channel.Channel {
			ch.Stop()
			mu.Lock()
			c := clusters[ch]
			mu.Unlock()
			k := ch.(*Channel)
			re := newChannel(t, c.Addrs, "capacity", strconv.Itoa(k.cfg.Capacity), "transactionCapacity", strconv.Itoa(k.cfg.TransactionCapacity))
			mu.Lock()
			clusters[re] = c // a reopened channel can be reopened again
			mu.Unlock()
			return re
		},
	})
}

func TestConfig(t *testing.T) {
	r := reader("brokerList", "h1:9092", "topic", "t", "groupId", "g", "readSmallestOffset", "false",
		"pollTimeout", "100", "zookeeperConnect", "zk:2181", "kafka.producer.acks", "1", "parseAsFlumeEvent", "false")
	cfg, err := ParseConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Topic != "t" || cfg.Group != "g" || cfg.ParseAsFlumeEvent || cfg.PollTimeout != 500*time.Millisecond {
		t.Fatalf("%+v", cfg)
	}
	rules := map[string]bool{}
	for _, n := range r.Notes() {
		rules[n.Rule] = true
	}
	for _, want := range []string{"deprecated-key", "kafka-acks"} {
		if !rules[want] {
			t.Errorf("no %s finding: %v", want, rules)
		}
	}
	if u := r.Unused(); len(u) != 0 {
		t.Errorf("unread keys %v", u)
	}
	cfg, err = ParseConfig(reader("kafka.bootstrap.servers", "h:1"))
	if err != nil || cfg.Topic != "flume-channel" || cfg.Group != "flume" || !cfg.ParseAsFlumeEvent || cfg.Producer.Acks != flumekafka.AcksAll {
		t.Fatalf("defaults %+v %v", cfg, err)
	}
	if _, err := ParseConfig(reader("kafka.topic", "x")); err == nil || !strings.Contains(err.Error(), "kafka.bootstrap.servers") {
		t.Fatalf("missing servers: %v", err)
	}
}

// Events put through the channel are Flume's Avro events on the topic, so
// a Java Flume agent (or the Kafka source) reads them back with headers.
func TestTopicHoldsFlumeEvents(t *testing.T) {
	c := kafkatest.New(t, 1, 1, "buf")
	ch := newChannel(t, c.Addrs)
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	channeltest.Put(t, ch, []event.Event{{Headers: map[string]string{"h": "v", "key": "k"}, Body: []byte("body")}})
	recs := c.Read(t, "buf", true)
	if len(recs) != 1 || recs[0].Event.Headers["h"] != "v" || string(recs[0].Event.Body) != "body" || string(recs[0].Key) != "k" {
		t.Fatalf("%+v", recs)
	}
}

// A cluster refusing produces makes the put commit fail (the source
// retries); a cluster refusing offset commits makes the take commit fail
// and the rollback returns the events. Nothing is lost once it heals.
func TestFaults(t *testing.T) {
	c := kafkatest.New(t, 3, 1, "buf")
	ch := newChannel(t, c.Addrs, "kafka.producer.delivery.timeout.ms", "1000", "kafka.producer.request.timeout.ms", "1000",
		"kafka.consumer.default.api.timeout.ms", "1000", "kafka.producer.metadata.max.age.ms", "1000")
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	tx, _ := ch.Begin()
	tx.Put(evs("f", 0, 5))
	start := time.Now()
	if err := tx.Commit(); err == nil {
		t.Fatal("put committed while Kafka refused every produce")
	}
	t.Logf("put commit failed after %v", time.Since(start))
	tx.Rollback()
	f.Remove()
	channeltest.Put(t, ch, evs("f", 0, 5))

	tx, _ = ch.Begin()
	got, err := tx.Take(5)
	if err != nil || len(got) != 5 {
		t.Fatalf("take %d %v", len(got), err)
	}
	f = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorNotAvailable, Count: -1})
	if err := tx.Commit(); err == nil {
		t.Fatal("take committed while offset commits fail")
	}
	tx.Rollback()
	f.Remove()
	again := channeltest.Take(t, ch, 10)
	if len(again) != 5 || string(again[0].Body) != "f-0" {
		t.Fatalf("after rollback: %d events", len(again))
	}
}

// Producers and consumers run while partition leaders move around the
// cluster: every event put is taken at least once; duplicates are counted.
func TestLeaderMovesUnderLoad(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "buf")
	ch := newChannel(t, c.Addrs, "kafka.pollTimeout", "200")
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	ctx, stop := context.WithCancel(context.Background())
	var movers sync.WaitGroup
	movers.Add(1)
	go func() {
		defer movers.Done()
		for i := 0; ctx.Err() == nil; i++ {
			c.MoveTopicPartition("buf", int32(i%3), int32((i/3)%3))
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
			h.Wait(ctx, 1)
			h.Remove()
		}
	}()
	const producers, per, batch = 3, 400, 20
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; {
				tx, err := ch.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				tx.Put(evs("p"+strconv.Itoa(p), i, batch))
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					continue // retried, as a source does
				}
				i += batch
			}
		}(p)
	}
	wg.Wait()
	seen := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < producers*per && time.Now().Before(deadline) {
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tx.Take(50)
		if err != nil {
			tx.Rollback()
			continue
		}
		if err := tx.Commit(); err != nil {
			tx.Rollback()
			continue
		}
		for _, e := range got {
			seen[string(e.Body)]++
		}
	}
	stop()
	movers.Wait()
	dups := 0
	for p := 0; p < producers; p++ {
		for i := 0; i < per; i++ {
			n := seen[fmt.Sprintf("p%d-%d", p, i)]
			if n == 0 {
				t.Fatalf("p%d-%d lost", p, i)
			}
			dups += n - 1
		}
	}
	t.Logf("%d events through a channel with moving leaders: 0 lost, %d duplicates", producers*per, dups)
}

func evs(prefix string, from, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{Body: []byte(prefix + "-" + strconv.Itoa(from+i))}
	}
	return out
}

// Scenario 2 in-process: sources put into a Kafka channel while a Kafka sink
// drains it into another topic; a broker is taken out and brought back and
// leaders are shuffled under load. Nothing is lost; duplicates are counted.
func TestPipelineThroughBrokerOutage(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "buf", "out")
	ch := newChannel(t, c.Addrs, "kafka.pollTimeout", "200", "kafka.producer.metadata.max.age.ms", "1000",
		"kafka.consumer.default.api.timeout.ms", "5000", "kafka.producer.delivery.timeout.ms", "5000")
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	scfg, err := kafkasink.ParseConfig(reader("kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "out",
		"flumeBatchSize", "50", "kafka.producer.acks", "all", "kafka.producer.delivery.timeout.ms", "5000",
		"kafka.producer.metadata.max.age.ms", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	sreg := metrics.NewRegistry(nil)
	k, _ := kafkasink.New("k1", scfg, ch, nil, sreg, nil)
	k.Start(context.Background())
	defer k.Stop(context.Background())

	const producers, per, batch = 2, 600, 20
	var wg sync.WaitGroup
	putErrs := 0
	var mu sync.Mutex
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; {
				tx, err := ch.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				tx.Put(evs("s"+strconv.Itoa(p), i, batch))
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					mu.Lock()
					putErrs++
					mu.Unlock()
					continue
				}
				i += batch
			}
		}(p)
	}
	ctx, stop := context.WithCancel(context.Background())
	var nemesis sync.WaitGroup
	nemesis.Add(1)
	go func() {
		defer nemesis.Done()
		step := func() bool {
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
			defer h.Remove()
			return h.Wait(ctx, 3) == nil
		}
		// A broker outage: every request to the node has its connection
		// closed (a dead broker), and the controller moves the node's
		// leaderships to the others; then the broker comes back.
		for round := 0; round < 4 && ctx.Err() == nil; round++ {
			node := c.LeaderFor("buf", int32(round%3))
			var down atomic.Bool
			down.Store(true)
			c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if !down.Load() {
					c.DropControl()
					return nil, nil, false
				}
				if c.CurrentNode() == node {
					return nil, errors.New("broker down"), true
				}
				return nil, nil, false
			})
			t.Logf("%v: broker %d down", time.Now().Format("15:04:05.000"), node)
			for _, topic := range []string{"buf", "out"} {
				for p := int32(0); p < 3; p++ {
					if c.LeaderFor(topic, p) == node {
						c.MoveTopicPartition(topic, p, (node+1)%3)
					}
				}
			}
			ok := step()
			down.Store(false)
			if !ok {
				return
			}
			c.ShufflePartitionLeaders()
			if !step() {
				return
			}
		}
	}()
	sinkErrs := 0
	deadline := time.Now().Add(90 * time.Second)
	produced := make(chan struct{})
	go func() { wg.Wait(); close(produced) }()
	for time.Now().Before(deadline) {
		st, err := k.Process(context.Background())
		if err != nil {
			if sinkErrs < 5 {
				t.Logf("sink batch failed at %v: %v", time.Now().Format("15:04:05.000"), err)
			}
			sinkErrs++
			continue
		}
		if st == sink.Backoff {
			select {
			case <-produced:
				lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				n, err := ch.lag(lctx, ch.adm)
				cancel()
				if err == nil && n == 0 {
					deadline = time.Time{}
				}
			default:
			}
		}
	}
	stop()
	nemesis.Wait()
	<-produced
	seen := map[string]int{}
	for _, r := range c.Read(t, "out", false) {
		seen[string(r.Event.Body)]++
	}
	dups := 0
	var lost []string
	for p := 0; p < producers; p++ {
		for i := 0; i < per; i++ {
			n := seen[fmt.Sprintf("s%d-%d", p, i)]
			if n == 0 {
				lost = append(lost, fmt.Sprintf("s%d-%d", p, i))
			}
			dups += n - 1
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d lost (first %v); sink errors %d", len(lost), lost[:min(5, len(lost))], sinkErrs)
	}
	if len(seen) != producers*per {
		t.Fatalf("%d distinct events, want %d", len(seen), producers*per)
	}
	g, _ := sreg.Lookup("SINK.k1")
	drained, _ := g.Get("EventDrainSuccessCount")
	t.Logf("broker outages and leader moves: %d events, 0 lost, %d duplicated (sink drained %s from the channel), %d failed puts retried, %d failed sink batches",
		producers*per, dups, drained, putErrs, sinkErrs)
}

// Two agents share one channel topic and consumer group, as collectors that
// spread buffering over a Kafka cluster do. Both take while one of them
// stops half-way (its partitions move to the other in a rebalance, with
// takes in flight): every event put is taken at least once.
func TestTwoMembersRebalance(t *testing.T) {
	c := kafkatest.New(t, 1, 4, "buf")
	a := newChannel(t, c.Addrs, "kafka.pollTimeout", "200")
	b := newChannel(t, c.Addrs, "kafka.pollTimeout", "200")
	for _, ch := range []*Channel{a, b} {
		if err := ch.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer a.Stop()
	const total = 2000
	for i := 0; i < total; i += 100 {
		channeltest.Put(t, a, evs("r", i, 100))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	take := func(ch *Channel, rollbackEvery int) int {
		tx, err := ch.Begin()
		if err != nil {
			return -1
		}
		got, err := tx.Take(30)
		if err != nil {
			tx.Rollback()
			return -1
		}
		if rollbackEvery > 0 && len(got) > 0 && len(got)%rollbackEvery == 0 {
			tx.Rollback()
			return 0
		}
		if err := tx.Commit(); err != nil {
			tx.Rollback()
			return 0
		}
		mu.Lock()
		for _, e := range got {
			seen[string(e.Body)]++
		}
		mu.Unlock()
		return len(got)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // member b takes a while, then leaves with a take in flight
		defer wg.Done()
		for i := 0; i < 10; i++ {
			take(b, 7)
		}
		tx, _ := b.Begin()
		tx.Take(30) // never committed: must be re-delivered to a
		b.Stop()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		take(a, 0)
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == total {
			break
		}
	}
	wg.Wait()
	dups := 0
	for i := 0; i < total; i++ {
		k := seen[fmt.Sprintf("r-%d", i)]
		if k == 0 {
			t.Fatalf("r-%d never taken (%d of %d seen)", i, len(seen), total)
		}
		dups += k - 1
	}
	t.Logf("two members, one leaving mid-take: %d events, 0 lost, %d taken twice", total, dups)
}
