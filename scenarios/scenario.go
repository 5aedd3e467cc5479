package scenarios

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/reports/record"

	_ "github.com/sluicehq/sluice/engine/components" // what the binary under test can run
)

// Scenario is a topology, a workload and a nemesis, plus what the run must
// show beyond the checker's verdict.
type Scenario struct {
	Name        string
	Number      int // the numbering, 0 for the extras
	Description string

	Agents, Collectors int
	// Group is the agents' sink group over the collectors: "failover" or
	// "load_balance". With no collectors each agent writes its own
	// file_roll store.
	Group            string
	Priorities       []int
	AgentChannel     string // file | memory
	CollectorChannel string
	// Source is what the workload feeds: "taildir" (writers append to the
	// files the agents tail) or "http"; empty picks taildir when it is
	// built, else http.
	Source string
	// Containers runs the collectors as Docker containers.
	Containers bool
	// StoreTier, with no collectors, makes each agent the seed's
	// collector tier: StoreTierHDFSKafka writes through a failover group
	// hdfsSink(100) -> kafkaSink(80) (HDFS on file://, Kafka on an
	// in-process kfake cluster).
	StoreTier string

	Short, Long Variant
	// Nemesis adds the fault schedule to a plan.
	Nemesis func(p *Plan)
	// Expect states what the run must show besides the verdict.
	Expect func(r *record.Run) []record.Expectation
	// Lossy marks a deliberately lossy configuration: the checker is
	// expected to find it invalid.
	Lossy bool

	user *userTopology // an operator's own configuration files
}

// Variant is the scale of a run.
type Variant struct {
	Load, Drain time.Duration
	Rate        int // events/s per agent
	// MaxPenalty is the failover maxpenalty (load_balance
	// selector.maxTimeOut), RequestTimeout the avro sinks' timeouts, ms.
	MaxPenalty, RequestTimeout int
	RotateBytes                int64
}

// Plan is one run's concrete parameters and fault schedule.
type Plan struct {
	Agents, Collectors         int
	Load, Drain                time.Duration
	Rate, WritersPerAgent      int
	LineSize                   int
	RotateBytes                int64
	MaxPenalty, RequestTimeout int
	Long                       bool
	Rand                       *rand.Rand
	Steps                      []Step
	// Disk, if set, returns a disk fault to bind to a node's directory
	// before it starts (nil for nodes that get none).
	Disk func(n *Node) faults.Fault
}

// Step is one fault of the schedule.
type Step struct {
	Name   string // as the failover table names it
	Target string // node name
	// Store, when the fault hits one of the node's stores rather than the
	// node (a full HDFS disk), names that store: the failover table's
	// target.
	Store string
	At    time.Duration
	For   time.Duration // 0: until the load ends
	Fault func(n *Node) faults.Fault
}

// Add appends a step.
func (p *Plan) Add(s Step) { p.Steps = append(p.Steps, s) }

func (sc *Scenario) plan(opts Options, rng *rand.Rand) *Plan {
	v := sc.Short
	if opts.Long && sc.Long.Load > 0 {
		v = sc.Long
	}
	p := &Plan{Agents: sc.Agents, Collectors: sc.Collectors, Load: v.Load, Drain: v.Drain, Rate: v.Rate,
		WritersPerAgent: 1, LineSize: 200, RotateBytes: v.RotateBytes,
		MaxPenalty: v.MaxPenalty, RequestTimeout: v.RequestTimeout, Long: opts.Long, Rand: rng}
	if opts.Load > 0 {
		// Scale the schedule with the load phase.
		scale := float64(opts.Load) / float64(p.Load)
		p.Load = opts.Load
		defer func() {
			for i := range p.Steps {
				p.Steps[i].At = time.Duration(float64(p.Steps[i].At) * scale)
				p.Steps[i].For = time.Duration(float64(p.Steps[i].For) * scale)
			}
		}()
	}
	if p.Drain == 0 {
		p.Drain = 60 * time.Second
	}
	if p.Rate == 0 {
		p.Rate = 200
	}
	if p.MaxPenalty == 0 {
		p.MaxPenalty = 2000
	}
	if p.RequestTimeout == 0 {
		p.RequestTimeout = 2000
	}
	if p.RotateBytes == 0 {
		p.RotateBytes = 1 << 20
	}
	if sc.Nemesis != nil {
		sc.Nemesis(p)
	}
	return p
}

// source is the workload's entry point for this build.
func (sc *Scenario) source() string {
	if sc.Source != "" {
		return sc.Source
	}
	if _, ok := registry.Lookup(registry.Source, "taildir"); ok {
		return "taildir"
	}
	return "http"
}

// Needs lists the components the scenario's configs use.
func (sc *Scenario) Needs() [][2]string {
	if sc.user != nil {
		return append(sc.user.needs(), [2]string{string(registry.Source), sc.source()})
	}
	need := [][2]string{{string(registry.Source), sc.source()}, {string(registry.Channel), sc.AgentChannel}}
	if sc.Collectors > 0 {
		need = append(need, [2]string{string(registry.Sink), "avro"}, [2]string{string(registry.Source), "avro"},
			[2]string{string(registry.Channel), sc.CollectorChannel})
		if sc.Group != "" {
			need = append(need, [2]string{string(registry.Processor), sc.Group})
		}
	}
	need = append(need, [2]string{string(registry.Sink), "file_roll"})
	return need
}

// Missing says what this build lacks to run the scenario ("" when
// nothing).
func (sc *Scenario) Missing() string {
	var miss []string
	seen := map[string]bool{}
	for _, n := range sc.Needs() {
		if _, ok := registry.Lookup(registry.Kind(n[0]), n[1]); !ok {
			m := fmt.Sprintf("%s %s", n[1], n[0])
			if !seen[m] {
				seen[m] = true
				miss = append(miss, m)
			}
		}
	}
	if len(miss) > 0 {
		return "this build has no " + strings.Join(miss, ", ")
	}
	return ""
}

func (sc *Scenario) missing(opts Options) string {
	if m := sc.Missing(); m != "" {
		return m
	}
	if opts.Binary == "" {
		return "no sluice binary given"
	}
	if sc.Containers && opts.Containers == nil {
		return "collectors run as containers, and no container runtime was given"
	}
	return ""
}

// Problems lists what is wrong with a finished run of sc: the verdict (a
// valid run, or for a deliberately lossy configuration an invalid one
// with the loss counted), faults that could not be injected or healed,
// an unfinished drain, and failed expectations. Empty means the run shows
// what the scenario promises.
func Problems(sc *Scenario, r *record.Run) []string {
	var out []string
	c := r.Checker
	if c.Attempted == 0 || c.Delivered == 0 {
		out = append(out, fmt.Sprintf("nothing written or delivered (attempted %d, delivered %d)", c.Attempted, c.Delivered))
	}
	for _, f := range r.Faults {
		if f.Error != "" {
			out = append(out, fmt.Sprintf("fault %d %s on %s: %s", f.ID, f.Name, f.Target, f.Error))
		}
	}
	if sc.Lossy {
		if c.Valid || c.Lost == 0 {
			out = append(out, fmt.Sprintf("a deliberately lossy configuration was not found invalid (valid=%v, lost=%d)", c.Valid, c.Lost))
		}
	} else {
		if !c.Valid {
			out = append(out, fmt.Sprintf("INVALID: lost %d %v, unexpected %d %q", c.Lost, c.LostIntervals, c.Unexpected, c.UnexpectedSamples))
		}
		if !r.Phases.Drained {
			out = append(out, "the drain did not finish")
		}
	}
	for _, a := range r.Anomalies {
		out = append(out, "anomaly: "+a)
	}
	for _, e := range r.Expectations {
		if !e.Held {
			out = append(out, fmt.Sprintf("expectation failed: %s (%s)", e.Claim, e.Detail))
		}
	}
	return out
}
