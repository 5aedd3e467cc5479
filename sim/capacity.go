package sim

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/reports/record"
)

type capTrack struct {
	maxLag       uint64
	maxAgent     int64 // largest backlog of one agent's channels
	maxCollector int64 // largest backlog of one collector's channels
	fullAgents   map[int]bool
	firstFull    time.Duration
}

// Capacity answers an operator's capacity question for a planned outage:
// does any channel fill, how far does back-pressure reach, is anything
// lost, how long does the fleet take to drain afterwards — and how do the
// numbers compare with the seed article's rule of thumb, channel capacity
// = peak TPS x longest outage (s) x 1.5.
type Capacity struct {
	Outage               string   `json:"outage"`
	OutageMs             int64    `json:"outage_ms"`
	AgentTPS             float64  `json:"agent_tps"`
	FleetTPS             float64  `json:"fleet_tps"`
	AgentCapacity        int      `json:"agent_channel_capacity"`
	CollectorCapacity    int      `json:"collector_channel_capacity"`
	RuleOfThumbAgent     int64    `json:"rule_of_thumb_agent"`     // agent TPS x outage x 1.5
	RuleOfThumbCollector int64    `json:"rule_of_thumb_collector"` // fleet TPS x outage x 1.5
	MaxAgentBacklog      int64    `json:"max_agent_backlog"`
	MaxCollectorBacklog  int64    `json:"max_collector_backlog"`
	AgentsFilled         int      `json:"agents_channel_filled"`
	FirstFullMs          int64    `json:"first_full_ms"` // -1: never
	MaxSourceLag         uint64   `json:"max_source_lag"`
	Lost                 uint64   `json:"lost"`
	LostInMemoryChannels uint64   `json:"events_in_crashed_memory_channels"`
	DrainMs              int64    `json:"drain_after_recovery_ms"` // -1: did not drain in the run
	Answer               []string `json:"answer"`
}

func (w *world) capacity(rec *record.Run) *Capacity {
	o := w.opts
	var longest Outage
	for _, x := range o.Outages {
		if x.Length > longest.Length {
			longest = x
		}
	}
	c := &Capacity{
		Outage:               fmt.Sprintf("%s for %v from %v", longest.Target, longest.Length, longest.Start),
		OutageMs:             longest.Length.Milliseconds(),
		AgentTPS:             o.Rate * (1 + o.RateSpread),
		MaxAgentBacklog:      w.cap.maxAgent,
		MaxCollectorBacklog:  w.cap.maxCollector,
		AgentsFilled:         len(w.cap.fullAgents),
		FirstFullMs:          -1,
		MaxSourceLag:         w.cap.maxLag,
		Lost:                 uint64(rec.Checker.Lost),
		LostInMemoryChannels: w.stats.crashLostInChannels,
		DrainMs:              -1,
	}
	c.FleetTPS = c.AgentTPS * float64(o.Agents)
	secs := longest.Length.Seconds()
	c.RuleOfThumbAgent = int64(c.AgentTPS * secs * 1.5)
	c.RuleOfThumbCollector = int64(c.FleetTPS * secs * 1.5)
	if len(w.agents[0].channels) > 0 {
		c.AgentCapacity = w.agents[0].channels[0].ch.Capacity()
	}
	for _, n := range w.collectors {
		if len(n.channels) > 0 {
			c.CollectorCapacity = n.channels[0].ch.Capacity()
			break
		}
	}
	if w.cap.firstFull >= 0 {
		c.FirstFullMs = w.cap.firstFull.Milliseconds()
	}
	// Drain: from the end of the outage until what is in flight (unread,
	// in agent channels, in collector channels) is back to what it was
	// in the minute before the outage.
	s := &w.ser
	step := w.opts.SampleEvery
	inflight := func(i int) int64 { return s.lag[i] + s.agentBacklog[i] + s.collBacklog[i] }
	startI, endI := int(longest.Start/step), int((longest.Start+longest.Length)/step)
	var base int64
	for i := max(0, startI-int(time.Minute/step)); i < startI && i < len(s.lag); i++ {
		base = max(base, inflight(i))
	}
	base += int64(c.FleetTPS) // one second of traffic is always in flight
	for i := endI; i < len(s.lag); i++ {
		if inflight(i) <= base+base/5 {
			c.DrainMs = (time.Duration(i)*step - (longest.Start + longest.Length)).Milliseconds()
			break
		}
	}
	c.Answer = c.answer(w)
	return c
}

func (c *Capacity) answer(w *world) []string {
	var a []string
	hours := func(ms int64) string { return (time.Duration(ms) * time.Millisecond).Round(time.Second).String() }
	a = append(a, fmt.Sprintf("Outage: %s. Fleet: %d agents at %.4g events/s each (%.0f events/s in all).", c.Outage, w.opts.Agents, c.AgentTPS, c.FleetTPS))
	if c.AgentsFilled > 0 {
		a = append(a, fmt.Sprintf("Agent channels FILLED: %d of %d agents reached capacity %d (first at %s); their taildir sources fell behind by up to %d lines — back-pressure reached the log files, which keep the data (nothing lost to that).",
			c.AgentsFilled, w.opts.Agents, c.AgentCapacity, hours(c.FirstFullMs), c.MaxSourceLag))
	} else {
		a = append(a, fmt.Sprintf("No agent channel filled: the largest agent backlog was %d events, %.2g%% of capacity %d.", c.MaxAgentBacklog, 100*float64(c.MaxAgentBacklog)/float64(max(c.AgentCapacity, 1)), c.AgentCapacity))
		if c.MaxSourceLag > uint64(c.AgentTPS*10) {
			a = append(a, fmt.Sprintf("Taildir still fell behind by up to %d lines (about %.0f s of log; the simulated taildir polls with its 1-5 s backoff, where a real agent is woken by inotify).", c.MaxSourceLag, float64(c.MaxSourceLag)/c.AgentTPS))
		}
	}
	a = append(a, fmt.Sprintf("Collector backlog peaked at %d events per collector (capacity %d).", c.MaxCollectorBacklog, c.CollectorCapacity))
	if c.Lost > 0 {
		a = append(a, fmt.Sprintf("DATA LOST: %d events; %d were in memory channels of crashed nodes — use file channels there.", c.Lost, c.LostInMemoryChannels))
	} else {
		a = append(a, "Nothing lost.")
	}
	if c.DrainMs >= 0 {
		a = append(a, fmt.Sprintf("Drain after recovery: %s until the fleet's backlog was back to normal.", hours(c.DrainMs)))
	} else {
		a = append(a, "The backlog had not drained by the end of the fault phase (see liveness for the final drain).")
	}
	verdict := "covers"
	if int64(c.AgentCapacity) < c.RuleOfThumbAgent {
		verdict = "is BELOW"
	}
	a = append(a, fmt.Sprintf("Rule of thumb (capacity = peak TPS x outage x 1.5): per agent %.4g x %.0f s x 1.5 = %d; the configured %d %s it. Simulated peak per agent: %d (%.2gx the rule).",
		c.AgentTPS, float64(c.OutageMs)/1000, c.RuleOfThumbAgent, c.AgentCapacity, verdict, c.MaxAgentBacklog, float64(c.MaxAgentBacklog)/float64(max(c.RuleOfThumbAgent, 1))))
	a = append(a, fmt.Sprintf("For a collector that must absorb the whole fleet the rule gives %d; simulated collector peak: %d.", c.RuleOfThumbCollector, c.MaxCollectorBacklog))
	return a
}
