// Package kafkatest starts in-process Kafka clusters (franz-go's kfake, a
// real Kafka-protocol broker) on OS-picked loopback ports for tests and
// benchmarks, and reads topics back.
package kafkatest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
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

// Proxied is a one-broker cluster reachable only through a toxiproxy proxy:
// the broker advertises the proxy's address, so every connection a client
// makes (bootstrap and after metadata) crosses it, and toxics on Proxy
// black-hole, slow or reset the network between clients and the broker.
type Proxied struct {
	*Cluster
	Proxy *toxiproxy.Proxy
}

// NewProxied starts a one-broker cluster behind an in-process toxiproxy.
func NewProxied(t testing.TB, partitions int32, topics ...string) *Proxied {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	var proxy *toxiproxy.Proxy
	listen := func(network, address string) (net.Listener, error) {
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		proxy = toxiproxy.NewProxy(srv, "kafka", "127.0.0.1:0", ln.Addr().String())
		if err := proxy.Start(); err != nil {
			ln.Close()
			return nil, err
		}
		addr, err := net.ResolveTCPAddr("tcp", proxy.Listen)
		if err != nil {
			ln.Close()
			proxy.Stop()
			return nil, err
		}
		return advertised{Listener: ln, addr: addr}, nil
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(listen), kfake.AllowAutoTopicCreation()}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		proxy.Stop()
	})
	return &Proxied{Cluster: &Cluster{Cluster: c, Addrs: c.ListenAddrs()}, Proxy: proxy}
}

// Toxic adds a toxic (toxiproxy's JSON form, e.g.
// {"name":"bh","type":"timeout","stream":"downstream","attributes":{"timeout":0}})
// and returns a func removing it.
func (p *Proxied) Toxic(t testing.TB, json string) func() {
	t.Helper()
	w, err := p.Proxy.Toxics.AddToxicJson(strings.NewReader(json))
	if err != nil {
		t.Fatalf("add toxic %s: %v", json, err)
	}
	return func() { p.Proxy.Toxics.RemoveToxic(context.Background(), w.Name) }
}

// advertised is a listener that reports another address (the proxy's),
// which is what kfake advertises to clients.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }
