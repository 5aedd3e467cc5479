package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options describe one simulation run. Run is a pure function of them: the
// same Options give a byte-identical run record.
type Options struct {
	Seed       uint64
	Agents     int
	Collectors int
	// Duration is the fault phase: writers write and the nemesis injects
	// faults. The liveness phase follows: every fault healed, writers
	// stopped, and everything must drain within DrainTimeout.
	Duration     time.Duration
	DrainTimeout time.Duration
	// Rate is events per second per agent.
	Rate float64
	// RateSpread varies each agent's rate uniformly in ±RateSpread (0.2 =
	// ±20%); 0 gives every agent exactly Rate.
	RateSpread float64

	// Faults lists the fault kinds the nemesis may use; nil lets the seed
	// choose (swarm testing), an empty non-nil slice turns faults off.
	Faults []string
	// FaultRate scales how often faults happen (1 = default).
	FaultRate float64
	// Outages are planned faults (capacity planning): a target down from
	// Start for Length.
	Outages []Outage
	// AllowLoss lets the nemesis crash nodes whose channels are not
	// durable (memory channels), to show where such a fleet loses data.
	AllowLoss bool

	// AgentConf and CollectorConf are Flume properties files; empty uses
	// the seed topology's (SeedAgentConf, SeedCollectorConf). Their agent
	// names are taken from the files (the first agent configured).
	AgentConf, CollectorConf string
	// AgentChannel and CollectorChannel, when set, replace the channel
	// type of the default configurations ("memory" or "file").
	AgentChannel, CollectorChannel string
	// ChannelCapacity and CollectorChannelCapacity, when > 0, override the
	// capacity of every agent (collector) channel.
	ChannelCapacity, CollectorChannelCapacity int

	// Model knobs; zero values take the defaults in DefaultModel.
	Model Model

	// SampleEvery is the step of the recorded series; 0 picks one that
	// keeps the record near 3600 samples.
	SampleEvery time.Duration

	// Progress, if set, is called at every sample.
	Progress func(Progress)

	// commitBeforeDeliver plants a bug for tests: agent sinks commit their
	// take before the RPC, so a failed RPC loses the batch.
	commitBeforeDeliver bool
	// onDeliver, for tests, sees every copy a store acknowledges, with the
	// collector that wrote it.
	onDeliver func(store, via string, writer int, seq uint64, at time.Duration)
	// checkViews, for tests, rebuilds every agent's sample view at each
	// sample and fails the run if one was stale.
	checkViews bool
}

// Model holds the service times of what the simulator does not run for real.
type Model struct {
	EventBytes       int           // wire and disk size of one event
	RPCBase          time.Duration // collector CPU per appendBatch
	RPCPerEvent      time.Duration // collector CPU per event
	StoreBase        time.Duration // store write latency per batch
	StorePerEvent    time.Duration
	StoreTimeout     time.Duration // how long a store write hangs when the store is down
	FrozenBacklogMax int           // requests a frozen collector's socket buffers hold
}

// DefaultModel is a data-centre fleet: 200-byte events, a collector that
// handles about a million events a second of RPC work, and an HDFS/Kafka
// write of 5 ms per batch plus 2 µs per event.
var DefaultModel = Model{
	EventBytes:       200,
	RPCBase:          100 * time.Microsecond,
	RPCPerEvent:      time.Microsecond,
	StoreBase:        5 * time.Millisecond,
	StorePerEvent:    2 * time.Microsecond,
	StoreTimeout:     10 * time.Second,
	FrozenBacklogMax: 64,
}

func (m Model) withDefaults() Model {
	d := DefaultModel
	if m.EventBytes > 0 {
		d.EventBytes = m.EventBytes
	}
	if m.RPCBase > 0 {
		d.RPCBase = m.RPCBase
	}
	if m.RPCPerEvent > 0 {
		d.RPCPerEvent = m.RPCPerEvent
	}
	if m.StoreBase > 0 {
		d.StoreBase = m.StoreBase
	}
	if m.StorePerEvent > 0 {
		d.StorePerEvent = m.StorePerEvent
	}
	if m.StoreTimeout > 0 {
		d.StoreTimeout = m.StoreTimeout
	}
	if m.FrozenBacklogMax > 0 {
		d.FrozenBacklogMax = m.FrozenBacklogMax
	}
	return d
}

// Outage is a planned fault: Target ("collector01", "hdfs", "kafka",
// "all-collectors") unavailable from Start for Length.
type Outage struct {
	Target string
	Start  time.Duration
	Length time.Duration
}

// ParseOutage reads "collector01:30m" or "collector01:30m@5m" (down at 5 m
// for 30 m); without @ the outage starts after start.
func ParseOutage(s string, start time.Duration) (Outage, error) {
	target, rest, ok := strings.Cut(s, ":")
	if !ok || target == "" {
		return Outage{}, fmt.Errorf("outage %q: want TARGET:LENGTH[@START], e.g. collector01:30m or hdfs:10m@5m", s)
	}
	length, at, hasAt := strings.Cut(rest, "@")
	d, err := time.ParseDuration(length)
	if err != nil || d <= 0 {
		return Outage{}, fmt.Errorf("outage %q: length %q is not a positive duration such as 30m", s, length)
	}
	o := Outage{Target: target, Start: start, Length: d}
	if hasAt {
		if o.Start, err = time.ParseDuration(at); err != nil || o.Start < 0 {
			return Outage{}, fmt.Errorf("outage %q: start %q is not a duration such as 5m", s, at)
		}
	}
	return o, nil
}

// ParseRate reads "50/s", "50", "3000/m" or "180000/h" as events per second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: want events per agent such as 10/s, 600/m or 50", s)
	}
	switch unit {
	case "", "s":
	case "m":
		v /= 60
	case "h":
		v /= 3600
	default:
		return 0, fmt.Errorf("rate %q: unit %q is not s, m or h", s, unit)
	}
	return v, nil
}

// FaultKinds are the faults the nemesis knows.
var FaultKinds = map[string]string{
	"collector-crash":  "kill -9 a collector (sometimes its whole host) and restart it",
	"collector-freeze": "SIGSTOP a collector, SIGCONT it later",
	"agent-crash":      "kill -9 some agents and restart them (channel recovery)",
	"partition":        "cut agents from a collector, both ways or one way",
	"slow-link":        "clog the links from agents to a collector (latency, bandwidth, loss)",
	"flaky-link":       "reset connections between agents and a collector",
	"storage-outage":   "take a store (hdfs, kafka) down",
	"disk-full":        "fill a collector's or agents' disk",
	"disk-faults":      "fail writes and fsyncs on a collector's disk",
}

// FaultKindNames lists FaultKinds sorted.
func FaultKindNames() []string {
	out := make([]string, 0, len(FaultKinds))
	for k := range FaultKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseFaults reads a comma-separated list of fault kinds; "all" is every
// kind, "none" is no faults, "swarm" lets the seed choose.
func ParseFaults(s string) ([]string, error) {
	switch s {
	case "", "swarm":
		return nil, nil
	case "none":
		return []string{}, nil
	case "all":
		return FaultKindNames(), nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if _, ok := FaultKinds[k]; !ok {
			return nil, fmt.Errorf("fault kind %q: valid kinds are %s (or all, none, swarm)", k, strings.Join(FaultKindNames(), ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

func (o Options) withDefaults() Options {
	if o.Agents <= 0 {
		o.Agents = 20
	}
	if o.Collectors <= 0 {
		o.Collectors = 3
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Minute
	}
	if o.Rate <= 0 {
		o.Rate = 10
	}
	if o.FaultRate <= 0 {
		o.FaultRate = 1
	}
	o.Model = o.Model.withDefaults()
	if o.SampleEvery <= 0 {
		o.SampleEvery = time.Second
		if total := o.Duration + o.DrainTimeout/4; total > time.Hour {
			o.SampleEvery = (total / 3600).Round(time.Second)
		}
	}
	return o
}

// Progress is reported at every sample.
type Progress struct {
	Now, Total       time.Duration
	Phase            string
	Written          uint64
	Delivered        uint64
	AgentBacklog     int64
	CollectorBacklog int64
	FaultsActive     int
}
