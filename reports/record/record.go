// Package record is the run record: the one JSON document a chaos scenario
// (scenarios/) or a fleet simulation (sim/) writes per run, and the only
// input of the report renderer (reports/).
//
// The record is deliberately aggregate. It holds per-interval series per
// tier and per sink, fault and sink-switch events, and the checker's
// verdict with lost events compressed to intervals; it never holds a row
// per event, so a 2000-agent simulation's record stays small.
//
// Times inside a run are offsets in milliseconds from Run.Start (wall time
// for scenarios, virtual time for simulations), so a record means the same
// thing whichever clock produced it.
//
// # What the report draws from what
//
// Every field added to format v1 after its first release is optional:
// readers must accept records without it, so the version stays 1.
//
//	chart or table                      fields
//	written vs delivered per second     Series.Written, Delivered, Duplicates
//	backlog per tier                    Series.Backlog (keys = Topology.Nodes[].Tier)
//	other gauges                        Series.Gauges (optional)
//	latency over time (p50/p99/max)     Series.LatencyP50Us, LatencyP99Us, LatencyMaxUs
//	latency distribution                Checker.Latency.Histogram (+ the exact percentiles)
//	active sink per sink group          ActiveSinks (one entry per node or tier, and group)
//	nodes per active sink               Series.ActiveCount (optional; fleets)
//	fault windows on every time chart   Faults[].InjectedMs, HealedMs
//	phase lines                         Phases
//	failover table                      Failover
//	verdict, lost ids                   Checker.Valid, Lost, LostIntervals
//	timeline                            Timeline
//	topology, config files              Topology
//
// Scenarios (scenarios/) fill all of these. A simulation (sim/) that
// leaves one out gets no such chart or an empty table; to fill them: put
// non-backlog gauges (source lag, nodes down, agents with a full channel)
// in Series.Gauges rather than Backlog, per-sink agent counts in
// Series.ActiveCount ("group/sink" keys) rather than "active:" Backlog
// keys, the per-interval latency percentiles of the events written in
// each interval, and a FailoverRow per fault.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Version is the record format version. Decode accepts records of this
// version only; a change that old readers would misread bumps it.
const Version = 1

// Kind says what produced a run.
type Kind string

const (
	KindScenario Kind = "scenario" // real processes, real faults (scenarios/)
	KindSim      Kind = "sim"      // deterministic simulation (sim/)
)

// Run is one run record.
type Run struct {
	Version     int               `json:"version"`
	Scenario    string            `json:"scenario"`
	Kind        Kind              `json:"kind"`
	Seed        int64             `json:"seed"`
	Start       time.Time         `json:"start"`
	DurationMs  int64             `json:"duration_ms"`
	Description string            `json:"description,omitempty"`
	Params      map[string]string `json:"params,omitempty"` // rate, writers, line size, ... as run
	Phases      Phases            `json:"phases"`
	Topology    Topology          `json:"topology"`
	Faults      []Fault           `json:"faults"`
	Series      Series            `json:"series"`
	ActiveSinks []ActiveSink      `json:"active_sinks,omitempty"`
	Checker     Result            `json:"checker"`
	Failover    []FailoverRow     `json:"failover"`
	Timeline    []TimelineEntry   `json:"timeline"`
	// Expectations the scenario asserted beyond the checker (e.g. "traffic
	// failed over to priority 80"), with whether they held.
	Expectations []Expectation `json:"expectations,omitempty"`
	// Anomalies are things that went wrong outside the checker's view: a
	// node that exited without a fault, a panic in a node's log.
	Anomalies []string `json:"anomalies,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// Phases are the run's two-phase milestones (Jepsen's shape): load with
// faults, then heal, quiesce and drain.
type Phases struct {
	LoadEndMs  int64 `json:"load_end_ms"`  // writers stopped
	HealMs     int64 `json:"heal_ms"`      // every fault healed
	DrainEndMs int64 `json:"drain_end_ms"` // drain finished or gave up
	// Drained is true when every channel was empty (and every written
	// event accounted for) before the drain deadline.
	Drained bool `json:"drained"`
}

// Topology is what ran: nodes, the hops between them, the stores the
// checker read back, and the configuration files used.
type Topology struct {
	Nodes   []Node   `json:"nodes"`
	Hops    []Hop    `json:"hops,omitempty"`
	Stores  []Store  `json:"stores"`
	Configs []Config `json:"configs,omitempty"`
}

// Role is a node's place in the pipeline.
type Role string

const (
	RoleAgent     Role = "agent"
	RoleCollector Role = "collector"
)

// Node is an agent or collector; with Count > 1 it stands for that many
// identical nodes (a simulated tier).
type Node struct {
	Name    string      `json:"name"`
	Role    Role        `json:"role"`
	Tier    string      `json:"tier"`
	Count   int         `json:"count,omitempty"`
	Runtime string      `json:"runtime"`          // process | container | sim
	Config  string      `json:"config,omitempty"` // Config.Name it ran
	Groups  []SinkGroup `json:"groups,omitempty"`
}

// SinkGroup is a node's sink group as configured.
type SinkGroup struct {
	Name      string      `json:"name"`
	Processor string      `json:"processor"` // default | failover | load_balance
	Sinks     []GroupSink `json:"sinks"`
}

// GroupSink is one sink of a group and where it delivers.
type GroupSink struct {
	Name     string `json:"name"`
	Priority int    `json:"priority,omitempty"`
	Target   string `json:"target"` // the node or store it delivers to
}

// Hop is one network hop, From's Sink to node To, through Via (a proxy).
type Hop struct {
	From string `json:"from"`
	Sink string `json:"sink"`
	To   string `json:"to"`
	Via  string `json:"via,omitempty"`
}

// Store is where events land and the checker reads them back.
type Store struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // file_roll | hdfs | kafka | sim
	Node     string `json:"node"` // the node whose sink writes it
	Location string `json:"location,omitempty"`
}

// Config is one configuration file as used.
type Config struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Fault is one fault as it really happened: the offsets are when the
// injector finished acting, not when it was scheduled.
type Fault struct {
	ID         int               `json:"id"`
	Name       string            `json:"name"`   // "kill-primary"
	Kind       string            `json:"kind"`   // network | process | container | disk
	Action     string            `json:"action"` // kill | stop | blackhole | latency | ...
	Target     string            `json:"target"` // node name
	Params     map[string]string `json:"params,omitempty"`
	InjectedMs int64             `json:"injected_ms"`
	HealedMs   *int64            `json:"healed_ms"` // nil: never healed
	Error      string            `json:"error,omitempty"`
}

// Series are per-interval counts; element i covers [i*IntervalMs,
// (i+1)*IntervalMs) from the run start.
type Series struct {
	IntervalMs int64   `json:"interval_ms"`
	Written    []int64 `json:"written"`    // events written (attempted)
	Delivered  []int64 `json:"delivered"`  // first arrivals in any store
	Duplicates []int64 `json:"duplicates"` // extra copies arriving
	// Backlog per tier: the sum of the tier's channel sizes at the end of
	// the interval (a node that could not be observed keeps its last value).
	// Keys are tier names as in Topology.Nodes[].Tier ("agent",
	// "collector"); the report draws one line per tier. Records written
	// before Gauges and ActiveCount existed also kept other gauges here
	// (keys that are no node's tier) and active-sink counts ("active:"
	// keys); readers still accept that, writers use the fields below.
	Backlog map[string][]int64 `json:"backlog,omitempty"`
	// Gauges (optional) are other per-interval values sampled at the end
	// of the interval that are not channel backlog: "agent-source-lag"
	// (lines written, not yet read by a source), "nodes-down",
	// "agents-channel-full", ... The report draws them on their own chart.
	Gauges map[string][]int64 `json:"gauges,omitempty"`
	// ActiveCount (optional), for tiers of many nodes (a simulation): per
	// "group/sink" (or "tier/group/sink"), how many nodes had that sink of
	// their group active at the end of the interval. Per-node groups are
	// better described by ActiveSinks.
	ActiveCount map[string][]int64 `json:"active_count,omitempty"`
	// SinkDrained per "node/sink" (or "tier/sink" when aggregated): events
	// the sink delivered in the interval (EventDrainSuccessCount delta).
	SinkDrained map[string][]int64 `json:"sink_drained,omitempty"`
	// Stores: arrivals (every copy) per store in the interval.
	Stores map[string][]int64 `json:"stores,omitempty"`
	// Delivery latency of the events written in the interval (by write
	// time, as Jepsen plots latency by invocation time), in microseconds;
	// 0 where no event written in the interval was delivered.
	LatencyP50Us []int64 `json:"latency_p50_us,omitempty"`
	LatencyP99Us []int64 `json:"latency_p99_us,omitempty"`
	LatencyMaxUs []int64 `json:"latency_max_us,omitempty"`
}

// ActiveSink is the active-sink timeline of one node's sink group (or, for
// a simulated tier with Node naming the tier, the sink most of its nodes
// delivered through). The report draws one row per entry, coloured by the
// active sink; Changes need not be sorted. Scenarios fill one entry per
// node and group; a simulation fills at least one per tier and group.
type ActiveSink struct {
	Node    string       `json:"node"`
	Group   string       `json:"group"`
	Source  string       `json:"source"` // metrics (SINKGROUP entry) | inferred (per-sink drain counts)
	Changes []SinkChange `json:"changes"`
}

// SinkChange: from AtMs on, Sink was active ("" = none could deliver).
type SinkChange struct {
	AtMs int64  `json:"at_ms"`
	Sink string `json:"sink"`
}

// Result is the checker's verdict, Jepsen total-queue semantics over
// multisets: every written event has a unique id; after the drain the
// stores are read back.
type Result struct {
	// Valid is true iff nothing acknowledged was lost and nothing
	// unexpected was read. Duplicates never make a run invalid; they are
	// counted and reported.
	Valid        bool  `json:"valid"`
	Attempted    int64 `json:"attempted"`    // writes invoked
	Acknowledged int64 `json:"acknowledged"` // writes confirmed to the writer
	Delivered    int64 `json:"delivered"`    // distinct attempted events read back
	Lost         int64 `json:"lost"`         // acknowledged, never read back
	Recovered    int64 `json:"recovered"`    // read back though never acknowledged
	Unconfirmed  int64 `json:"unconfirmed"`  // neither acknowledged nor read back (indeterminate, not lost)
	// Duplicated counts extra copies (sum over events of copies-1);
	// DuplicatedEvents the events read more than once.
	Duplicated       int64 `json:"duplicated"`
	DuplicatedEvents int64 `json:"duplicated_events"`
	Unexpected       int64 `json:"unexpected"` // read back, never written (or altered)
	// Torn counts incomplete trailing lines left in stores (a writer
	// killed mid-line); they are not events and do not affect validity.
	Torn int64 `json:"torn"`
	// Copies is the histogram of copies for duplicated events.
	Copies []CopiesBucket `json:"copies,omitempty"`
	// LostIntervals are lost sequence numbers per writer, as inclusive
	// intervals; Gaps are every sequence number not read back (lost or
	// unconfirmed). Both are capped (Truncated).
	LostIntervals     []WriterIntervals `json:"lost_intervals,omitempty"`
	Gaps              []WriterIntervals `json:"gaps,omitempty"`
	UnexpectedSamples []string          `json:"unexpected_samples,omitempty"`
	Truncated         bool              `json:"truncated,omitempty"`
	PerStore          map[string]int64  `json:"per_store,omitempty"` // copies read per store
	Latency           Latency           `json:"latency"`
}

// CopiesBucket: Events events were read Copies times.
type CopiesBucket struct {
	Copies int   `json:"copies"`
	Events int64 `json:"events"`
}

// WriterIntervals are inclusive [from, to] sequence intervals of a writer.
type WriterIntervals struct {
	Writer    string     `json:"writer"`
	Count     int64      `json:"count"`
	Intervals [][2]int64 `json:"intervals"`
}

// Latency is the delivery latency (write to first arrival in a store) of
// every delivered event, in microseconds.
type Latency struct {
	Count  int64 `json:"count"`
	MinUs  int64 `json:"min_us"`
	P50Us  int64 `json:"p50_us"`
	P90Us  int64 `json:"p90_us"`
	P99Us  int64 `json:"p99_us"`
	P999Us int64 `json:"p999_us"`
	MaxUs  int64 `json:"max_us"`
	// MeanUs is the arithmetic mean.
	MeanUs float64 `json:"mean_us"`
	// Histogram is the HdrHistogram (microseconds) in the standard V2
	// compressed, base64 encoding (hdrhistogram-go Encode/Decode, and
	// HdrHistogram's Java/C tools).
	Histogram string `json:"histogram,omitempty"`
	// ResolutionUs is how finely arrivals were observed (store polling
	// period); latencies are exact to within it.
	ResolutionUs int64 `json:"resolution_us,omitempty"`
}

// FailoverRow is one fault's recovery, derived from what was observed
// (sink metrics and the checker's arrival times), never from the schedule.
// A nil offset means it did not happen (or does not apply).
type FailoverRow struct {
	Fault      int    `json:"fault"` // Fault.ID
	Name       string `json:"name"`
	Target     string `json:"target"`
	InjectedMs int64  `json:"injected_ms"`
	// DetectedMs: the first failed batch towards the target (a sink's
	// EventWriteFail or ConnectionFailedCount rose), as observed.
	DetectedMs *int64 `json:"detected_ms"`
	// FailedOverMs: every affected node has delivered a batch through
	// another sink (an arrival in a store other than the target's).
	FailedOverMs *int64 `json:"failed_over_ms"`
	HealedMs     *int64 `json:"healed_ms"`
	// FailedBackMs: every affected node has delivered to the target's
	// store again after the heal.
	FailedBackMs *int64 `json:"failed_back_ms"`
	// LongestGapMs: the longest time, within the fault's window, between
	// consecutive first arrivals of one affected node's events.
	LongestGapMs int64 `json:"longest_gap_ms"`
	Lost         int64 `json:"lost"`
	Duplicated   int64 `json:"duplicated"`
	// Affected are the nodes whose traffic went through the target when
	// the fault was injected.
	Affected []string `json:"affected,omitempty"`
	// Via: sink (or store) that carried the affected traffic during the
	// fault, most arrivals first.
	Via   []string `json:"via,omitempty"`
	Notes string   `json:"notes,omitempty"`
}

// Mark characters for timeline entries, after TigerBeetle's VOPR output.
const (
	MarkCrash    = "$" // a process or container killed
	MarkRecover  = "^" // restarted, resumed, reconnected
	MarkFault    = "!" // a fault injected
	MarkHeal     = "~" // a fault healed
	MarkDetect   = "?" // first failed batch observed
	MarkFailover = ">" // traffic moved to another sink
	MarkFailback = "<" // traffic back on the original sink
	MarkPhase    = "#" // a phase boundary
	MarkNote     = "." // anything else worth a line
)

// TimelineEntry is one line of the text timeline.
type TimelineEntry struct {
	AtMs int64  `json:"at_ms"`
	Mark string `json:"mark"`
	Node string `json:"node,omitempty"`
	Text string `json:"text"`
}

// Expectation is a scenario-specific claim and whether it held.
type Expectation struct {
	Claim  string `json:"claim"`
	Held   bool   `json:"held"`
	Detail string `json:"detail,omitempty"`
}

// Ms returns a pointer to v, for the optional offsets.
func Ms(v int64) *int64 { return &v }

// Offset is the offset of t from the run start, in ms.
func (r *Run) Offset(t time.Time) int64 { return t.Sub(r.Start).Milliseconds() }

// Encode writes r as indented JSON, setting the version.
func Encode(w io.Writer, r *Run) error {
	r.Version = Version
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode run record: %w", err)
	}
	return nil
}

// Marshal is Encode into a byte slice.
func Marshal(r *Run) ([]byte, error) {
	var b bytes.Buffer
	if err := Encode(&b, r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrVersion is returned for a record of another format version.
var ErrVersion = errors.New("unsupported run record version")

// MaxSize caps a record read by Decode; records are aggregate and stay far
// below it.
const MaxSize = 256 << 20

var maxSize int64 = MaxSize // tests lower it

// Decode reads one record, refusing unknown versions and oversized input.
func Decode(rd io.Reader) (*Run, error) {
	b, err := io.ReadAll(io.LimitReader(rd, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read run record: %w", err)
	}
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("run record over %d bytes", maxSize)
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	if head.Version == nil {
		return nil, fmt.Errorf("run record: no \"version\" field: %w", ErrVersion)
	}
	if *head.Version != Version {
		return nil, fmt.Errorf("run record version %d, this build reads %d: %w", *head.Version, Version, ErrVersion)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	return &r, nil
}
