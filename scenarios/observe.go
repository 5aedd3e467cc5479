package scenarios

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios/checker"
)

// observer polls every node's /metrics: channel sizes (backlog per tier),
// per-sink drain and failure counters (the failover table's "detected"),
// and each sink group's active sink.
type observer struct {
	start    time.Time
	interval time.Duration
	nodes    []*Node
	client   *http.Client

	mu       sync.Mutex
	samples  []checker.SinkSample
	size     map[string]int64            // node -> last channel size
	reached  map[string]bool             // node -> answered at least once
	last     map[string]map[string]int64 // node -> sink -> last EventDrainSuccessCount
	backlog  map[string][]int64          // tier -> per interval
	drained  map[string][]int64          // node/sink -> per interval
	active   map[string]*record.ActiveSink
	activeAt map[string]string // node/group -> current active sink
	onChange func(at time.Time, node, group, from, to string)
}

func newObserver(start time.Time, interval time.Duration, nodes []*Node) *observer {
	return &observer{
		start: start, interval: interval, nodes: nodes,
		client:  &http.Client{Timeout: 700 * time.Millisecond},
		size:    map[string]int64{},
		reached: map[string]bool{},
		last:    map[string]map[string]int64{},
		backlog: map[string][]int64{}, drained: map[string][]int64{},
		active: map[string]*record.ActiveSink{}, activeAt: map[string]string{},
	}
}

// run polls every period until ctx ends.
func (o *observer) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		o.pollAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (o *observer) pollAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range o.nodes {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			m, err := n.fetch(ctx, o.client)
			if err != nil {
				return // down or frozen: its last values stand
			}
			o.record(time.Now(), n, m)
		}(n)
	}
	wg.Wait()
	o.mu.Lock()
	o.fillBacklog(time.Now())
	o.mu.Unlock()
}

func (o *observer) bucket(at time.Time) int {
	d := at.Sub(o.start)
	if d < 0 {
		return 0
	}
	return int(d / o.interval)
}

func grow(s []int64, i int, fill int64) []int64 {
	for len(s) <= i {
		s = append(s, fill)
	}
	return s
}

func (o *observer) record(at time.Time, n *Node, m metrics) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ms := at.Sub(o.start).Milliseconds()
	b := o.bucket(at)
	var size int64
	for key := range m {
		if strings.HasPrefix(key, "CHANNEL.") {
			size += m.int(key, "ChannelSize")
		}
	}
	o.size[n.Name] = size
	o.reached[n.Name] = true
	if o.last[n.Name] == nil {
		o.last[n.Name] = map[string]int64{}
	}
	deltas := map[string]int64{}
	for key := range m {
		sinkName, ok := strings.CutPrefix(key, "SINK.")
		if !ok {
			continue
		}
		drained := m.int(key, "EventDrainSuccessCount")
		fails := m.int(key, "EventWriteFail") + m.int(key, "ConnectionFailedCount")
		o.samples = append(o.samples, checker.SinkSample{AtMs: ms, Node: n.Name, Sink: sinkName, Failures: fails, Drained: drained})
		prev, seen := o.last[n.Name][sinkName]
		d := drained - prev
		if !seen {
			d = drained
		}
		if drained < prev { // the node restarted
			d = drained
		}
		o.last[n.Name][sinkName] = drained
		k := n.Name + "/" + sinkName
		o.drained[k] = grow(o.drained[k], b, 0)
		o.drained[k][b] += d
		deltas[sinkName] = d
	}
	for _, g := range n.groups {
		act, source := activeSink(m, g, deltas)
		if act == "" && source == "" {
			continue
		}
		k := n.Name + "/" + g.Name
		a := o.active[k]
		if a == nil {
			a = &record.ActiveSink{Node: n.Name, Group: g.Name, Source: source}
			o.active[k] = a
		}
		if cur, ok := o.activeAt[k]; !ok || cur != act {
			a.Changes = append(a.Changes, record.SinkChange{AtMs: ms, Sink: act})
			o.activeAt[k] = act
			if ok && o.onChange != nil {
				o.onChange(at, n.Name, g.Name, cur, act)
			}
		}
	}
}

// activeSink reads a group's active sink from its SINKGROUP entry (an
// attribute named like "ActiveSink"), or else infers it as the sink that
// delivered most since the last reading (empty when none delivered: the
// last known stays).
func activeSink(m metrics, g record.SinkGroup, deltas map[string]int64) (sink, source string) {
	if attrs, ok := m["SINKGROUP."+g.Name]; ok {
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.Contains(strings.ToLower(k), "active") {
				for _, s := range g.Sinks {
					if attrs[k] == s.Name {
						return s.Name, "metrics"
					}
				}
			}
		}
	}
	best, bestN := "", int64(0)
	for _, s := range g.Sinks {
		if deltas[s.Name] > bestN {
			best, bestN = s.Name, deltas[s.Name]
		}
	}
	if best == "" {
		return "", ""
	}
	return best, "inferred"
}

// fillBacklog writes each tier's summed channel sizes into the current
// interval (the last poll in an interval wins).
func (o *observer) fillBacklog(at time.Time) {
	b := o.bucket(at)
	tiers := map[string]int64{}
	for _, n := range o.nodes {
		tiers[n.Tier] += o.size[n.Name]
	}
	for t, v := range tiers {
		o.backlog[t] = grow(o.backlog[t], b, -1)
		o.backlog[t][b] = v
	}
}

// Backlog is the summed channel size of every node that answered, and
// whether every node answered at least once.
func (o *observer) Backlog() (int64, map[string]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var total int64
	tiers := map[string]int64{}
	for _, n := range o.nodes {
		total += o.size[n.Name]
		tiers[n.Tier] += o.size[n.Name]
	}
	return total, tiers
}

// fresh polls every node now and reports whether every node answered.
func (o *observer) fresh(ctx context.Context) (total int64, allAnswered bool) {
	allAnswered = true
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range o.nodes {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			m, err := n.fetch(ctx, o.client)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				allAnswered = false
				return
			}
			o.record(time.Now(), n, m)
		}(n)
	}
	wg.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fillBacklog(time.Now())
	for _, n := range o.nodes {
		total += o.size[n.Name]
	}
	return total, allAnswered
}

// series fills the backlog and per-sink series of s, n intervals long
// (a tier's backlog carries its last value through intervals with no
// reading).
func (o *observer) series(s *record.Series, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s.Backlog = map[string][]int64{}
	for t, v := range o.backlog {
		out := make([]int64, n)
		var last int64
		for i := range out {
			if i < len(v) && v[i] >= 0 {
				last = v[i] // -1: no reading in the interval
			}
			out[i] = last
		}
		s.Backlog[t] = out
	}
	s.SinkDrained = map[string][]int64{}
	for k, v := range o.drained {
		s.SinkDrained[k] = fit(v, n)
	}
}

func fit(v []int64, n int) []int64 {
	if n <= 0 {
		return nil
	}
	out := make([]int64, n)
	copy(out, v)
	for i := n; i < len(v); i++ {
		out[n-1] += v[i]
	}
	return out
}

func (o *observer) activeSinks() []record.ActiveSink {
	o.mu.Lock()
	defer o.mu.Unlock()
	keys := make([]string, 0, len(o.active))
	for k := range o.active {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]record.ActiveSink, 0, len(keys))
	for _, k := range keys {
		out = append(out, *o.active[k])
	}
	return out
}

func (o *observer) sinkSamples() []checker.SinkSample {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]checker.SinkSample(nil), o.samples...)
}
