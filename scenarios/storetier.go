package scenarios

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

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

// startKafka starts the harness's kfake cluster (three brokers, the store
// topic with three partitions).
func startKafka() (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, storeTopic), kfake.AllowAutoTopicCreation())
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
