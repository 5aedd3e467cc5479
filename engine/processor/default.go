// Package processor holds Flume's sink processors: default, failover and
// load_balance. Each is a synchronous state machine driven by a sink.Runner
// (or, in the simulator, directly) that reads time only through its clock.
//
// They read Flume's keys under <agent>.sinkgroups.<g>.processor.: type;
// priority.<sink> and maxpenalty (failover); selector, backoff and
// selector.maxTimeOut (load_balance). They do what Flume does
// (flume-facts §3) except where Flume's behaviour is accidental or loses
// availability; Failover and LoadBalance list those differences, and
// `sluice check` reports each one a given configuration runs into, naming
// what Flume would do instead (predicted from Java's hash order, see
// flumeorder.go).
//
// Each group has a SINKGROUP.<g> metrics entry (in /metrics?extended=1 and
// /prometheus): the processor, the active or last sink, failover, failback
// and all-failed counts, and per sink its state, failures, penalty and
// restore time. Every failover and failback is logged with the sink, the
// error and the penalty.
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
