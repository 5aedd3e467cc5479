package avro_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"

	_ "github.com/sluicehq/sluice/engine/components"
)

// What `sluice check` says about a Flume agent -> collector configuration.
func TestLint(t *testing.T) {
	conf := `
a1.sources = r1
a1.channels = c1
a1.sinks = k1 k2
a1.sources.r1.type = org.apache.flume.source.AvroSource
a1.sources.r1.bind = 0.0.0.0
a1.sources.r1.port = 4141
a1.sources.r1.channels = c1
a1.sources.r1.threads = 8
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = avro
a1.sinks.k1.hostname = collector
a1.sinks.k1.port = 4141
a1.sinks.k1.channel = c1
a1.sinks.k1.connect-timeout = 500
a1.sinks.k1.batch-size = 1000
a1.sinks.k1.compresion-type = deflate
a1.sinks.k2.type = avro
a1.sinks.k2.hostname = collector2
a1.sinks.k2.port = 4141
a1.sinks.k2.channel = c1
a1.sinks.k2.batch-size = 5000
`
	props, err := config.ParseProperties("agent.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "a1", config.Options{})
	env := registry.Env{Agent: "a1", Clock: clock.Real(), FS: vfs.OS{}, Log: quiet(), Metrics: metrics.NewRegistry(nil)}
	var all []string
	for _, f := range agent.Lint(cfg, env) {
		all = append(all, f.String())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"avro-timeout-floor",                      // connect-timeout 500 honoured, Flume would use 20000
		"compresion-type",                         // a typo is reported
		"did you mean compression-type",           // with the fix
		"batch-size 5000 is greater than channel", // k2 dropped as Flume drops it
		"avro-threads",                            // threads means something else here
	} {
		if !strings.Contains(text, want) {
			t.Errorf("sluice check output lacks %q:\n%s", want, text)
		}
	}
}
