package sim

import (
	"fmt"
	"strings"
)

// SeedAgentConf is the seed article's agent configuration (2000 servers,
// taildir -> file channel -> failover group of three Avro sinks with
// priorities 100/80/60) for n collectors, with channel type ch. The
// article's inline "# comment" after each priority is dropped: in a Java
// properties file it is part of the value, so Flume (and `sluice check`)
// reject "100  # 主Collector" as a number.
func SeedAgentConf(n int, ch string) string {
	var b strings.Builder
	sinks := make([]string, n)
	for i := range sinks {
		sinks[i] = fmt.Sprintf("avroSink%d", i+1)
	}
	fmt.Fprintf(&b, `# agent.conf - the seed topology's agent (one per application server)
agent.sources = tailSource
agent.channels = fileChannel
agent.sinks = %s
agent.sinkgroups = g1

agent.sources.tailSource.type = taildir
agent.sources.tailSource.filegroups = f1
agent.sources.tailSource.filegroups.f1 = /var/log/app/trade.log
agent.sources.tailSource.positionFile = /data/flume/position.json
agent.sources.tailSource.batchSize = 3000
agent.sources.tailSource.channels = fileChannel

`, strings.Join(sinks, " "))
	writeChannel(&b, "agent", ch, 2000000, 6000)
	fmt.Fprintf(&b, `
agent.sinkgroups.g1.sinks = %s
agent.sinkgroups.g1.processor.type = failover
agent.sinkgroups.g1.processor.maxpenalty = 30000
`, strings.Join(sinks, " "))
	for i, s := range sinks {
		fmt.Fprintf(&b, "agent.sinkgroups.g1.processor.priority.%s = %d\n", s, max(100-20*i, 1))
	}
	for i, s := range sinks {
		fmt.Fprintf(&b, `
agent.sinks.%[1]s.type = avro
agent.sinks.%[1]s.hostname = collector%02[2]d.example.com
agent.sinks.%[1]s.port = 4141
agent.sinks.%[1]s.batch-size = 5000
agent.sinks.%[1]s.connect-timeout = 30000
agent.sinks.%[1]s.request-timeout = 60000
agent.sinks.%[1]s.compression-type = deflate
agent.sinks.%[1]s.channel = fileChannel
`, s, i+1)
	}
	return b.String()
}

// SeedCollectorConf is the seed article's collector: Avro source -> file
// channel -> an HDFS sink and a Kafka sink on the same channel (so each
// event goes to one of the two stores, not both, as in Flume).
func SeedCollectorConf(ch string) string {
	var b strings.Builder
	b.WriteString(`# collector.conf - the seed topology's collectors
collector.sources = avroSource
collector.channels = fileChannel
collector.sinks = hdfsSink kafkaSink

collector.sources.avroSource.type = avro
collector.sources.avroSource.bind = 0.0.0.0
collector.sources.avroSource.port = 4141
collector.sources.avroSource.compression-type = deflate
collector.sources.avroSource.channels = fileChannel

`)
	writeChannel(&b, "collector", ch, 5000000, 10000)
	b.WriteString(`
collector.sinks.hdfsSink.type = hdfs
collector.sinks.hdfsSink.hdfs.path = hdfs://nameservice1/flume/trade/%Y%m%d
collector.sinks.hdfsSink.hdfs.filePrefix = trade
collector.sinks.hdfsSink.hdfs.batchSize = 5000
collector.sinks.hdfsSink.hdfs.rollInterval = 1800
collector.sinks.hdfsSink.hdfs.fileType = DataStream
collector.sinks.hdfsSink.channel = fileChannel

collector.sinks.kafkaSink.type = org.apache.flume.sink.kafka.KafkaSink
collector.sinks.kafkaSink.kafka.topic = trade-topic
collector.sinks.kafkaSink.kafka.bootstrap.servers = kafka01:9092,kafka02:9092
collector.sinks.kafkaSink.kafka.flumeBatchSize = 3000
collector.sinks.kafkaSink.channel = fileChannel
`)
	return b.String()
}

func writeChannel(b *strings.Builder, agent, typ string, capacity, txn int) {
	fmt.Fprintf(b, "%s.channels.fileChannel.type = %s\n", agent, typ)
	if typ == "file" {
		fmt.Fprintf(b, "%s.channels.fileChannel.dataDirs = /data1/flume/data,/data2/flume/data\n", agent)
		fmt.Fprintf(b, "%s.channels.fileChannel.checkpointDir = /ssd/flume/checkpoint\n", agent)
	}
	fmt.Fprintf(b, "%s.channels.fileChannel.capacity = %d\n", agent, capacity)
	fmt.Fprintf(b, "%s.channels.fileChannel.transactionCapacity = %d\n", agent, txn)
}
