package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/reports/record"
)

// SinkSample is one observation of one sink's cumulative counters, as read
// from a node's /metrics (or from the simulator's registry).
type SinkSample struct {
	AtMs int64
	Node string
	Sink string
	// Failures is EventWriteFail + ConnectionFailedCount: batches that
	// could not be delivered. Counters restart at 0 when the node does.
	Failures int64
	Drained  int64 // EventDrainSuccessCount
}

// Analysis is the input of the failover table besides the checker's own
// arrival times.
type Analysis struct {
	Start    time.Time
	EndMs    int64
	Faults   []record.Fault
	Topology record.Topology
	Samples  []SinkSample
	// Lookback is how far before an injection a node must have delivered
	// through the target to count as affected (default 3 s).
	Lookback time.Duration
	// Groups (optional) name sets of nodes: a simulated tier that the
	// topology shows as one node ("agents") and whose members the arrivals
	// name ("agent0001", ...), or a fault target that stands for several
	// nodes ("all-collectors", "agent0001,...,agent0040 (40)").
	Groups map[string][]string
}

// Path is one way events reach the stores: a store, and the node whose
// sink wrote to it. Failover tells a fault's target from the other paths
// by it: a path belongs to the target when the target is its node (or
// stands for its node, see Analysis.Groups) or is the store itself.
type Path struct {
	Name  string // as the table's Via column shows it
	Store string
	Node  string // the node whose sink wrote to the store ("" if unknown)
}

// Arrival is Count first arrivals of one node's events, all at AtMs
// through Paths[Path].
type Arrival struct {
	AtMs  int64
	Path  int32
	Count int32
	// WriteMs is when the last of them was written, if Observed.WriteTimes.
	WriteMs int64
}

// MergeArrivals sorts arrivals by time and path, in place, and makes the
// arrivals at the same instant through the same path one.
func MergeArrivals(s []Arrival) []Arrival {
	sort.SliceStable(s, func(i, j int) bool { return s[i].AtMs < s[j].AtMs || s[i].AtMs == s[j].AtMs && s[i].Path < s[j].Path })
	out := s[:0]
	for _, x := range s {
		if k := len(out); k > 0 && out[k-1].AtMs == x.AtMs && out[k-1].Path == x.Path {
			out[k-1].Count += x.Count
			out[k-1].WriteMs = max(out[k-1].WriteMs, x.WriteMs)
			continue
		}
		out = append(out, x)
	}
	return out
}

// Loss is Count acknowledged events of Node, written at WriteMs, never
// delivered.
type Loss struct {
	Node    string
	WriteMs int64
	Count   int64
}

// Dup is Extra copies of Node's events beyond the first, the second copy
// having arrived at SecondMs.
type Dup struct {
	Node     string
	SecondMs int64
	Extra    int64
}

// Observed is what a checker saw, in the form the failover table is
// derived from: first arrivals per node in time order, lost events and
// duplicates. scenarios/checker fills it from its per-event entries; the
// simulator fills it from its compact counts.
type Observed struct {
	Paths    []Path
	Arrivals map[string][]Arrival // per node, sorted by AtMs
	Lost     []Loss
	Dups     []Dup
	// WriteTimes says Arrival.WriteMs is known. Then an event written
	// before a fault that reaches the target after the heal does not count
	// as failing back: it may have waited out the fault in the target's
	// own channel (a restarted collector drains what it held), which is
	// recovery, not the node sending to the target again.
	WriteTimes bool
}

// Failover derives one row per fault from what was observed: when a sink
// towards the target first failed (sink metrics), when every affected
// node's events first arrived in another store (failed over) and in the
// target's store again after the heal (failed back), the longest gap
// between an affected node's arrivals, and the lost and duplicated events
// attributed to the fault. Lost events are attributed to the fault
// injected nearest their write time, extra copies to the last fault
// injected before the second copy arrived. notes lists what no fault
// explains.
func (c *Checker) Failover(a Analysis) (rows []record.FailoverRow, notes []string) {
	return Failover(c.Observed(a.Start, a.Topology), a)
}

// Observed returns what the checker saw, with times as offsets from
// start; topo names the node behind each store.
func (c *Checker) Observed(start time.Time, topo record.Topology) Observed {
	nodeOf := map[string]string{}
	for _, s := range topo.Stores {
		if _, ok := nodeOf[s.Name]; !ok {
			nodeOf[s.Name] = s.Node
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t0 := start.UnixNano()
	ms := func(n int64) int64 { return (n - t0) / int64(time.Millisecond) }
	o := Observed{WriteTimes: true}
	for _, s := range c.stores {
		o.Paths = append(o.Paths, Path{Name: s, Store: s, Node: nodeOf[s]})
	}
	o.Arrivals = map[string][]Arrival{}
	for _, w := range c.order {
		for i := range w.events {
			e := &w.events[i]
			if !e.attempted {
				continue
			}
			if e.copies > 0 {
				o.Arrivals[w.node] = append(o.Arrivals[w.node], Arrival{AtMs: ms(e.first), Path: int32(e.store) - 1, Count: 1, WriteMs: ms(e.write)})
				if e.copies > 1 {
					o.Dups = append(o.Dups, Dup{Node: w.node, SecondMs: ms(e.second), Extra: int64(e.copies - 1)})
				}
			} else if e.acked {
				o.Lost = append(o.Lost, Loss{Node: w.node, WriteMs: ms(e.write), Count: 1})
			}
		}
	}
	for n, s := range o.Arrivals {
		o.Arrivals[n] = MergeArrivals(s)
	}
	return o
}

// Failover is the table derived from obs; see Checker.Failover.
func Failover(obs Observed, a Analysis) (rows []record.FailoverRow, notes []string) {
	if a.Lookback <= 0 {
		a.Lookback = 3 * time.Second
	}
	faults := append([]record.Fault(nil), a.Faults...)
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].InjectedMs < faults[j].InjectedMs })
	byNode := obs.Arrivals
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)

	// A name in Groups stands for its members; a member is also known by
	// the names of the groups it is in (a simulated tier's node).
	groupsOf := map[string][]string{}
	for g, members := range a.Groups {
		for _, m := range members {
			groupsOf[m] = append(groupsOf[m], g)
		}
	}
	for m := range groupsOf {
		sort.Strings(groupsOf[m])
	}
	names := func(n string) []string { return append([]string{n}, groupsOf[n]...) }
	roles := map[string]record.Role{}
	for _, n := range a.Topology.Nodes {
		roles[n.Name] = n.Role
	}
	roleOf := func(n string) record.Role {
		for _, x := range names(n) {
			if r, ok := roles[x]; ok {
				return r
			}
		}
		for _, m := range a.Groups[n] {
			for _, x := range names(m) {
				if r, ok := roles[x]; ok {
					return r
				}
			}
		}
		return ""
	}
	// Samples per node/sink, in time order.
	type key struct{ node, sink string }
	samples := map[key][]SinkSample{}
	for _, s := range a.Samples {
		k := key{s.Node, s.Sink}
		samples[k] = append(samples[k], s)
	}
	for k := range samples {
		s := samples[k]
		sort.SliceStable(s, func(i, j int) bool { return s[i].AtMs < s[j].AtMs })
	}

	rows = make([]record.FailoverRow, len(faults))
	for fi, f := range faults {
		row := record.FailoverRow{Fault: f.ID, Name: f.Name, Target: f.Target, InjectedMs: f.InjectedMs, HealedMs: f.HealedMs}
		end := a.EndMs
		if fi+1 < len(faults) {
			end = faults[fi+1].InjectedMs
		}
		// What the target is: its paths and the sinks that deliver to it.
		targetNodes := map[string]bool{f.Target: true}
		for _, m := range a.Groups[f.Target] {
			targetNodes[m] = true
		}
		target := map[int]bool{}
		for i, p := range obs.Paths {
			if p.Store == f.Target || p.Node != "" && targetNodes[p.Node] {
				target[i] = true
			}
		}
		sinksTo := map[key]bool{}
		for _, h := range a.Topology.Hops {
			if targetNodes[h.To] {
				sinksTo[key{h.From, h.Sink}] = true
			}
		}
		for _, n := range a.Topology.Nodes {
			for _, g := range n.Groups {
				for _, s := range g.Sinks {
					if targetNodes[s.Target] {
						sinksTo[key{n.Name, s.Name}] = true
					}
				}
			}
		}

		var affected []string
		if roleOf(f.Target) == record.RoleAgent {
			if m, ok := a.Groups[f.Target]; ok {
				affected = append(affected, m...)
				sort.Strings(affected)
			} else {
				affected = []string{f.Target}
			}
		} else {
			from := f.InjectedMs - a.Lookback.Milliseconds()
			for _, n := range nodes {
				arr := byNode[n]
				i := sort.Search(len(arr), func(i int) bool { return arr[i].AtMs >= from })
				for ; i < len(arr) && arr[i].AtMs < f.InjectedMs; i++ {
					if target[int(arr[i].Path)] {
						affected = append(affected, n)
						break
					}
				}
			}
		}
		row.Affected = affected
		if len(affected) == 0 {
			row.Notes = "no traffic went through the target when the fault was injected"
		}

		if roleOf(f.Target) != record.RoleAgent && len(affected) > 0 {
			// Detected: the first sample after the injection in which a sink
			// towards the target counted a new failure. A sink of a group
			// (a simulated tier) counts when one of its members is affected.
			touched := map[string]bool{}
			for _, n := range affected {
				for _, x := range names(n) {
					touched[x] = true
				}
			}
			var det *int64
			for k := range sinksTo {
				if !touched[k.node] {
					continue
				}
				ss := samples[k]
				for i := 1; i < len(ss); i++ {
					if ss[i].AtMs < f.InjectedMs || ss[i].AtMs >= end {
						continue
					}
					prev := ss[i-1].Failures
					if ss[i].Failures < prev { // the node restarted
						prev = 0
					}
					if ss[i].Failures > prev {
						if det == nil || ss[i].AtMs < *det {
							det = record.Ms(ss[i].AtMs)
						}
						break
					}
				}
			}
			row.DetectedMs = det

			// Failed over / failed back: per affected node, then the last.
			var over, back int64
			firstOver := int64(-1)
			overAll, backAll := true, f.HealedMs != nil
			via := map[int]int64{}
			for _, n := range affected {
				arr := byNode[n]
				i := sort.Search(len(arr), func(i int) bool { return arr[i].AtMs >= f.InjectedMs })
				o := int64(-1)
				for j := i; j < len(arr) && arr[j].AtMs < end; j++ {
					if !target[int(arr[j].Path)] {
						if o < 0 {
							o = arr[j].AtMs
						}
						if f.HealedMs == nil || arr[j].AtMs < *f.HealedMs {
							via[int(arr[j].Path)] += int64(arr[j].Count)
						}
					}
				}
				if o < 0 {
					overAll = false
				} else {
					over = max(over, o)
					// Only a node that delivered through the target alone
					// before the fault proves, by delivering elsewhere,
					// that it saw the failure.
					if exclusive(arr, target, f.InjectedMs-a.Lookback.Milliseconds(), f.InjectedMs) && (firstOver < 0 || o < firstOver) {
						firstOver = o
					}
				}
				if f.HealedMs != nil {
					b := int64(-1)
					k := sort.Search(len(arr), func(i int) bool { return arr[i].AtMs >= *f.HealedMs })
					for j := k; j < len(arr) && arr[j].AtMs < end; j++ {
						if target[int(arr[j].Path)] && (!obs.WriteTimes || arr[j].WriteMs >= f.InjectedMs) {
							b = arr[j].AtMs
							break
						}
					}
					if b < 0 {
						backAll = false
					} else {
						back = max(back, b)
					}
				}
			}
			if overAll {
				row.FailedOverMs = record.Ms(over)
			}
			// Samples only bound the first failure from above; the first
			// delivery through another sink bounds it too.
			if row.DetectedMs != nil && firstOver >= 0 && *row.DetectedMs > firstOver {
				row.DetectedMs = record.Ms(firstOver)
			}
			if backAll {
				row.FailedBackMs = record.Ms(back)
			}
			type vc struct {
				path int
				n    int64
			}
			var vs []vc
			for s, n := range via {
				vs = append(vs, vc{s, n})
			}
			sort.Slice(vs, func(i, j int) bool { return vs[i].n > vs[j].n || vs[i].n == vs[j].n && vs[i].path < vs[j].path })
			for _, v := range vs {
				row.Via = append(row.Via, fmt.Sprintf("%s (%d events)", obs.Paths[v.path].Name, v.n))
			}
		}

		// Longest gap between consecutive first arrivals of an affected
		// node, from its last arrival before the injection to the end of
		// the fault's window.
		for _, n := range affected {
			arr := byNode[n]
			i := sort.Search(len(arr), func(i int) bool { return arr[i].AtMs >= f.InjectedMs })
			if i > 0 {
				i--
			}
			for j := i + 1; j < len(arr) && arr[j].AtMs < end; j++ {
				row.LongestGapMs = max(row.LongestGapMs, arr[j].AtMs-arr[j-1].AtMs)
			}
		}
		rows[fi] = row
	}

	// Attribution of lost events and extra copies, among the faults that
	// touched the event's node: on it (or a group it is in), or on a node
	// it delivers to.
	reaches := map[[2]string]bool{}
	for _, h := range a.Topology.Hops {
		reaches[[2]string{h.From, h.To}] = true
	}
	for _, n := range a.Topology.Nodes {
		for _, g := range n.Groups {
			for _, s := range g.Sinks {
				reaches[[2]string{n.Name, s.Target}] = true
			}
		}
	}
	touches := func(node string, f record.Fault) bool {
		for _, x := range names(node) {
			if f.Target == x || reaches[[2]string{x, f.Target}] {
				return true
			}
			for _, m := range a.Groups[f.Target] {
				if m == x || reaches[[2]string{x, m}] {
					return true
				}
			}
		}
		return false
	}
	cands := map[string][]int{}
	candidates := func(node string) []int {
		if c, ok := cands[node]; ok {
			return c
		}
		var out []int
		for i, f := range faults {
			if touches(node, f) {
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			for i := range faults {
				out = append(out, i)
			}
		}
		cands[node] = out
		return out
	}
	var lostNone, dupNone int64
	for _, l := range obs.Lost {
		best, bestD := -1, int64(0)
		for _, i := range candidates(l.Node) {
			d := l.WriteMs - faults[i].InjectedMs
			if d < 0 {
				d = -d
			}
			if best < 0 || d < bestD {
				best, bestD = i, d
			}
		}
		if best < 0 {
			lostNone += l.Count
			continue
		}
		rows[best].Lost += l.Count
	}
	for _, d := range obs.Dups {
		best := -1
		for _, i := range candidates(d.Node) {
			if faults[i].InjectedMs <= d.SecondMs {
				best = i
			}
		}
		if best < 0 {
			dupNone += d.Extra
			continue
		}
		rows[best].Duplicated += d.Extra
	}
	if lostNone > 0 {
		notes = append(notes, fmt.Sprintf("%d lost events with no fault to attribute them to", lostNone))
	}
	if dupNone > 0 {
		notes = append(notes, fmt.Sprintf("%d extra copies arrived before any fault", dupNone))
	}
	return rows, notes
}

// exclusive reports whether every arrival in [from, to) was on a target
// path.
func exclusive(arr []Arrival, target map[int]bool, from, to int64) bool {
	i := sort.Search(len(arr), func(i int) bool { return arr[i].AtMs >= from })
	for ; i < len(arr) && arr[i].AtMs < to; i++ {
		if !target[int(arr[i].Path)] {
			return false
		}
	}
	return true
}

// Describe is a one-line summary of a row, for logs and timelines.
func Describe(r record.FailoverRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: injected %s", r.Name, r.Target, fmtMs(&r.InjectedMs))
	fmt.Fprintf(&b, ", detected %s, failed over %s, healed %s, failed back %s, longest gap %dms, lost %d, duplicated %d",
		fmtMs(r.DetectedMs), fmtMs(r.FailedOverMs), fmtMs(r.HealedMs), fmtMs(r.FailedBackMs), r.LongestGapMs, r.Lost, r.Duplicated)
	return b.String()
}

func fmtMs(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("+%.3fs", float64(*v)/1000)
}
