package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/reports/record"
	shared "github.com/sluicehq/sluice/scenarios/checker"
)

// TestCheckerAgreesWithScenarioChecker replays every delivery of a faulty
// run into the scenarios' shared checker and requires the same verdict:
// the simulator's compact checker is the shared one's semantics, only
// smaller.
func TestCheckerAgreesWithScenarioChecker(t *testing.T) {
	type arrival struct {
		store string
		w     int
		seq   uint64
		at    time.Duration
	}
	for _, planted := range []bool{false, true} {
		var got []arrival
		o := Options{Seed: 3, Agents: 8, Collectors: 3, Duration: 3 * time.Minute, FaultRate: 3,
			Faults:    []string{"collector-freeze", "partition", "flaky-link"},
			onDeliver: func(s string, w int, seq uint64, at time.Duration) { got = append(got, arrival{s, w, seq, at}) }}
		// With the planted bug the run loses events; without it, frozen
		// collectors and resets duplicate them. Both verdicts must agree.
		o.commitBeforeDeliver = planted
		res, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		mine := res.Record.Checker
		ref := shared.New(shared.Options{Start: Epoch})
		// Rebuild the writers exactly as the run had them.
		w := &world{opts: o.withDefaults(), seed: 3}
		wrng := w.seed.Stream("workload")
		var ws []*writer
		const size = 64
		for i := range o.Agents {
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
			ref.Deliver(a.store, line, Epoch.Add(a.at))
		}
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
	}
}

func itoaName(i int) string { return fmt.Sprintf("agent%04d", i+1) }

func summary(r record.Result) record.Result {
	r.Latency.Histogram, r.LostIntervals, r.Gaps = "", nil, nil
	return r
}
