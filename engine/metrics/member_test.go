package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// TestMemberFunc: a member attribute is "<name>.<member>" in JSON and one
// labelled metric in Prometheus, so sink names never become metric names.
func TestMemberFunc(t *testing.T) {
	r := NewRegistry(clock.NewManual(time.Unix(0, 0)))
	g := r.Group(SinkGroup, "g1")
	state := "failed"
	g.MemberFunc("SinkState", "sink", "k-1.a", KindInfo, false, func() string { return state })
	g.MemberFunc("SinkPenaltyMillis", "sink", "k-1.a", KindGauge, false, func() string { return "2000" })
	g.MemberFunc("SinkPenaltyMillis", "sink", "k2", KindGauge, false, func() string { return "0" })
	// Registering again replaces the function (a reloaded group).
	g.MemberFunc("SinkPenaltyMillis", "sink", "k2", KindGauge, false, func() string { return "4000" })

	if v, _ := g.Get("SinkState.k-1.a"); v != "failed" {
		t.Fatalf("SinkState.k-1.a = %q", v)
	}
	if v, _ := g.Get("SinkPenaltyMillis.k2"); v != "4000" {
		t.Fatalf("SinkPenaltyMillis.k2 = %q, want the replacement's 4000", v)
	}
	if n := len(g.Values()); n != 3+3 {
		t.Fatalf("%d values, want 3 member attributes and StartTime, StopTime, Type", n)
	}
	b, _ := r.JSON(true)
	if !strings.Contains(string(b), `"SinkState.k-1.a":"failed"`) {
		t.Fatalf("extended JSON: %s", b)
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/prometheus", nil))
	for _, want := range []string{
		`sluice_sinkgroup_sink_state_info{name="g1",sink="k-1.a",value="failed"} 1`,
		`sluice_sinkgroup_sink_penalty_millis{name="g1",sink="k-1.a"} 2000`,
		`sluice_sinkgroup_sink_penalty_millis{name="g1",sink="k2"} 4000`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("Prometheus text lacks %s:\n%s", want, rec.Body.String())
		}
	}
}
