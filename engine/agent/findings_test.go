package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	_ "github.com/sluicehq/sluice/engine/components"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

type quietSource struct{ name string }

func (s quietSource) Name() string                    { return s.name }
func (s quietSource) Start(ctx context.Context) error { return nil }
func (s quietSource) Stop(ctx context.Context) error  { return nil }

type idleSink struct{ name string }

func (s idleSink) Name() string                                     { return s.name }
func (s idleSink) Start(ctx context.Context) error                  { return nil }
func (s idleSink) Stop(ctx context.Context) error                   { return nil }
func (s idleSink) Process(ctx context.Context) (sink.Status, error) { return sink.Backoff, nil }

func init() {
	registry.Register(registry.Entry{Kind: registry.Source, Name: "findings-test-source", BatchKey: "batchSize", BatchDefault: 100,
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			r.Int("batchSize", 100)
			return quietSource{r.Name()}, r.Err()
		})})
	registry.Register(registry.Entry{Kind: registry.Sink, Name: "findings-test-sink",
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			return idleSink{r.Name()}, nil
		})})
}

const findingsConf = `a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.type = findings-test-source
a.sources.r1.channels = c1
a.sources.r1.batchSize = 50
a.channels.c1.type = memory
a.channels.c1.capacity = 1000
a.sinks.k1.comment = primary  # the main one
a.sinks.k1.type = findings-test-sink
a.sinks.k1.channel = c1
a.sinks.k2.type = findings-test-sink
`

// TestStartLogsFindings: what Flume would silently drop or misread is a
// warning with file:line in the log when the agent starts, each problem
// once, while the rest of the pipeline runs.
func TestStartLogsFindings(t *testing.T) {
	props, err := config.ParseProperties("a.conf", strings.NewReader(findingsConf))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "a", config.Options{})
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	clk := clock.Real()
	env := registry.Env{Agent: "a", Clock: clk, FS: vfs.NewMem(clk.Now), Log: log, Metrics: metrics.NewRegistry(clk), Hostname: "h"}
	ag := agent.New(cfg, env)
	if err := ag.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer ag.Stop(context.Background())
	type entry struct {
		Level, Msg, At, Rule string
	}
	var warned []entry
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if e.Rule != "" {
			warned = append(warned, e)
		}
	}
	want := map[string]string{"a.conf:9": "inline-comment", "a.conf:12": "not-listed"}
	got := map[string]string{}
	for _, e := range warned {
		if e.Level != "WARN" {
			t.Errorf("finding logged at %s: %+v", e.Level, e)
		}
		if prev, dup := got[e.At]; dup && prev == e.Rule {
			t.Errorf("logged twice: %+v", e)
		}
		got[e.At] = e.Rule
	}
	for at, rule := range want {
		if got[at] != rule {
			t.Errorf("no %s warning at %s; logged %v", rule, at, warned)
		}
	}
	if g := ag.Graph(); len(g.Sources) != 1 || len(g.Runners) != 1 {
		t.Errorf("pipeline not running: %d sources, %d runners\n%s", len(g.Sources), len(g.Runners), logs.String())
	}
}
