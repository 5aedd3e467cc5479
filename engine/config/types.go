package config

import "strings"

// FlumeType is what Sluice knows about one of Flume's component types
// without the component being implemented: its alias and class name, and
// the facts the lint rules need (flume-facts §8.2, and the Flume sources
// named there). Sluice's own registry entries must agree with it; a test
// checks that for every registered type.
type FlumeType struct {
	Kind  Kind
	Alias string // Flume's short name ("" when there is none, as for Kafka)
	Class string // Flume's fully qualified class name
	// BatchKey is the key of a source or sink that implements Flume's
	// BatchSizeSupported, and BatchDefault its default; Flume removes the
	// component when the batch size exceeds the channel's
	// transactionCapacity.
	BatchKey     string
	BatchDefault int
	// Capacity and TxnCapacity are a channel's defaults when it implements
	// TransactionCapacitySupported (0 otherwise).
	Capacity, TxnCapacity int
	// Durable channels keep committed events across a crash.
	Durable bool
}

var flumeTypes = []FlumeType{
	// Sources (SourceType; BatchSizeSupported: exec, multiport_syslogtcp,
	// seq, spooldir, jms, kafka, taildir).
	{Kind: KindSource, Alias: "seq", Class: "org.apache.flume.source.SequenceGeneratorSource", BatchKey: "batchSize", BatchDefault: 1},
	{Kind: KindSource, Alias: "netcat", Class: "org.apache.flume.source.NetcatSource"},
	{Kind: KindSource, Alias: "exec", Class: "org.apache.flume.source.ExecSource", BatchKey: "batchSize", BatchDefault: 20},
	{Kind: KindSource, Alias: "avro", Class: "org.apache.flume.source.AvroSource"},
	{Kind: KindSource, Alias: "syslogtcp", Class: "org.apache.flume.source.SyslogTcpSource"},
	{Kind: KindSource, Alias: "multiport_syslogtcp", Class: "org.apache.flume.source.MultiportSyslogTCPSource", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSource, Alias: "syslogudp", Class: "org.apache.flume.source.SyslogUDPSource"},
	{Kind: KindSource, Alias: "spooldir", Class: "org.apache.flume.source.SpoolDirectorySource", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSource, Alias: "http", Class: "org.apache.flume.source.http.HTTPSource"},
	{Kind: KindSource, Alias: "thrift", Class: "org.apache.flume.source.ThriftSource"},
	{Kind: KindSource, Alias: "jms", Class: "org.apache.flume.source.jms.JMSSource", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSource, Alias: "taildir", Class: "org.apache.flume.source.taildir.TaildirSource", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSource, Alias: "netcatudp", Class: "org.apache.flume.source.NetcatUdpSource"},
	{Kind: KindSource, Class: "org.apache.flume.source.kafka.KafkaSource", BatchKey: "batchSize", BatchDefault: 1000},

	// Channels (ChannelType; TransactionCapacitySupported: memory, file).
	{Kind: KindChannel, Alias: "memory", Class: "org.apache.flume.channel.MemoryChannel", Capacity: 100, TxnCapacity: 100},
	{Kind: KindChannel, Alias: "file", Class: "org.apache.flume.channel.file.FileChannel", Capacity: 1000000, TxnCapacity: 10000, Durable: true},
	{Kind: KindChannel, Alias: "jdbc", Class: "org.apache.flume.channel.jdbc.JdbcChannel", Durable: true},
	{Kind: KindChannel, Alias: "spillablememory", Class: "org.apache.flume.channel.SpillableMemoryChannel"},
	{Kind: KindChannel, Class: "org.apache.flume.channel.kafka.KafkaChannel", Durable: true},

	// Sinks (SinkType; BatchSizeSupported: avro and thrift through
	// AbstractRpcSink, null, file_roll, hdfs, hive, hbase, asynchbase,
	// hbase2, morphline_solr, kafka).
	{Kind: KindSink, Alias: "null", Class: "org.apache.flume.sink.NullSink", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "logger", Class: "org.apache.flume.sink.LoggerSink"},
	{Kind: KindSink, Alias: "file_roll", Class: "org.apache.flume.sink.RollingFileSink", BatchKey: "sink.batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "hdfs", Class: "org.apache.flume.sink.hdfs.HDFSEventSink", BatchKey: "hdfs.batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "irc", Class: "org.apache.flume.sink.irc.IRCSink"},
	{Kind: KindSink, Alias: "avro", Class: "org.apache.flume.sink.AvroSink", BatchKey: "batch-size", BatchDefault: 100},
	{Kind: KindSink, Alias: "thrift", Class: "org.apache.flume.sink.ThriftSink", BatchKey: "batch-size", BatchDefault: 100},
	{Kind: KindSink, Alias: "elasticsearch", Class: "org.apache.flume.sink.elasticsearch.ElasticSearchSink"},
	{Kind: KindSink, Alias: "hbase", Class: "org.apache.flume.sink.hbase.HBaseSink", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "asynchbase", Class: "org.apache.flume.sink.hbase.AsyncHBaseSink", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "hbase2", Class: "org.apache.flume.sink.hbase2.HBase2Sink", BatchKey: "batchSize", BatchDefault: 100},
	{Kind: KindSink, Alias: "morphline_solr", Class: "org.apache.flume.sink.solr.morphline.MorphlineSolrSink", BatchKey: "batchSize", BatchDefault: 1000},
	{Kind: KindSink, Alias: "hive", Class: "org.apache.flume.sink.hive.HiveSink", BatchKey: "batchSize", BatchDefault: 15000},
	{Kind: KindSink, Alias: "http", Class: "org.apache.flume.sink.http.HttpSink"},
	{Kind: KindSink, Class: "org.apache.flume.sink.kafka.KafkaSink", BatchKey: "flumeBatchSize", BatchDefault: 100},

	// Sink processors (SinkProcessorType) keyed as sink groups.
	{Kind: KindSinkGroup, Alias: "default", Class: "org.apache.flume.sink.DefaultSinkProcessor"},
	{Kind: KindSinkGroup, Alias: "failover", Class: "org.apache.flume.sink.FailoverSinkProcessor"},
	{Kind: KindSinkGroup, Alias: "load_balance", Class: "org.apache.flume.sink.LoadBalancingSinkProcessor"},
}

// LookupFlumeType finds one of Flume's types by alias (any case, as Flume's
// factories upper-case it) or class name.
func LookupFlumeType(kind Kind, name string) (FlumeType, bool) {
	name = javaTrim(name)
	for _, t := range flumeTypes {
		if t.Kind != kind {
			continue
		}
		if (t.Alias != "" && strings.EqualFold(t.Alias, name)) || strings.EqualFold(t.Class, name) {
			return t, true
		}
	}
	return FlumeType{}, false
}

// FlumeTypes lists the known types of a kind.
func FlumeTypes(kind Kind) []FlumeType {
	var out []FlumeType
	for _, t := range flumeTypes {
		if t.Kind == kind {
			out = append(out, t)
		}
	}
	return out
}

// typeIs reports whether c's type is the Flume type with the given alias
// or class name.
func typeIs(c *Component, name string) bool {
	t, ok := LookupFlumeType(c.Kind, c.Type)
	if !ok {
		return false
	}
	return strings.EqualFold(t.Alias, name) || strings.EqualFold(t.Class, name)
}
