package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

// standinProcessor supplies a failover processor while engine/processor
// has none (issue 5 is building it on another branch). It follows Flume's
// FailoverSinkProcessor (flume-facts §3.3) to the letter and is used only
// when the registry has no "failover"; once the engine's lands, the
// registry's is found first and this is dead code to delete.
func standinProcessor(env registry.Env, typ string, r *config.Reader, sinks []sink.Sink) (sink.Processor, bool) {
	t := strings.ToLower(typ)
	if t != "failover" && t != "org.apache.flume.sink.failoversinkprocessor" {
		return nil, false
	}
	p := &failover{clk: env.Clock, sinks: sinks, maxPenalty: r.Millis("maxpenalty", 30*time.Second)}
	next := 0
	for i, s := range sinks {
		prio := r.Int("priority."+s.Name(), next-1)
		if _, ok := r.Raw("priority." + s.Name()); !ok {
			next--
		}
		p.live = append(p.live, &member{s: s, prio: prio, order: i})
	}
	sort.SliceStable(p.live, func(i, j int) bool { return p.live[i].prio > p.live[j].prio })
	return p, r.Err() == nil
}

type member struct {
	s       sink.Sink
	prio    int
	order   int
	fails   int
	refresh time.Time
}

type failover struct {
	clk        clock.Clock
	sinks      []sink.Sink
	live       []*member // by priority, highest first
	failed     []*member // by refresh time
	maxPenalty time.Duration
}

func (p *failover) Start(ctx context.Context) error {
	for _, s := range p.sinks {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (p *failover) Stop(ctx context.Context) error {
	for _, s := range p.sinks {
		s.Stop(ctx)
	}
	return nil
}

func (p *failover) Sinks() []sink.Sink { return p.sinks }

func (p *failover) penalize(m *member, now time.Time) {
	m.refresh = now.Add(min(p.maxPenalty, time.Duration(1<<min(m.fails, 30))*time.Second))
	i := sort.Search(len(p.failed), func(i int) bool { return p.failed[i].refresh.After(m.refresh) })
	p.failed = append(p.failed, nil)
	copy(p.failed[i+1:], p.failed[i:])
	p.failed[i] = m
}

func (p *failover) Process(ctx context.Context) (sink.Status, error) {
	now := p.clk.Now()
	for len(p.failed) > 0 && p.failed[0].refresh.Before(now) {
		m := p.failed[0]
		p.failed = p.failed[1:]
		st, err := m.s.Process(ctx)
		if err != nil {
			m.fails++
			p.penalize(m, now)
			continue
		}
		if st == sink.Ready {
			m.fails = 0
			i := sort.Search(len(p.live), func(i int) bool { return p.live[i].prio < m.prio })
			p.live = append(p.live, nil)
			copy(p.live[i+1:], p.live[i:])
			p.live[i] = m
			return sink.Ready, nil
		}
		p.failed = append([]*member{m}, p.failed...)
		return sink.Backoff, nil
	}
	for len(p.live) > 0 {
		m := p.live[0]
		st, err := m.s.Process(ctx)
		if err == nil {
			return st, nil
		}
		p.live = p.live[1:]
		m.fails = 1
		p.penalize(m, now)
	}
	return sink.Backoff, fmt.Errorf("all sinks failed to process, nothing left to failover to: %w", sink.ErrAllFailed)
}
