package scenarios

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/scenarios/store"
)

// The storage tier (issue 8): a node that is the seed's collector tier
// writes through a failover group hdfsSink(100) -> kafkaSink(80), HDFS on
// file:// under the node's directory and Kafka on an in-process kfake
// cluster the harness owns. The checker reads both stores back.

// StoreTierHDFSKafka is Scenario.StoreTier for hdfsSink(100) -> kafkaSink(80).
const StoreTierHDFSKafka = "hdfs-kafka"

// storeTopic is the Kafka topic the kafka sinks write.
const storeTopic = "store"

// hdfsStoreName is the name of a node's HDFS store (and the failover
// table's target for faults of that store).
func hdfsStoreName(node string) string { return node + "/hdfs" }

// kafkaStoreName is the name of the Kafka store.
const kafkaStoreName = "kafka"

// hdfsMount is the directory a disk fault turns into a small tmpfs;
// hdfsDir, inside it, is hdfs.path (the fault's filler file stays out of
// the store).
func hdfsMount(nodeDir string) string { return filepath.Join(nodeDir, "hdfs") }
func hdfsDir(nodeDir string) string   { return filepath.Join(hdfsMount(nodeDir), "data") }

// StoreTierKafka is Scenario.StoreTier for a Kafka channel (one topic and
// consumer group per agent) drained by a Kafka sink into the store topic.
const StoreTierKafka = "kafka"

// channelTopic is an agent's Kafka channel topic.
func channelTopic(agent string) string { return "channel-" + agent }

// startKafka starts the harness's kfake cluster: three brokers, every
// topic with three partitions (producers do not create topics).
func startKafka(topics ...string) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	return c, nil
}

func newHDFSStore(node, nodeDir string) Store {
	dir := hdfsDir(nodeDir)
	return &tailerStore{t: &store.HDFSTail{Dir: store.HDFSDir{Label: hdfsStoreName(node), Dir: dir}}, kind: "hdfs", node: node, loc: "file://" + dir}
}

func newKafkaStore(addrs []string) Store {
	return &tailerStore{t: &store.KafkaTail{Topic: store.KafkaTopic{Label: kafkaStoreName, Brokers: addrs, Topic: storeTopic}},
		kind: "kafka", node: kafkaStoreName, loc: fmt.Sprintf("%s/%s", strings.Join(addrs, ","), storeTopic)}
}

// brokerOutage takes one broker of the harness's cluster away (its
// listener closes, its partitions and groups move to the others) and
// brings it back on the same port; leaderMoves moves every partition's
// leader to the next broker. Both act on the cluster, not on the node
// the step names.
type brokerOutage struct {
	faults.Base
	c    *kfake.Cluster
	node int32

	mu   sync.Mutex
	port int
}

func (b *brokerOutage) Name() string      { return "broker-outage" }
func (b *brokerOutage) Kind() faults.Kind { return faults.Network }
func (b *brokerOutage) Action() string    { return "remove broker" }
func (b *brokerOutage) Params() map[string]string {
	return map[string]string{"broker": fmt.Sprint(b.node)}
}

func (b *brokerOutage) Inject(context.Context, faults.Target) error {
	addrs := b.c.ListenAddrs()
	b.mu.Lock()
	defer b.mu.Unlock()
	if int(b.node) >= len(addrs) {
		return fmt.Errorf("broker %d: the cluster has %d", b.node, len(addrs))
	}
	_, port, err := net.SplitHostPort(addrs[b.node])
	if err != nil {
		return err
	}
	b.port, _ = strconv.Atoi(port)
	return b.c.RemoveNode(b.node)
}

func (b *brokerOutage) Heal(context.Context, faults.Target) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _, err := b.c.AddNode(b.node, b.port)
	return err
}

type leaderMoves struct {
	faults.Base
	c      *kfake.Cluster
	topics []string
}

func (l *leaderMoves) Name() string      { return "leader-moves" }
func (l *leaderMoves) Kind() faults.Kind { return faults.Network }
func (l *leaderMoves) Action() string    { return "move leaders" }

func (l *leaderMoves) Inject(context.Context, faults.Target) error {
	n := int32(len(l.c.ListenAddrs()))
	for _, t := range l.topics {
		for p := int32(0); p < 3; p++ {
			if err := l.c.MoveTopicPartition(t, p, (l.c.LeaderFor(t, p)+1)%n); err != nil {
				return fmt.Errorf("move %s/%d: %w", t, p, err)
			}
		}
	}
	return nil
}

func (l *leaderMoves) Heal(context.Context, faults.Target) error { return nil }
