package record

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() *Run {
	healed := int64(20000)
	return &Run{
		Scenario: "kill-primary", Kind: KindScenario, Seed: 42,
		Start:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		DurationMs: 30000,
		Params:     map[string]string{"rate": "500/s"},
		Phases:     Phases{LoadEndMs: 25000, HealMs: 20000, DrainEndMs: 29000, Drained: true},
		Topology: Topology{
			Nodes: []Node{{Name: "agent1", Role: RoleAgent, Tier: "agents", Runtime: "process", Config: "agent1.conf",
				Groups: []SinkGroup{{Name: "g1", Processor: "failover", Sinks: []GroupSink{{Name: "k1", Priority: 100, Target: "collector1"}}}}}},
			Hops:    []Hop{{From: "agent1", Sink: "k1", To: "collector1", Via: "127.0.0.1:40001"}},
			Stores:  []Store{{Name: "collector1", Kind: "file_roll", Node: "collector1", Location: "/tmp/x"}},
			Configs: []Config{{Name: "agent1.conf", Text: "a.sources = r1\n"}},
		},
		Faults: []Fault{{ID: 1, Name: "kill-primary", Kind: "process", Action: "kill", Target: "collector1", InjectedMs: 10000, HealedMs: &healed}},
		Series: Series{IntervalMs: 1000, Written: []int64{1, 2}, Delivered: []int64{1, 2}, Duplicates: []int64{0, 0},
			Backlog: map[string][]int64{"agents": {0, 3}}, Gauges: map[string][]int64{"nodes-down": {0, 1}}, ActiveCount: map[string][]int64{"g1/k1": {1, 1}}},
		ActiveSinks: []ActiveSink{{Node: "agent1", Group: "g1", Source: "metrics", Changes: []SinkChange{{AtMs: 0, Sink: "k1"}}}},
		Checker: Result{Valid: true, Attempted: 3, Acknowledged: 3, Delivered: 3,
			LostIntervals: []WriterIntervals{{Writer: "w", Count: 2, Intervals: [][2]int64{{3, 4}}}},
			Latency:       Latency{Count: 3, P50Us: 1000}},
		Failover: []FailoverRow{{Fault: 1, Name: "kill-primary", Target: "collector1", InjectedMs: 10000, DetectedMs: Ms(10500), HealedMs: &healed}},
		Timeline: []TimelineEntry{{AtMs: 10000, Mark: MarkCrash, Node: "collector1", Text: "kill -9"}},
	}
}

func TestRoundTrip(t *testing.T) {
	r := sample()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != Version {
		t.Fatalf("Marshal did not set the version: %d", r.Version)
	}
	got, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, r)
	}
	// Unset optional offsets stay null, distinct from zero.
	if !strings.Contains(string(b), `"failed_over_ms": null`) {
		t.Fatalf("nil offset not encoded as null:\n%s", b)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"no version":    `{"scenario":"x"}`,
		"other version": `{"version":99}`,
		"not json":      `{"version":1`,
		"wrong types":   `{"version":1,"faults":"x"}`,
	} {
		_, err := Decode(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if (name == "no version" || name == "other version") && !errors.Is(err, ErrVersion) {
			t.Errorf("%s: %v is not ErrVersion", name, err)
		}
	}
}

func TestDecodeCapsSize(t *testing.T) {
	defer func(n int64) { maxSize = n }(maxSize)
	maxSize = 64
	in := `{"version":1,"scenario":"` + strings.Repeat("x", 100) + `"}`
	if _, err := Decode(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "over 64 bytes") {
		t.Fatalf("oversized record: %v", err)
	}
}

// FuzzDecode: any input is a record or an error, never a panic, and a
// record that decodes re-encodes stably (encode, decode, encode gives the
// same bytes).
func FuzzDecode(f *testing.F) {
	b, _ := Marshal(sample())
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"faults":[{"healed_ms":null}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Decode(bytes.NewReader(in))
		if err != nil {
			return
		}
		again, err := Marshal(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := Decode(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("decode of our own encoding: %v", err)
		}
		third, err := Marshal(r2)
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, again, third)
		}
	})
}

// A v1 record written before the optional Gauges and ActiveCount fields
// existed still decodes, without them.
func TestOptionalFieldsBackwardCompatible(t *testing.T) {
	b, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	old := strings.NewReplacer(`"gauges"`, `"x_gauges"`, `"active_count"`, `"x_active_count"`).Replace(string(b))
	r, err := Decode(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if r.Series.Gauges != nil || r.Series.ActiveCount != nil || len(r.Series.Backlog["agents"]) != 2 {
		t.Fatalf("old record decoded as %+v", r.Series)
	}
	if !strings.Contains(string(b), `"gauges": {`) || !strings.Contains(string(b), `"active_count": {`) {
		t.Fatal("new fields not encoded")
	}
}
