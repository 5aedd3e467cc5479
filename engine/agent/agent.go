package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
)

// Agent runs one configured pipeline.
type Agent struct {
	env registry.Env
	// DrainTimeout bounds how long Stop lets sinks empty their channels.
	DrainTimeout time.Duration

	mu      sync.Mutex
	cfg     *config.Agent
	graph   *Graph
	running bool
}

// New returns an agent for cfg; nothing runs until Start.
func New(cfg *config.Agent, env registry.Env) *Agent {
	if env.Log == nil {
		env.Log = slog.Default()
	}
	return &Agent{env: env, cfg: cfg, DrainTimeout: 30 * time.Second}
}

// Graph returns the pipeline as built (nil before Start).
func (a *Agent) Graph() *Graph {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.graph
}

// Findings lists what was dropped or questionable in the running config.
func (a *Agent) Findings() []config.Finding {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.graph == nil {
		return a.cfg.Findings
	}
	return config.Merge(append(append([]config.Finding(nil), a.cfg.Findings...), a.graph.Findings...))
}

// Start builds the pipeline and starts it: channels, then sink runners,
// then sources, as Flume does.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return errors.New("agent already running")
	}
	g := Build(a.cfg, a.env, nil)
	a.logFindings(config.Merge(append(append([]config.Finding(nil), a.cfg.Findings...), g.Findings...)))
	if len(g.Channels) == 0 {
		return fmt.Errorf("agent %s: nothing to run: no channel survived validation (see the errors above, or run sluice check)", a.cfg.Name)
	}
	if err := startGraph(ctx, g, nil, a.env.Log); err != nil {
		return err
	}
	a.graph = g
	a.running = true
	a.env.Log.Info("agent started", "agent", a.cfg.Name, "sources", len(g.Sources), "channels", len(g.Channels), "sink_runners", len(g.Runners))
	return nil
}

func (a *Agent) logFindings(fs []config.Finding) {
	for _, f := range fs {
		lvl := slog.LevelWarn
		if f.Severity == config.Note {
			lvl = slog.LevelInfo
		}
		a.env.Log.Log(context.Background(), lvl, f.Message, "at", f.Pos.String(), "rule", f.Rule, "fix", f.Fix)
	}
}

// startGraph starts every component of g not in keep.
func startGraph(ctx context.Context, g *Graph, keep map[any]bool, log *slog.Logger) error {
	var started []func()
	fail := func(err error) error {
		for i := len(started) - 1; i >= 0; i-- {
			started[i]()
		}
		return err
	}
	bg := context.WithoutCancel(ctx)
	for _, c := range g.Channels {
		if keep[c] {
			continue
		}
		if err := c.Ch.Start(); err != nil {
			return fail(fmt.Errorf("start channel %s: %w", c.Name, err))
		}
		ch := c.Ch
		started = append(started, func() { ch.Stop() })
	}
	for _, r := range g.Runners {
		if keep[r] {
			continue
		}
		if err := r.Runner.Start(ctx); err != nil {
			return fail(fmt.Errorf("start sink runner %s: %w", r.Name, err))
		}
		run := r.Runner
		started = append(started, func() { run.Stop(bg) })
	}
	for _, s := range g.Sources {
		if keep[s] {
			continue
		}
		var err error
		if s.Runner != nil {
			err = s.Runner.Start(ctx)
		} else {
			err = s.Src.Start(ctx)
		}
		if err != nil {
			return fail(fmt.Errorf("start source %s: %w", s.Name, err))
		}
		sn := s
		started = append(started, func() { stopSource(bg, sn) })
	}
	return nil
}

func stopSource(ctx context.Context, s *SourceNode) error {
	if s.Runner != nil {
		return s.Runner.Stop(ctx)
	}
	return s.Src.Stop(ctx)
}

// Stop shuts down in reverse: sources stop accepting, sinks drain their
// channels for up to DrainTimeout and finish the transaction in hand, then
// channels close. A memory channel that could not drain logs what it drops.
func (a *Agent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return nil
	}
	a.running = false
	err := stopGraph(ctx, a.graph, nil, a.DrainTimeout, a.env)
	a.env.Log.Info("agent stopped", "agent", a.cfg.Name)
	return err
}

// stopGraph stops every component of g not in keep.
func stopGraph(ctx context.Context, g *Graph, keep map[any]bool, drain time.Duration, env registry.Env) error {
	var errs []error
	for _, s := range g.Sources {
		if !keep[s] {
			if err := stopSource(ctx, s); err != nil {
				errs = append(errs, fmt.Errorf("stop source %s: %w", s.Name, err))
			}
		}
	}
	if drain > 0 {
		dctx, cancel := context.WithTimeout(ctx, drain)
		var wg sync.WaitGroup
		for _, r := range g.Runners {
			if keep[r] {
				continue
			}
			wg.Add(1)
			go func(r *RunnerNode) {
				defer wg.Done()
				r.Runner.Drain(dctx, 50*time.Millisecond)
			}(r)
		}
		wg.Wait()
		cancel()
	}
	for _, r := range g.Runners {
		if !keep[r] {
			if err := r.Runner.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop sink runner %s: %w", r.Name, err))
			}
		}
	}
	for _, c := range g.Channels {
		if !keep[c] {
			if err := c.Ch.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop channel %s: %w", c.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Reload switches to cfg, restarting only the components whose
// configuration (or whose channel's configuration) changed. Components
// that did not change keep running throughout.
func (a *Agent) Reload(ctx context.Context, cfg *config.Agent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		a.cfg = cfg
		return nil
	}
	old := a.graph
	g := Build(cfg, a.env, old)
	a.logFindings(config.Merge(append(append([]config.Finding(nil), cfg.Findings...), g.Findings...)))
	keep := map[any]bool{}
	for _, c := range g.Channels {
		keep[c] = true
	}
	for _, s := range g.Sources {
		keep[s] = true
	}
	for _, r := range g.Runners {
		keep[r] = true
	}
	// Stop what the new graph does not contain; sinks of a removed runner do
	// not drain (their channel, if kept, still holds the events).
	if err := stopGraph(ctx, old, keep, 0, a.env); err != nil {
		a.env.Log.Warn("reload: stopping changed components", "err", err)
	}
	oldSet := map[any]bool{}
	for _, c := range old.Channels {
		oldSet[c] = true
	}
	for _, s := range old.Sources {
		oldSet[s] = true
	}
	for _, r := range old.Runners {
		oldSet[r] = true
	}
	changed := 0
	for k := range keep {
		if !oldSet[k] {
			changed++
		}
	}
	if err := startGraph(ctx, g, oldSet, a.env.Log); err != nil {
		a.graph = g
		a.cfg = cfg
		return fmt.Errorf("reload: %w", err)
	}
	a.graph = g
	a.cfg = cfg
	a.env.Log.Info("configuration reloaded", "agent", cfg.Name, "restarted_components", changed)
	return nil
}
