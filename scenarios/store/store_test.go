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
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/sink/kafka"
	"github.com/sluicehq/sluice/engine/vfs"
)

func reader(kv ...string) *config.Reader {
	c := &config.Component{Kind: config.KindSink, Name: "k", Props: map[string]config.Property{}}
	for i := 0; i < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1]}
	}
	return config.NewReader("collector", c)
}

// priorityFailover is a stand-in for the failover sink processor (another
// package's work): the highest-priority sink that has not failed in the
// last penalty batches takes each batch; a failure switches to the next.
type priorityFailover struct {
	sinks    []sink.Sink // by priority, highest first
	failedAt []int
	penalty  int
	batch    int
	timeline []string
}

func (p *priorityFailover) process(t *testing.T) {
	p.batch++
	for i, s := range p.sinks {
		if p.failedAt[i] > 0 && p.batch-p.failedAt[i] < p.penalty {
			continue
		}
		if _, err := s.Process(context.Background()); err != nil {
			if p.failedAt[i] == 0 {
				p.timeline = append(p.timeline, fmt.Sprintf("batch %d: %s failed: %v", p.batch, s.Name(), err))
			}
			p.failedAt[i] = p.batch
			continue
		}
		if p.failedAt[i] > 0 {
			p.timeline = append(p.timeline, fmt.Sprintf("batch %d: %s recovered", p.batch, s.Name()))
			p.failedAt[i] = 0
		}
		p.timeline = append(p.timeline, "batch "+fmt.Sprint(p.batch)+": "+s.Name())
		return
	}
	t.Fatalf("batch %d: every sink failed", p.batch)
}

// The seed collector tier in miniature: failover hdfsSink(100) ->
// kafkaSink(80). The HDFS store's disk fills up, so batches land in Kafka;
// the disk is freed, and traffic fails back to HDFS. Both stores together
// hold every event; the HDFS sink returning an error (not Flume's BACKOFF)
// is what makes the switch happen.
func TestSeedCollectorFailoverAcrossStores(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "trade")
	mem := vfs.NewMem(nil)
	clk := clock.NewManual(time.Date(2026, 3, 5, 14, 0, 0, 0, time.UTC))
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity, mc.KeepAlive = 10000, 100, 0
	ch := memory.New("fileChannel", mc, clk, nil, nil)
	ch.Start()
	defer ch.Stop()

	hcfg, err := hdfs.ParseConfig(reader("hdfs.path", "file:///flume/trade/%Y%m%d", "hdfs.filePrefix", "trade",
		"hdfs.batchSize", "50", "hdfs.fileType", "DataStream", "hdfs.rollSize", "0", "hdfs.rollCount", "0"))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hdfs.New("hdfsSink", hcfg, ch, registry.Env{Clock: clk, FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	kcfg, err := kafka.ParseConfig(reader("kafka.bootstrap.servers", strings.Join(c.Addrs, ","), "kafka.topic", "trade",
		"flumeBatchSize", "50", "kafka.producer.acks", "all", "useFlumeEventFormat", "true"))
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := kafka.New("kafkaSink", kcfg, ch, clk, nil, nil)
	for _, s := range []sink.Sink{hs, ks} {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const total = 1500
	for i := 0; i < total; i += 100 {
		var evs []event.Event
		for j := i; j < i+100; j++ {
			evs = append(evs, event.Event{Headers: map[string]string{"timestamp": "1772719200000"}, Body: []byte(fmt.Sprintf("w1-%d", j))})
		}
		channeltest.Put(t, ch, evs)
	}
	fo := &priorityFailover{sinks: []sink.Sink{hs, ks}, failedAt: make([]int, 2), penalty: 4}
	for i := 0; i < 6; i++ {
		fo.process(t)
	}
	mem.SetCapacity(mem.Used()) // the HDFS disk is full
	for i := 0; i < 8; i++ {
		fo.process(t)
	}
	mem.SetCapacity(0) // healed
	for ch.Len() > 0 {
		fo.process(t)
	}
	for _, s := range []sink.Sink{hs, ks} {
		s.Stop(context.Background())
	}

	both := Multi{HDFSDir{Label: "hdfs", FS: mem, Dir: "/flume/trade"}, KafkaTopic{Label: "kafka", Brokers: c.Addrs, Topic: "trade", FlumeFormat: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds, err := both.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tally := Tally(ds)
	perStore := map[string]int{}
	dups := 0
	for i := 0; i < total; i++ {
		b := fmt.Sprintf("w1-%d", i)
		if tally.Times[b] == 0 {
			t.Fatalf("%s lost (timeline:\n%s)", b, strings.Join(fo.timeline, "\n"))
		}
		dups += tally.Times[b] - 1
		for s := range tally.Stores[b] {
			perStore[s]++
		}
	}
	if len(tally.Times) != total {
		t.Fatalf("%d distinct events in the stores, want %d", len(tally.Times), total)
	}
	tl := strings.Join(fo.timeline, "\n")
	if perStore["kafka"] == 0 || !strings.Contains(tl, "hdfsSink failed") || !strings.Contains(tl, "hdfsSink recovered") {
		t.Fatalf("no failover to Kafka and back:\n%s", tl)
	}
	last := fo.timeline[len(fo.timeline)-1]
	if !strings.HasSuffix(last, "hdfsSink") {
		t.Fatalf("traffic did not fail back to HDFS; last batch: %s", last)
	}
	t.Logf("%d events: %d in HDFS, %d in Kafka, 0 lost, %d duplicated", total, perStore["hdfs"], perStore["kafka"], dups)
}
