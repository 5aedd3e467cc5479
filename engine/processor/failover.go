package processor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
)

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Processor,
		Name:    "failover",
		Aliases: []string{"org.apache.flume.sink.FailoverSinkProcessor"},
		Factory: registry.ProcessorFactory(func(env registry.Env, r *config.Reader, sinks []sink.Sink) (sink.Processor, error) {
			cfg, err := ParseFailover(r, names(sinks))
			if err != nil {
				return nil, err
			}
			return NewFailover(env, r.Name(), sinks, cfg), nil
		}),
	})
}

// FailoverConfig is a failover group's configuration.
type FailoverConfig struct {
	// Priority by sink name; the highest live one is active. Sinks without
	// one rank below, in config order, numbered -1, -2, ... as in Flume.
	Priority map[string]int
	// MaxPenalty caps a failed sink's cool-down (Flume's maxpenalty).
	MaxPenalty time.Duration
}

// DefaultMaxPenalty is Flume's DEFAULT_MAX_PENALTY.
const DefaultMaxPenalty = 30 * time.Second

// ParseFailover reads Flume's failover keys, priority.<sink> and maxpenalty,
// for the group's sinks in config order. Errors name file, line and key;
// where Flume would behave differently, findings for `sluice check` say how.
func ParseFailover(r *config.Reader, sinks []string) (FailoverConfig, error) {
	cfg := FailoverConfig{Priority: map[string]int{}, MaxPenalty: DefaultMaxPenalty}
	if len(sinks) == 0 {
		r.Errorf("type", "a failover group needs at least one sink")
		return cfg, r.Err()
	}
	if raw, ok := r.Raw("maxpenalty"); ok {
		ms := r.Int64("maxpenalty", DefaultMaxPenalty.Milliseconds())
		if _, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64); err == nil {
			if ms <= 0 {
				r.Errorf("maxpenalty", "%d is not a valid penalty; use a positive number of milliseconds (Flume's default is 30000)", ms)
			} else if _, javaOK := javaParseInt(raw); !javaOK && ms != DefaultMaxPenalty.Milliseconds() {
				r.Notef(config.Warning, "maxpenalty", "failover-maxpenalty-flume", "use a value Java's int can hold (at most 2147483647)",
					"Flume's Integer.parseInt rejects %q and uses 30000 ms; Sluice reads %d ms", raw, ms)
			}
		}
		cfg.MaxPenalty = time.Duration(ms) * time.Millisecond
	}
	raw := r.Prefix("priority.")
	for _, name := range sinks {
		if _, ok := raw[name]; ok {
			cfg.Priority[name] = r.Int("priority."+name, 0)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(sinks, k) {
			fix := ""
			if s := config.Suggest(k, sinks); s != "" {
				fix = "did you mean priority." + s + "?"
			}
			r.Notef(config.Warning, "priority."+k, "failover-priority-unknown-sink", fix,
				"priority.%s names no sink of this group (its sinks: %s); Flume and Sluice ignore it", k, strings.Join(sinks, " "))
		}
	}
	if err := r.Err(); err != nil {
		return cfg, err
	}
	lintFailover(r, sinks, raw, cfg.Priority)
	return cfg, nil
}

// rankSinks orders sinks as Sluice's failover does: by priority, highest
// first; sinks without one get -1, -2, ... in config order; equal
// priorities keep config order.
func rankSinks(sinks []string, prio map[string]int) (ranked []string, eff map[string]int) {
	eff = map[string]int{}
	next := 0
	for _, s := range sinks {
		if p, ok := prio[s]; ok {
			eff[s] = p
		} else {
			next--
			eff[s] = next
		}
	}
	ranked = slices.Clone(sinks)
	sort.SliceStable(ranked, func(i, j int) bool { return eff[ranked[i]] > eff[ranked[j]] })
	return ranked, eff
}

// lintFailover reports where Flume, with its hash order and its one sink
// per priority, would use the group differently from Sluice.
func lintFailover(r *config.Reader, sinks []string, raw map[string]string, prio map[string]int) {
	ranked, eff := rankSinks(sinks, prio)
	plan := flumeFailoverPlan(sinks, raw)

	for _, s := range sinks {
		v, ok := raw[s]
		if _, javaOK := javaParseInt(v); ok && !javaOK {
			r.Notef(config.Warning, "priority."+s, "failover-priority-flume", "use a priority Java's int can hold (-2147483648 to 2147483647)",
				"Flume's Integer.parseInt rejects %q, so Flume ranks sink %s as if it had no priority; Sluice reads %d",
				v, s, prio[s])
		}
	}

	var implicit []string
	for _, s := range sinks {
		if _, ok := prio[s]; !ok {
			implicit = append(implicit, fmt.Sprintf("%s = %d", s, eff[s]))
		}
	}
	var flume []string
	for _, s := range flumeFailoverOrder(sinks) {
		if plan.Implicit[s] {
			if p, used := plan.Priority[s]; used {
				flume = append(flume, fmt.Sprintf("%s = %d", s, p))
			}
		}
	}
	if len(implicit) > 0 && !slices.Equal(implicit, flume) {
		r.Notef(config.Note, "type", "failover-no-priority", "give every sink of the group an explicit, distinct priority",
			"sinks without priority.<sink> rank below the others; Sluice numbers them in config order (%s), Flume in Java hash order (%s)",
			strings.Join(implicit, ", "), strings.Join(flume, ", "))
	}

	for i := 1; i < len(ranked); i++ {
		a, b := ranked[i-1], ranked[i]
		if eff[a] == eff[b] {
			r.Notef(config.Note, "priority."+b, "failover-equal-priority", "give each sink a distinct priority",
				"sinks %s and %s share priority %d; Sluice keeps both and prefers %s, listed first", a, b, eff[a], a)
		}
	}
	for _, s := range sinks {
		if first, ok := plan.Dropped[s]; ok {
			r.Notef(config.Warning, "priority."+s, "failover-flume-drops-sink", "give each sink a distinct priority",
				"Flume would never use sink %s: FailoverSinkProcessor keeps one sink per priority and meets %s first with priority %d; Sluice uses both",
				s, first, plan.Priority[first])
		}
	}

	switch {
	case len(plan.Ranked) > 0 && plan.Ranked[0] != ranked[0]:
		r.Notef(config.Warning, "type", "failover-active-differs", "give every sink of the group an explicit, distinct priority",
			"Flume would make %s the active sink and fail over %s; Sluice makes %s active and fails over %s",
			plan.Ranked[0], strings.Join(plan.Ranked, " > "), ranked[0], strings.Join(ranked, " > "))
	case !slices.Equal(plan.Ranked, ranked):
		r.Notef(config.Note, "type", "failover-order-differs", "give every sink of the group an explicit, distinct priority",
			"Flume would fail over %s; Sluice fails over %s", strings.Join(plan.Ranked, " > "), strings.Join(ranked, " > "))
	}
}

// Failover is Flume's failover sink processor (flume-facts §3.3): the
// highest-priority live sink delivers; a sink that fails is penalized for
// min(maxpenalty, 2^n s) after its n-th sequential failure and is retried
// once the penalty has passed; it rejoins the live pool when it delivers.
//
// Where Flume loses availability, Sluice deliberately differs:
//   - A penalized sink is retried only when it outranks every live sink,
//     i.e. when it would take over if it delivered. Flume retries every
//     failed sink first on each call, so a dead low-priority collector
//     stalls a healthy primary for a timeout every penalty period.
//   - A retried sink that finds nothing to deliver stays due and the walk
//     goes on to the next sink; Flume returns BACKOFF there, which starves
//     the live sinks if the failed one keeps answering BACKOFF.
//   - A sink that fails again within maxpenalty of coming back continues
//     its penalty sequence; Flume restarts at 2 s, so a flapping collector
//     costs a failed batch every 2 s.
//   - The penalty stays at the cap however long a sink is dead; Flume's
//     32-bit arithmetic overflows after 21 failures and retries it on
//     every call.
//   - When every sink failed, the error tells the runner when the first
//     penalty ends (sink.RetryAfter); Flume's runner always sleeps 5 s.
//
// Process is synchronous and reads time only through the clock, so the
// simulator drives this exact code.
type Failover struct {
	groupEnv
	maxPenalty time.Duration
	sinks      []sink.Sink
	ranked     []failoverMember // highest priority first; walked on every Process

	failovers, failbacks, allFailed *metrics.Counter

	mu sync.Mutex // guards member state: metrics read it concurrently
}

type failoverMember struct {
	s        sink.Sink
	name     string
	priority int

	failed    bool
	fails     int           // sequential failures
	pen       time.Duration // current penalty
	restore   time.Time     // while failed: not retried before
	downSince time.Time     // when it last left the live pool
	upSince   time.Time     // when it last rejoined it
	ready     int64         // READY answers
}

// NewFailover returns a failover processor over sinks (config order).
func NewFailover(env registry.Env, name string, sinks []sink.Sink, cfg FailoverConfig) *Failover {
	if cfg.MaxPenalty <= 0 {
		cfg.MaxPenalty = DefaultMaxPenalty
	}
	p := &Failover{groupEnv: newGroupEnv(env, name, "failover"), maxPenalty: cfg.MaxPenalty, sinks: sinks}
	ranked, eff := rankSinks(names(sinks), cfg.Priority)
	byName := map[string]sink.Sink{}
	for _, s := range sinks {
		byName[s.Name()] = s
	}
	p.ranked = make([]failoverMember, len(ranked))
	for i, n := range ranked {
		p.ranked[i] = failoverMember{s: byName[n], name: n, priority: eff[n]}
	}
	g := p.group
	p.failovers = g.Counter("FailoverCount", metrics.KindCounter)
	p.failbacks = g.Counter("FailbackCount", metrics.KindCounter)
	p.allFailed = g.Counter("AllFailedCount", metrics.KindCounter)
	g.Func("ActiveSink", metrics.KindInfo, false, func() string { return p.Active() })
	for i := range p.ranked {
		m := &p.ranked[i]
		g.MemberFunc("SinkState", "sink", m.name, metrics.KindInfo, false, func() string { return p.State(m.name) })
		g.MemberFunc("SinkPriority", "sink", m.name, metrics.KindGauge, false, func() string { return fmt.Sprint(m.priority) })
		g.MemberFunc("SinkFailures", "sink", m.name, metrics.KindGauge, false, p.read(func() string { return fmt.Sprint(m.fails) }))
		g.MemberFunc("SinkPenaltyMillis", "sink", m.name, metrics.KindGauge, false, p.read(func() string {
			if !m.failed {
				return "0"
			}
			return fmt.Sprint(m.pen.Milliseconds())
		}))
		g.MemberFunc("SinkRestoreTime", "sink", m.name, metrics.KindGauge, false, p.read(func() string {
			if !m.failed {
				return "0"
			}
			return millis(m.restore)
		}))
		g.MemberFunc("SinkReadyCount", "sink", m.name, metrics.KindCounter, false, p.read(func() string { return fmt.Sprint(m.ready) }))
	}
	return p
}

func (p *Failover) read(f func() string) func() string {
	return func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return f()
	}
}

// Sinks returns the group's sinks in config order.
func (p *Failover) Sinks() []sink.Sink { return p.sinks }

// Start starts every sink.
func (p *Failover) Start(ctx context.Context) error {
	if err := startAll(ctx, p.name, p.sinks); err != nil {
		return err
	}
	p.mu.Lock()
	for i := range p.ranked {
		m := &p.ranked[i]
		m.ready = 0
	}
	p.mu.Unlock()
	p.group.Start()
	return nil
}

// Stop stops every sink.
func (p *Failover) Stop(ctx context.Context) error {
	err := stopAll(ctx, p.name, p.sinks)
	p.group.Stop()
	return err
}

// Active is the name of the highest-priority live sink, "" if none.
func (p *Failover) Active() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.activeLocked(); m != nil {
		return m.name
	}
	return ""
}

func (p *Failover) activeLocked() *failoverMember {
	for i := range p.ranked {
		m := &p.ranked[i]
		if !m.failed {
			return m
		}
	}
	return nil
}

// State is a sink's state: "active", "standby" (live, not active), "failed"
// (serving its penalty) or "due" (penalty served, retry pending), or "" for
// a sink not in the group.
func (p *Failover) State(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	active := p.activeLocked()
	for i := range p.ranked {
		m := &p.ranked[i]
		if m.name != name {
			continue
		}
		switch {
		case m == active:
			return "active"
		case !m.failed:
			return "standby"
		case p.clk.Now().Before(m.restore):
			return "failed"
		default:
			return "due"
		}
	}
	return ""
}

// Penalty reports a sink's sequential failures and, while it is failed, its
// current penalty and the time it may be retried.
func (p *Failover) Penalty(name string) (fails int, pen time.Duration, restore time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.ranked {
		m := &p.ranked[i]
		if m.name == name {
			if !m.failed {
				return m.fails, 0, time.Time{}
			}
			return m.fails, m.pen, m.restore
		}
	}
	return 0, 0, time.Time{}
}

// Process does one unit of work: it walks the sinks by priority, skipping
// failed sinks still serving their penalty, and the first sink that
// answers without error ends it. A failed sink that delivers rejoins the
// live pool; a sink that fails is penalized and the walk goes on.
func (p *Failover) Process(ctx context.Context) (sink.Status, error) {
	var errs []error
	sawBackoff := false
	for i := range p.ranked {
		m := &p.ranked[i]
		p.mu.Lock()
		failed, restore := m.failed, m.restore
		p.mu.Unlock()
		if failed && p.clk.Now().Before(restore) {
			continue
		}
		st, err := m.s.Process(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return sink.Backoff, err // stopping: not the sink's fault
			}
			p.fail(m, err)
			errs = append(errs, &sinkError{m.name, err})
			continue
		}
		if !failed {
			if st == sink.Ready {
				p.mu.Lock()
				m.ready++
				p.mu.Unlock()
			}
			return st, nil
		}
		if st == sink.Ready {
			p.failback(m)
			return sink.Ready, nil
		}
		// Nothing to deliver on its channel says nothing about its health.
		sawBackoff = true
	}
	if sawBackoff {
		return sink.Backoff, nil
	}
	return sink.Backoff, p.allFailedError(errs)
}

func (p *Failover) fail(m *failoverMember, err error) {
	now := p.clk.Now()
	p.mu.Lock()
	wasFailed := m.failed
	switch {
	case wasFailed:
		m.fails++
	case m.fails > 0 && now.Sub(m.upSince) < p.maxPenalty:
		m.fails++ // flapping: back within maxpenalty, keep escalating
	default:
		m.fails = 1
	}
	if !wasFailed {
		m.failed = true
		m.downSince = now
	}
	m.pen = penalty(m.fails, p.maxPenalty)
	m.restore = now.Add(m.pen)
	active := ""
	if a := p.activeLocked(); a != nil {
		active = a.name
	}
	fails, pen := m.fails, m.pen
	p.mu.Unlock()
	if wasFailed {
		p.log.Info("sink group: failed sink retried and failed again", "sink", m.name, "err", err,
			"failures", fails, "penalty", pen, "active", active)
		return
	}
	p.failovers.Inc()
	p.log.Warn("sink group failover: sink failed and was penalized", "sink", m.name, "err", err,
		"failures", fails, "penalty", pen, "active", active)
}

func (p *Failover) failback(m *failoverMember) {
	now := p.clk.Now()
	p.mu.Lock()
	m.failed = false
	m.upSince = now
	m.ready++
	down := now.Sub(m.downSince)
	fails := m.fails
	active := p.activeLocked().name
	p.mu.Unlock()
	p.failbacks.Inc()
	p.log.Info("sink group failback: sink delivered again and rejoined the live pool", "sink", m.name,
		"down_for", down, "failures", fails, "active", active)
}

func (p *Failover) allFailedError(errs []error) error {
	p.allFailed.Inc()
	e := &allFailedError{group: p.name, errs: errs}
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for i := range p.ranked {
		m := &p.ranked[i]
		if !m.failed {
			continue
		}
		if first.IsZero() || m.restore.Before(first) {
			first = m.restore
		}
		if !tried(errs, m.name) {
			e.waiting = append(e.waiting, fmt.Sprintf("sink %s: penalized for another %v", m.name, m.restore.Sub(now).Round(time.Millisecond)))
		}
	}
	if first.IsZero() {
		return e
	}
	return retryAfterError{e, max(first.Sub(now), 0)}
}

func names(sinks []sink.Sink) []string {
	out := make([]string, len(sinks))
	for i, s := range sinks {
		out[i] = s.Name()
	}
	return out
}
