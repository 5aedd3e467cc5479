package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RecordVersion is the version of the run record format.
const RecordVersion = 1

// Record is a simulation's run record: what ran, what was done to it, what
// happened over time (aggregated per tier: a 2000-agent record stays small)
// and the checker's verdict.
//
// TODO(issue 7): reports/record is the shared run-record format; this type
// moves onto it when it lands (the fields map one to one).
type Record struct {
	Version  int           `json:"version"`
	Kind     string        `json:"kind"`
	Name     string        `json:"name"`
	Seed     uint64        `json:"seed"`
	Start    time.Time     `json:"start"`
	Duration int64         `json:"duration_ms"`
	Command  string        `json:"command"`
	Valid    bool          `json:"valid"`
	Topology Topology      `json:"topology"`
	Faults   []FaultRecord `json:"faults"`
	Series   Series        `json:"series"`
	Checker  Result        `json:"checker"`
	Liveness Liveness      `json:"liveness"`
	Capacity *Capacity     `json:"capacity,omitempty"`
	Stats    Stats         `json:"stats"`
	Notes    []string      `json:"notes,omitempty"`
	Timeline []string      `json:"timeline"`
}

// Topology is the fleet.
type Topology struct {
	Agents           int      `json:"agents"`
	Collectors       []string `json:"collectors"`
	Stores           []string `json:"stores"`
	AgentDurable     bool     `json:"agent_channels_durable"`
	CollectorDurable bool     `json:"collector_channels_durable"`
	AgentConf        string   `json:"agent_conf"`
	CollectorConf    string   `json:"collector_conf"`
}

// Series are per-sample aggregates; sample i is at i*StepMs.
type Series struct {
	StepMs           int64               `json:"step_ms"`
	Written          []uint64            `json:"written"`           // cumulative lines written
	Delivered        []uint64            `json:"delivered"`         // cumulative copies acknowledged by stores
	AgentLag         []int64             `json:"agent_source_lag"`  // written, not yet read (taildir behind)
	AgentBacklog     []int64             `json:"agent_backlog"`     // events in agent channels
	CollectorBacklog []int64             `json:"collector_backlog"` // events in collector channels
	AgentsFull       []int               `json:"agents_channel_full"`
	NodesDown        []int               `json:"nodes_down"`
	Active           map[string][]int    `json:"active_sink"` // group/sink -> agents whose last batch went there
	Stores           map[string][]uint64 `json:"stores"`      // cumulative copies per store
}

// Liveness is the verdict of the drain phase.
type Liveness struct {
	Drained bool   `json:"drained"`
	DrainMs int64  `json:"drain_ms"`
	Stuck   string `json:"stuck,omitempty"`
}

// JSON encodes the record (indented, stable key order).
func (r *Record) JSON() ([]byte, error) { return json.MarshalIndent(r, "", " ") }

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
	if o.AgentConf != "" && o.AgentConf != SeedAgentConf(o.Collectors, channelType(o.AgentChannel)) {
		b.WriteString(" --agent-conf AGENT.conf")
	}
	if o.CollectorConf != "" && o.CollectorConf != SeedCollectorConf(channelType(o.CollectorChannel)) {
		b.WriteString(" --collector-conf COLLECTOR.conf")
	}
	return b.String()
}

// sample appends one point to every series.
func (w *world) sample() {
	r := &w.rec.Series
	r.StepMs = w.opts.SampleEvery.Milliseconds()
	now := w.s.Now()
	if r.Active == nil {
		r.Active, r.Stores = map[string][]int{}, map[string][]uint64{}
	}
	var written, lag uint64
	var aback, cback int64
	full, downN := 0, 0
	counts := map[string]int{}
	for _, a := range w.agents {
		wr := a.writer.written(now)
		w.chk.wrote(a.writer.id, wr)
		written += wr
		if a.state != up {
			downN++
		}
		var back int64
		if a.tail != nil {
			lag += wr - a.tail.pos
			w.cap.maxLag = max(w.cap.maxLag, wr-a.tail.pos)
		}
		for _, c := range a.channels {
			back += int64(c.ch.Len())
		}
		if a.tail != nil && a.tail.blocked {
			full++
		}
		aback += back
		w.cap.maxAgent = max(w.cap.maxAgent, back)
		for _, r := range a.runners {
			if r.active >= 0 {
				counts[r.keys[r.active]]++
			}
		}
	}
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
	var delivered uint64
	for _, name := range w.storeNames() {
		s := w.stores[name]
		delivered += s.received
	}
	i := len(r.Written)
	r.Written = append(r.Written, written)
	r.Delivered = append(r.Delivered, delivered)
	r.AgentLag = append(r.AgentLag, int64(lag))
	r.AgentBacklog = append(r.AgentBacklog, aback)
	r.CollectorBacklog = append(r.CollectorBacklog, cback)
	r.AgentsFull = append(r.AgentsFull, full)
	r.NodesDown = append(r.NodesDown, downN)
	for k, v := range counts {
		if _, ok := r.Active[k]; !ok {
			r.Active[k] = make([]int, i)
		}
		r.Active[k] = append(r.Active[k], v)
	}
	for k := range r.Active {
		if len(r.Active[k]) == i {
			r.Active[k] = append(r.Active[k], 0)
		}
	}
	for _, name := range w.storeNames() {
		if _, ok := r.Stores[name]; !ok {
			r.Stores[name] = make([]uint64, i)
		}
		r.Stores[name] = append(r.Stores[name], w.stores[name].received)
	}
	if w.opts.Progress != nil {
		active := 0
		for _, f := range w.faults {
			if f.active {
				active++
			}
		}
		w.opts.Progress(Progress{Now: now, Total: w.opts.Duration, Phase: w.phase, Written: written, Delivered: delivered,
			AgentBacklog: aback, CollectorBacklog: cback, FaultsActive: active})
	}
}

// finish runs the checker and completes the record.
func (w *world) finish() *Record {
	r := w.rec
	now := w.s.Now()
	for _, a := range w.agents {
		w.chk.wrote(a.writer.id, a.writer.written(now))
	}
	r.Duration = now.Milliseconds()
	r.Checker = w.chk.result(func(i int) string { return w.agents[i].name }, w.unexpected)
	r.Valid = r.Checker.Valid && r.Liveness.Drained
	w.stats.RPCFailed, w.stats.SourceFull, w.stats.CollectorFull = w.stats.rpcFailed, w.stats.sourceFull, w.stats.collectorFull
	w.stats.CollectorPutErr, w.stats.CrashLostInChannels = w.stats.collectorPutErr, w.stats.crashLostInChannels
	r.Stats = w.stats
	for _, f := range w.faults {
		if !f.healed && !f.active {
			continue // never injected (scheduled after the fault phase)
		}
		r.Faults = append(r.Faults, FaultRecord{Name: f.Kind + " " + f.Target, Kind: f.Kind, Target: f.Target, Detail: f.Detail,
			InjectedMs: f.At.Milliseconds(), HealedMs: (f.At + f.Length).Milliseconds(), Planned: f.Planned})
	}
	if len(w.opts.Outages) > 0 {
		r.Capacity = w.capacity()
	}
	if !r.Valid {
		r.Timeline = append(r.Timeline, fmt.Sprintf("%s INVALID: lost %d, unexpected %d, drained %v", clockString(now), r.Checker.Lost, r.Checker.Unexpected, r.Liveness.Drained))
	}
	return r
}

// Failure explains an invalid run in the form a person replays: what was
// wrong, SEED=..., and the one command that runs it again.
func (r *Record) Failure() string {
	if r.Valid {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "simulation INVALID: lost %d, unexpected %d, duplicated %d, drained %v", r.Checker.Lost, r.Checker.Unexpected, r.Checker.Duplicated, r.Liveness.Drained)
	if r.Liveness.Stuck != "" {
		fmt.Fprintf(&b, " (stuck: %s)", r.Liveness.Stuck)
	}
	for i, l := range r.Checker.LostByWriter {
		if i == 3 {
			b.WriteString("\n  ...")
			break
		}
		fmt.Fprintf(&b, "\n  %s lost %d, first %v", l.Writer, l.Lost, l.Intervals[:min(len(l.Intervals), 3)])
	}
	fmt.Fprintf(&b, "\nSEED=%d\nreplay: %s\n", r.Seed, r.Command)
	return b.String()
}
