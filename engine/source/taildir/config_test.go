package taildir

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/agent"
	_ "github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	_ "github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/vfs"
)

func build(t *testing.T, conf string) (*config.Agent, []config.Finding) {
	t.Helper()
	props, err := config.ParseProperties("agent.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "a1", config.Options{})
	env := registry.Env{Agent: "a1", Clock: clock.NewManual(epoch), FS: vfs.NewMem(nil), Log: quietLog()}
	return cfg, agent.Lint(cfg, env)
}

const base = `
a1.channels = c1
a1.channels.c1.type = memory
a1.sinks = k1
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
a1.sources = r1
a1.sources.r1.channels = c1
`

func TestFlumeConfigIsAccepted(t *testing.T) {
	cfg, findings := build(t, base+`
a1.sources.r1.type = TAILDIR
a1.sources.r1.positionFile = /var/lib/flume/taildir_position.json
a1.sources.r1.filegroups = f1 f2
a1.sources.r1.filegroups.f1 = /var/log/test1/example.log
a1.sources.r1.headers.f1.headerKey1 = value1
a1.sources.r1.filegroups.f2 = /var/log/test2/.*log.*
a1.sources.r1.headers.f2.headerKey1 = value2
a1.sources.r1.headers.f2.headerKey2 = value2-2
a1.sources.r1.fileHeader = true
a1.sources.r1.maxBatchCount = 1000
a1.sources.r1.batchSize = 50
a1.sources.r1.idleTimeout = 60000
a1.sources.r1.writePosInterval = 1000
a1.sources.r1.skipToEnd = true
a1.sources.r1.byteOffsetHeader = true
a1.sources.r1.cachePatternMatching = false
a1.sources.r1.fileHeaderKey = path
a1.sources.r1.backoffSleepIncrement = 200
a1.sources.r1.maxBackoffSleep = 1000
a1.sources.r1.maxLineLength = 4096
a1.sources.r1.longLinePolicy = truncate
`)
	for _, f := range findings {
		if strings.Contains(f.Key, "sources.r1") || f.Rule == "dropped" && strings.Contains(f.Message, "r1") {
			t.Errorf("finding: %s", f)
		}
	}
	r := config.NewReader("a1", cfg.Component(config.KindSource, "r1"))
	c, err := ParseConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 2 || c.Groups[0].Dir != "/var/log/test1" || !c.Groups[0].Match("example.log") || c.Groups[0].Match("example.log.1") ||
		!c.Groups[1].Match("x.log.3") || c.Groups[1].Headers["headerKey2"] != "value2-2" || c.Groups[0].Headers["headerKey1"] != "value1" {
		t.Fatalf("groups %+v", c.Groups)
	}
	if c.PositionFile != "/var/lib/flume/taildir_position.json" || c.BatchSize != 50 || c.MaxBatchCount != 1000 ||
		c.IdleTimeout != time.Minute || c.WritePosInterval != time.Second || !c.SkipToEnd || !c.ByteOffsetHeader ||
		c.CachePatternMatching || !c.FileHeader || c.FileHeaderKey != "path" || c.MaxLineLength != 4096 || c.LongLines != Truncate {
		t.Fatalf("config %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	cfg, _ := build(t, base+`
a1.sources.r1.type = org.apache.flume.source.taildir.TaildirSource
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = /var/log/app/trade.log
`)
	c, err := ParseConfig(config.NewReader("a1", cfg.Component(config.KindSource, "r1")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(c.PositionFile, "/.flume/taildir_position.json") || c.BatchSize != 100 || c.MaxBatchCount != math.MaxInt64 ||
		c.IdleTimeout != 120*time.Second || c.WritePosInterval != 3*time.Second || c.SkipToEnd || c.ByteOffsetHeader ||
		!c.CachePatternMatching || c.FileHeader || c.FileHeaderKey != "file" || c.MaxLineLength != DefaultMaxLineLength || c.LongLines != Split {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{``, "filegroups: is required"},
		{"a1.sources.r1.filegroups = f1\n", "no file group has a path"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/(unclosed\n", "not a valid regular expression"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/(?=x).*\n", "RE2"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/\n", "last element must be a regular expression"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/a\na1.sources.r1.batchSize = 0\n", "batchSize"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/a\na1.sources.r1.headers.f1 = x\n", "headers.<filegroup>.<header name>"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/a\na1.sources.r1.skipToEnd = yes\n", "not a boolean"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/a\na1.sources.r1.longLinePolicy = drop\n", "split, truncate"},
		{"a1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/a\na1.sources.r1.writePosInterval = 0\n", "writePosInterval"},
	} {
		_, findings := build(t, base+"a1.sources.r1.type = taildir\n"+tc.conf)
		var msgs []string
		found := false
		for _, f := range findings {
			msgs = append(msgs, f.String())
			if f.Rule == "dropped" && strings.Contains(f.Message, tc.want) && strings.Contains(f.Message, "agent.conf:") {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: want a drop naming agent.conf and %q; findings:\n%s", tc.conf, tc.want, strings.Join(msgs, "\n"))
		}
	}
}

func TestConfigWarnings(t *testing.T) {
	_, findings := build(t, base+`a1.sources.r1.type = taildir
a1.sources.r1.filegroups = f1 f2
a1.sources.r1.filegroups.f1 = /var/log/a.log
a1.sources.r1.filegroups.f3 = /var/log/b.log
a1.sources.r1.headers.f9.k = v
a1.sources.r1.maxBatchCount = -1
a1.sources.r1.batchsize = 10
`)
	var all []string
	for _, f := range findings {
		all = append(all, f.String())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"file group f2 has no filegroups.f2", "f9, which is not in filegroups", "maxBatchCount -1 is invalid",
		"does not read filegroups.f3", "did you mean batchSize"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no finding mentions %q:\n%s", want, joined)
		}
	}
}

func TestNewGroup(t *testing.T) {
	for _, tc := range []struct{ path, dir, match, nomatch string }{
		{"/var/log/app/trade.log", "/var/log/app", "trade.log", "trade.log.1"},
		{"/var//log/app//.*\\.log", "/var/log/app", "x.log", "x.logs"},
		{"/a.log", "/", "a.log", "b.log"},
		{"/var/log/../log/x", "/var/log/../log", "x", "y"},
	} {
		g, err := NewGroup("g", tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if g.Dir != tc.dir || !g.Match(tc.match) || g.Match(tc.nomatch) {
			t.Errorf("%s: dir %q match(%s)=%v match(%s)=%v", tc.path, g.Dir, tc.match, g.Match(tc.match), tc.nomatch, g.Match(tc.nomatch))
		}
	}
}

func TestAgentRunsItAsAPollableSource(t *testing.T) {
	cfg, _ := build(t, base+`a1.sources.r1.type = taildir
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = /var/log/a.log
a1.sources.r1.backoffSleepIncrement = 250
a1.sources.r1.maxBackoffSleep = 2000
`)
	env := registry.Env{Agent: "a1", Clock: clock.NewManual(epoch), FS: vfs.NewMem(nil), Log: quietLog(), Check: true}
	g := agent.Build(cfg, env, nil)
	if len(g.Sources) != 1 {
		t.Fatalf("sources %d; findings %v", len(g.Sources), g.Findings)
	}
	run := g.Sources[0].Runner
	if run == nil || run.Wake == nil || run.Increment != 250*time.Millisecond || run.Max != 2*time.Second {
		t.Fatalf("runner %+v", run)
	}
	if _, ok := g.Sources[0].Src.(*Source); !ok {
		t.Fatalf("source is %T", g.Sources[0].Src)
	}
}
