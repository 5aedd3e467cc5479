// Package kafkatest starts in-process Kafka clusters (franz-go's kfake, a
// real Kafka-protocol broker) on OS-picked loopback ports for tests and
// benchmarks, and reads topics back.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/engine/flumekafka"
)

// Cluster is a running fake cluster.
type Cluster struct {
	*kfake.Cluster
	Addrs []string
}

// New starts a cluster of n brokers with the given topics (partitions each)
// and closes it when the test ends.
func New(t testing.TB, brokers int, partitions int32, topics ...string) *Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(brokers), kfake.AllowAutoTopicCreation()}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Addrs: c.ListenAddrs()}
}

// Read reads a topic back (see flumekafka.ReadTopic), failing the test on
// error.
func (c *Cluster) Read(t testing.TB, topic string, flumeFormat bool) []flumekafka.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := flumekafka.ReadTopic(ctx, c.ListenAddrs(), topic, flumeFormat)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	return recs
}
