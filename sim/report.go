package sim

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders a summary for a person: verdict, checker, capacity
// answer, faults and timeline. The run record itself (record.json) is the
// shared format that reports/ renders with charts.
func (r *Result) Markdown() string {
	rec := r.Record
	var b strings.Builder
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(&b, "# Simulation seed %d: %s\n\n`%s`\n\n", rec.Seed, verdict, rec.Params["command"])
	var nodes []string
	for _, n := range rec.Topology.Nodes {
		if n.Count > 1 {
			nodes = append(nodes, fmt.Sprintf("%d %s", n.Count, n.Name))
		} else {
			nodes = append(nodes, n.Name)
		}
	}
	var stores []string
	for _, s := range rec.Topology.Stores {
		stores = append(stores, s.Name)
	}
	fmt.Fprintf(&b, "%s -> %s\n\n", strings.Join(nodes, ", "), strings.Join(stores, ", "))
	c := rec.Checker
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).Round(time.Millisecond).String() }
	b.WriteString("## Checker\n\n| written | delivered | lost | duplicated | unexpected | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n\n", c.Attempted, c.Delivered, c.Lost, c.Duplicated, c.Unexpected,
		us(c.Latency.P50Us), us(c.Latency.P90Us), us(c.Latency.P99Us), us(c.Latency.P999Us), us(c.Latency.MaxUs))
	if rec.Phases.Drained {
		fmt.Fprintf(&b, "Drained %v after the faults were healed.\n\n", time.Duration(rec.Phases.DrainEndMs-rec.Phases.HealMs)*time.Millisecond)
	} else {
		fmt.Fprintf(&b, "**Did not drain**: %s\n\n", r.Stuck)
	}
	if r.Capacity != nil {
		b.WriteString("## Capacity\n\n")
		for _, l := range r.Capacity.Answer {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\n")
	}
	if len(rec.Faults) > 0 {
		b.WriteString("## Faults\n\n| injected | healed | kind | action | target | detail |\n|---|---|---|---|---|---|\n")
		for _, f := range rec.Faults {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", clockString(time.Duration(f.InjectedMs)*time.Millisecond),
				clockString(time.Duration(*f.HealedMs)*time.Millisecond), f.Kind, f.Action, f.Target, f.Params["detail"])
		}
		b.WriteString("\n")
	}
	for _, n := range rec.Notes {
		fmt.Fprintf(&b, "> %s\n", n)
	}
	b.WriteString("\n## Timeline\n\n```\n")
	for _, l := range rec.Timeline {
		fmt.Fprintf(&b, "%s %s %-12s %s\n", clockString(time.Duration(l.AtMs)*time.Millisecond), l.Mark, l.Node, l.Text)
	}
	b.WriteString("```\n")
	return b.String()
}
