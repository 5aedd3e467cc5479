package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/reports/record"
	shared "github.com/sluicehq/sluice/scenarios/checker"
)

// arrivals keeps what the shared failover table (scenarios/checker's
// Failover) is derived from, compactly: per agent, its first arrivals
// grouped by (instant, path), where a path is one collector's sink into
// one store; the second arrival of every duplicated event; and, per sample,
// the agents' sink failure counters summed over the tier.
type arrivals struct {
	paths   []shared.Path
	nstores int
	byAgent [][]shared.Arrival
	dups    map[uint64]int // (writer, seq) -> index in dup
	dup     []shared.Dup
	samples []shared.SinkSample
}

func (w *world) initArrivals() {
	a := &w.arr
	names := w.storeNames()
	for i, name := range names {
		w.stores[name].idx = i
	}
	a.nstores = len(names)
	for _, c := range w.collectors {
		for _, s := range names {
			a.paths = append(a.paths, shared.Path{Name: c.name + "/" + s, Store: s, Node: c.name})
		}
	}
	a.byAgent = make([][]shared.Arrival, len(w.agents))
	a.dups = map[uint64]int{}
}

// first records the first arrival of one of agent wi's events at at through
// collector c's sink into store s.
func (a *arrivals) first(wi int, c *node, s *store, at, written time.Duration) {
	p := int32(c.cidx*a.nstores + s.idx)
	ms, wms := at.Milliseconds(), written.Milliseconds()
	l := a.byAgent[wi]
	if k := len(l); k > 0 && l[k-1].AtMs == ms && l[k-1].Path == p && l[k-1].Count < 1<<30 {
		l[k-1].Count++
		l[k-1].WriteMs = max(l[k-1].WriteMs, wms)
		return
	}
	a.byAgent[wi] = append(l, shared.Arrival{AtMs: ms, Path: p, Count: 1, WriteMs: wms})
}

// again records a further copy of (wi, seq), the shared checker's way:
// extra copies are attributed to when the second one arrived.
func (a *arrivals) again(wi int, seq uint64, node string, at time.Duration) {
	k := uint64(wi)<<32 | seq
	if i, ok := a.dups[k]; ok {
		a.dup[i].Extra++
		return
	}
	a.dups[k] = len(a.dup)
	a.dup = append(a.dup, shared.Dup{Node: node, SecondMs: at.Milliseconds(), Extra: 1})
}

// sampleSinks records the agent tier's cumulative sink failures.
func (w *world) sampleSinks(now time.Duration, failures *keySums) {
	failures.each(func(k string, v int64) {
		w.arr.samples = append(w.arr.samples, shared.SinkSample{AtMs: now.Milliseconds(), Node: "agents", Sink: k, Failures: v})
	})
}

// failover derives the record's failover table with the shared code, from
// the faults as injected (rec.Faults, members naming who a fault with a
// summarised target stood for).
func (w *world) failover(rec *record.Run, members map[string][]string) shared.Analysis {
	a := &w.arr
	obs := shared.Observed{Paths: a.paths, Arrivals: make(map[string][]shared.Arrival, len(w.agents)), Dups: a.dup, WriteTimes: true}
	groups := map[string][]string{}
	for k, v := range members {
		groups[k] = v
	}
	all := make([]string, len(w.agents))
	for i, n := range w.agents {
		all[i] = n.name
		// Collectors finish their store writes at different virtual
		// times, so arrivals are recorded nearly, not exactly, in order.
		out := shared.MergeArrivals(a.byAgent[i])
		if len(out) > 0 {
			obs.Arrivals[n.name] = out
		}
	}
	groups["agents"] = all
	cs := make([]string, len(w.collectors))
	for i, c := range w.collectors {
		cs[i] = c.name
	}
	groups["all-collectors"] = cs
	// Lost events, by write instant.
	for wi := range w.chk.writers {
		l := &w.chk.writers[wi]
		wr := w.agents[wi].writer
		for seq := uint64(0); seq < l.written; seq++ {
			if seq < uint64(len(l.counts)) && l.counts[seq] > 0 {
				continue
			}
			ms := wr.writtenAt(seq).Milliseconds()
			if k := len(obs.Lost); k > 0 && obs.Lost[k-1].Node == w.agents[wi].name && obs.Lost[k-1].WriteMs == ms {
				obs.Lost[k-1].Count++
				continue
			}
			obs.Lost = append(obs.Lost, shared.Loss{Node: w.agents[wi].name, WriteMs: ms, Count: 1})
		}
	}
	an := shared.Analysis{Start: rec.Start, EndMs: rec.DurationMs, Faults: rec.Faults,
		Topology: rec.Topology, Samples: a.samples, Groups: groups}
	rows, notes := shared.Failover(obs, an)
	for i := range rows {
		r := &rows[i]
		if r.DetectedMs != nil {
			w.timelineAt(*r.DetectedMs, record.MarkDetect, r.Target, "first failed batch towards %s (fault %d)", r.Target, r.Fault)
		}
		if r.FailedOverMs != nil {
			w.timelineAt(*r.FailedOverMs, record.MarkFailover, r.Target, "traffic of %s failed over from %s (fault %d)", agentsString(r.Affected), r.Target, r.Fault)
		}
		if r.FailedBackMs != nil {
			w.timelineAt(*r.FailedBackMs, record.MarkFailback, r.Target, "traffic of %s back on %s (fault %d)", agentsString(r.Affected), r.Target, r.Fault)
		}
		r.Affected = shortAffected(r.Affected)
	}
	rec.Failover = rows
	rec.Notes = append(rec.Notes, notes...)
	sort.SliceStable(rec.Timeline, func(i, j int) bool { return rec.Timeline[i].AtMs < rec.Timeline[j].AtMs })
	return an
}

// shortAffected keeps a tier of thousands readable: a few names, then how
// many in all.
func shortAffected(names []string) []string {
	if n := len(names); n > maxAffected {
		return append(names[:maxAffected:maxAffected], fmt.Sprintf("... %d agents in all", n))
	}
	return names
}

const maxAffected = 8

func agentsString(names []string) string {
	if len(names) > 4 {
		return fmt.Sprintf("%d agents (%s, ...)", len(names), strings.Join(names[:3], ", "))
	}
	return strings.Join(names, ", ")
}

func (w *world) timelineAt(ms int64, mark, node, format string, args ...any) {
	w.rec.Timeline = append(w.rec.Timeline, record.TimelineEntry{AtMs: ms, Mark: mark, Node: node, Text: fmt.Sprintf(format, args...)})
}

// sinkFailures is what the failover table counts as a failed batch:
// EventWriteFail + ConnectionFailedCount.
func sinkFailures(c *metrics.SinkCounter) int64 {
	return c.EventWriteFail.Load() + c.ConnectionFailedCount.Load()
}
