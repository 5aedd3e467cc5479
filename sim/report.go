package sim

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the record for a person: verdict, faults, checker,
// capacity answer and timeline.
//
// TODO(issue 7/10): reports/ renders every run record (scenario or
// simulation) with charts; this summary is what `sluice sim` writes until
// the simulator's record moves onto reports/record.
func (r *Record) Markdown() string {
	var b strings.Builder
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(&b, "# Simulation seed %d: %s\n\n`%s`\n\n", r.Seed, verdict, r.Command)
	t := r.Topology
	fmt.Fprintf(&b, "%d agents -> %s -> %s; agent channels durable: %v, collector channels durable: %v.\n\n",
		t.Agents, strings.Join(t.Collectors, ", "), strings.Join(t.Stores, ", "), t.AgentDurable, t.CollectorDurable)
	c := r.Checker
	fmt.Fprintf(&b, "## Checker\n\n| written | delivered | lost | duplicated | unexpected | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n\n", c.Written, c.Delivered, c.Lost, c.Duplicated, c.Unexpected,
		ms(c.Latency.P50), ms(c.Latency.P90), ms(c.Latency.P99), ms(c.Latency.P999), ms(c.Latency.Max))
	if r.Liveness.Drained {
		fmt.Fprintf(&b, "Drained %s after the faults were healed.\n\n", ms(r.Liveness.DrainMs))
	} else {
		fmt.Fprintf(&b, "**Did not drain**: %s\n\n", r.Liveness.Stuck)
	}
	if r.Capacity != nil {
		b.WriteString("## Capacity\n\n")
		for _, l := range r.Capacity.Answer {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\n")
	}
	if len(r.Faults) > 0 {
		b.WriteString("## Faults\n\n| injected | healed | kind | target | detail |\n|---|---|---|---|---|\n")
		for _, f := range r.Faults {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", clockString(time.Duration(f.InjectedMs)*time.Millisecond), clockString(time.Duration(f.HealedMs)*time.Millisecond), f.Kind, f.Target, f.Detail)
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> %s\n", n)
	}
	b.WriteString("## Timeline\n\n```\n")
	for _, l := range r.Timeline {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	return b.String()
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
