package processor

import (
	"strings"
	"testing"
)

// The expected orders were printed by a JVM (OpenJDK 17) running exactly
// Flume's steps: new HashSet<>(Arrays.asList(sinks)), copied into an
// ArrayList (the group order), then put into a new HashMap (the order
// FailoverSinkProcessor.configure iterates).
var javaOrders = []struct{ config, group, failover string }{
	{"k1 k2 k3", "k1 k2 k3", "k1 k2 k3"},
	{"k3 k2 k1", "k1 k2 k3", "k1 k2 k3"},
	{"collector-a collector-b collector-c", "collector-b collector-c collector-a", "collector-b collector-c collector-a"},
	{"primary secondary tertiary", "secondary tertiary primary", "secondary tertiary primary"},
	{"s1 s2 s3 s4 s5 s6 s7 s8", "s3 s4 s5 s6 s7 s8 s1 s2", "s3 s4 s5 s6 s7 s8 s1 s2"},
	{"a b c d e f g h i j k l m n", "a b c d e f g h i j k l m n", "a b c d e f g h i j k l m n"},
	{"Aa BB k9", "Aa BB k9", "Aa BB k9"}, // "Aa" and "BB" share a hash code
	{"BB Aa k9", "BB Aa k9", "BB Aa k9"},
	{"sinkA sinkB", "sinkB sinkA", "sinkB sinkA"},
	{"hdfs-1 kafka_2 avro.3x", "avro.3x hdfs-1 kafka_2", "avro.3x hdfs-1 kafka_2"},
	{"avroSink1 avroSink2 avroSink3", "avroSink1 avroSink2 avroSink3", "avroSink1 avroSink2 avroSink3"},
	{"c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 c11 c12", "c11 c10 c12 c1 c2 c3 c4 c5 c6 c7 c8 c9", "c3 c4 c11 c5 c10 c6 c7 c12 c8 c9 c1 c2"},
	{"x01 x02 x03 x04 x05 x06 x07 x08 x09 x10 x11 x12 x13", "x09 x08 x10 x01 x12 x11 x03 x02 x13 x05 x04 x07 x06", "x09 x08 x10 x01 x12 x11 x03 x02 x13 x05 x04 x07 x06"},
	{"日本 sink-é k1", "k1 sink-é 日本", "k1 sink-é 日本"},
}

func TestFlumeHashOrderMatchesJava(t *testing.T) {
	for _, c := range javaOrders {
		sinks := strings.Fields(c.config)
		if got := strings.Join(flumeGroupOrder(sinks), " "); got != c.group {
			t.Errorf("group order of %q = %q, Java %q", c.config, got, c.group)
		}
		if got := strings.Join(flumeFailoverOrder(sinks), " "); got != c.failover {
			t.Errorf("failover order of %q = %q, Java %q", c.config, got, c.failover)
		}
	}
}

func TestJavaParseInt(t *testing.T) {
	for in, want := range map[string]int{"100": 100, "+7": 7, "-2147483648": -2147483648, "0": 0} {
		if got, ok := javaParseInt(in); !ok || got != want {
			t.Errorf("javaParseInt(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"2147483648", " 1", "1 ", "", "-", "0x1", "100  # primary", "99999999999999999999"} {
		if got, ok := javaParseInt(in); ok {
			t.Errorf("javaParseInt(%q) = %d; Integer.parseInt throws", in, got)
		}
	}
}

func TestFlumeFailoverPlan(t *testing.T) {
	// No priorities: Flume numbers them -1, -2, ... in hash order.
	p := flumeFailoverPlan([]string{"collector-a", "collector-b", "collector-c"}, nil)
	if got := strings.Join(p.Ranked, " "); got != "collector-b collector-c collector-a" {
		t.Fatalf("ranked %q", got)
	}
	// Equal priorities: the first met in hash order keeps it.
	p = flumeFailoverPlan([]string{"sinkA", "sinkB"}, map[string]string{"sinkA": "5", "sinkB": "5"})
	if p.Dropped["sinkA"] != "sinkB" || len(p.Ranked) != 1 {
		t.Fatalf("plan %+v; want sinkA dropped for sinkB", p)
	}
	// An explicit -1 collides with the first made-up priority.
	p = flumeFailoverPlan([]string{"k1", "k2", "k3"}, map[string]string{"k2": "-1", "k3": "100 "})
	if p.Dropped["k2"] != "k1" || !p.Implicit["k3"] || p.Priority["k3"] != -2 || strings.Join(p.Ranked, " ") != "k1 k3" {
		t.Fatalf("plan %+v; want k1=-1, k2 dropped, k3=-2 (\"100 \" does not parse)", p)
	}
}
