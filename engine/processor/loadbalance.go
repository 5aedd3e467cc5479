package processor

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
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
		Name:    "load_balance",
		Aliases: []string{"org.apache.flume.sink.LoadBalancingSinkProcessor"},
		Factory: registry.ProcessorFactory(func(env registry.Env, r *config.Reader, sinks []sink.Sink) (sink.Processor, error) {
			cfg, err := ParseLoadBalance(r, names(sinks))
			if err != nil {
				return nil, err
			}
			return NewLoadBalance(env, r.Name(), sinks, cfg), nil
		}),
	})
	RegisterSelector("round_robin", func(uint64) Selector { return &roundRobin{} })
	RegisterSelector("random", func(seed uint64) Selector {
		return &randomOrder{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	})
}

// Selector orders the sinks a load_balance group tries in one unit of work.
type Selector interface {
	// Order returns the order in which to try the available sinks, given
	// and returned as indexes into the group's sinks (config order). The
	// result may be reused by the next call.
	Order(avail []int) []int
}

var (
	selectorMu sync.RWMutex
	selectors  = map[string]func(seed uint64) Selector{}
)

// RegisterSelector makes a selector available to processor.selector under
// name, compared without case; a Go port of a custom Java SinkSelector can
// register under its class name. seed makes random choices repeatable.
func RegisterSelector(name string, newSelector func(seed uint64) Selector) {
	selectorMu.Lock()
	defer selectorMu.Unlock()
	selectors[strings.ToLower(name)] = newSelector
}

func lookupSelector(name string) (func(uint64) Selector, bool) {
	selectorMu.RLock()
	defer selectorMu.RUnlock()
	f, ok := selectors[strings.ToLower(strings.TrimSpace(name))]
	return f, ok
}

func selectorNames() []string {
	selectorMu.RLock()
	defer selectorMu.RUnlock()
	var out []string
	for n := range selectors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// roundRobin is Flume's RoundRobinOrderSelector: each unit of work starts
// one further along the list of available sinks.
type roundRobin struct {
	next int
	buf  []int
}

// Order returns a slice that is valid until the next call.
func (r *roundRobin) Order(avail []int) []int {
	n := len(avail)
	// Flume keeps its head as an index into the available list, which
	// shrinks and grows with backoff; so does this.
	if r.next >= n {
		r.next = 0
	}
	begin := r.next
	r.next++
	if r.next == n {
		r.next = 0
	}
	out := r.buf[:0]
	for i := range n {
		out = append(out, avail[(begin+i)%n])
	}
	r.buf = out
	return out
}

// randomOrder is Flume's RandomOrderSelector: a random permutation, drawn
// the way Flume draws it, from a seeded generator.
type randomOrder struct {
	rng       *rand.Rand
	rest, out []int
}

// Order returns a slice that is valid until the next call.
func (r *randomOrder) Order(avail []int) []int {
	rest := append(r.rest[:0], avail...)
	out := append(r.out[:0], avail...)
	r.rest, r.out = rest, out
	for len(rest) > 1 {
		pick := r.rng.IntN(len(rest))
		out[len(rest)-1] = rest[pick]
		rest = slices.Delete(rest, pick, pick+1)
	}
	if len(rest) == 1 {
		out[0] = rest[0]
	}
	return out
}

// LoadBalanceConfig is a load_balance group's configuration.
type LoadBalanceConfig struct {
	Selector string // a registered selector: round_robin (default), random
	// Backoff blacklists a failed sink for min(MaxTimeout, 2^n s).
	Backoff    bool
	MaxTimeout time.Duration
	// Seed seeds the random selector; 0 derives one from the clock and the
	// group name (so a run on a virtual clock repeats).
	Seed uint64
}

// DefaultMaxTimeout is Flume's OrderSelector.MAX_TIMEOUT.
const DefaultMaxTimeout = 30 * time.Second

// sequentialRange is Flume's CONSIDER_SEQUENTIAL_RANGE: a failure within
// the last backoff plus an hour of the previous one escalates the backoff.
const sequentialRange = time.Hour

// maxSequentialFails is Flume's EXP_BACKOFF_COUNTER_LIMIT.
const maxSequentialFails = 16

// ParseLoadBalance reads Flume's load_balance keys, selector, backoff and
// selector.maxTimeOut, for the group's sinks in config order.
func ParseLoadBalance(r *config.Reader, sinks []string) (LoadBalanceConfig, error) {
	cfg := LoadBalanceConfig{Selector: "round_robin", MaxTimeout: DefaultMaxTimeout}
	switch len(sinks) {
	case 0:
		r.Errorf("type", "a load_balance group needs at least one sink")
		return cfg, r.Err()
	case 1:
		r.Notef(config.Warning, "type", "load-balance-one-sink", "add sinks to the group, or drop the group",
			"a load_balance group of one sink (%s): Flume refuses it and drops the group, so the sink never runs; Sluice runs it", sinks[0])
	}
	sel := r.String("selector", cfg.Selector)
	if _, ok := lookupSelector(sel); !ok {
		r.Errorf("selector", "%q is not a sink selector Sluice has; use one of %s (Sluice cannot load a Java class)",
			sel, strings.Join(selectorNames(), ", "))
	} else {
		cfg.Selector = strings.ToLower(strings.TrimSpace(sel))
	}
	cfg.Backoff = r.Bool("backoff", false)

	key, ok := "selector.maxTimeOut", r.Has("selector.maxTimeOut")
	for _, k := range slices.Sorted(maps.Keys(r.Component().Props)) {
		if k == "selector.maxTimeOut" || !strings.EqualFold(k, "selector.maxTimeOut") {
			continue
		}
		r.Use(k)
		if ok {
			r.Notef(config.Warning, k, "flume-key-case", "delete it",
				"%s is ignored: Flume reads only selector.maxTimeOut (capital O and T), which is also set", k)
			continue
		}
		r.Notef(config.Warning, k, "flume-key-case", "spell it selector.maxTimeOut",
			"Flume reads only selector.maxTimeOut (capital O and T) and ignores %s, using 30000 ms; Sluice accepts it", k)
		key, ok = k, true
	}
	if ok {
		ms := r.Int64(key, 0)
		switch {
		case ms < 0:
			r.Errorf(key, "%d is not valid; use a positive number of milliseconds, or 0 for Flume's default 30000", ms)
		case ms > 0:
			cfg.MaxTimeout = time.Duration(ms) * time.Millisecond
		}
		if !cfg.Backoff {
			r.Notef(config.Note, key, "load-balance-timeout-unused", "set backoff = true, or delete it",
				"%s has no effect unless backoff = true", key)
		}
	}
	if err := r.Err(); err != nil {
		return cfg, err
	}
	if flume := flumeGroupOrder(sinks); cfg.Selector == "round_robin" && !slices.Equal(flume, sinks) {
		r.Notef(config.Note, "type", "group-sink-order", "",
			"Sluice rotates through the sinks in config order (%s); Flume rotates in Java hash order (%s)",
			strings.Join(sinks, " > "), strings.Join(flume, " > "))
	}
	return cfg, nil
}

// LoadBalance is Flume's load_balance sink processor (flume-facts §3.4):
// each unit of work tries the available sinks in the selector's order and
// the first that answers without error ends it. With backoff, a sink that
// fails is blacklisted with Flume's exponential formula, exactly: the n-th
// failure within an hour of the last backoff ending blacklists it for
// min(maxTimeOut, 2^n s), n capped at 16, and only an hour without failures
// resets n (Flume has no success callback).
//
// Deliberate differences: sinks rotate in config order (Flume: hash order);
// a group of one sink runs (Flume drops the group); when every sink is
// blacklisted the error tells the runner when the first blacklisting ends
// (sink.RetryAfter), where Flume sleeps 5 s (and its random selector throws).
type LoadBalance struct {
	groupEnv
	cfg     LoadBalanceConfig
	sinks   []sink.Sink
	members []*lbMember
	sel     Selector

	failovers, failbacks, allFailed *metrics.Counter

	avail []int // scratch for Process, reused to spare an allocation per call

	mu   sync.Mutex // guards member state: metrics read it concurrently
	last string     // the sink that last delivered
}

type lbMember struct {
	s    sink.Sink
	name string

	failing  bool // its last attempt failed
	fails    int  // Flume's sequentialFails (with backoff); else failures since it last delivered
	lastFail time.Time
	restore  time.Time // with backoff: not tried before
	pen      time.Duration
	ready    int64
}

// NewLoadBalance returns a load_balance processor over sinks (config order).
func NewLoadBalance(env registry.Env, name string, sinks []sink.Sink, cfg LoadBalanceConfig) *LoadBalance {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.Selector == "" {
		cfg.Selector = "round_robin"
	}
	p := &LoadBalance{groupEnv: newGroupEnv(env, name, "load_balance"), cfg: cfg, sinks: sinks}
	seed := cfg.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(env.Agent + "." + name))
		seed = h.Sum64() ^ uint64(p.clk.Now().UnixNano())
	}
	newSel, ok := lookupSelector(cfg.Selector)
	if !ok {
		newSel, _ = lookupSelector("round_robin")
	}
	p.sel = newSel(seed)
	for _, s := range sinks {
		p.members = append(p.members, &lbMember{s: s, name: s.Name()})
	}
	g := p.group
	g.Func("Selector", metrics.KindInfo, false, func() string { return cfg.Selector })
	g.Func("Backoff", metrics.KindInfo, false, func() string { return fmt.Sprint(cfg.Backoff) })
	p.failovers = g.Counter("FailoverCount", metrics.KindCounter)
	p.failbacks = g.Counter("FailbackCount", metrics.KindCounter)
	p.allFailed = g.Counter("AllFailedCount", metrics.KindCounter)
	g.Func("LastSink", metrics.KindInfo, false, p.read(func() string { return p.last }))
	for _, m := range p.members {
		g.MemberFunc("SinkState", "sink", m.name, metrics.KindInfo, false, func() string { return p.State(m.name) })
		g.MemberFunc("SinkFailures", "sink", m.name, metrics.KindGauge, false, p.read(func() string { return fmt.Sprint(m.fails) }))
		g.MemberFunc("SinkPenaltyMillis", "sink", m.name, metrics.KindGauge, false, p.read(func() string {
			if !p.backedOffLocked(m) {
				return "0"
			}
			return fmt.Sprint(m.pen.Milliseconds())
		}))
		g.MemberFunc("SinkRestoreTime", "sink", m.name, metrics.KindGauge, false, p.read(func() string {
			if !p.backedOffLocked(m) {
				return "0"
			}
			return millis(m.restore)
		}))
		g.MemberFunc("SinkReadyCount", "sink", m.name, metrics.KindCounter, false, p.read(func() string { return fmt.Sprint(m.ready) }))
	}
	return p
}

func (p *LoadBalance) read(f func() string) func() string {
	return func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return f()
	}
}

func (p *LoadBalance) backedOffLocked(m *lbMember) bool {
	return p.cfg.Backoff && p.clk.Now().Before(m.restore)
}

// Sinks returns the group's sinks in config order.
func (p *LoadBalance) Sinks() []sink.Sink { return p.sinks }

// Start starts every sink.
func (p *LoadBalance) Start(ctx context.Context) error {
	if err := startAll(ctx, p.name, p.sinks); err != nil {
		return err
	}
	p.mu.Lock()
	for _, m := range p.members {
		m.ready = 0
	}
	p.mu.Unlock()
	p.group.Start()
	return nil
}

// Stop stops every sink.
func (p *LoadBalance) Stop(ctx context.Context) error {
	err := stopAll(ctx, p.name, p.sinks)
	p.group.Stop()
	return err
}

// State is a sink's state: "live", "failing" (its last attempt failed),
// "backedoff" (blacklisted), or "" for a sink not in the group.
func (p *LoadBalance) State(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		if m.name != name {
			continue
		}
		switch {
		case p.backedOffLocked(m):
			return "backedoff"
		case m.failing:
			return "failing"
		default:
			return "live"
		}
	}
	return ""
}

// Penalty reports a sink's failure count and, while it is blacklisted, the
// blacklisting's length and end.
func (p *LoadBalance) Penalty(name string) (fails int, pen time.Duration, restore time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		if m.name == name {
			if !p.backedOffLocked(m) {
				return m.fails, 0, time.Time{}
			}
			return m.fails, m.pen, m.restore
		}
	}
	return 0, 0, time.Time{}
}

// Process does one unit of work: it tries the available sinks in the
// selector's order until one answers without error.
func (p *LoadBalance) Process(ctx context.Context) (sink.Status, error) {
	now := p.clk.Now()
	avail := p.avail[:0]
	p.mu.Lock()
	for i, m := range p.members {
		if !p.cfg.Backoff || !now.Before(m.restore) {
			avail = append(avail, i)
		}
	}
	p.mu.Unlock()
	p.avail = avail
	var errs []error
	for _, i := range p.sel.Order(avail) {
		m := p.members[i]
		st, err := m.s.Process(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return sink.Backoff, err // stopping: not the sink's fault
			}
			p.fail(m, err)
			errs = append(errs, &sinkError{m.name, err})
			continue
		}
		if st == sink.Ready {
			p.delivered(m)
		}
		return st, nil
	}
	return sink.Backoff, p.allFailedError(errs)
}

func (p *LoadBalance) delivered(m *lbMember) {
	p.mu.Lock()
	m.ready++
	p.last = m.name
	back := m.failing
	m.failing = false
	if !p.cfg.Backoff {
		m.fails = 0
	}
	fails := m.fails
	p.mu.Unlock()
	if back {
		p.failbacks.Inc()
		p.log.Info("sink group failback: sink delivered again", "sink", m.name, "failures", fails)
	}
}

// fail is Flume's OrderSelector.informFailure when backing off.
func (p *LoadBalance) fail(m *lbMember, err error) {
	now := p.clk.Now()
	p.mu.Lock()
	was := m.failing
	m.failing = true
	if p.cfg.Backoff {
		last := penalty(m.fails, p.cfg.MaxTimeout)
		if now.Sub(m.lastFail) < last+sequentialRange {
			if m.fails < maxSequentialFails {
				m.fails++
			}
		} else {
			m.fails = 1
		}
		m.lastFail = now
		m.pen = penalty(m.fails, p.cfg.MaxTimeout)
		m.restore = now.Add(m.pen)
	} else {
		m.fails++
	}
	fails, pen := m.fails, m.pen
	p.mu.Unlock()
	switch {
	case !was:
		p.failovers.Inc()
		p.log.Warn("sink group failover: sink failed, trying the next", "sink", m.name, "err", err,
			"failures", fails, "penalty", pen)
	case p.cfg.Backoff:
		p.log.Info("sink group: backed-off sink retried and failed again", "sink", m.name, "err", err,
			"failures", fails, "penalty", pen)
	default:
		p.log.Debug("sink group: failing sink failed again", "sink", m.name, "err", err, "failures", fails)
	}
}

func (p *LoadBalance) allFailedError(errs []error) error {
	p.allFailed.Inc()
	e := &allFailedError{group: p.name, errs: errs}
	if !p.cfg.Backoff {
		return e
	}
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, m := range p.members {
		if !now.Before(m.restore) {
			continue
		}
		if first.IsZero() || m.restore.Before(first) {
			first = m.restore
		}
		if !tried(errs, m.name) {
			e.waiting = append(e.waiting, fmt.Sprintf("sink %s: backed off for another %v", m.name, m.restore.Sub(now).Round(time.Millisecond)))
		}
	}
	if first.IsZero() {
		return e
	}
	return retryAfterError{e, first.Sub(now)}
}
