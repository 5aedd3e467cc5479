package config

import (
	"fmt"
	"strings"
	"testing"
)

// agentConf is the seed's agent topology in small: taildir -> file channel
// -> failover group of three avro sinks.
const agentConf = `a.sources = r1
a.channels = c1
a.sinks = k1 k2 k3
a.sinkgroups = g1
a.sources.r1.type = taildir
a.sources.r1.channels = c1
a.sources.r1.batchSize = 3000
a.channels.c1.type = file
a.channels.c1.capacity = 2000000
a.channels.c1.transactionCapacity = 6000
a.sinkgroups.g1.sinks = k1 k2 k3
a.sinkgroups.g1.processor.type = failover
a.sinkgroups.g1.processor.priority.k1 = 100
a.sinkgroups.g1.processor.priority.k2 = 80
a.sinkgroups.g1.processor.priority.k3 = 60
a.sinks.k1.type = avro
a.sinks.k1.channel = c1
a.sinks.k1.batch-size = 5000
a.sinks.k2.type = avro
a.sinks.k2.channel = c1
a.sinks.k3.type = avro
a.sinks.k3.channel = c1
`

func TestLintCleanAgent(t *testing.T) {
	if a := build(t, agentConf); len(a.Findings) != 0 {
		t.Fatalf("findings:\n%s", dumpFindings(a))
	}
}

// set replaces the value of key (without the "a." prefix) in conf, or
// appends it.
func set(conf, key, value string) string {
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimSuffix(conf, "\n"), "\n") {
		if k, _, _ := strings.Cut(l, " = "); k == "a."+key {
			l, found = "a."+key+" = "+value, true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, "a."+key+" = "+value)
	}
	return strings.Join(out, "\n") + "\n"
}

func lineOf(conf, key string) int {
	for i, l := range strings.Split(conf, "\n") {
		if strings.HasPrefix(l, "a."+key+" ") {
			return i + 1
		}
	}
	return -1
}

func TestLintRules(t *testing.T) {
	cases := []struct {
		name     string
		conf     string
		at       string // key whose line the finding is on
		rule     string
		sev      Severity
		contains string
		others   []string // other rules expected anywhere
	}{
		{name: "inline comment on a number", conf: set(agentConf, "sinkgroups.g1.processor.priority.k1", "100  # primary"),
			at: "sinkgroups.g1.processor.priority.k1", rule: "inline-comment", sev: Error, contains: "failover order is not the one written"},
		{name: "inline comment on maxpenalty", conf: set(agentConf, "sinkgroups.g1.processor.maxpenalty", "30000 # max"),
			at: "sinkgroups.g1.processor.maxpenalty", rule: "inline-comment", sev: Error, contains: "uses the default, 30000"},
		{name: "inline comment on file channel capacity", conf: set(agentConf, "channels.c1.capacity", "2000000 # two million"),
			at: "channels.c1.capacity", rule: "inline-comment", sev: Error, contains: "drops the channel"},
		{name: "inline comment on a type", conf: set(agentConf, "sinks.k1.type", "avro # primary"),
			at: "sinks.k1.type", rule: "inline-comment", sev: Error, contains: "does not know that type"},
		{name: "hash inside free text is a warning", conf: set(agentConf, "sources.r1.x", "a b # c"),
			at: "sources.r1.x", rule: "inline-comment", sev: Warning},
		{name: "hash without space before is no comment", conf: set(agentConf, "sources.r1.x", "a#b"),
			at: "sources.r1.x", rule: ""},
		{name: "regex written with a single backslash", conf: set(agentConf, "sources.r1.interceptors.i.regex", `^\d+`),
			at: "sources.r1.interceptors.i.regex", rule: "swallowed-escape", sev: Warning, contains: `Flume reads "^d+"`},
		{name: "double backslash is a backslash", conf: set(agentConf, "sources.r1.interceptors.i.regex", `^\\d+ C:\\x \=`),
			at: "sources.r1.interceptors.i.regex", rule: ""},
		{name: "no-break space at the end of a value", conf: set(agentConf, "sources.r1.batchSize", "3000\u00A0"),
			at: "sources.r1.batchSize", rule: "odd-space", sev: Error, contains: "U+00A0"},
		{name: "ideographic space in a key", conf: agentConf + "a.sinks.k1.port\u3000= 4141\n",
			at: "sinks.k1.port\u3000=", rule: "odd-space", sev: Error},
		{name: "kafka.flumeBatchSize", conf: agentConf + "a.sinks = k1 k2 k3 k4\na.sinks.k4.type = org.apache.flume.sink.kafka.KafkaSink\na.sinks.k4.channel = c1\na.sinks.k4.kafka.flumeBatchSize = 3000\n",
			at: "sinks.k4.kafka.flumeBatchSize", rule: "ignored-key", sev: Warning, contains: "stays at its default, 100",
			others: []string{"duplicate-key", "sinks-share-channel"}},
		{name: "failover maxPenalty in camel case", conf: set(agentConf, "sinkgroups.g1.processor.maxPenalty", "10000"),
			at: "sinkgroups.g1.processor.maxPenalty", rule: "ignored-key", sev: Warning, contains: "lower case"},
		{name: "load balance maxTimeout", conf: set(set(agentConf, "sinkgroups.g1.processor.type", "load_balance"), "sinkgroups.g1.processor.selector.maxTimeout", "10000"),
			at: "sinkgroups.g1.processor.selector.maxTimeout", rule: "ignored-key", sev: Warning, contains: "capital O and T"},
		{name: "transactionCapacity above capacity", conf: set(agentConf, "channels.c1.capacity", "5000"),
			at: "channels.c1.transactionCapacity", rule: "txn-capacity", sev: Error, contains: "drops it"},
		{name: "memory channel defaults: transactionCapacity above default capacity", conf: set(set(agentConf, "channels.c1.type", "memory"), "channels.c1.capacity", "x"),
			at: "channels.c1.transactionCapacity", rule: "txn-capacity", sev: Error, contains: "capacity 100", others: []string{"memory-channel"}},
		{name: "source batch above transactionCapacity", conf: set(agentConf, "sources.r1.batchSize", "7000"),
			at: "sources.r1.batchSize", rule: "batch-size", sev: Error, contains: "Incompatible source"},
		{name: "grouped sink batch above transactionCapacity", conf: set(agentConf, "sinks.k1.batch-size", "10000"),
			at: "sinks.k1.batch-size", rule: "batch-size", sev: Error, contains: "runs nothing at all"},
		{name: "default batch above a small transactionCapacity", conf: set(set(agentConf, "channels.c1.transactionCapacity", "50"), "sources.r1.batchSize", "10"),
			at: "sinks.k1.batch-size", rule: "batch-size", sev: Error, others: []string{"batch-size", "batch-size"}},
		{name: "duplicate failover priority", conf: set(agentConf, "sinkgroups.g1.processor.priority.k3", "80"),
			at: "sinkgroups.g1.processor.priority.k3", rule: "failover-duplicate-priority", sev: Error, contains: "never uses"},
		{name: "failover priority that is not a number", conf: set(agentConf, "sinkgroups.g1.processor.priority.k2", "high"),
			at: "sinkgroups.g1.processor.priority.k2", rule: "failover-priority", sev: Warning},
		{name: "failover priority for a sink outside the group", conf: set(agentConf, "sinkgroups.g1.processor.priority.k9", "5"),
			at: "sinkgroups.g1.processor.priority.k9", rule: "failover-priority", sev: Warning},
		{name: "negative priority collides with implicit ones", conf: set(set(agentConf, "sinkgroups.g1.processor.priority.k2", "-1"), "sinkgroups.g1.processor.priority.k3", "x"),
			at: "sinkgroups.g1.processor.priority.k2", rule: "failover-duplicate-priority", sev: Warning, others: []string{"failover-priority"}},
		{name: "default processor with several sinks", conf: set(agentConf, "sinkgroups.g1.processor.type", "default"),
			at: "sinkgroups.g1.processor.type", rule: "default-group", sev: Error},
		{name: "load balancing one sink", conf: set(set(agentConf, "sinkgroups.g1.processor.type", "load_balance"), "sinkgroups.g1.sinks", "k1"),
			at: "sinkgroups.g1.processor.type", rule: "load-balance-group", sev: Error, others: []string{"sinks-share-channel"}},
		{name: "memory channel next to a failover group", conf: set(agentConf, "channels.c1.type", "memory"),
			at: "channels.c1.type", rule: "memory-channel", sev: Warning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := build(t, tc.conf)
			line := lineOf(tc.conf, tc.at)
			var rest []string
			var hit *Finding
			for i, f := range a.Findings {
				if f.Line == line && f.Rule == tc.rule && hit == nil {
					hit = &a.Findings[i]
					continue
				}
				if f.Line == line && f.Rule == "failover-priority" && tc.rule == "failover-duplicate-priority" {
					continue
				}
				rest = append(rest, f.Rule)
			}
			if tc.rule == "" {
				if len(a.Findings) != 0 {
					t.Errorf("findings:\n%s", dumpFindings(a))
				}
				return
			}
			if hit == nil {
				t.Fatalf("no %s at line %d:\n%s", tc.rule, line, dumpFindings(a))
			}
			if hit.Severity != tc.sev || !strings.Contains(hit.Message, tc.contains) || hit.Fix == "" || hit.File != "a.conf" {
				t.Errorf("finding %s; want severity %s, message containing %q and a fix", hit, tc.sev, tc.contains)
			}
			if strings.Join(rest, " ") != strings.Join(tc.others, " ") {
				t.Errorf("other findings %v, want %v:\n%s", rest, tc.others, dumpFindings(a))
			}
		})
	}
}

const collectorConf = `a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.type = avro
a.sources.r1.channels = c1
a.channels.c1.type = file
a.sinks.k1.type = hdfs
a.sinks.k1.channel = c1
a.sinks.k1.hdfs.path = hdfs://nn/flume/%Y%m%d
`

func TestLintHDFSTimestamp(t *testing.T) {
	cases := []struct {
		name string
		conf string
		want bool
	}{
		{"no timestamp source", collectorConf, true},
		{"timestamp interceptor", collectorConf + "a.sources.r1.interceptors = ts\na.sources.r1.interceptors.ts.type = timestamp\n", false},
		{"timestamp interceptor by class", collectorConf + "a.sources.r1.interceptors = i\na.sources.r1.interceptors.i.type = org.apache.flume.interceptor.TimestampInterceptor$Builder\n", false},
		{"timestamp interceptor writing another header", collectorConf + "a.sources.r1.interceptors = ts\na.sources.r1.interceptors.ts.type = timestamp\na.sources.r1.interceptors.ts.headerName = ts\n", true},
		{"interceptor configured but not in the chain", collectorConf + "a.sources.r1.interceptors.ts.type = timestamp\n", true},
		{"static timestamp header", collectorConf + "a.sources.r1.interceptors = s\na.sources.r1.interceptors.s.type = static\na.sources.r1.interceptors.s.key = timestamp\n", false},
		{"local time stamp", collectorConf + "a.sinks.k1.hdfs.useLocalTimeStamp = true\n", false},
		{"header escape only", set(collectorConf, "sinks.k1.hdfs.path", "hdfs://nn/flume/%{host}/%[localhost]"), false},
		{"time escape in the file prefix", set(collectorConf, "sinks.k1.hdfs.path", "hdfs://nn/flume") + "a.sinks.k1.hdfs.filePrefix = ev-%H\n", true},
		{"even %% needs a timestamp", set(collectorConf, "sinks.k1.hdfs.path", "hdfs://nn/100%%"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := build(t, tc.conf)
			var hit *Finding
			for i, f := range a.Findings {
				if f.Rule == "hdfs-timestamp" {
					hit = &a.Findings[i]
				}
			}
			if (hit != nil) != tc.want {
				t.Fatalf("hdfs-timestamp finding: %v, want %v\n%s", hit != nil, tc.want, dumpFindings(a))
			}
			// r1 is an Avro source: upstream agents may set the header, so
			// on its own it is a warning.
			if hit != nil && (hit.Severity != Warning || !strings.Contains(hit.Message, "source(s) r1") || !strings.Contains(hit.Fix, "useLocalTimeStamp")) {
				t.Errorf("finding %s", hit)
			}
		})
	}
	// Only the sources that feed the sink's channel matter.
	two := strings.Replace(collectorConf, "a.sources = r1", "a.sources = r1 r2", 1) +
		"a.sources.r1.interceptors = ts\na.sources.r1.interceptors.ts.type = timestamp\n" +
		"a.sources.r2.type = netcat\na.sources.r2.channels = c1\n"
	a := build(t, two)
	if f := has(a, 9, "hdfs-timestamp", Error); f == nil || !strings.Contains(f.Message, "source(s) r2 ") {
		t.Errorf("r2 without a timestamp not reported:\n%s", dumpFindings(a))
	}
	// A syslog source stamps events itself.
	a = build(t, strings.Replace(two, "a.sources.r2.type = netcat", "a.sources.r2.type = syslogtcp", 1))
	if f := has(a, 9, "hdfs-timestamp", Error); f != nil {
		t.Errorf("syslog source reported: %s", f)
	}
}

// TestLintHDFSTimestampUpstream follows the events over the Avro hop: the
// collector's warning becomes an error when the agents sending to it add
// no timestamp, and goes away when they do.
func TestLintHDFSTimestampUpstream(t *testing.T) {
	sender := "s.sources = r1\ns.channels = c1\ns.sinks = k1\ns.sources.r1.type = taildir\ns.sources.r1.channels = c1\n" +
		"s.channels.c1.type = file\ns.sinks.k1.type = avro\ns.sinks.k1.channel = c1\ns.sinks.k1.port = 4141\n"
	receiver := strings.ReplaceAll(collectorConf, "a.", "r.") + "r.sources.r1.port = 4141\n"
	lint := func(sender string) []Finding {
		p1, _ := ParseProperties("s.conf", strings.NewReader(sender))
		p2, _ := ParseProperties("r.conf", strings.NewReader(receiver))
		props := append(p1, p2...)
		return LintTopology([]*Agent{Build(props, "s", Options{}), Build(props, "r", Options{})})
	}
	got := lint(sender)
	if len(got) != 1 || got[0].Rule != "hdfs-timestamp" || got[0].Severity != Error || got[0].Line != 9 || !strings.Contains(got[0].Message, "r1 of agent s") {
		t.Fatalf("LintTopology = %v", got)
	}
	if got := lint(sender + "s.sources.r1.interceptors = ts\ns.sources.r1.interceptors.ts.type = timestamp\n"); len(got) != 0 {
		t.Errorf("stamped upstream: %v", got)
	}
}

func TestLintSharedChannel(t *testing.T) {
	conf := strings.Replace(collectorConf, "a.sinks = k1", "a.sinks = k1 k2", 1) +
		"a.sinks.k1.hdfs.useLocalTimeStamp = true\na.sinks.k2.type = org.apache.flume.sink.kafka.KafkaSink\na.sinks.k2.channel = c1\n"
	a := build(t, conf)
	if f := has(a, 12, "sinks-share-channel", Warning); f == nil || !strings.Contains(f.Message, "sink k1 (hdfs) and sink k2") {
		t.Errorf("hdfs and kafka on one channel not reported:\n%s", dumpFindings(a))
	}
	// Several sinks of one type drain a channel in parallel: no finding.
	conf = strings.Replace(conf, "a.sinks.k2.type = org.apache.flume.sink.kafka.KafkaSink", "a.sinks.k2.type = HDFS\na.sinks.k2.hdfs.path = /x", 1)
	if a := build(t, conf); len(a.Findings) != 0 {
		t.Errorf("findings:\n%s", dumpFindings(a))
	}
}

func TestMerge(t *testing.T) {
	at := func(line int) Position { return Position{File: "a.conf", Line: line} }
	lint := NewFinding(Error, at(5), "a.channels.c1.capacity", "txn-capacity", "too big", "lower it")
	drop := NewFinding(Error, at(5), "a.channels.c1.capacity", RuleDropped, "channel c1 is not started: not an integer", "")
	drop.Component = "channel c1"
	unknown := NewFinding(Warning, at(7), "a.sinks.k1.kafka.flumeBatchSize", RuleUnknownKey, "not read", "did you mean flumeBatchSize?")
	ignored := NewFinding(Warning, at(7), "a.sinks.k1.kafka.flumeBatchSize", "ignored-key", "Flume ignores it", "rename it")
	otherDrop := NewFinding(Error, at(3), "a.sinks.k1.type", RuleDropped, "sink k1 is not started: unknown type", "")
	dup := NewFinding(Error, at(9), "a.channels.c2.type", "unused-channel", "no source or sink", "")
	dup2 := dup
	dup2.Message = "said differently"
	warnOnly := NewFinding(Warning, at(11), "a.sinks.k2.x", "inline-comment", "maybe a comment", "")
	dropOnWarn := NewFinding(Error, at(11), "a.sinks.k2.x", RuleDropped, "sink k2 is not started", "")
	dropOnWarn.Component = "sink k2"
	comment := NewFinding(Error, at(13), "a.sinks.k3.n", "inline-comment", "comment in value", "")
	dropOnComment := NewFinding(Error, at(13), "a.sinks.k3.n", RuleDropped, "sink k3 is not started: not a number", "")
	dropOnComment.Component = "sink k3"

	got := Merge([]Finding{dropOnWarn, warnOnly, dup2, unknown, drop, otherDrop, ignored, lint, dup, dropOnComment, comment})
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	want := []string{
		"a.conf:3: error: [dropped] sink k1 is not started: unknown type",
		"a.conf:5: error: [txn-capacity] too big; Sluice does not start channel c1 (fix: lower it)",
		"a.conf:7: warning: [ignored-key] Flume ignores it (fix: rename it)",
		"a.conf:9: error: [unused-channel] said differently",
		"a.conf:11: error: [dropped] sink k2 is not started",
		"a.conf:11: warning: [inline-comment] maybe a comment",
		"a.conf:13: error: [dropped] sink k3 is not started: not a number",
		"a.conf:13: error: [inline-comment] comment in value",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Merge:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestFlumeTypes keeps the alias table honest: every alias and class is
// found, in any case.
func TestFlumeTypes(t *testing.T) {
	for _, ft := range flumeTypes {
		for _, n := range []string{ft.Alias, ft.Class, strings.ToUpper(ft.Class)} {
			if n == "" {
				continue
			}
			got, ok := LookupFlumeType(ft.Kind, " "+n+" ")
			if !ok || got.Class != ft.Class {
				t.Errorf("LookupFlumeType(%s, %q) = %v, %v", ft.Kind, n, got, ok)
			}
		}
		if ft.BatchKey != "" && ft.BatchDefault <= 0 {
			t.Errorf("%s: batch key without a default", ft.Class)
		}
	}
	if _, ok := LookupFlumeType(KindSink, "kafka"); ok {
		t.Errorf("Flume has no kafka sink alias")
	}
}

func TestLintTopology(t *testing.T) {
	sender := "s.sources = r1\ns.channels = c1\ns.sinks = k1 k2 k3\ns.sources.r1.type = seq\ns.sources.r1.channels = c1\ns.channels.c1.type = file\n" +
		"s.sinks.k1.type = avro\ns.sinks.k1.channel = c1\ns.sinks.k1.port = 4141\ns.sinks.k1.compression-type = deflate\n" +
		"s.sinks.k2.type = avro\ns.sinks.k2.channel = c1\ns.sinks.k2.port = 4141\n" +
		"s.sinks.k3.type = org.apache.flume.sink.AvroSink\ns.sinks.k3.channel = c1\ns.sinks.k3.port = 5000\n"
	receiver := "r.sources = a1 a2\nr.channels = c1\nr.sinks = k1\nr.sources.a1.type = avro\nr.sources.a1.channels = c1\n" +
		"r.sources.a1.port = 4141\nr.sources.a1.compression-type = DEFLATE\nr.sources.a2.type = avro\nr.sources.a2.channels = c1\n" +
		"r.sources.a2.port = 5000\nr.sources.a2.ssl = true\nr.channels.c1.type = file\nr.sinks.k1.type = null\nr.sinks.k1.channel = c1\n"
	p1, _ := ParseProperties("s.conf", strings.NewReader(sender))
	p2, _ := ParseProperties("r.conf", strings.NewReader(receiver))
	props := append(p1, p2...)
	got := LintTopology([]*Agent{Build(props, "s", Options{}), Build(props, "r", Options{})})
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%s:%d:%s", f.File, f.Line, f.Key))
	}
	want := "s.conf:11:s.sinks.k2.compression-type s.conf:14:s.sinks.k3.ssl"
	if strings.Join(lines, " ") != want {
		t.Errorf("LintTopology = %v, want %s", lines, want)
	}
	for _, f := range got {
		if f.Severity != Error || f.Rule != "avro-mismatch" || !strings.Contains(f.Message, "r.conf:") {
			t.Errorf("finding %s", f)
		}
	}
}
