package sim

import (
	"fmt"
	"slices"
)

// views keep, per agent, what the per-second sample reads from it, in one
// flat slice. An agent's view is updated when something of its own has
// run, while its objects are in the cache, and only in what that can have
// changed: a source poll its position and backlog, a runner step its
// backlog, active sinks and the counters of the sinks it called; a crash
// or restart rebuilds it. The sample then sums 2000 small structs in
// order instead of chasing each agent's channels, runners and sink
// counters through the heap and summing them in string-keyed maps, which
// was a seventh of an hour-long run. Options.checkViews (tests) rebuilds
// every view at each sample and fails the run if one was stale.
type views struct {
	agents []agentView
	// The series keys: act "group/sink" (agents whose runner delivered
	// through that sink last), drain "agent/sink" (drain counters), fail
	// sink name (failure counters).
	act, drain, fail keySums
}

// agentView is what one agent contributes to a sample.
type agentView struct {
	w       writer
	up      bool
	hasTail bool
	blocked bool
	pos     uint64
	back    int64    // events in its channels
	active  []int32  // act key of each runner's active sink
	drains  []keyVal // per avro sink (avroSink.slot): drain counter + earlier incarnations'
	fails   []keyVal // per avro sink: failure counters
	before  []keyVal // failures of earlier incarnations, by sink
}

type keyVal struct {
	id int32
	v  int64
}

// keySums interns series keys and sums a sample's values per key; a key
// is in a sample when some agent contributed to it (even zero), as with
// the maps the sample used to build.
type keySums struct {
	ids     map[string]int32
	names   []string
	sorted  []int32 // ids in name order
	sum     []int64
	present []bool
}

func (k *keySums) id(name string) int32 {
	if id, ok := k.ids[name]; ok {
		return id
	}
	if k.ids == nil {
		k.ids = map[string]int32{}
	}
	id := int32(len(k.names))
	k.ids[name] = id
	k.names = append(k.names, name)
	k.sum = append(k.sum, 0)
	k.present = append(k.present, false)
	k.sorted = append(k.sorted, id)
	slices.SortFunc(k.sorted, func(a, b int32) int {
		switch {
		case k.names[a] < k.names[b]:
			return -1
		case k.names[a] > k.names[b]:
			return 1
		}
		return 0
	})
	return id
}

func (k *keySums) reset() {
	clear(k.sum)
	clear(k.present)
}

func (k *keySums) add(id int32, v int64) {
	k.sum[id] += v
	k.present[id] = true
}

// each calls f for every key present, in name order.
func (k *keySums) each(f func(name string, v int64)) {
	for _, id := range k.sorted {
		if k.present[id] {
			f(k.names[id], k.sum[id])
		}
	}
}

func (t *views) reset() {
	t.act.reset()
	t.drain.reset()
	t.fail.reset()
}

// initViews makes a view per agent; the agents are built.
func (w *world) initViews() {
	w.views.agents = make([]agentView, len(w.agents))
	for _, a := range w.agents {
		w.refreshView(a)
	}
}

// refreshView recomputes agent a's view; anything that changes what the
// sample reads from an agent calls it.
func (w *world) refreshView(a *node) {
	if a.role != roleAgent || a.writer == nil || a.writer.id >= len(w.views.agents) {
		return
	}
	w.viewOf(a, &w.views.agents[a.writer.id])
}

func (w *world) viewOf(a *node, v *agentView) {
	t := &w.views
	v.w = *a.writer
	v.up = a.state == up
	v.hasTail = a.tail != nil
	v.pos, v.blocked = 0, false
	if a.tail != nil {
		v.pos, v.blocked = a.tail.pos, a.tail.blocked
	}
	v.back = 0
	for _, c := range a.channels {
		v.back += int64(c.ch.Len())
	}
	v.active, v.drains, v.fails = v.active[:0], v.drains[:0], v.fails[:0]
	for _, r := range a.runners {
		if r.actIDs == nil {
			r.actIDs = make([]int32, len(r.keys))
			for i, k := range r.keys {
				r.actIDs[i] = t.act.id(k)
			}
		}
		if r.active >= 0 {
			v.active = append(v.active, r.actIDs[r.active])
		}
		for _, k := range r.avro {
			if k.drainID < 0 {
				k.drainID, k.failID = t.drain.id(k.drainKey), t.fail.id(k.name)
			}
			k.slot, k.called = len(v.drains), false
			v.drains = append(v.drains, keyVal{k.drainID, k.counter.EventDrainSuccessCount.Load() + a.drainedBefore[k.name]})
			v.fails = append(v.fails, keyVal{k.failID, sinkFailures(k.counter)})
		}
	}
	v.before = v.before[:0]
	for k, n := range a.failedBefore {
		v.before = append(v.before, keyVal{t.fail.id(k), n})
	}
}

// polled updates agent a's view after its source polled.
func (w *world) polled(a *node, t *tailSource) {
	v := &w.views.agents[a.writer.id]
	v.pos, v.blocked = t.pos, t.blocked
	v.back = 0
	for _, c := range a.channels {
		v.back += int64(c.ch.Len())
	}
}

// stepped updates agent a's view after runner r's step: only the sinks
// the step called can have changed their counters.
func (w *world) stepped(a *node, r *runnerActor) {
	v := &w.views.agents[a.writer.id]
	v.back = 0
	for _, c := range a.channels {
		v.back += int64(c.ch.Len())
	}
	v.active = v.active[:0]
	for _, r := range a.runners {
		if r.active >= 0 {
			v.active = append(v.active, r.actIDs[r.active])
		}
	}
	for _, k := range r.avro {
		if k.called {
			k.called = false
			v.drains[k.slot].v = k.counter.EventDrainSuccessCount.Load() + a.drainedBefore[k.name]
			v.fails[k.slot].v = sinkFailures(k.counter)
		}
	}
}

// checkViews rebuilds every agent's view and fails the run if a stored one
// differs: something changed an agent without refreshing its view.
func (w *world) checkViews() {
	var v agentView
	for i, a := range w.agents {
		w.viewOf(a, &v)
		s := &w.views.agents[i]
		if v.w != s.w || v.up != s.up || v.hasTail != s.hasTail || v.blocked != s.blocked || v.pos != s.pos || v.back != s.back ||
			!slices.Equal(v.active, s.active) || !slices.Equal(v.drains, s.drains) || !slices.Equal(v.fails, s.fails) || !sameSums(v.before, s.before) {
			if w.fatal == nil {
				w.fatal = fmt.Errorf("at %v: %s's sample view is stale: %+v, want %+v", w.s.Now(), a.name, *s, v)
			}
			return
		}
	}
}

// sameSums compares failure contributions, which come partly from a map
// (in any order).
func sameSums(a, b []keyVal) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int32]int64{}
	for _, x := range a {
		m[x.id] += x.v
	}
	for _, x := range b {
		m[x.id] -= x.v
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
