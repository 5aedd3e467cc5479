package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"

	_ "github.com/sluicehq/sluice/engine/components"
)

func parse(t *testing.T, text string) *config.Agent {
	t.Helper()
	props, err := config.ParseProperties("test.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return config.Build(props, "a1", config.Options{})
}

func env(fsys vfs.FS) registry.Env {
	clk := clock.Real()
	return registry.Env{Agent: "a1", Clock: clk, FS: fsys, Metrics: metrics.NewRegistry(clk), Hostname: "h"}
}

const twoPipelines = `
a1.sources = s1 s2
a1.channels = c1 c2
a1.sinks = k1 k2
a1.sources.s1.type = seq
a1.sources.s1.totalEvents = 1000
a1.sources.s1.batchSize = 10
a1.sources.s1.channels = c1
a1.sources.s2.type = seq
a1.sources.s2.totalEvents = 1000
a1.sources.s2.batchSize = 10
a1.sources.s2.channels = c2
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.sinks.k2.type = file_roll
a1.sinks.k2.channel = c2
a1.sinks.k2.sink.directory = /out
a1.sinks.k2.sink.rollInterval = 0
`

// A reload restarts only what changed: the pipeline whose sink changed gets
// a new sink runner; the other pipeline's objects keep running untouched.
func TestReloadRestartsOnlyChangedComponents(t *testing.T) {
	mem := vfs.NewMem(nil)
	a := agent.New(parse(t, twoPipelines), env(mem))
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	before := a.Graph()
	changed := strings.Replace(twoPipelines, "a1.sinks.k1.type = null", "a1.sinks.k1.type = null\na1.sinks.k1.batchSize = 7", 1)
	if err := a.Reload(ctx, parse(t, changed)); err != nil {
		t.Fatal(err)
	}
	after := a.Graph()
	runner := func(g *agent.Graph, name string) *agent.RunnerNode {
		for _, r := range g.Runners {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no runner %s", name)
		return nil
	}
	if runner(before, "sink:k1") == runner(after, "sink:k1") {
		t.Error("changed sink k1 was not restarted")
	}
	if runner(before, "sink:k2") != runner(after, "sink:k2") {
		t.Error("unchanged sink k2 was restarted")
	}
	for i := range before.Channels {
		if before.Channels[i] != after.Channels[i] {
			t.Errorf("unchanged channel %s was rebuilt", before.Channels[i].Name)
		}
	}
	for i := range before.Sources {
		if before.Sources[i] != after.Sources[i] {
			t.Errorf("unchanged source %s was rebuilt", before.Sources[i].Name)
		}
	}
	// The untouched pipeline still delivers everything.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, _ := mem.ReadDir("/out")
		total := 0
		for _, e := range ents {
			b, _ := vfs.ReadFile(mem, "/out/"+e.Name())
			total += strings.Count(string(b), "\n")
		}
		if total == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k2 wrote %d of 1000 events after the reload", total)
		}
		time.Sleep(5 * time.Millisecond) // poll the output with a deadline
	}
}

// Flume's instantiation-time drops: a sink whose batch size exceeds its
// channel's transactionCapacity is removed, and a channel nothing uses is
// removed; both are reported.
func TestBuildDropsLikeFlume(t *testing.T) {
	cfg := parse(t, `
a1.sources = s1
a1.channels = c1 c2
a1.sinks = k1
a1.sources.s1.type = seq
a1.sources.s1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.transactionCapacity = 50
a1.channels.c2.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.sinks.k1.batchSize = 100
a1.sinks.k1.bathSize = 100
`)
	fs := agent.Lint(cfg, env(vfs.NewMem(nil)))
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+" "+f.Message+" "+f.Fix)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"batchSize 100 is greater than channel c1's transactionCapacity 50",
		"channel c2 has no source or sink connected",
		"did you mean batchSize?",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}
}

// An agent whose every component is dropped refuses to start with a reason.
func TestStartFailsWhenNothingSurvives(t *testing.T) {
	a := agent.New(parse(t, "a1.sources = s1\n"), env(vfs.NewMem(nil)))
	if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "nothing to run") {
		t.Fatalf("Start = %v", err)
	}
}
