package processor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/sinkmock"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// mode is what a scripted sink answers.
type mode int

const (
	up    mode = iota // delivers a batch: READY
	empty             // nothing in its channel: BACKOFF
	down              // delivery fails: error
)

var errRefused = errors.New("dial tcp 127.0.0.1:4141: connect: connection refused")

// scripted is a gomock sink whose answers follow its mode, counting calls.
type scripted struct {
	*sinkmock.MockSink
	name  string
	mode  mode
	calls int
	// onProcess, if set, runs inside each Process call (e.g. to advance the
	// clock by a timeout).
	onProcess func()
}

// mocks returns gomock sinks with the given names, all up.
func mocks(t *testing.T, names ...string) ([]sink.Sink, map[string]*scripted) {
	t.Helper()
	ctrl := gomock.NewController(t)
	var list []sink.Sink
	by := map[string]*scripted{}
	for _, n := range names {
		s := &scripted{MockSink: sinkmock.NewMockSink(ctrl), name: n}
		s.EXPECT().Name().Return(n).AnyTimes()
		s.EXPECT().Start(gomock.Any()).Return(nil).AnyTimes()
		s.EXPECT().Stop(gomock.Any()).Return(nil).AnyTimes()
		s.EXPECT().Process(gomock.Any()).DoAndReturn(func(context.Context) (sink.Status, error) {
			s.calls++
			if s.onProcess != nil {
				s.onProcess()
			}
			switch s.mode {
			case up:
				return sink.Ready, nil
			case empty:
				return sink.Backoff, nil
			}
			return sink.Backoff, errRefused
		}).AnyTimes()
		list = append(list, s)
		by[n] = s
	}
	return list, by
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

type fixture struct {
	clk  *clock.Manual
	reg  *metrics.Registry
	logs *logBuffer
	env  registry.Env
}

func newFixture() *fixture {
	clk := clock.NewManual(t0)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := metrics.NewRegistry(clk)
	return &fixture{clk: clk, reg: reg, logs: logs, env: registry.Env{Agent: "a1", Clock: clk, Log: log, Metrics: reg}}
}

// process runs one unit of work and fails the test on an unexpected error.
func process(t *testing.T, p sink.Processor) sink.Status {
	t.Helper()
	st, err := p.Process(context.Background())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return st
}

// metric reads one attribute of the SINKGROUP entry.
func metric(t *testing.T, reg *metrics.Registry, group, attr string) string {
	t.Helper()
	g, ok := reg.Lookup("SINKGROUP." + group)
	if !ok {
		t.Fatalf("no SINKGROUP.%s in the registry", group)
	}
	v, ok := g.Get(attr)
	if !ok {
		t.Fatalf("SINKGROUP.%s has no attribute %s", group, attr)
	}
	return v
}
