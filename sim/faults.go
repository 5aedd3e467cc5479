package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/sim/network"
	"github.com/sluicehq/sluice/sim/sched"
)

// fault is one scheduled fault: injected at At, healed Length later (or at
// the end of the fault phase, whichever comes first).
type fault struct {
	Kind    string
	Target  string
	Detail  string
	At      time.Duration
	Length  time.Duration
	Planned bool
	members []string // the nodes a summarised Target stands for
	inject  func()
	heal    func()
	healed  bool
	active  bool
}

// FaultRecord is a fault as the run record shows it.
type FaultRecord struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Target     string `json:"target"`
	Detail     string `json:"detail,omitempty"`
	InjectedMs int64  `json:"injected_ms"`
	HealedMs   int64  `json:"healed_ms"`
	Planned    bool   `json:"planned,omitempty"`
}

// applicable reports whether kind can run against this fleet: crashing a
// node whose channels are memory channels loses data by design, so it is
// only done when the run is about showing that (AllowLoss).
func (w *world) applicable(kind string) bool {
	switch kind {
	case "collector-crash":
		return w.opts.AllowLoss || w.collectors[0].durable()
	case "agent-crash":
		return w.opts.AllowLoss || w.agents[0].durable()
	case "disk-full", "disk-faults":
		return w.collectors[0].durable() || w.agents[0].durable()
	}
	return true
}

// chooseKinds is swarm testing: each seed turns a random subset of the
// fault kinds on, so that some seeds hammer one mechanism and others mix.
func (w *world) chooseKinds(rng *rand.Rand) []string {
	if w.opts.Faults != nil {
		var out []string
		for _, k := range w.opts.Faults {
			if w.applicable(k) {
				out = append(out, k)
			} else {
				w.note("fault kind %s skipped: the nodes it would crash have memory channels (use --allow-loss to see what they lose)", k)
			}
		}
		return out
	}
	var all, out []string
	for _, k := range FaultKindNames() {
		if w.applicable(k) {
			all = append(all, k)
		}
	}
	for _, k := range all {
		if rng.IntN(2) == 0 {
			out = append(out, k)
		}
	}
	if len(out) == 0 && len(all) > 0 {
		out = append(out, all[rng.IntN(len(all))])
	}
	return out
}

func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// plan draws the whole fault schedule from the seed before the run starts.
func (w *world) plan() {
	rng := w.seed.Stream("faults")
	kinds := w.chooseKinds(rng)
	w.kinds = kinds
	d := w.opts.Duration
	for _, k := range kinds {
		gap := time.Duration(float64(d) / (2 + 6*rng.Float64()) / w.opts.FaultRate)
		t := d/20 + time.Duration(rng.ExpFloat64()*float64(gap))
		for t < d {
			f := w.newFault(rng, k, t)
			w.faults = append(w.faults, f)
			t += f.Length/2 + time.Duration(rng.ExpFloat64()*float64(gap))
		}
	}
	for _, o := range w.opts.Outages {
		w.faults = append(w.faults, w.outage(o))
	}
	sort.SliceStable(w.faults, func(i, j int) bool { return w.faults[i].At < w.faults[j].At })
	for _, f := range w.faults {
		f := f
		ev := sched.NewEvent(func() { w.inject(f) })
		w.s.AtTime(ev, f.At)
	}
}

func (w *world) agentSubset(rng *rand.Rand, frac float64) (network.Set, int) {
	s := make(network.Set, w.net.Hosts())
	n := 0
	for _, a := range w.agents {
		if rng.Float64() < frac {
			s[a.host] = true
			n++
		}
	}
	if n == 0 {
		a := w.agents[rng.IntN(len(w.agents))]
		s[a.host] = true
		n++
	}
	return s, n
}

func (w *world) newFault(rng *rand.Rand, kind string, at time.Duration) *fault {
	f := &fault{Kind: kind, At: at}
	c := w.collectors[rng.IntN(len(w.collectors))]
	switch kind {
	case "collector-crash":
		host := rng.IntN(3) == 0
		f.Target, f.Length = c.name, uniform(rng, 10*time.Second, 3*time.Minute)
		if host {
			f.Detail = "host power-off"
		} else {
			f.Detail = "kill -9"
		}
		f.inject = func() { c.crash(host) }
		f.heal = func() { w.restart(c) }
	case "collector-freeze":
		f.Target, f.Length = c.name, uniform(rng, 5*time.Second, 2*time.Minute)
		f.inject, f.heal = c.freeze, c.thaw
	case "agent-crash":
		k := max(1, int(float64(len(w.agents))*(0.01+0.04*rng.Float64())))
		var victims []*node
		var names []string
		for _, i := range rng.Perm(len(w.agents))[:k] {
			victims = append(victims, w.agents[i])
		}
		sort.Slice(victims, func(i, j int) bool { return victims[i].host < victims[j].host })
		for _, v := range victims {
			names = append(names, v.name)
		}
		f.Target, f.Length = summarize(names), uniform(rng, 5*time.Second, time.Minute)
		f.members = names
		f.Detail = fmt.Sprintf("%d agents", k)
		f.inject = func() {
			for _, v := range victims {
				v.crash(false)
			}
		}
		f.heal = func() {
			for _, v := range victims {
				w.restart(v)
			}
		}
	case "partition", "slow-link", "flaky-link":
		frac := 0.1 + 0.9*rng.Float64()
		agents, n := w.agentSubset(rng, frac)
		cs := network.NewSet(w.net.Hosts(), c.host)
		f.Target = c.name
		f.Length = uniform(rng, 10*time.Second, 3*time.Minute)
		var rules []*network.Rule
		switch kind {
		case "partition":
			mode := rng.IntN(3)
			if mode != 2 {
				rules = append(rules, &network.Rule{Name: kind, Kind: network.Drop, From: agents, To: cs})
			}
			if mode != 1 {
				rules = append(rules, &network.Rule{Name: kind, Kind: network.Drop, From: cs, To: agents})
			}
			f.Detail = fmt.Sprintf("%d agents, %s", n, []string{"both ways", "agents->collector dropped", "collector->agents dropped"}[mode])
		case "slow-link":
			l := network.Link{
				Latency:   network.Latency{Base: uniform(rng, 20*time.Millisecond, 2*time.Second), Jitter: uniform(rng, 0, 500*time.Millisecond)},
				Bandwidth: 1e5 + rng.Float64()*1e7,
				Loss:      0.2 * rng.Float64(),
			}
			rules = append(rules, &network.Rule{Name: kind, Kind: network.Slow, From: agents, To: cs, Link: l},
				&network.Rule{Name: kind, Kind: network.Slow, From: cs, To: agents, Link: l})
			f.Detail = fmt.Sprintf("%d agents, +%v latency, %.0f kB/s, %.0f%% loss", n, l.Latency.Base.Round(time.Millisecond), l.Bandwidth/1e3, l.Loss*100)
		case "flaky-link":
			l := network.LAN
			l.Reset = 0.05 + 0.45*rng.Float64()
			rules = append(rules, &network.Rule{Name: kind, Kind: network.Slow, From: agents, To: cs, Link: l})
			f.Detail = fmt.Sprintf("%d agents, %.0f%% of RPCs reset", n, l.Reset*100)
		}
		f.inject = func() {
			for _, r := range rules {
				w.net.Add(r)
			}
		}
		f.heal = func() {
			for _, r := range rules {
				w.net.Remove(r)
			}
		}
	case "storage-outage":
		names := w.storeNames()
		s := w.stores[names[rng.IntN(len(names))]]
		f.Target, f.Length = s.name, uniform(rng, 30*time.Second, 5*time.Minute)
		f.inject = func() { s.down = true }
		f.heal = func() { s.down = false }
	case "disk-full":
		f.Length = uniform(rng, 30*time.Second, 3*time.Minute)
		var victims []*node
		if rng.IntN(2) == 0 || !w.agents[0].durable() {
			victims = []*node{c}
			f.Target = c.name
		} else {
			for _, i := range rng.Perm(len(w.agents))[:max(1, len(w.agents)/20)] {
				victims = append(victims, w.agents[i])
				f.members = append(f.members, w.agents[i].name)
			}
			f.Target = fmt.Sprintf("%d agents", len(victims))
		}
		f.inject = func() {
			for _, v := range victims {
				v.disk.Full()
			}
		}
		f.heal = func() {
			for _, v := range victims {
				v.disk.Unfull()
			}
		}
	case "disk-faults":
		k := 1 + rng.IntN(5)
		f.Target, f.Length = c.name, uniform(rng, 10*time.Second, time.Minute)
		f.Detail = fmt.Sprintf("%d failed fsyncs, %d failed writes", k, k)
		f.inject = func() {
			c.disk.Faulty.Fail(vfs.OpSync, "", syscall.EIO, k)
			c.disk.Faulty.Fail(vfs.OpWrite, "", syscall.EIO, k)
		}
		f.heal = func() { c.disk.Faulty.Clear() }
	}
	return f
}

// outage turns a planned outage into a fault.
func (w *world) outage(o Outage) *fault {
	f := &fault{Kind: "outage", Target: o.Target, At: o.Start, Length: o.Length, Planned: true}
	if s, ok := w.stores[o.Target]; ok {
		f.Detail = "store down"
		f.inject = func() { s.down = true }
		f.heal = func() { s.down = false }
		return f
	}
	var victims []*node
	for _, c := range w.collectors {
		if o.Target == "all-collectors" || c.name == o.Target {
			victims = append(victims, c)
		}
	}
	f.Detail = "collector killed"
	f.inject = func() {
		for _, v := range victims {
			v.crash(false)
		}
	}
	f.heal = func() {
		for _, v := range victims {
			w.restart(v)
		}
	}
	return f
}

func (w *world) inject(f *fault) {
	if w.phase != "faults" {
		return
	}
	f.active = true
	f.inject()
	end := min(f.At+f.Length, w.opts.Duration)
	f.Length = end - f.At
	mark := record.MarkFault
	if f.Kind == "collector-crash" || f.Kind == "agent-crash" || f.Planned {
		mark = record.MarkCrash
	}
	w.timeline(mark, f.Target, "inject %s %s (for %v)", f.Kind, f.Detail, f.Length.Round(time.Millisecond))
	ev := sched.NewEvent(func() { w.healFault(f) })
	w.s.AtTime(ev, end)
}

func (w *world) healFault(f *fault) {
	if f.healed {
		return
	}
	f.healed, f.active = true, false
	f.heal()
	w.timeline(record.MarkHeal, f.Target, "heal %s", f.Kind)
}

func (w *world) restart(n *node) {
	if err := n.restart(); err != nil {
		w.fatal = fmt.Errorf("restart %s: %w", n.name, err)
	}
}

// summarize shortens a long list of names for the timeline.
func summarize(names []string) string {
	if len(names) <= 4 {
		return strings.Join(names, ",")
	}
	return fmt.Sprintf("%s,...,%s (%d)", strings.Join(names[:3], ","), names[len(names)-1], len(names))
}
