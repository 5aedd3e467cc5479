// Package processor holds Flume's sink processors: default, failover and
// load_balance. Each is a synchronous state machine driven by a sink.Runner
// (or, in the simulator, directly) that reads time only through its clock.
package processor

import (
	"fmt"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Processor,
		Name:    "default",
		Aliases: []string{"org.apache.flume.sink.DefaultSinkProcessor"},
		Factory: registry.ProcessorFactory(func(env registry.Env, r *config.Reader, sinks []sink.Sink) (sink.Processor, error) {
			if len(sinks) != 1 {
				return nil, fmt.Errorf("the default processor runs exactly one sink, got %d; use failover or load_balance for several", len(sinks))
			}
			return sink.Single{S: sinks[0]}, nil
		}),
	})
}
