package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/sink/kafka"
	"github.com/sluicehq/sluice/engine/vfs"
)

func init() {
	registerBench("kafka-sink", "Kafka sink events/s into an in-process Kafka cluster (kfake)", benchKafkaSink)
	registerBench("hdfs-sink", "HDFS sink events/s into a file:// directory (fsync per batch)", benchHDFSSink)
}

type storageFlags struct {
	events, size, batch, runs int
	extra                     []string
}

func parseStorageFlags(name string, args []string, stderr io.Writer, defBatch int) (storageFlags, bool) {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f storageFlags
	fs.IntVar(&f.events, "events", 200000, "events per run")
	fs.IntVar(&f.size, "size", 200, "event body bytes")
	fs.IntVar(&f.batch, "batch", defBatch, "sink batch size")
	fs.IntVar(&f.runs, "runs", 5, "runs; the median is reported")
	set := fs.String("set", "", "extra sink keys, key=value,key=value (e.g. kafka.producer.acks=1)")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	if *set != "" {
		for _, kv := range strings.Split(*set, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(stderr, "bench %s: -set %q: want key=value\n", name, kv)
				return f, false
			}
			f.extra = append(f.extra, k, v)
		}
	}
	return f, true
}

func storageReader(kind config.Kind, kv ...string) *config.Reader {
	c := &config.Component{Kind: kind, Name: "bench", Props: map[string]config.Property{}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1]}
	}
	return config.NewReader("bench", c)
}

func storageChannel(n, size, batch int) (channel.Channel, error) {
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity, mc.KeepAlive = n, max(batch, 1000), 0
	ch := memory.New("c1", mc, nil, nil, nil)
	if err := ch.Start(); err != nil {
		return nil, err
	}
	body := []byte(strings.Repeat("x", size))
	for i := 0; i < n; {
		k := min(n-i, ch.TransactionCapacity())
		evs := make([]event.Event, k)
		for j := range evs {
			evs[j] = event.Event{Headers: map[string]string{"timestamp": "1772719629123", "id": strconv.Itoa(i + j)}, Body: body}
		}
		tx, err := ch.Begin()
		if err != nil {
			return nil, err
		}
		if err := tx.Put(evs); err != nil {
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		i += k
	}
	return ch, nil
}

// drainRun times a sink draining a full channel.
func drainRun(s sink.Sink, ch channel.Channel) (time.Duration, error) {
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		return 0, err
	}
	defer s.Stop(ctx)
	start := time.Now()
	for ch.Len() > 0 {
		if _, err := s.Process(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func report(stdout io.Writer, name string, f storageFlags, times []time.Duration) {
	if len(f.extra) > 0 {
		var kv []string
		for i := 0; i+1 < len(f.extra); i += 2 {
			kv = append(kv, f.extra[i]+"="+f.extra[i+1])
		}
		name += " [" + strings.Join(kv, ",") + "]"
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	eps := float64(f.events) / med.Seconds()
	fmt.Fprintf(stdout, "%s: %d events of %d bytes, batch %d, %d runs: median %.0f events/s (%.1f MB/s); min %v max %v per run\n",
		name, f.events, f.size, f.batch, len(times), eps, eps*float64(f.size)/1e6, times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
}

func benchKafkaSink(args []string, stdout, stderr io.Writer) int {
	f, ok := parseStorageFlags("kafka-sink", args, stderr, 1000)
	if !ok {
		return 2
	}
	var times []time.Duration
	for run := 0; run < f.runs; run++ {
		c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, "bench"))
		if err != nil {
			fmt.Fprintln(stderr, "kfake:", err)
			return 1
		}
		ch, err := storageChannel(f.events, f.size, f.batch)
		if err != nil {
			c.Close()
			fmt.Fprintln(stderr, err)
			return 1
		}
		kv := append([]string{"kafka.bootstrap.servers", strings.Join(c.ListenAddrs(), ","), "kafka.topic", "bench",
			"flumeBatchSize", strconv.Itoa(f.batch), "kafka.producer.acks", "all"}, f.extra...)
		cfg, err := kafka.ParseConfig(storageReader(config.KindSink, kv...))
		if err != nil {
			c.Close()
			fmt.Fprintln(stderr, err)
			return 1
		}
		s, _ := kafka.New("k1", cfg, ch, nil, nil, nil)
		d, err := drainRun(s, ch)
		ch.Stop()
		c.Close()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		times = append(times, d)
	}
	report(stdout, "kafka-sink (3 kfake brokers, 6 partitions; acks=all unless -set)", f, times)
	return 0
}

func benchHDFSSink(args []string, stdout, stderr io.Writer) int {
	f, ok := parseStorageFlags("hdfs-sink", args, stderr, 1000)
	if !ok {
		return 2
	}
	var times []time.Duration
	for run := 0; run < f.runs; run++ {
		dir, err := os.MkdirTemp("", "sluice-bench-hdfs-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		ch, err := storageChannel(f.events, f.size, f.batch)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		kv := append([]string{"hdfs.path", "file://" + dir + "/%Y%m%d", "hdfs.fileType", "DataStream", "hdfs.batchSize", strconv.Itoa(f.batch),
			"hdfs.rollSize", strconv.Itoa(64 << 20), "hdfs.rollCount", "0", "hdfs.rollInterval", "0"}, f.extra...)
		cfg, err := hdfs.ParseConfig(storageReader(config.KindSink, kv...))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		s, err := hdfs.New("h1", cfg, ch, registry.Env{FS: vfs.OS{}, Hostname: "bench"})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		d, err := drainRun(s, ch)
		ch.Stop()
		os.RemoveAll(dir)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		times = append(times, d)
	}
	report(stdout, "hdfs-sink (file://, fsync per batch; DataStream unless -set)", f, times)
	return 0
}
