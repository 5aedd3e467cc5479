package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/clock"
	_ "github.com/sluicehq/sluice/engine/components"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"
)

// A Flume properties file using Flume's class names, checked and run by the
// agent: Kafka source -> Kafka channel -> HDFS sink (file://). Everything
// written to the input topic is read back from the HDFS store, and after
// Stop no file is left under its in-use name.
func TestAgentKafkaToHDFS(t *testing.T) {
	c := kafkatest.New(t, 3, 3, "in", "buf")
	produce(t, c, "in", 400)
	dir := t.TempDir()
	conf := fmt.Sprintf(`
collector.sources = kin
collector.channels = kc
collector.sinks = hdfsSink
collector.sources.kin.type = org.apache.flume.source.kafka.KafkaSource
collector.sources.kin.kafka.bootstrap.servers = %[1]s
collector.sources.kin.kafka.topics = in
collector.sources.kin.batchSize = 100
collector.sources.kin.batchDurationMillis = 100
collector.sources.kin.channels = kc
collector.channels.kc.type = org.apache.flume.channel.kafka.KafkaChannel
collector.channels.kc.kafka.bootstrap.servers = %[1]s
collector.channels.kc.kafka.topic = buf
collector.channels.kc.kafka.consumer.group.id = collector
collector.channels.kc.kafka.pollTimeout = 200
collector.sinks.hdfsSink.type = hdfs
collector.sinks.hdfsSink.channel = kc
collector.sinks.hdfsSink.hdfs.path = file://%[2]s/trade/%%Y%%m%%d
collector.sinks.hdfsSink.hdfs.filePrefix = trade
collector.sinks.hdfsSink.hdfs.fileType = DataStream
collector.sinks.hdfsSink.hdfs.batchSize = 100
collector.sinks.hdfsSink.hdfs.rollCount = 150
collector.sinks.hdfsSink.runner.maxBackoff = 200
`, strings.Join(c.Addrs, ","), dir)
	props, err := config.ParseProperties("collector.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "collector", config.Options{})
	env := registry.Env{Agent: "collector", Clock: clock.Real(), FS: vfs.OS{}, Metrics: metrics.NewRegistry(nil), Hostname: "box"}
	for _, f := range agent.Lint(cfg, env) {
		if f.Severity == config.Error {
			t.Fatalf("lint error: %s", f)
		}
	}
	a := agent.New(cfg, env)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	store := HDFSDir{Dir: dir + "/trade"}
	deadline := time.Now().Add(60 * time.Second)
	var got Count
	for time.Now().Before(deadline) {
		ds, err := store.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got = Tally(ds); len(got.Times) == 400 {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the store, with a deadline
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if got.Times[fmt.Sprintf("e-%d", i)] == 0 {
			t.Fatalf("e-%d not in the HDFS store (%d distinct events there)", i, len(got.Times))
		}
	}
	// After Stop every file is closed and renamed.
	ds, _ := store.Read(context.Background())
	for _, d := range ds {
		if strings.HasSuffix(d.Where, ".tmp") {
			t.Fatalf("%s left in use after the agent stopped", d.Where)
		}
	}
}

// produce writes n bodies e-0..e-(n-1) to topic.
func produce(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("e-%d", i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
