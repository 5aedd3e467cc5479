package processor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// benchSink answers at once, so a benchmark measures the processor alone.
type benchSink struct {
	name string
	err  error
}

func (s *benchSink) Name() string                { return s.name }
func (s *benchSink) Start(context.Context) error { return nil }
func (s *benchSink) Stop(context.Context) error  { return nil }
func (s *benchSink) Process(context.Context) (sink.Status, error) {
	if s.err != nil {
		return sink.Backoff, s.err
	}
	return sink.Ready, nil
}

func benchEnv() registry.Env {
	clk := clock.Real()
	return registry.Env{Agent: "a1", Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.NewRegistry(clk)}
}

func benchSinks(failed ...bool) []sink.Sink {
	var out []sink.Sink
	for i, f := range failed {
		s := &benchSink{name: "k" + string(rune('1'+i))}
		if f {
			s.err = errors.New("down")
		}
		out = append(out, s)
	}
	return out
}

func runBench(b *testing.B, p sink.Processor) {
	ctx := context.Background()
	p.Process(ctx) // let a failing sink fail once, outside the loop
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.Process(ctx)
	}
}

// BenchmarkFailoverHealthy: the primary delivers every unit of work.
func BenchmarkFailoverHealthy(b *testing.B) {
	runBench(b, NewFailover(benchEnv(), "g1", benchSinks(false, false, false), FailoverConfig{Priority: map[string]int{"k1": 100, "k2": 80, "k3": 60}}))
}

// BenchmarkFailoverPrimaryPenalized: the primary is serving its penalty and
// is skipped on every unit of work.
func BenchmarkFailoverPrimaryPenalized(b *testing.B) {
	runBench(b, NewFailover(benchEnv(), "g1", benchSinks(true, false, false), FailoverConfig{Priority: map[string]int{"k1": 100, "k2": 80, "k3": 60}}))
}

func BenchmarkLoadBalanceRoundRobin(b *testing.B) {
	runBench(b, NewLoadBalance(benchEnv(), "g1", benchSinks(false, false, false), LoadBalanceConfig{Backoff: true}))
}

func BenchmarkLoadBalanceRandom(b *testing.B) {
	runBench(b, NewLoadBalance(benchEnv(), "g1", benchSinks(false, false, false), LoadBalanceConfig{Selector: "random", Backoff: true, Seed: 1}))
}
