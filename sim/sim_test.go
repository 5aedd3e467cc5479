package sim

import (
	"bytes"
	"testing"
	"time"
)

func TestNoFaultsDeliversEverything(t *testing.T) {
	rec, err := Run(Options{Seed: 1, Agents: 10, Collectors: 3, Duration: 2 * time.Minute, Faults: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c := rec.Checker
	t.Logf("written %d delivered %d copies %d lost %d dup %d lat %+v drained %v in %dms steps %d", c.Written, c.Delivered, c.Copies, c.Lost, c.Duplicated, c.Latency, rec.Liveness.Drained, rec.Liveness.DrainMs, rec.Stats.Steps)
	if !rec.Valid || c.Written == 0 || c.Delivered != c.Written || c.Duplicated != 0 {
		t.Fatalf("fault-free run: %+v\n%s", c, rec.Timeline)
	}
	if rec.Series.Active["g1/avroSink1"][len(rec.Series.Active["g1/avroSink1"])-1] != 10 {
		t.Fatalf("without faults every agent should deliver through the primary: %v", rec.Series.Active)
	}
}

func TestSameSeedSameRecord(t *testing.T) {
	o := Options{Seed: 42, Agents: 30, Collectors: 3, Duration: 5 * time.Minute, Faults: nil, RateSpread: 0.2}
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
		t.Fatalf("same seed, different records (%d vs %d bytes)", len(ja), len(jb))
	}
	t.Logf("faults %v valid %v lost %d dup %d", len(a.Faults), a.Valid, a.Checker.Lost, a.Checker.Duplicated)
	for _, l := range a.Timeline {
		t.Log(l)
	}
}
