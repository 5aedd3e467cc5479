// Package sim is Sluice's deterministic fleet simulation: thousands of
// agents and their collectors in one process, on virtual time, with every
// random choice drawn from one seed, running the engine's own code.
//
// Agents and collectors are built from Flume properties files by
// engine/config and the engine registry: the real channels (memory, file
// on a simulated disk), the real channel processor and selectors, the real
// sink processors (failover, load_balance) and the engine's sink
// transaction (sink.Deliver). What the simulator supplies is what no test
// machine has: the network between the hosts (sim/network), their disks
// (sim/disk), the log files being tailed (a writer whose lines are computed,
// not stored), the Avro hop (resolved at send time, see avroSink) and the
// stores (HDFS, Kafka), which hand every event to a Jepsen total-queue
// checker. A discrete-event scheduler (sim/sched) drives every component
// with the same timing rules as the engine's runners, on one goroutine.
//
// A run has two phases, like Jepsen's: faults under load (swarm-chosen per
// seed, or planned outages for capacity planning), then liveness: every
// fault healed, writers stopped, and everything must drain. Same Options,
// same run record, byte for byte.
package sim

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	_ "github.com/sluicehq/sluice/engine/components" // the real channels, processors, selectors
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/sim/disk"
	"github.com/sluicehq/sluice/sim/network"
	"github.com/sluicehq/sluice/sim/sched"
)

// Epoch is the virtual time every run starts at, so records do not depend
// on when they were made.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type world struct {
	opts     Options
	seed     sched.Seed
	s        *sched.Sched
	net      *network.Net
	log      *slog.Logger
	meter    disk.Meter
	running  *runnerActor
	startRng interface{ Int64N(int64) int64 }

	agents     []*node
	collectors []*node
	hosts      map[string]*node
	stores     map[string]*store
	chk        *checker
	unexpected uint64

	kinds  []string
	faults []*fault
	phase  string
	fatal  error

	rec   *record.Run
	arr   arrivals
	ser   samples
	lat   latencyByWrite
	views views
	batch []event.Event // the tailed logs' batch, reused
	stats Stats
	cap   capTrack
	stuck string
}

// Stats are counts of what happened, for the record.
type Stats struct {
	Steps               uint64 `json:"steps"`
	RPCFailed           uint64 `json:"rpc_failed"`
	SourceFull          uint64 `json:"source_channel_full"`
	CollectorFull       uint64 `json:"collector_channel_full"`
	CollectorPutErr     uint64 `json:"collector_put_errors"`
	CrashLostInChannels uint64 `json:"events_in_crashed_memory_channels"`

	sourceFull, collectorFull, collectorPutErr, rpcFailed, crashLostInChannels uint64
}

// Run simulates o. An error means the simulation could not run (a
// configuration the fleet cannot be built from); a run that lost data
// returns a Result whose Valid is false.
func Run(o Options) (*Result, error) {
	o = o.withDefaults()
	w := &world{opts: o, seed: sched.Seed(o.Seed), s: sched.New(Epoch),
		log: slog.New(slog.DiscardHandler), hosts: map[string]*node{}, stores: map[string]*store{}}
	w.startRng = w.seed.Stream("start")
	w.net = network.New(w.seed.Stream("net"), network.LAN)
	w.cap.fullAgents, w.cap.firstFull = map[int]bool{}, -1
	w.rec = &record.Run{Version: record.Version, Scenario: "fleet", Kind: record.KindSim, Seed: int64(o.Seed), Start: Epoch,
		Description: "deterministic fleet simulation", Params: o.params()}
	if err := w.buildFleet(); err != nil {
		return nil, err
	}
	w.plan()
	w.run()
	if w.fatal != nil {
		return nil, w.fatal
	}
	return w.finish(), nil
}

func channelType(set string) string {
	if set != "" {
		return set
	}
	if _, ok := registry.Lookup(registry.Channel, "file"); ok {
		return "file"
	}
	return "memory"
}

func parseConf(name, text string) (*config.Agent, error) {
	props, err := config.ParseProperties(name, strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	names := config.AgentNames(props)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s configures no agent", name)
	}
	a := config.Build(props, names[0], config.Options{Env: func(string) (string, bool) { return "", false }})
	if a.Errors() {
		var msgs []string
		for _, f := range a.Findings {
			if f.Severity == config.Error {
				msgs = append(msgs, f.String())
			}
		}
		return nil, fmt.Errorf("%s: %s", name, strings.Join(msgs, "; "))
	}
	return a, nil
}

func (w *world) buildFleet() error {
	o := w.opts
	agentConf, collConf := o.AgentConf, o.CollectorConf
	if agentConf == "" {
		agentConf = SeedAgentConf(o.Collectors, channelType(o.AgentChannel))
	}
	if collConf == "" {
		collConf = SeedCollectorConf(channelType(o.CollectorChannel))
	}
	acfg, err := parseConf("agent.conf", agentConf)
	if err != nil {
		return err
	}
	ccfg, err := parseConf("collector.conf", collConf)
	if err != nil {
		return err
	}
	w.rec.Topology.Configs = []record.Config{{Name: "agent.conf", Text: agentConf}, {Name: "collector.conf", Text: collConf}}
	w.chk = newChecker(o.Agents)
	w.lat.every = o.SampleEvery
	wrng := w.seed.Stream("workload")
	for i := range o.Collectors {
		n := w.newNode(fmt.Sprintf("collector%02d", i+1), roleCollector, ccfg)
		n.cidx = i
		w.collectors = append(w.collectors, n)
		w.hosts[n.name] = n
	}
	for i := range o.Agents {
		n := w.newNode(fmt.Sprintf("agent%04d", i+1), roleAgent, acfg)
		rate := o.Rate * (1 + o.RateSpread*(2*wrng.Float64()-1))
		n.writer = &writer{id: i, rate: rate, phase: time.Duration(wrng.Float64() / rate * float64(time.Second)), stop: o.Duration}
		w.chk.writers[i].total = n.writer.written(o.Duration)
		w.agents = append(w.agents, n)
	}
	for _, n := range append(append([]*node(nil), w.collectors...), w.agents...) {
		if err := n.build(); err != nil {
			return err
		}
		n.schedule()
	}
	w.topology(acfg)
	w.initArrivals()
	w.initViews()
	return nil
}

func (w *world) newNode(name string, r role, cfg *config.Agent) *node {
	n := &node{w: w, name: name, role: r, cfg: cfg}
	n.host = w.net.AddHost(name)
	n.disk = disk.New(w.seed.Stream(name+"/disk"), disk.SSD, w.s.Now, w.s.Clock().Now, &w.meter)
	return n
}

func (w *world) store(name string) *store {
	s, ok := w.stores[name]
	if !ok {
		s = &store{w: w, name: name}
		w.stores[name] = s
	}
	return s
}

func (w *world) storeNames() []string {
	out := make([]string, 0, len(w.stores))
	for k := range w.stores {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve maps a sink's hostname to a collector: "collector02" and
// "collector02.example.com" both name collector02.
func (w *world) resolve(hostname string) *node {
	h := strings.ToLower(hostname)
	if n, ok := w.hosts[h]; ok {
		return n
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		return w.hosts[h[:i]]
	}
	return nil
}

func (w *world) note(format string, args ...any) {
	w.rec.Notes = append(w.rec.Notes, fmt.Sprintf(format, args...))
}

func (w *world) timeline(mark, node, format string, args ...any) {
	w.rec.Timeline = append(w.rec.Timeline, record.TimelineEntry{AtMs: w.s.Now().Milliseconds(), Mark: mark, Node: node, Text: fmt.Sprintf(format, args...)})
}

func clockString(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// run is the main loop: the fault phase, then liveness.
func (w *world) run() {
	o := w.opts
	w.phase = "faults"
	var sample *sched.Event
	sample = sched.NewEvent(func() {
		w.sample()
		w.s.After(sample, o.SampleEvery)
	})
	w.s.After(sample, 0)
	w.timeline(record.MarkPhase, "", "start: %d agents, %d collectors, %.4g events/s per agent, faults: %s", o.Agents, o.Collectors, o.Rate, strings.Join(w.kinds, ",")+map[bool]string{true: "none"}[len(w.kinds) == 0])
	w.s.RunUntil(o.Duration)
	if w.fatal != nil {
		return
	}
	// Liveness: heal everything, stop the writers, and require a drain.
	w.phase = "liveness"
	w.sample()
	for _, f := range w.faults {
		if f.active {
			w.healFault(f)
		}
	}
	w.net.Heal()
	for _, s := range w.stores {
		s.down = false
	}
	for _, n := range append(append([]*node(nil), w.collectors...), w.agents...) {
		n.disk.Unfull()
		n.disk.Faulty.Clear()
		switch n.state {
		case down:
			w.restart(n)
		case frozen:
			n.thaw()
		}
	}
	w.rec.Phases.LoadEndMs, w.rec.Phases.HealMs = o.Duration.Milliseconds(), o.Duration.Milliseconds()
	w.timeline(record.MarkPhase, "", "liveness phase: all faults healed, writers stopped; waiting for the fleet to drain")
	deadline := o.Duration + o.DrainTimeout
	var check *sched.Event
	check = sched.NewEvent(func() {
		if w.drained() {
			w.rec.Phases.Drained = true
			w.timeline(record.MarkPhase, "", "drained")
			return
		}
		w.s.After(check, time.Second)
	})
	w.s.After(check, time.Second)
	for !w.rec.Phases.Drained && w.fatal == nil {
		next, ok := w.s.Next()
		if !ok || next > deadline {
			break
		}
		w.s.Step()
	}
	w.stats.Steps = w.s.Steps()
	w.rec.Phases.DrainEndMs = w.s.Now().Milliseconds()
	w.sample()
	if !w.rec.Phases.Drained {
		w.stuck = w.stuckNodes()
		w.timeline(record.MarkPhase, "", "NOT drained after %v: %s", o.DrainTimeout, w.stuck)
	}
}

// drained: every line written has been read, and every channel is empty.
func (w *world) drained() bool {
	for _, a := range w.agents {
		if a.state != up || a.tail == nil || a.tail.pos < a.writer.written(w.s.Now()) {
			return false
		}
		for _, c := range a.channels {
			if c.ch.Len() > 0 {
				return false
			}
		}
	}
	for _, c := range w.collectors {
		if c.state != up {
			return false
		}
		for _, ch := range c.channels {
			if ch.ch.Len() > 0 {
				return false
			}
		}
	}
	return true
}

func (w *world) stuckNodes() string {
	var parts []string
	for _, a := range w.agents {
		if a.state != up {
			parts = append(parts, a.name+" not running")
			continue
		}
		if lag := a.writer.written(w.s.Now()) - a.tail.pos; lag > 0 {
			parts = append(parts, fmt.Sprintf("%s has %d lines unread", a.name, lag))
		}
		for _, c := range a.channels {
			if c.ch.Len() > 0 {
				parts = append(parts, fmt.Sprintf("%s channel %s holds %d", a.name, c.ch.Name(), c.ch.Len()))
			}
		}
		if len(parts) > 5 {
			break
		}
	}
	for _, c := range w.collectors {
		for _, ch := range c.channels {
			if ch.ch.Len() > 0 {
				parts = append(parts, fmt.Sprintf("%s channel %s holds %d", c.name, ch.ch.Name(), ch.ch.Len()))
			}
		}
	}
	return strings.Join(parts, "; ")
}

// params are the options as run, for the record.
func (o Options) params() map[string]string {
	p := map[string]string{
		"command":    o.Command(),
		"agents":     fmt.Sprint(o.Agents),
		"collectors": fmt.Sprint(o.Collectors),
		"rate":       fmt.Sprintf("%g/s", o.Rate),
		"duration":   o.Duration.String(),
	}
	if o.Faults != nil {
		p["faults"] = strings.Join(o.Faults, ",")
	}
	return p
}

// topology describes the fleet in the shared record's terms: the agents as
// one simulated tier, each collector, and the stores.
func (w *world) topology(acfg *config.Agent) {
	t := &w.rec.Topology
	agents := record.Node{Name: "agents", Role: record.RoleAgent, Tier: "agent", Count: len(w.agents), Runtime: "sim", Config: "agent.conf"}
	for _, gc := range acfg.SinkGroups {
		g := record.SinkGroup{Name: gc.Name, Processor: gc.Type}
		for _, name := range gc.Sinks {
			gs := record.GroupSink{Name: name}
			if p, ok := gc.Props["processor.priority."+name]; ok {
				fmt.Sscan(p.Value, &gs.Priority)
			}
			if c := acfg.Component(config.KindSink, name); c != nil {
				if h, ok := c.Props["hostname"]; ok {
					if n := w.resolve(h.Value); n != nil {
						gs.Target = n.name
					}
				}
			}
			g.Sinks = append(g.Sinks, gs)
		}
		agents.Groups = append(agents.Groups, g)
	}
	t.Nodes = append(t.Nodes, agents)
	for _, c := range w.collectors {
		t.Nodes = append(t.Nodes, record.Node{Name: c.name, Role: record.RoleCollector, Tier: "collector", Runtime: "sim", Config: "collector.conf"})
		t.Hops = append(t.Hops, record.Hop{From: "agents", To: c.name})
	}
	for _, name := range w.storeNames() {
		t.Stores = append(t.Stores, record.Store{Name: name, Kind: "sim", Node: "collectors"})
	}
	if !w.agents[0].durable() {
		w.note("agent channels are not durable (%s): an agent crash loses what they hold", w.agents[0].channels[0].ch.Name())
	}
	if !w.collectors[0].durable() {
		w.note("collector channels are not durable: a collector crash loses what they hold")
	}
}
