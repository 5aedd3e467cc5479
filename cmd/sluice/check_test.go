package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

func runCheckJSON(t *testing.T, args ...string) (checkReport, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"check", "--format", "json"}, args...), &out, &errb)
	var rep checkReport
	if code == 0 || code == 1 {
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("check %v: output is not JSON (%v):\n%s\n%s", args, err, out.String(), errb.String())
		}
	}
	return rep, code, errb.String()
}

// lineOf returns the line of file (1-based) that starts with key.
func lineOf(t *testing.T, file, key string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, key+" ") || strings.HasPrefix(l, key+"=") {
			return i + 1
		}
	}
	t.Fatalf("%s: no line starts with %s", file, key)
	return 0
}

// excused lists the components of a configuration that Sluice cannot build
// yet because their type (or the type of what they depend on) is not
// registered: their "not started" findings ("unknown channel type") say so
// truthfully. Lint findings about them are still judged. As components are
// registered the set shrinks and the tests below check more.
func excused(t *testing.T, files []string, agent string) map[string]bool {
	t.Helper()
	props, err := config.LoadFiles(osFS(), files...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, agent, config.Options{})
	out := map[string]bool{}
	kinds := map[config.Kind]registry.Kind{config.KindSource: registry.Source, config.KindChannel: registry.Channel,
		config.KindSink: registry.Sink, config.KindSinkGroup: registry.Processor}
	for ck, rk := range kinds {
		var list []*config.Component
		switch ck {
		case config.KindSource:
			list = cfg.Sources
		case config.KindChannel:
			list = cfg.Channels
		case config.KindSink:
			list = cfg.Sinks
		default:
			list = cfg.SinkGroups
		}
		for _, c := range list {
			if _, ok := registry.Lookup(rk, c.Type); !ok {
				out[c.String()] = true
			}
		}
	}
	for changed := true; changed; {
		changed = false
		mark := func(c *config.Component, yes bool) {
			if yes && !out[c.String()] {
				out[c.String()], changed = true, true
			}
		}
		for _, s := range cfg.Sources {
			all := true
			for _, ch := range s.Channels {
				all = all && out["channel "+ch]
			}
			mark(s, all)
		}
		for _, k := range cfg.Sinks {
			mark(k, out["channel "+k.Channel])
		}
		for _, g := range cfg.SinkGroups {
			all := true
			for _, k := range g.Sinks {
				all = all && out["sink "+k]
			}
			mark(g, all)
		}
		for _, c := range cfg.Channels {
			all := true
			for _, s := range cfg.Sources {
				for _, ch := range s.Channels {
					if ch == c.Name {
						all = all && out[s.String()]
					}
				}
			}
			for _, k := range cfg.Sinks {
				if k.Channel == c.Name {
					all = all && out[k.String()]
				}
			}
			mark(c, all)
		}
	}
	return out
}

type want struct {
	file, key, rule string
	sev             config.Severity
}

// TestCheckSeed runs the linter on the seed's original configurations
// (testdata/seed, verbatim from the article the topology comes from). It
// must report the end-of-line comments, the HDFS timestamp trap, the
// ignored kafka.flumeBatchSize and the two failover sinks that cannot talk
// to the collectors, and nothing false: every other finding must be a
// known-true one or about a component Sluice does not implement yet.
func TestCheckSeed(t *testing.T) {
	agentConf := filepath.Join("testdata", "seed", "agent.conf")
	collectorConf := filepath.Join("testdata", "seed", "collector.conf")
	required := []want{
		{agentConf, "agent.sinkgroups.g1.processor.priority.avroSink1", "inline-comment", config.Error},
		{agentConf, "agent.sinkgroups.g1.processor.priority.avroSink2", "inline-comment", config.Error},
		{agentConf, "agent.sinkgroups.g1.processor.priority.avroSink3", "inline-comment", config.Error},
		{agentConf, "agent.sinkgroups.g1.processor.maxpenalty", "inline-comment", config.Error},
		{collectorConf, "collector.sinks.hdfsSink.hdfs.path", "hdfs-timestamp", config.Warning},
		{collectorConf, "collector.sinks.kafkaSink.kafka.flumeBatchSize", "ignored-key", config.Warning},
	}
	// True findings a finished Sluice may report: the Avro source ignores
	// threads since Flume 1.10 and has no batchSize key, and the two sinks
	// on one channel split the events.
	allowed := []want{
		{collectorConf, "collector.sources.avroSource.threads", "", config.Warning},
		{collectorConf, "collector.sources.avroSource.batchSize", "", config.Warning},
		{collectorConf, "collector.sinks.kafkaSink.channel", "sinks-share-channel", config.Warning},
		// The article promises zero loss, but Flume's Kafka sink defaults
		// to acks=1: a leader failure loses records already committed.
		{collectorConf, "collector.sinks.kafkaSink.type", "kafka-acks", config.Warning},
	}
	// Checked together, the linter sees that the agents feeding the
	// collector add no timestamp either (the warning becomes an error) and
	// that two of the failover sinks do not compress.
	topology := []want{
		{agentConf, "agent.sinks.avroSink2.type", "avro-mismatch", config.Error},
		{agentConf, "agent.sinks.avroSink3.type", "avro-mismatch", config.Error},
		{collectorConf, "collector.sinks.hdfsSink.hdfs.path", "hdfs-timestamp", config.Error},
		{collectorConf, "collector.sinks.kafkaSink.kafka.flumeBatchSize", "ignored-key", config.Warning},
	}
	check := func(t *testing.T, files []string, agents []string, required, allowed []want, wantCode int) {
		rep, code, stderr := runCheckJSON(t, append([]string{"-f", files[0]}, fileFlags(files[1:])...)...)
		// The collector alone has no error of its own: the unimplemented
		// components' drops aside, it exits 0 once they are registered.
		if code != wantCode && !(wantCode == 0 && code == 1 && onlyDrops(rep)) {
			t.Fatalf("exit code %d, want %d; stderr %s", code, wantCode, stderr)
		}
		ex := map[string]bool{}
		for _, a := range agents {
			for c := range excused(t, files, a) {
				ex[c] = true
			}
		}
		inline := map[int]bool{}
		for _, w := range required {
			if w.rule == "inline-comment" {
				inline[lineOf(t, w.file, w.key)] = true
			}
		}
		found := make([]bool, len(required))
	next:
		for _, f := range rep.Findings {
			for i, w := range required {
				if f.File == w.file && f.Line == lineOf(t, w.file, w.key) && f.Rule == w.rule && f.Severity == w.sev && f.Fix != "" {
					found[i] = true
					continue next
				}
			}
			for _, w := range allowed {
				if f.File == w.file && f.Line == lineOf(t, w.file, w.key) && (w.rule == "" || f.Rule == w.rule) && f.Severity <= w.sev {
					continue next
				}
			}
			// A component's own complaint about a value with a comment
			// glued to it is the same true finding.
			if f.File == agentConf && inline[f.Line] {
				continue
			}
			if (f.Rule == config.RuleDropped || f.Rule == "unused-channel") && ex[f.Component] {
				continue
			}
			t.Errorf("false finding: %s:%d [%s] %s (component %q)", f.File, f.Line, f.Rule, f.Message, f.Component)
		}
		for i, ok := range found {
			if !ok {
				t.Errorf("missing finding: %s %s at %s (%s)", required[i].sev, required[i].rule, required[i].key, required[i].file)
			}
		}
		t.Logf("%d findings; not yet implemented: %v", len(rep.Findings), ex)
	}
	t.Run("agent", func(t *testing.T) { check(t, []string{agentConf}, []string{"agent"}, required[:4], nil, 1) })
	t.Run("collector", func(t *testing.T) { check(t, []string{collectorConf}, []string{"collector"}, required[4:], allowed, 0) })
	t.Run("both", func(t *testing.T) {
		check(t, []string{agentConf, collectorConf}, []string{"agent", "collector"}, append(append([]want(nil), required[:4]...), topology...), allowed, 1)
	})
}

// onlyDrops reports whether every error is a "not started" drop.
func onlyDrops(rep checkReport) bool {
	for _, f := range rep.Findings {
		if f.Severity == config.Error && f.Rule != config.RuleDropped && f.Rule != "unused-channel" {
			return false
		}
	}
	return true
}

func fileFlags(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, "-f", f)
	}
	return out
}

// TestCheckExamples: the examples/ versions of the seed check clean, apart
// from notes and from components Sluice does not implement yet.
func TestCheckExamples(t *testing.T) {
	agentConf := filepath.Join("..", "..", "examples", "agent.conf")
	collectorConf := filepath.Join("..", "..", "examples", "collector.conf")
	for _, port := range []string{"", "-Dcollector.port=4142"} {
		args := []string{"-f", agentConf, "-f", collectorConf}
		if port != "" {
			args = append(args, port)
		}
		rep, _, stderr := runCheckJSON(t, args...)
		if stderr != "" {
			t.Errorf("stderr: %s", stderr)
		}
		ex := excused(t, []string{agentConf, collectorConf}, "agent")
		for c := range excused(t, []string{agentConf, collectorConf}, "collector") {
			ex[c] = true
		}
		for _, f := range rep.Findings {
			if f.Severity == config.Note || ((f.Rule == config.RuleDropped || f.Rule == "unused-channel") && ex[f.Component]) {
				continue
			}
			t.Errorf("examples: %s:%d %s [%s] %s", f.File, f.Line, f.Severity, f.Rule, f.Message)
		}
		if strings.Join(rep.Agents, " ") != "agent collector" {
			t.Errorf("agents %v", rep.Agents)
		}
	}
}

func TestCheckExitCodesAndFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clean := write("clean.conf", "a.sources = r1\na.channels = c1\na.sinks = k1\na.sources.r1.type = sluice-test-source\na.sources.r1.channels = c1\n"+
		"a.channels.c1.type = memory\na.sinks.k1.type = sluice-test-sink\na.sinks.k1.channel = c1\n")
	bad := write("bad.conf", "a.sources = r1\na.channels = c1\na.sinks = k1\na.sources.r1.type = seq\na.sources.r1.channels = c1\n"+
		"a.channels.c1.type = memory\na.channels.c1.capacity = 10\na.channels.c1.transactionCapacity = 20\n"+
		"a.sinks.k1.type = null\na.sinks.k1.channels = c1\n")
	broken := write("broken.conf", "a.sources = \\u12\n")

	// Text: one line per finding with file:line, then a summary.
	var out, errb bytes.Buffer
	code := run([]string{"check", "-f", bad}, &out, &errb)
	if code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	text := out.String()
	for _, s := range []string{bad + ":8: error: [txn-capacity]", bad + ":10: error: [sink-channels]", "(fix: rename the key to channel)", "error(s)"} {
		if !strings.Contains(text, s) {
			t.Errorf("text output lacks %q:\n%s", s, text)
		}
	}
	// JSON: the same findings, with severity names.
	rep, code, _ := runCheckJSON(t, "-f", bad, "-n", "a")
	if code != 1 || rep.Errors == 0 || rep.Findings[0].File != bad || rep.Findings[0].Severity.String() != "error" {
		t.Errorf("json: code %d report %+v", code, rep)
	}
	var raw map[string]any
	out.Reset()
	run([]string{"check", "--format=json", bad}, &out, &errb)
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil || !strings.Contains(out.String(), `"severity": "error"`) {
		t.Errorf("raw json %v:\n%s", err, out.String())
	}
	// Findings are sorted and not repeated.
	seen := map[string]bool{}
	last := 0
	for _, f := range rep.Findings {
		k := f.File + f.Key + f.Rule
		if seen[k] || f.Line < last {
			t.Errorf("finding repeated or out of order: %s", f)
		}
		seen[k], last = true, f.Line
	}

	cases := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"check", "-f", clean}, 0, ""},
		{[]string{"check", clean}, 0, ""},
		{[]string{"check"}, 2, "-f FILE is required"},
		{[]string{"check", "-f", clean, "--format", "xml"}, 2, "use text or json"},
		{[]string{"check", "-f", clean, "-n", "b"}, 1, `configures no agent "b"`},
		{[]string{"check", "-f", broken}, 1, "broken.conf:1"},
		{[]string{"check", "-f", filepath.Join(dir, "missing.conf")}, 1, "missing.conf"},
		{[]string{"check", "-f", write("empty.conf", "# nothing\n")}, 1, "configures no agent"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.contains) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.contains)
		}
	}
}

func osFS() vfs.FS { return vfs.OS{} }

// Stand-ins for a source and a sink, so that a configuration can check
// clean whatever real components are registered.
type stubSource struct{ name string }

func (s stubSource) Name() string                    { return s.name }
func (s stubSource) Start(ctx context.Context) error { return nil }
func (s stubSource) Stop(ctx context.Context) error  { return nil }

type stubSink struct{ name string }

func (s stubSink) Name() string                    { return s.name }
func (s stubSink) Start(ctx context.Context) error { return nil }
func (s stubSink) Stop(ctx context.Context) error  { return nil }
func (s stubSink) Process(ctx context.Context) (sink.Status, error) {
	return sink.Backoff, nil
}

func init() {
	registry.Register(registry.Entry{Kind: registry.Source, Name: "sluice-test-source", BatchKey: "batchSize", BatchDefault: 100,
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			r.Int("batchSize", 100)
			return stubSource{r.Name()}, r.Err()
		})})
	registry.Register(registry.Entry{Kind: registry.Sink, Name: "sluice-test-sink",
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			return stubSink{r.Name()}, nil
		})})
}

// TestAgentStrictRefusesDrops: with --strict, an agent whose configuration
// Flume would partly drop does not start, and says why with file:line.
func TestAgentStrictRefusesDrops(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.conf")
	conf := "a.sources = r1\na.channels = c1 c2\na.sinks = k1\na.sources.r1.type = sluice-test-source\na.sources.r1.channels = c1\n" +
		"a.channels.c1.type = memory\na.sinks.k1.type = sluice-test-sink\na.sinks.k1.channel = c1\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"agent", "-n", "a", "-f", p, "--strict"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), p+":2: error: [no-config] channel c2") || !strings.Contains(errb.String(), "--strict: refusing to start") {
		t.Errorf("stderr: %s", errb.String())
	}
}
