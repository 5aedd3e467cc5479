// Package metrics holds Flume-compatible counter groups and serves them.
//
// Each source, channel, sink (and Sluice's sink groups) owns a Group named
// like Flume's MBeans: "SOURCE.r1", "CHANNEL.c1", "SINK.k1". /metrics renders
// them exactly as Flume's HTTPMetricsServer does (every value a string);
// /prometheus renders the same numbers as Prometheus text.
package metrics

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Type is a Flume MonitoredCounterGroup type.
type Type string

const (
	Source    Type = "SOURCE"
	Channel   Type = "CHANNEL"
	Sink      Type = "SINK"
	SinkGroup Type = "SINKGROUP" // Sluice's own: failover/load_balance state
)

// Counter is a 64-bit counter or gauge.
type Counter struct{ v atomic.Int64 }

func (c *Counter) Add(n int64)    { c.v.Add(n) }
func (c *Counter) Inc()           { c.v.Add(1) }
func (c *Counter) Set(n int64)    { c.v.Store(n) }
func (c *Counter) Load() int64    { return c.v.Load() }
func (c *Counter) Reset()         { c.v.Store(0) }
func (c *Counter) String() string { return strconv.FormatInt(c.v.Load(), 10) }

// Kind says how Prometheus should type an attribute.
type Kind int

const (
	KindCounter Kind = iota
	KindGauge
	KindInfo // a string value; Prometheus gets it as a label on an _info gauge
)

type attr struct {
	name  string
	kind  Kind
	c     *Counter
	fn    func() string
	extra bool // a Sluice addition, not in Flume's MBean
	// A member attribute (one sink of a sink group) is served in JSON as
	// name = base.member and in Prometheus as base{label="member"}.
	base, label, member string
}

// Group is one component's counters, in Flume's attribute order.
type Group struct {
	typ   Type
	name  string
	clk   clock.Clock
	mu    sync.Mutex
	attrs []attr
	start Counter
	stop  Counter
}

// Registry holds the groups of one agent.
type Registry struct {
	mu     sync.Mutex
	clk    clock.Clock
	groups map[string]*Group
}

// NewRegistry returns an empty registry whose start and stop times read clk.
func NewRegistry(clk clock.Clock) *Registry {
	if clk == nil {
		clk = clock.Real()
	}
	return &Registry{clk: clk, groups: map[string]*Group{}}
}

// Group returns the group for typ/name, creating it if needed. Like Flume's
// MBeans, groups are never removed: a stopped component keeps its counters
// and a non-zero StopTime.
func (r *Registry) Group(typ Type, name string) *Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := string(typ) + "." + name
	if g, ok := r.groups[key]; ok {
		return g
	}
	g := &Group{typ: typ, name: name, clk: r.clk}
	r.groups[key] = g
	return g
}

// Groups returns every group sorted by key.
func (r *Registry) Groups() []*Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Group, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Lookup returns a group by key ("CHANNEL.c1").
func (r *Registry) Lookup(key string) (*Group, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[key]
	return g, ok
}

// Key is "<TYPE>.<name>", Flume's JSON key.
func (g *Group) Key() string  { return string(g.typ) + "." + g.name }
func (g *Group) Type() Type   { return g.typ }
func (g *Group) Name() string { return g.name }

// Counter returns the named counter, adding it on first use. An attribute
// that is not one of Flume's should be added with Extra.
func (g *Group) Counter(name string, kind Kind) *Counter {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.attrs {
		if a.name == name && a.c != nil {
			return a.c
		}
	}
	c := &Counter{}
	g.attrs = append(g.attrs, attr{name: name, kind: kind, c: c})
	return c
}

// Extra is Counter for an attribute Sluice adds to Flume's set. Extras are
// served in Prometheus text and in /metrics?extended=1, never in the plain
// Flume JSON, so Flume monitoring tools see exactly Flume's attributes.
func (g *Group) Extra(name string, kind Kind) *Counter {
	c := g.Counter(name, kind)
	g.mu.Lock()
	for i := range g.attrs {
		if g.attrs[i].name == name {
			g.attrs[i].extra = true
		}
	}
	g.mu.Unlock()
	return c
}

// Func adds an attribute computed when read (ChannelFillPercentage, Open,
// a sink group's active sink).
func (g *Group) Func(name string, kind Kind, extra bool, fn func() string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, a := range g.attrs {
		if a.name == name {
			g.attrs[i].fn, g.attrs[i].c = fn, nil
			return
		}
	}
	g.attrs = append(g.attrs, attr{name: name, kind: kind, fn: fn, extra: extra})
}

// MemberFunc adds an attribute of one member of the group, such as one
// sink's state in a sink group, computed when read. /metrics shows it as
// "<name>.<member>"; Prometheus as one metric per name with the member in
// label, so that sink names never end up inside metric names.
func (g *Group) MemberFunc(name, label, member string, kind Kind, extra bool, fn func() string) {
	key := name + "." + member
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, a := range g.attrs {
		if a.name == key {
			g.attrs[i].fn, g.attrs[i].c = fn, nil
			return
		}
	}
	g.attrs = append(g.attrs, attr{name: key, kind: kind, fn: fn, extra: extra, base: name, label: label, member: member})
}

// Start resets every counter (as Flume's MonitoredCounterGroup.start does),
// records the start time and clears the stop time.
func (g *Group) Start() {
	g.mu.Lock()
	for _, a := range g.attrs {
		if a.c != nil {
			a.c.Reset()
		}
	}
	g.mu.Unlock()
	g.start.Set(g.clk.Now().UnixMilli())
	g.stop.Set(0)
}

// Stop records the stop time.
func (g *Group) Stop() { g.stop.Set(g.clk.Now().UnixMilli()) }

// Value is one attribute as served.
type Value struct {
	Name  string
	Value string
	Kind  Kind
	Extra bool
	// Set for member attributes (see MemberFunc): Name is Base.Member.
	Base, Label, Member string
}

// Values returns every attribute in order, StartTime, StopTime and Type
// included, as Flume's JMX poll would see them.
func (g *Group) Values() []Value {
	g.mu.Lock()
	attrs := append([]attr(nil), g.attrs...)
	g.mu.Unlock()
	out := make([]Value, 0, len(attrs)+3)
	for _, a := range attrs {
		v := Value{Name: a.name, Kind: a.kind, Extra: a.extra, Base: a.base, Label: a.label, Member: a.member}
		if a.fn != nil {
			v.Value = a.fn()
		} else {
			v.Value = a.c.String()
		}
		out = append(out, v)
	}
	out = append(out,
		Value{Name: "StartTime", Value: g.start.String(), Kind: KindGauge},
		Value{Name: "StopTime", Value: g.stop.String(), Kind: KindGauge},
		Value{Name: "Type", Value: string(g.typ), Kind: KindInfo},
	)
	return out
}

// Get returns one attribute's served value.
func (g *Group) Get(name string) (string, bool) {
	for _, v := range g.Values() {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// JavaDouble formats f as Java's Double.toString does, which is how Flume
// prints ChannelFillPercentage ("0.0", "23.3428", "1.7976931348623157E308").
func JavaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1.7976931348623157E+308
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// Millis is a helper for counters that hold a time in epoch milliseconds.
func Millis(t time.Time) int64 { return t.UnixMilli() }
