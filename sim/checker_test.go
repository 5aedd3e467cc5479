package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/reports/record"
	shared "github.com/sluicehq/sluice/scenarios/checker"
	"github.com/sluicehq/sluice/sim/sched"
)

type delivery struct {
	store, via string
	w          int
	seq        uint64
	at         time.Duration
}

// replay runs o and replays every delivery into the scenarios' shared
// checker, each store split by the collector that wrote to it
// ("collector02/hdfs", the simulator's failover paths).
func replay(t *testing.T, o Options) (*Result, *shared.Checker, []delivery) {
	t.Helper()
	var got []delivery
	o.onDeliver = func(s, via string, w int, seq uint64, at time.Duration) {
		got = append(got, delivery{s, via, w, seq, at})
	}
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	ref := shared.New(shared.Options{Start: Epoch})
	// Rebuild the writers exactly as the run had them.
	w := &world{opts: o.withDefaults(), seed: sched.Seed(o.Seed)}
	wrng := w.seed.Stream("workload")
	var ws []*writer
	const size = 64
	for i := range w.opts.Agents {
		rate := w.opts.Rate * (1 + w.opts.RateSpread*(2*wrng.Float64()-1))
		wr := &writer{id: i, rate: rate, phase: time.Duration(wrng.Float64() / rate * float64(time.Second)), stop: w.opts.Duration}
		name := itoaName(i)
		ref.Writer(name, name)
		for seq := uint64(0); seq < wr.written(w.opts.Duration); seq++ {
			ref.Attempt(name, int64(seq), Epoch.Add(wr.writtenAt(seq)), size)
			ref.Ack(name, int64(seq))
		}
		ws = append(ws, wr)
	}
	for _, a := range got {
		line := shared.Line(nil, itoaName(a.w), int64(a.seq), Epoch.Add(ws[a.w].writtenAt(a.seq)).UnixNano(), size)
		ref.Deliver(a.via+"/"+a.store, line, Epoch.Add(a.at))
	}
	return res, ref, got
}

// TestCheckerAgreesWithScenarioChecker replays every delivery of a faulty
// run into the scenarios' shared checker and requires the same verdict:
// the simulator's compact checker is the shared one's semantics, only
// smaller.
func TestCheckerAgreesWithScenarioChecker(t *testing.T) {
	for _, planted := range []bool{false, true} {
		o := Options{Seed: 3, Agents: 8, Collectors: 3, Duration: 3 * time.Minute, FaultRate: 3,
			Faults: []string{"collector-freeze", "partition", "flaky-link"}}
		// With the planted bug the run loses events; without it, frozen
		// collectors and resets duplicate them. Both verdicts must agree.
		o.commitBeforeDeliver = planted
		res, ref, got := replay(t, o)
		mine := res.Record.Checker
		theirs := ref.Result()
		if planted && mine.Lost == 0 || !planted && mine.Duplicated == 0 {
			t.Fatalf("planted=%v: the run must lose (planted) or duplicate (not) to compare anything: %+v", planted, summary(mine))
		}
		if mine.Attempted != theirs.Attempted || mine.Delivered != theirs.Delivered || mine.Lost != theirs.Lost ||
			mine.Duplicated != theirs.Duplicated || mine.DuplicatedEvents != theirs.DuplicatedEvents ||
			mine.Unexpected != theirs.Unexpected || mine.Valid != theirs.Valid || mine.Latency.Count != theirs.Latency.Count {
			t.Fatalf("verdicts differ:\nsim:    %+v\nshared: %+v", summary(mine), summary(theirs))
		}
		if d := mine.Latency.P99Us - theirs.Latency.P99Us; d > theirs.Latency.P99Us/100 || -d > theirs.Latency.P99Us/100 {
			t.Fatalf("p99 %d vs %d µs", mine.Latency.P99Us, theirs.Latency.P99Us)
		}
		compareFailover(t, res, ref, got, planted)
	}
}

// TestFailoverTableIsTheSharedOne: a run whose collectors crash and freeze
// long enough for the agents to fail over gets the failover table
// the shared derivation gives over the shared checker's per-event entries.
func TestFailoverTableIsTheSharedOne(t *testing.T) {
	o := Options{Seed: 4, Agents: 12, Collectors: 3, Duration: 6 * time.Minute, FaultRate: 0.5,
		Faults: []string{"collector-crash", "collector-freeze", "partition"}}
	res, ref, got := replay(t, o)
	if !res.Valid {
		t.Fatalf("%s", res.Failure())
	}
	over, _, detected := compareFailover(t, res, ref, got, false)
	if over == 0 || detected == 0 {
		t.Fatalf("the run must fail over (%d) and detect (%d) for the comparison to mean something", over, detected)
	}
}

func compareFailover(t *testing.T, res *Result, ref *shared.Checker, got []delivery, planted bool) (over, back, detected int) {
	t.Helper()
	an := res.analysis
	an.Topology.Stores = nil
	seen := map[string]bool{}
	for _, s := range got {
		if name := s.via + "/" + s.store; !seen[name] {
			seen[name] = true
			an.Topology.Stores = append(an.Topology.Stores, record.Store{Name: name, Node: s.via})
		}
	}
	rows, _ := shared.Failover(ref.Observed(Epoch, an.Topology), an)
	if len(rows) == 0 || len(rows) != len(res.Record.Failover) {
		t.Fatalf("planted=%v: %d failover rows, shared checker %d", planted, len(res.Record.Failover), len(rows))
	}
	for i := range rows {
		rows[i].Affected = shortAffected(rows[i].Affected)
		a, _ := json.Marshal(res.Record.Failover[i])
		b, _ := json.Marshal(rows[i])
		if string(a) != string(b) {
			t.Errorf("planted=%v: failover row %d differs:\nsim:    %s\nshared: %s", planted, i, a, b)
		}
		r := res.Record.Failover[i]
		if r.FailedOverMs != nil {
			over++
		}
		if r.FailedBackMs != nil {
			back++
		}
		if r.DetectedMs != nil {
			detected++
		}
		t.Log(shared.Describe(r))
	}
	return over, back, detected
}

func itoaName(i int) string { return fmt.Sprintf("agent%04d", i+1) }

func summary(r record.Result) record.Result {
	r.Latency.Histogram, r.LostIntervals, r.Gaps = "", nil, nil
	return r
}
