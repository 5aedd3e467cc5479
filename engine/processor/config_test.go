package processor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/channel"
	_ "github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// nopSink lets agent.Lint build groups without a real sink package.
type nopSink struct{ name string }

func (s nopSink) Name() string                               { return s.name }
func (nopSink) Start(context.Context) error                  { return nil }
func (nopSink) Stop(context.Context) error                   { return nil }
func (nopSink) Process(context.Context) (sink.Status, error) { return sink.Backoff, nil }

func init() {
	registry.Register(registry.Entry{Kind: registry.Sink, Name: "processor_test_nop",
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			return nopSink{r.Name()}, nil
		})})
}

// conf is an agent a1 with memory channel c1 and nop sinks; group lines
// follow.
func conf(sinks string, group ...string) string {
	lines := []string{"a1.channels = c1", "a1.channels.c1.type = memory", "a1.sinks = " + sinks}
	for _, s := range strings.Fields(sinks) {
		lines = append(lines, "a1.sinks."+s+".type = processor_test_nop", "a1.sinks."+s+".channel = c1")
	}
	lines = append(lines, "a1.sinkgroups = g1", "a1.sinkgroups.g1.sinks = "+sinks)
	return strings.Join(append(lines, group...), "\n") + "\n"
}

func loadAgent(t *testing.T, text string) *config.Agent {
	t.Helper()
	props, err := config.ParseProperties("agent.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return config.Build(props, "a1", config.Options{})
}

func lint(t *testing.T, text string) []config.Finding {
	t.Helper()
	return agent.Lint(loadAgent(t, text), newFixture().env)
}

// groupReader is the processor.* reader a factory gets for group g1.
func groupReader(t *testing.T, text string) *config.Reader {
	t.Helper()
	cfg := loadAgent(t, text)
	if len(cfg.SinkGroups) != 1 {
		t.Fatalf("config has %d sink groups: %v", len(cfg.SinkGroups), cfg.Findings)
	}
	return config.NewReader("a1", cfg.SinkGroups[0]).Sub("processor.")
}

func find(fs []config.Finding, rule string) []config.Finding {
	var out []config.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, fs []config.Finding, rule string, sev config.Severity, contains ...string) config.Finding {
	t.Helper()
	got := find(fs, rule)
	if len(got) != 1 {
		t.Fatalf("want one %s finding, got %d: %v", rule, len(got), fs)
	}
	if got[0].Severity != sev {
		t.Errorf("%s: severity %v, want %v", rule, got[0].Severity, sev)
	}
	for _, c := range contains {
		if !strings.Contains(got[0].String(), c) {
			t.Errorf("%s finding %q lacks %q", rule, got[0], c)
		}
	}
	return got[0]
}

// TestSeedConfigCommentInPriority: the seed config has "100  # primary";
// Java properties have no end-of-line comments, so Flume reads the whole
// value, fails to parse it and silently ranks k1 as if it had no priority.
// Sluice refuses it with the file, the line and the key.
func TestSeedConfigCommentInPriority(t *testing.T) {
	text := conf("k1 k2 k3",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 100  # primary",
		"a1.sinkgroups.g1.processor.priority.k2 = 80",
		"a1.sinkgroups.g1.processor.priority.k3 = 60",
		"a1.sinkgroups.g1.processor.maxpenalty = 30000")
	fs := lint(t, text)
	f := one(t, fs, "dropped", config.Error, "agent.conf:13: a1.sinkgroups.g1.processor.priority.k1",
		`"100  # primary" is not an integer`, "end-of-line comments")
	if !strings.Contains(f.Message, "k1 k2 k3") {
		t.Errorf("the drop does not say which sinks will not run: %s", f)
	}
}

func TestSeedConfigIsClean(t *testing.T) {
	fs := lint(t, conf("k1 k2 k3",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 100",
		"a1.sinkgroups.g1.processor.priority.k2 = 80",
		"a1.sinkgroups.g1.processor.priority.k3 = 60",
		"a1.sinkgroups.g1.processor.maxpenalty = 30000"))
	if len(fs) != 0 {
		t.Fatalf("the seed topology's group gives findings: %v", fs)
	}
	// One sink without a priority ranks last in Flume too: nothing to say.
	if fs := lint(t, conf("k1 k2 k3",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 100",
		"a1.sinkgroups.g1.processor.priority.k2 = 80")); len(fs) != 0 {
		t.Fatalf("k3 without a priority ranks last in Flume and Sluice alike, yet: %v", fs)
	}
	cfg, err := ParseFailover(groupReader(t, conf("k1 k2 k3",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 100",
		"a1.sinkgroups.g1.processor.priority.k2 = 80",
		"a1.sinkgroups.g1.processor.maxpenalty = 10000")), []string{"k1", "k2", "k3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxPenalty != 10*time.Second || cfg.Priority["k1"] != 100 || cfg.Priority["k2"] != 80 {
		t.Fatalf("parsed %+v", cfg)
	}
	if _, ok := cfg.Priority["k3"]; ok {
		t.Fatalf("k3 has no priority key but got one: %+v", cfg)
	}
}

// TestNoPriorityQuirk: Flume numbers sinks without a priority -1, -2, ... in
// hash order (here collector-b, collector-c, collector-a); Sluice in config
// order. check says so and names Flume's active sink.
func TestNoPriorityQuirk(t *testing.T) {
	sinks := "collector-a collector-b collector-c"
	fs := lint(t, conf(sinks, "a1.sinkgroups.g1.processor.type = failover"))
	one(t, fs, "failover-no-priority", config.Note,
		"config order (collector-a = -1, collector-b = -2, collector-c = -3)",
		"hash order (collector-b = -1, collector-c = -2, collector-a = -3)")
	one(t, fs, "failover-active-differs", config.Warning,
		"Flume would make collector-b the active sink", "Sluice makes collector-a active",
		"collector-a > collector-b > collector-c")

	// Side by side: Sluice's processor really ranks in config order.
	list, _ := mocks(t, strings.Fields(sinks)...)
	p := NewFailover(newFixture().env, "g1", list, FailoverConfig{})
	if p.Active() != "collector-a" {
		t.Fatalf("Sluice's active sink %s, want collector-a (config order)", p.Active())
	}
	if plan := flumeFailoverPlan(strings.Fields(sinks), nil); plan.Ranked[0] != "collector-b" {
		t.Fatalf("Flume's active sink %s, want collector-b", plan.Ranked[0])
	}
}

// TestEqualPriorityQuirk: Flume keeps one sink per priority, the first it
// meets in hash order (sinkB before sinkA), and never uses the other;
// Sluice keeps both, config order breaking the tie.
func TestEqualPriorityQuirk(t *testing.T) {
	fs := lint(t, conf("sinkA sinkB",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.sinkA = 5",
		"a1.sinkgroups.g1.processor.priority.sinkB = 5"))
	one(t, fs, "failover-equal-priority", config.Note, "agent.conf:12", "sinkA and sinkB share priority 5", "prefers sinkA")
	one(t, fs, "failover-flume-drops-sink", config.Warning, "agent.conf:11", "Flume would never use sink sinkA", "meets sinkB first")
	one(t, fs, "failover-active-differs", config.Warning, "Flume would make sinkB the active sink")

	f := newFixture()
	list, by := mocks(t, "sinkA", "sinkB")
	p := NewFailover(f.env, "g1", list, FailoverConfig{Priority: map[string]int{"sinkA": 5, "sinkB": 5}})
	by["sinkA"].mode = down
	process(t, p)
	if p.Active() != "sinkB" || by["sinkB"].calls != 1 {
		t.Fatalf("with equal priorities Sluice must fail over from sinkA to sinkB (Flume has no sinkA to fail over from)")
	}
}

// TestPriorityRangeQuirk: Flume parses priorities with Integer.parseInt; a
// value beyond Java's int makes the sink unprioritized, silently.
func TestPriorityRangeQuirk(t *testing.T) {
	fs := lint(t, conf("k1 k2",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.k1 = 3000000000",
		"a1.sinkgroups.g1.processor.priority.k2 = 80",
		"a1.sinkgroups.g1.processor.maxpenalty = 4294967296"))
	one(t, fs, "failover-priority-flume", config.Warning, "agent.conf:11", `rejects "3000000000"`, "Sluice reads 3000000000")
	one(t, fs, "failover-maxpenalty-flume", config.Warning, "agent.conf:13", "uses 30000 ms; Sluice reads 4294967296 ms")
	one(t, fs, "failover-active-differs", config.Warning, "Flume would make k2 the active sink")
}

func TestFailoverConfigErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"a1.sinkgroups.g1.processor.maxpenalty = 0", "0 is not a valid penalty"},
		{"a1.sinkgroups.g1.processor.maxpenalty = -5", "-5 is not a valid penalty"},
		{"a1.sinkgroups.g1.processor.maxpenalty = 30s", `"30s" is not an integer`},
		{"a1.sinkgroups.g1.processor.priority.k2 = high", `"high" is not an integer`},
	} {
		_, err := ParseFailover(groupReader(t, conf("k1 k2", "a1.sinkgroups.g1.processor.type = failover", c.line)), []string{"k1", "k2"})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "agent.conf:11") {
			t.Errorf("%s: error %v; want %q at agent.conf:11", c.line, err, c.want)
		}
	}
	fs := lint(t, conf("collector1 collector2",
		"a1.sinkgroups.g1.processor.type = failover",
		"a1.sinkgroups.g1.processor.priority.collector1 = 10",
		"a1.sinkgroups.g1.processor.priority.colector2 = 5"))
	one(t, fs, "failover-priority-unknown-sink", config.Warning, "agent.conf:12", "priority.colector2 names no sink",
		"did you mean priority.collector2?")
}

func TestMaxTimeOutCasing(t *testing.T) {
	text := conf("k1 k2",
		"a1.sinkgroups.g1.processor.type = load_balance",
		"a1.sinkgroups.g1.processor.backoff = true",
		"a1.sinkgroups.g1.processor.selector.maxtimeout = 5000")
	cfg, err := ParseLoadBalance(groupReader(t, text), []string{"k1", "k2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxTimeout != 5*time.Second || !cfg.Backoff || cfg.Selector != "round_robin" {
		t.Fatalf("parsed %+v; want 5s, backoff, round_robin", cfg)
	}
	fs := lint(t, text)
	one(t, fs, "flume-key-case", config.Warning, "agent.conf:12", "ignores selector.maxtimeout, using 30000 ms")
	if u := find(fs, "unknown-key"); len(u) != 0 {
		t.Fatalf("the accepted casing is reported unknown: %v", u)
	}

	// Flume's spelling: no finding; both spellings: the other is ignored.
	fs = lint(t, conf("k1 k2",
		"a1.sinkgroups.g1.processor.type = load_balance",
		"a1.sinkgroups.g1.processor.backoff = true",
		"a1.sinkgroups.g1.processor.selector.maxTimeOut = 5000",
		"a1.sinkgroups.g1.processor.selector.MAXTIMEOUT = 7000"))
	one(t, fs, "flume-key-case", config.Warning, "selector.MAXTIMEOUT is ignored")
	// Without backoff it does nothing.
	fs = lint(t, conf("k1 k2", "a1.sinkgroups.g1.processor.type = load_balance", "a1.sinkgroups.g1.processor.selector.maxTimeOut = 5000"))
	one(t, fs, "load-balance-timeout-unused", config.Note, "no effect unless backoff = true")
}

func TestLoadBalanceConfig(t *testing.T) {
	cfg, err := ParseLoadBalance(groupReader(t, conf("k1 k2",
		"a1.sinkgroups.g1.processor.type = load_balance",
		"a1.sinkgroups.g1.processor.selector = RANDOM")), []string{"k1", "k2"})
	if err != nil || cfg.Selector != "random" || cfg.Backoff || cfg.MaxTimeout != DefaultMaxTimeout {
		t.Fatalf("parsed %+v, %v", cfg, err)
	}
	for _, c := range []struct{ line, want string }{
		{"a1.sinkgroups.g1.processor.selector = com.example.StickySelector", `"com.example.StickySelector" is not a sink selector Sluice has; use one of random, round_robin`},
		{"a1.sinkgroups.g1.processor.backoff = yes", `"yes" is not a boolean`},
		{"a1.sinkgroups.g1.processor.selector.maxTimeOut = -1", "-1 is not valid"},
	} {
		_, err := ParseLoadBalance(groupReader(t, conf("k1 k2", "a1.sinkgroups.g1.processor.type = load_balance", c.line)), []string{"k1", "k2"})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "agent.conf:11") {
			t.Errorf("%s: error %v; want %q at agent.conf:11", c.line, err, c.want)
		}
	}
}

// TestGroupOrderQuirk: Flume rotates through a round-robin group in hash
// order; Sluice in config order.
func TestGroupOrderQuirk(t *testing.T) {
	sinks := "collector-a collector-b collector-c"
	fs := lint(t, conf(sinks, "a1.sinkgroups.g1.processor.type = load_balance"))
	one(t, fs, "group-sink-order", config.Note,
		"config order (collector-a > collector-b > collector-c)", "hash order (collector-b > collector-c > collector-a)")
	if fs := lint(t, conf(sinks, "a1.sinkgroups.g1.processor.type = load_balance", "a1.sinkgroups.g1.processor.selector = random")); len(find(fs, "group-sink-order")) != 0 {
		t.Fatalf("order does not matter to the random selector: %v", fs)
	}
	if fs := lint(t, conf("k1 k2 k3", "a1.sinkgroups.g1.processor.type = load_balance")); len(fs) != 0 {
		t.Fatalf("k1 k2 k3 is in the same order for Flume: %v", fs)
	}
}

func TestLoadBalanceOneSinkFinding(t *testing.T) {
	fs := lint(t, conf("k1", "a1.sinkgroups.g1.processor.type = load_balance"))
	one(t, fs, "load-balance-one-sink", config.Warning, "Flume refuses it and drops the group")
	if d := find(fs, "dropped"); len(d) != 0 {
		t.Fatalf("Sluice must run a one-sink load_balance group: %v", d)
	}
}

func TestRegisteredNames(t *testing.T) {
	for kind, names := range map[string][]string{
		"failover":     {"failover", "FAILOVER", "org.apache.flume.sink.FailoverSinkProcessor"},
		"load_balance": {"load_balance", "Load_Balance", "org.apache.flume.sink.LoadBalancingSinkProcessor"},
		"default":      {"default", "org.apache.flume.sink.DefaultSinkProcessor"},
	} {
		for _, n := range names {
			if e, ok := registry.Lookup(registry.Processor, n); !ok || e.Name != kind {
				t.Errorf("processor type %q does not resolve to %s", n, kind)
			}
		}
	}
}
