package reports

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/reports/record"
)

// Summary is the JSON summary written next to the page (summary.json):
// the verdict and the numbers a script or a dashboard wants, without the
// series. The full run record stays in run.json.
type Summary struct {
	Scenario     string                   `json:"scenario"`
	Kind         record.Kind              `json:"kind"`
	Seed         int64                    `json:"seed"`
	Start        time.Time                `json:"start"`
	DurationMs   int64                    `json:"duration_ms"`
	Valid        bool                     `json:"valid"`
	Verdict      string                   `json:"verdict"`
	Drained      bool                     `json:"drained"`
	Attempted    int64                    `json:"attempted"`
	Acknowledged int64                    `json:"acknowledged"`
	Delivered    int64                    `json:"delivered"`
	Lost         int64                    `json:"lost"`
	Duplicated   int64                    `json:"duplicated"`
	Unexpected   int64                    `json:"unexpected"`
	LostIDs      []record.WriterIntervals `json:"lost_ids,omitempty"`
	Latency      LatencySummary           `json:"latency"`
	Faults       int                      `json:"faults"`
	Failover     []record.FailoverRow     `json:"failover"`
	Expectations []record.Expectation     `json:"expectations,omitempty"`
	Anomalies    []string                 `json:"anomalies,omitempty"`
	// Charts are the chart ids on the page (and <id>.svg files).
	Charts []string `json:"charts"`
}

// LatencySummary is the latency percentiles, in microseconds, exact (from
// the full histogram, never from downsampled series).
type LatencySummary struct {
	Count  int64   `json:"count"`
	P50Us  int64   `json:"p50_us"`
	P90Us  int64   `json:"p90_us"`
	P99Us  int64   `json:"p99_us"`
	P999Us int64   `json:"p999_us"`
	MaxUs  int64   `json:"max_us"`
	MeanUs float64 `json:"mean_us"`
}

// NewSummary summarises r; charts are the ids of the charts drawn.
func NewSummary(r *record.Run, charts []Chart) *Summary {
	c := r.Checker
	l := c.Latency
	s := &Summary{
		Scenario: r.Scenario, Kind: r.Kind, Seed: r.Seed, Start: r.Start, DurationMs: r.DurationMs,
		Valid: c.Valid, Verdict: verdict(r), Drained: r.Phases.Drained,
		Attempted: c.Attempted, Acknowledged: c.Acknowledged, Delivered: c.Delivered,
		Lost: c.Lost, Duplicated: c.Duplicated, Unexpected: c.Unexpected, LostIDs: c.LostIntervals,
		Latency: LatencySummary{Count: l.Count, P50Us: l.P50Us, P90Us: l.P90Us, P99Us: l.P99Us, P999Us: l.P999Us, MaxUs: l.MaxUs, MeanUs: l.MeanUs},
		Faults:  len(r.Faults), Failover: r.Failover, Expectations: r.Expectations, Anomalies: r.Anomalies,
		Charts: []string{},
	}
	if s.Failover == nil {
		s.Failover = []record.FailoverRow{}
	}
	for _, ch := range charts {
		s.Charts = append(s.Charts, ch.ID)
	}
	return s
}

// JSON is the summary as indented JSON.
func (s *Summary) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode summary: %w", err)
	}
	return append(b, '\n'), nil
}
