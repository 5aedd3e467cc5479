package sim

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func soak() bool { return os.Getenv("SLUICE_SOAK") == "1" }

func TestNoFaultsDeliversEverything(t *testing.T) {
	rec, err := Run(Options{Seed: 1, Agents: 10, Collectors: 3, Duration: 2 * time.Minute, Faults: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c := rec.Record.Checker
	if !rec.Valid || c.Attempted == 0 || c.Delivered != c.Attempted || c.Duplicated != 0 {
		t.Fatalf("fault-free run: %+v\n%s", c, rec.Failure())
	}
	// Taildir with its defaults polls every maxBackoffSleep (5 s), so that
	// is the latency ceiling of a healthy fleet (flume-facts §5.1).
	if c.Latency.MaxUs > 5100000 || c.Latency.P50Us < 100000 {
		t.Fatalf("latency %+v, want a spread up to the 5 s taildir poll", c.Latency)
	}
	act := rec.Record.Series.ActiveCount["g1/avroSink1"]
	if act[len(act)-1] != 10 || len(rec.Record.ActiveSinks) != 1 || len(rec.Record.ActiveSinks[0].Changes) != 2 {
		t.Fatalf("without faults every agent should deliver through the priority-100 sink: %v %+v", act, rec.Record.ActiveSinks)
	}
	// Per-tier backlog over time, and nothing but tiers in it.
	s := rec.Record.Series
	if len(s.Backlog) != 2 || len(s.Backlog["agent"]) != len(s.Written) || len(s.Backlog["collector"]) != len(s.Written) ||
		len(s.Gauges["agent-source-lag"]) != len(s.Written) {
		t.Fatalf("backlog series %v, gauges %v", sortedKeys(s.Backlog), sortedKeys(s.Gauges))
	}
}

// TestSameSeedSameRecord runs seeds twice and compares the run records
// byte for byte: a seed is a run.
func TestSameSeedSameRecord(t *testing.T) {
	for _, seed := range []uint64{42, 7, 1234567} {
		o := Options{Seed: seed, Agents: 20, Collectors: 3, Duration: 5 * time.Minute, RateSpread: 0.2, FaultRate: 2, checkViews: true}
		a, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := a.JSON()
		jb, _ := b.JSON()
		if !bytes.Equal(ja, jb) {
			t.Fatalf("seed %d: same seed, different records (%d vs %d bytes)", seed, len(ja), len(jb))
		}
		if len(a.Record.Faults) == 0 || len(a.Record.Series.Written) < 300 {
			t.Fatalf("seed %d: a run with no faults or no series proves little: %d faults, %d samples", seed, len(a.Record.Faults), len(a.Record.Series.Written))
		}
		o.Seed++
		c, err := Run(o)
		if err != nil {
			t.Fatal(err)
		}
		if jc, _ := c.JSON(); bytes.Equal(ja, jc) {
			t.Fatalf("seeds %d and %d gave the same record", seed, seed+1)
		}
	}
}

// TestManySeeds is the swarm: every seed picks its own fault kinds and
// rates; every run must lose nothing, deliver nothing unexpected, and drain.
func TestManySeeds(t *testing.T) {
	n, agents, dur := 300, 10, 4*time.Minute
	if raceEnabled {
		n, agents, dur = 200, 6, 2*time.Minute
	}
	if testing.Short() {
		n = 50
	}
	if soak() {
		n, agents, dur = 3000, 30, 10*time.Minute
	}
	var dups, faults int64
	kinds := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		rec, err := Run(Options{Seed: seed, Agents: agents, Collectors: 3, Duration: dur, RateSpread: 0.5, FaultRate: 2, checkViews: true})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !rec.Valid {
			t.Fatalf("%s", rec.Failure())
		}
		dups += rec.Record.Checker.Duplicated
		faults += int64(len(rec.Record.Faults))
		for _, f := range rec.Record.Faults {
			kinds[f.Action]++
		}
	}
	t.Logf("%d seeds: %d faults %v, %d duplicated events, zero lost", n, faults, kinds, dups)
	if len(kinds) < 5 {
		t.Fatalf("the swarm exercised only %v", kinds)
	}
}

// TestPlantedBugIsCaught plants a sink that commits its take before the
// RPC; the first failed RPC loses a batch, and the checker must say so and
// print the seed and the replay command.
func TestPlantedBugIsCaught(t *testing.T) {
	o := Options{Seed: 99, Agents: 10, Collectors: 3, Duration: 3 * time.Minute, Faults: []string{"partition", "collector-freeze"}, FaultRate: 2}
	good, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if !good.Valid {
		t.Fatalf("without the bug the run must be valid:\n%s", good.Failure())
	}
	o.commitBeforeDeliver = true
	bad, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Valid || bad.Record.Checker.Lost == 0 {
		t.Fatalf("a sink that commits before delivery lost nothing? %+v", bad.Record.Checker)
	}
	msg := bad.Failure()
	if !strings.Contains(msg, "SEED=99\n") || !strings.Contains(msg, "replay: sluice sim --seed 99 ") {
		t.Fatalf("failure report lacks the seed or the replay command:\n%s", msg)
	}
	t.Logf("caught:\n%s", msg)
}

// BenchmarkFleet is the speed target at full size with
// SLUICE_SIM_FULL=1: 2000 agents x 3 collectors x 1 hour of virtual time at
// 10 events/s per agent (72 million events). By default it runs a tenth of
// the fleet for a tenth of the hour, so `make bench` stays quick.
func BenchmarkFleet(b *testing.B) {
	o := Options{Seed: 1, Agents: 200, Collectors: 3, Duration: 6 * time.Minute, Faults: []string{}}
	if os.Getenv("SLUICE_SIM_FULL") == "1" {
		o.Agents, o.Duration = 2000, time.Hour
	}
	if os.Getenv("SLUICE_SIM_FULL") == "tenth" {
		o.Agents, o.Duration = 2000, 6*time.Minute
	}
	// SLUICE_SIM_CHANNEL=memory runs memory channels instead of the file
	// channel on the simulated disks (the default when it is built in).
	if ch := os.Getenv("SLUICE_SIM_CHANNEL"); ch != "" {
		o.AgentChannel, o.CollectorChannel = ch, ch
	}
	var events int64
	for b.Loop() {
		rec, err := Run(o)
		if err != nil || !rec.Valid {
			b.Fatalf("%v %v", err, rec.Failure())
		}
		events += rec.Record.Checker.Attempted
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// TestCapacityOutage plans an outage of every collector longer than the
// agents' channels can absorb: the channels fill, back-pressure stops the
// taildir sources (the log keeps the lines), nothing is lost, and the
// backlog drains after recovery; the answer compares with the rule of thumb.
func TestCapacityOutage(t *testing.T) {
	o := Options{Seed: 5, Agents: 10, Collectors: 3, Duration: 12 * time.Minute, Rate: 100, Faults: []string{},
		ChannelCapacity: 6000, Outages: []Outage{{Target: "all-collectors", Start: 2 * time.Minute, Length: 2 * time.Minute}}}
	rec, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	c := rec.Capacity
	if c == nil {
		t.Fatal("a planned outage must produce a capacity answer")
	}
	t.Logf("%s", strings.Join(c.Answer, "\n"))
	if !rec.Valid {
		t.Fatalf("%s", rec.Failure())
	}
	if c.AgentsFilled != 10 || c.FirstFullMs < 0 || c.MaxSourceLag < 5000 {
		t.Fatalf("a 2 min outage at 100/s must fill 6000-event channels and stall the sources: %+v", c)
	}
	if c.DrainMs < 0 || c.RuleOfThumbAgent != 18000 {
		t.Fatalf("drain %d ms, rule of thumb %d (want 100 x 120 x 1.5 = 18000)", c.DrainMs, c.RuleOfThumbAgent)
	}
	if !strings.Contains(strings.Join(c.Answer, " "), "is BELOW") {
		t.Fatalf("capacity 6000 is below the rule's 18000 and the answer must say so: %v", c.Answer)
	}
}

// TestLoadBalanceFleet runs the engine's load_balance processor: with
// partitions every event still arrives; without faults the three sinks
// share the traffic.
func TestLoadBalanceFleet(t *testing.T) {
	conf := strings.Replace(SeedAgentConf(3, "memory"), "processor.type = failover", "processor.type = load_balance\nagent.sinkgroups.g1.processor.backoff = true", 1)
	rec, err := Run(Options{Seed: 8, Agents: 12, Collectors: 3, Duration: 4 * time.Minute, AgentConf: conf, Faults: []string{"partition"}, FaultRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Valid {
		t.Fatalf("%s", rec.Failure())
	}
	if rec, err = Run(Options{Seed: 8, Agents: 12, Collectors: 3, Duration: 4 * time.Minute, AgentConf: conf, Faults: []string{}}); err != nil {
		t.Fatal(err)
	}
	var total int64
	per := map[string]int64{}
	for k, v := range rec.Record.Series.SinkDrained {
		for _, x := range v {
			per[k] += x
			total += x
		}
	}
	for _, k := range []string{"agent/avroSink1", "agent/avroSink2", "agent/avroSink3"} {
		if per[k] < total/4 {
			t.Fatalf("load_balance left %s with %d of %d events: %v", k, per[k], total, per)
		}
	}
}
