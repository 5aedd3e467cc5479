package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/reports/record"
	shared "github.com/sluicehq/sluice/scenarios/checker"
)

// Result is a finished simulation: its run record in the shared format
// (reports/record, Kind "sim"), rendered by reports/ like a scenario's, and
// what only a simulation knows.
type Result struct {
	Record   *record.Run
	Valid    bool
	Capacity *Capacity
	Stats    Stats
	// Stuck says what had not drained when the liveness phase gave up.
	Stuck string

	analysis shared.Analysis // what the failover table was derived from, for tests
}

// JSON is the run record as written to record.json.
func (r *Result) JSON() ([]byte, error) { return record.Marshal(r.Record) }

// Command is the `sluice sim` command line that replays o.
func (o Options) Command() string {
	o = o.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "sluice sim --seed %d --agents %d --collectors %d --duration %v --rate %g/s", o.Seed, o.Agents, o.Collectors, o.Duration, o.Rate)
	if o.RateSpread != 0 {
		fmt.Fprintf(&b, " --rate-spread %g", o.RateSpread)
	}
	switch {
	case o.Faults == nil:
		b.WriteString(" --faults swarm")
	case len(o.Faults) == 0:
		b.WriteString(" --faults none")
	default:
		b.WriteString(" --faults " + strings.Join(o.Faults, ","))
	}
	if o.FaultRate != 1 {
		fmt.Fprintf(&b, " --fault-rate %g", o.FaultRate)
	}
	for _, x := range o.Outages {
		fmt.Fprintf(&b, " --outage %s:%v@%v", x.Target, x.Length, x.Start)
	}
	if o.AllowLoss {
		b.WriteString(" --allow-loss")
	}
	if o.AgentChannel != "" {
		b.WriteString(" --agent-channel " + o.AgentChannel)
	}
	if o.CollectorChannel != "" {
		b.WriteString(" --collector-channel " + o.CollectorChannel)
	}
	if o.ChannelCapacity > 0 {
		fmt.Fprintf(&b, " --channel-capacity %d", o.ChannelCapacity)
	}
	if o.CollectorChannelCapacity > 0 {
		fmt.Fprintf(&b, " --collector-channel-capacity %d", o.CollectorChannelCapacity)
	}
	if o.DrainTimeout != 30*time.Minute {
		fmt.Fprintf(&b, " --drain-timeout %v", o.DrainTimeout)
	}
	if o.AgentConf != "" {
		b.WriteString(" --agent-conf AGENT.conf")
	}
	if o.CollectorConf != "" {
		b.WriteString(" --collector-conf COLLECTOR.conf")
	}
	return b.String()
}

// samples are the cumulative values observed at each sample.
type samples struct {
	at                                         []time.Duration // when each sample was taken
	written, first, copies                     []int64
	agentBacklog, collBacklog, lag, full, down []int64
	active                                     map[string][]int64 // group/sink -> agents
	stores                                     map[string][]int64 // cumulative copies
	drained                                    map[string][]int64 // tier/sink -> cumulative EventDrainSuccessCount
}

func appendAt(m map[string][]int64, k string, i int, v int64) {
	s := m[k]
	for len(s) < i {
		s = append(s, 0)
	}
	m[k] = append(s, v)
}

// sample records one point of every series.
func (w *world) sample() {
	r := &w.ser
	now := w.s.Now()
	if r.active == nil {
		r.active, r.stores, r.drained = map[string][]int64{}, map[string][]int64{}, map[string][]int64{}
	}
	if w.opts.checkViews {
		w.checkViews()
	}
	var written, lag uint64
	var aback, cback int64
	full, downN := 0, 0
	t := &w.views
	t.reset()
	for i := range t.agents {
		v := &t.agents[i]
		wr := v.w.written(now)
		w.chk.wrote(i, wr)
		written += wr
		if !v.up {
			downN++
		}
		if v.hasTail {
			lag += wr - v.pos
			w.cap.maxLag = max(w.cap.maxLag, wr-v.pos)
			if v.blocked {
				full++
			}
		}
		aback += v.back
		w.cap.maxAgent = max(w.cap.maxAgent, v.back)
		for _, id := range v.active {
			t.act.add(id, 1)
		}
		for _, kv := range v.drains {
			t.drain.add(kv.id, kv.v)
		}
		for _, kv := range v.before {
			t.fail.add(kv.id, kv.v)
		}
		for _, kv := range v.fails {
			t.fail.add(kv.id, kv.v)
		}
	}
	w.sampleSinks(now, &t.fail)
	for _, c := range w.collectors {
		if c.state != up {
			downN++
		}
		var back int64
		for _, ch := range c.channels {
			back += int64(ch.ch.Len())
		}
		cback += back
		w.cap.maxCollector = max(w.cap.maxCollector, back)
	}
	var copies uint64
	i := len(r.written)
	for _, name := range w.storeNames() {
		s := w.stores[name]
		copies += s.received
		appendAt(r.stores, name, i, int64(s.received))
	}
	r.at = append(r.at, now)
	r.written = append(r.written, int64(written))
	r.first = append(r.first, int64(w.chk.first))
	r.copies = append(r.copies, int64(copies))
	r.lag = append(r.lag, int64(lag))
	r.agentBacklog = append(r.agentBacklog, aback)
	r.collBacklog = append(r.collBacklog, cback)
	r.full = append(r.full, int64(full))
	r.down = append(r.down, int64(downN))
	t.act.each(func(k string, v int64) { appendAt(r.active, k, i, v) })
	t.drain.each(func(k string, v int64) { appendAt(r.drained, k, i, v) })
	if w.opts.Progress != nil {
		active := 0
		for _, f := range w.faults {
			if f.active {
				active++
			}
		}
		w.opts.Progress(Progress{Now: now, Total: w.opts.Duration, Phase: w.phase, Written: written, Delivered: copies,
			AgentBacklog: aback, CollectorBacklog: cback, FaultsActive: active})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// deltas turns cumulative samples into per-interval counts.
func deltas(c []int64) []int64 {
	out := make([]int64, len(c))
	var prev int64
	for i, v := range c {
		out[i], prev = v-prev, v
	}
	return out
}

func pad(s []int64, n int) []int64 {
	for len(s) < n {
		s = append(s, 0)
	}
	return s
}

// finish runs the checker and assembles the run record.
func (w *world) finish() *Result {
	o := w.opts
	now := w.s.Now()
	for _, a := range w.agents {
		w.chk.wrote(a.writer.id, a.writer.written(now))
	}
	rec := w.rec
	rec.Version = record.Version
	rec.DurationMs = now.Milliseconds()
	perStore := map[string]int64{}
	for name, s := range w.stores {
		perStore[name] = int64(s.received)
	}
	rec.Checker = w.chk.result(func(i int) string { return w.agents[i].name }, w.unexpected, perStore)
	res := &Result{Record: rec, Valid: rec.Checker.Valid && rec.Phases.Drained, Stuck: w.stuck}
	w.stats.RPCFailed, w.stats.SourceFull, w.stats.CollectorFull = w.stats.rpcFailed, w.stats.sourceFull, w.stats.collectorFull
	w.stats.CollectorPutErr, w.stats.CrashLostInChannels = w.stats.collectorPutErr, w.stats.crashLostInChannels
	res.Stats = w.stats

	// Series: the samples are cumulative, the record wants per interval.
	s := &w.ser
	n := len(s.written)
	rec.Series = record.Series{
		IntervalMs: o.SampleEvery.Milliseconds(),
		Written:    deltas(s.written),
		Delivered:  deltas(s.first),
		// Backlog per tier: the sum of the tier's channel sizes.
		Backlog: map[string][]int64{
			"agent":     s.agentBacklog,
			"collector": s.collBacklog,
		},
		// How far taildir sources fell behind (lines written, not yet
		// read), how many agents' sources were refused by a full channel,
		// and nodes down.
		Gauges: map[string][]int64{
			"agent-source-lag":    s.lag,
			"agents-channel-full": s.full,
			"nodes-down":          s.down,
		},
		ActiveCount: map[string][]int64{},
		SinkDrained: map[string][]int64{},
		Stores:      map[string][]int64{},
	}
	dup := make([]int64, n)
	for i := range n {
		dup[i] = s.copies[i] - s.first[i]
	}
	rec.Series.Duplicates = deltas(dup)
	rec.Series.LatencyP50Us, rec.Series.LatencyP99Us, rec.Series.LatencyMaxUs = w.lat.series(s.at)
	for k, v := range s.drained {
		rec.Series.SinkDrained[k] = deltas(pad(v, n))
	}
	for k, v := range s.stores {
		rec.Series.Stores[k] = deltas(pad(v, n))
	}
	for k, v := range s.active {
		// Active sinks of a tier are a distribution: per "group/sink",
		// the agents whose group had that sink active.
		rec.Series.ActiveCount[k] = pad(v, n)
	}
	// Per group, the tier's active-sink timeline: the sink most agents
	// delivered through, whenever that changes.
	byGroup := map[string][]string{}
	for _, k := range sortedKeys(s.active) {
		g, _, _ := strings.Cut(k, "/")
		byGroup[g] = append(byGroup[g], k)
	}
	for _, g := range sortedKeys(byGroup) {
		keys := byGroup[g]
		as := record.ActiveSink{Node: "agents", Group: g, Source: "inferred"}
		last := "-"
		for i := range n {
			best, bestN := "", int64(0)
			for _, k := range keys {
				if v := rec.Series.ActiveCount[k][i]; v > bestN {
					_, best, _ = strings.Cut(k, "/")
					bestN = v
				}
			}
			if best != last {
				as.Changes = append(as.Changes, record.SinkChange{AtMs: int64(i) * rec.Series.IntervalMs, Sink: best})
				last = best
			}
		}
		rec.ActiveSinks = append(rec.ActiveSinks, as)
	}
	members := map[string][]string{}
	for _, f := range w.faults {
		if !f.healed && !f.active {
			continue // scheduled after the fault phase: never injected
		}
		if len(f.members) > 0 {
			members[f.Target] = f.members
		}
		rf := record.Fault{ID: len(rec.Faults) + 1, Name: f.Kind + " " + f.Target, Kind: f.class(), Action: f.Kind, Target: f.Target,
			InjectedMs: f.At.Milliseconds(), HealedMs: record.Ms((f.At + f.Length).Milliseconds())}
		if f.Detail != "" || f.Planned {
			rf.Params = map[string]string{}
			if f.Detail != "" {
				rf.Params["detail"] = f.Detail
			}
			if f.Planned {
				rf.Params["planned"] = "true"
			}
		}
		rec.Faults = append(rec.Faults, rf)
	}
	res.analysis = w.failover(rec, members)
	if len(o.Outages) > 0 {
		res.Capacity = w.capacity(rec)
		for _, l := range res.Capacity.Answer {
			rec.Notes = append(rec.Notes, "capacity: "+l)
		}
	}
	if !res.Valid {
		w.timeline(record.MarkNote, "", "INVALID: lost %d, unexpected %d, drained %v", rec.Checker.Lost, rec.Checker.Unexpected, rec.Phases.Drained)
	}
	return res
}

// class maps a fault kind to the record's fault kinds.
func (f *fault) class() string {
	switch f.Kind {
	case "partition", "slow-link", "flaky-link":
		return "network"
	case "disk-full", "disk-faults":
		return "disk"
	case "storage-outage":
		return "storage"
	}
	return "process"
}

// Failure explains an invalid run in the form a person replays: what was
// wrong, SEED=..., and the one command that runs it again.
func (r *Result) Failure() string {
	if r.Valid {
		return ""
	}
	c := r.Record.Checker
	var b strings.Builder
	fmt.Fprintf(&b, "simulation INVALID: lost %d, unexpected %d, duplicated %d, drained %v", c.Lost, c.Unexpected, c.Duplicated, r.Record.Phases.Drained)
	if r.Stuck != "" {
		fmt.Fprintf(&b, " (stuck: %s)", r.Stuck)
	}
	for i, l := range c.LostIntervals {
		if i == 3 {
			b.WriteString("\n  ...")
			break
		}
		fmt.Fprintf(&b, "\n  %s lost %d, first %v", l.Writer, l.Count, l.Intervals[:min(len(l.Intervals), 3)])
	}
	fmt.Fprintf(&b, "\nSEED=%d\nreplay: %s\n", r.Record.Seed, r.Record.Params["command"])
	return b.String()
}
