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
}

type arrival struct {
	at    int64 // ms offset
	write int64 // ms offset at which the workload wrote the event
	store uint16
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
	if a.Lookback <= 0 {
		a.Lookback = 3 * time.Second
	}
	faults := append([]record.Fault(nil), a.Faults...)
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].InjectedMs < faults[j].InjectedMs })

	c.mu.Lock()
	start := a.Start.UnixNano()
	ms := func(n int64) int64 { return (n - start) / int64(time.Millisecond) }
	byNode := map[string][]arrival{}
	type lostEv struct {
		node  string
		write int64
	}
	var lost []lostEv
	type dupEv struct {
		node          string
		second, extra int64
	}
	var dups []dupEv
	for _, w := range c.order {
		for i := range w.events {
			e := &w.events[i]
			if !e.attempted {
				continue
			}
			if e.copies > 0 {
				byNode[w.node] = append(byNode[w.node], arrival{at: ms(e.first), write: ms(e.write), store: e.store - 1})
				if e.copies > 1 {
					dups = append(dups, dupEv{node: w.node, second: ms(e.second), extra: int64(e.copies - 1)})
				}
			} else if e.acked {
				lost = append(lost, lostEv{node: w.node, write: ms(e.write)})
			}
		}
	}
	stores := append([]string(nil), c.stores...)
	c.mu.Unlock()

	for n := range byNode {
		s := byNode[n]
		sort.Slice(s, func(i, j int) bool { return s[i].at < s[j].at })
	}
	storeOf := map[string]int{}
	for i, s := range stores {
		storeOf[s] = i
	}
	roles := map[string]record.Role{}
	for _, n := range a.Topology.Nodes {
		roles[n.Name] = n.Role
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
		// What the target is: its stores and the sinks that deliver to it.
		target := map[int]bool{}
		for _, s := range a.Topology.Stores {
			if s.Node == f.Target || s.Name == f.Target {
				if i, ok := storeOf[s.Name]; ok {
					target[i] = true
				}
			}
		}
		sinksTo := map[key]bool{}
		for _, h := range a.Topology.Hops {
			if h.To == f.Target {
				sinksTo[key{h.From, h.Sink}] = true
			}
		}
		for _, n := range a.Topology.Nodes {
			for _, g := range n.Groups {
				for _, s := range g.Sinks {
					if s.Target == f.Target {
						sinksTo[key{n.Name, s.Name}] = true
					}
				}
			}
		}

		var affected []string
		if roles[f.Target] == record.RoleAgent {
			affected = []string{f.Target}
		} else {
			from := f.InjectedMs - a.Lookback.Milliseconds()
			for n, arr := range byNode {
				i := sort.Search(len(arr), func(i int) bool { return arr[i].at >= from })
				for ; i < len(arr) && arr[i].at < f.InjectedMs; i++ {
					if target[int(arr[i].store)] {
						affected = append(affected, n)
						break
					}
				}
			}
			sort.Strings(affected)
		}
		row.Affected = affected
		if len(affected) == 0 {
			row.Notes = "no traffic went through the target when the fault was injected"
		}

		if roles[f.Target] != record.RoleAgent && len(affected) > 0 {
			// Detected: the first sample after the injection in which a sink
			// towards the target counted a new failure.
			var det *int64
			for k := range sinksTo {
				if !contains(affected, k.node) {
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
				i := sort.Search(len(arr), func(i int) bool { return arr[i].at >= f.InjectedMs })
				o := int64(-1)
				for j := i; j < len(arr) && arr[j].at < end; j++ {
					if !target[int(arr[j].store)] {
						if o < 0 {
							o = arr[j].at
						}
						if f.HealedMs == nil || arr[j].at < *f.HealedMs {
							via[int(arr[j].store)]++
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
					k := sort.Search(len(arr), func(i int) bool { return arr[i].at >= *f.HealedMs })
					for j := k; j < len(arr) && arr[j].at < end; j++ {
						// An event written before the fault that reaches the
						// target after the heal may have waited out the fault
						// in the target's own channel (a restarted collector
						// drains what it held): that is recovery, not the
						// node sending to the target again.
						if target[int(arr[j].store)] && arr[j].write >= f.InjectedMs {
							b = arr[j].at
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
				store int
				n     int64
			}
			var vs []vc
			for s, n := range via {
				vs = append(vs, vc{s, n})
			}
			sort.Slice(vs, func(i, j int) bool { return vs[i].n > vs[j].n || vs[i].n == vs[j].n && vs[i].store < vs[j].store })
			for _, v := range vs {
				row.Via = append(row.Via, fmt.Sprintf("%s (%d events)", stores[v.store], v.n))
			}
		}

		// Longest gap between consecutive first arrivals of an affected
		// node, from its last arrival before the injection to the end of
		// the fault's window.
		for _, n := range affected {
			arr := byNode[n]
			i := sort.Search(len(arr), func(i int) bool { return arr[i].at >= f.InjectedMs })
			if i > 0 {
				i--
			}
			for j := i + 1; j < len(arr) && arr[j].at < end; j++ {
				row.LongestGapMs = max(row.LongestGapMs, arr[j].at-arr[j-1].at)
			}
		}
		rows[fi] = row
	}

	// Attribution of lost events and extra copies, among the faults that
	// touched the event's node: on it, or on a node it delivers to.
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
	candidates := func(node string) []int {
		var out []int
		for i, f := range faults {
			if f.Target == node || reaches[[2]string{node, f.Target}] {
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			for i := range faults {
				out = append(out, i)
			}
		}
		return out
	}
	var lostNone, dupNone int64
	for _, l := range lost {
		best, bestD := -1, int64(0)
		for _, i := range candidates(l.node) {
			d := l.write - faults[i].InjectedMs
			if d < 0 {
				d = -d
			}
			if best < 0 || d < bestD {
				best, bestD = i, d
			}
		}
		if best < 0 {
			lostNone++
			continue
		}
		rows[best].Lost++
	}
	for _, d := range dups {
		best := -1
		for _, i := range candidates(d.node) {
			if faults[i].InjectedMs <= d.second {
				best = i
			}
		}
		if best < 0 {
			dupNone += d.extra
			continue
		}
		rows[best].Duplicated += d.extra
	}
	if lostNone > 0 {
		notes = append(notes, fmt.Sprintf("%d lost events with no fault to attribute them to", lostNone))
	}
	if dupNone > 0 {
		notes = append(notes, fmt.Sprintf("%d extra copies arrived before any fault", dupNone))
	}
	return rows, notes
}

// exclusive reports whether every arrival in [from, to) was in a target
// store.
func exclusive(arr []arrival, target map[int]bool, from, to int64) bool {
	i := sort.Search(len(arr), func(i int) bool { return arr[i].at >= from })
	for ; i < len(arr) && arr[i].at < to; i++ {
		if !target[int(arr[i].store)] {
			return false
		}
	}
	return true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
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
