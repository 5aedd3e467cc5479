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
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/processor"
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

// The seed collector tier in miniature, through the real failover
// processor on a manual clock: hdfsSink(100) -> kafkaSink(80). The HDFS
// store's disk fills up, so batches land in Kafka; the disk is freed, and
// after its penalty traffic fails back to HDFS. Both stores together hold
// every event; the HDFS sink returning an error (not Flume's BACKOFF) is
// what makes the switch happen.
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
	reg := metrics.NewRegistry(clk)
	fo := processor.NewFailover(registry.Env{Clock: clk, Metrics: reg}, "g1", []sink.Sink{hs, ks},
		processor.FailoverConfig{Priority: map[string]int{"hdfsSink": 100, "kafkaSink": 80}})
	var timeline []string
	step := func() {
		if _, err := fo.Process(context.Background()); err != nil {
			t.Fatalf("failover group: %v", err)
		}
		if n := len(timeline); n == 0 || !strings.HasSuffix(timeline[n-1], fo.Active()) {
			timeline = append(timeline, fmt.Sprintf("%v active %s", clk.Now().Format("15:04:05"), fo.Active()))
		}
	}
	for i := 0; i < 6; i++ {
		step()
	}
	mem.SetCapacity(mem.Used()) // the HDFS disk is full
	for i := 0; i < 8; i++ {
		step()
		clk.Advance(500 * time.Millisecond)
	}
	mem.SetCapacity(0) // healed: after its penalty HDFS takes over again
	for ch.Len() > 0 {
		step()
		clk.Advance(500 * time.Millisecond)
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
			t.Fatalf("%s lost (timeline:\n%s)", b, strings.Join(timeline, "\n"))
		}
		dups += tally.Times[b] - 1
		for s := range tally.Stores[b] {
			perStore[s]++
		}
	}
	if len(tally.Times) != total {
		t.Fatalf("%d distinct events in the stores, want %d", len(tally.Times), total)
	}
	tl := strings.Join(timeline, "\n")
	if perStore["kafka"] == 0 || len(timeline) < 3 || !strings.HasSuffix(timeline[1], "kafkaSink") {
		t.Fatalf("no failover to Kafka:\n%s", tl)
	}
	if !strings.HasSuffix(timeline[len(timeline)-1], "hdfsSink") {
		t.Fatalf("traffic did not fail back to HDFS:\n%s", tl)
	}
	g, _ := reg.Lookup("SINKGROUP.g1")
	fos, _ := g.Get("FailoverCount")
	fbs, _ := g.Get("FailbackCount")
	t.Logf("timeline:\n%s\nFailoverCount %s FailbackCount %s", tl, fos, fbs)
	t.Logf("%d events: %d in HDFS, %d in Kafka, 0 lost, %d duplicated", total, perStore["hdfs"], perStore["kafka"], dups)
}
