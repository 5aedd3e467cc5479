package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/sink/kafka"
	"github.com/sluicehq/sluice/engine/vfs"
)

func batch(from, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{Headers: map[string]string{"timestamp": "1772719200000"}, Body: []byte(fmt.Sprintf("t-%d", from+i))}
	}
	return out
}

// The HDFS tailer reports each event once, when it first appears, although
// files grow under their in-use name and are then renamed.
func TestHDFSTail(t *testing.T) {
	mem := vfs.NewMem(nil)
	clk := clock.NewManual(time.Date(2026, 3, 5, 14, 0, 0, 0, time.UTC))
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity = 1000, 100
	ch := memory.New("c", mc, clk, nil, nil)
	ch.Start()
	defer ch.Stop()
	cfg, err := hdfs.ParseConfig(reader("hdfs.path", "file:///s/%Y", "hdfs.fileType", "DataStream", "hdfs.rollCount", "25", "hdfs.rollSize", "0", "hdfs.batchSize", "10"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := hdfs.New("h", cfg, ch, registry.Env{Clock: clk, FS: mem})
	s.Start(context.Background())
	tail := &HDFSTail{Dir: HDFSDir{FS: mem, Dir: "/s"}}
	total := map[string]int{}
	for round := 0; round < 6; round++ {
		channeltest.Put(t, ch, batch(round*10, 10))
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		ds, err := tail.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 10 {
			t.Fatalf("round %d: %d new deliveries, want 10", round, len(ds))
		}
		for _, d := range ds {
			total[string(d.Event.Body)]++
		}
	}
	s.Stop(context.Background()) // renames the last file
	ds, _ := tail.Poll(context.Background())
	if len(ds) != 0 {
		t.Fatalf("the rename at close delivered %d events again", len(ds))
	}
	for i := 0; i < 60; i++ {
		if total[fmt.Sprintf("t-%d", i)] != 1 {
			t.Fatalf("t-%d delivered %d times", i, total[fmt.Sprintf("t-%d", i)])
		}
	}
}

// kafkaTail is a tail of topic "k" on a one-broker kfake cluster, and a
// function that sends events there through a Kafka sink (Flume's event
// format).
func kafkaTail(t *testing.T) (*KafkaTail, func([]event.Event)) {
	t.Helper()
	c := kafkatest.New(t, 1, 2, "k")
	tail := &KafkaTail{Topic: KafkaTopic{Brokers: c.Addrs, Topic: "k", FlumeFormat: true}}
	t.Cleanup(func() { tail.Close() })
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity = 1000, 100
	ch := memory.New("c", mc, nil, nil, nil)
	ch.Start()
	t.Cleanup(func() { ch.Stop() })
	cfg, _ := kafka.ParseConfig(reader("kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "k", "useFlumeEventFormat", "true"))
	s, _ := kafka.New("k", cfg, ch, nil, nil, nil)
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(context.Background()) })
	return tail, func(evs []event.Event) {
		t.Helper()
		channeltest.Put(t, ch, evs)
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKafkaTail(t *testing.T) {
	tail, send := kafkaTail(t)
	got := map[string]int{}
	for round := 0; round < 3; round++ {
		send(batch(round*50, 50))
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < (round+1)*50 && time.Now().Before(deadline) {
			ds, err := tail.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				got[string(d.Event.Body)]++
			}
		}
	}
	for i := 0; i < 150; i++ {
		if got[fmt.Sprintf("t-%d", i)] != 1 {
			t.Fatalf("t-%d seen %d times", i, got[fmt.Sprintf("t-%d", i)])
		}
	}
}

// A final read returns exactly what the tail never returned: records
// already polled are not delivered twice, records the tail missed are.
func TestKafkaTailRecheck(t *testing.T) {
	tail, send := kafkaTail(t)
	got := map[string]int{}
	send(batch(0, 50))
	for deadline := time.Now().Add(20 * time.Second); len(got) < 50 && time.Now().Before(deadline); {
		ds, err := tail.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			got[string(d.Event.Body)]++
		}
	}
	// Written after the last poll: only the final read can find them.
	send(batch(50, 30))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ds, err := tail.Recheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 30 {
		t.Fatalf("final read returned %d records, want the 30 the tail had not polled", len(ds))
	}
	for _, d := range ds {
		got[string(d.Event.Body)]++
	}
	for i := 0; i < 80; i++ {
		if got[fmt.Sprintf("t-%d", i)] != 1 {
			t.Fatalf("t-%d seen %d times", i, got[fmt.Sprintf("t-%d", i)])
		}
	}
	if ds, _ := tail.Recheck(ctx); len(ds) != 0 {
		t.Fatalf("a second final read returned %d records, want none", len(ds))
	}
}

// A tail that has returned nothing for a while although the topic holds
// records it never read replaces its client, and the new one's reads do
// not deliver again what was read before.
func TestKafkaTailReplacesAStalledClient(t *testing.T) {
	tail, send := kafkaTail(t)
	send(batch(0, 40))
	got := 0
	for deadline := time.Now().Add(20 * time.Second); got < 40 && time.Now().Before(deadline); {
		ds, err := tail.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got += len(ds)
	}
	// Nothing missing: the client is kept.
	for range 3 {
		tail.lastCheck = time.Time{}
		if ds, _ := tail.Poll(context.Background()); len(ds) != 0 || tail.Restarts != 0 {
			t.Fatalf("a tail with nothing missing: %d records, %d restarts; want none", len(ds), tail.Restarts)
		}
	}
	// As if its fetches had stopped short of a partition's end: short at
	// one check is not yet stalled (records may be on the way), short at
	// the next with no progress is.
	tail.mu.Lock()
	for p := range tail.next {
		tail.next[p] = 0
	}
	tail.lastCheck = time.Time{}
	tail.mu.Unlock()
	if ds, _ := tail.Poll(context.Background()); len(ds) != 0 || tail.Restarts != 0 {
		t.Fatalf("a tail short of the end at one check: %d records, %d restarts; want none", len(ds), tail.Restarts)
	}
	tail.lastCheck = time.Time{}
	if ds, _ := tail.Poll(context.Background()); len(ds) != 0 || tail.Restarts != 1 {
		t.Fatalf("a stalled tail: %d records, %d restarts; want none and one", len(ds), tail.Restarts)
	}
	for deadline := time.Now().Add(20 * time.Second); tail.Reread < 40 && time.Now().Before(deadline); {
		ds, err := tail.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 0 {
			t.Fatalf("the new client delivered %d records again", len(ds))
		}
	}
	if tail.Reread < 40 {
		t.Fatalf("the new client read %d of the 40 records again, want all", tail.Reread)
	}
}
