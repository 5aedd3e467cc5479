package kafka

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
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
			return newChannel(t, c.Addrs, "capacity", strconv.Itoa(k.cfg.Capacity), "transactionCapacity", strconv.Itoa(k.cfg.TransactionCapacity))
		},
	})
}
