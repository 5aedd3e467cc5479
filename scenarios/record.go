package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios/checker"
)

// record assembles the run record from what was observed.
func (h *harness) record(end, loadEnd, healed, drainEnd time.Time, drained bool) *record.Run {
	p := h.plan
	r := &record.Run{
		Scenario:    h.sc.Name,
		Kind:        record.KindScenario,
		Seed:        h.opts.Seed,
		Start:       h.start.UTC(),
		DurationMs:  h.at(end),
		Description: h.sc.Description,
		Params: map[string]string{
			"agents":            strconv.Itoa(p.Agents),
			"collectors":        strconv.Itoa(p.Collectors),
			"rate":              fmt.Sprintf("%d events/s per agent", p.Rate),
			"writers per agent": strconv.Itoa(p.WritersPerAgent),
			"line size":         fmt.Sprintf("%d bytes", p.LineSize),
			"load":              p.Load.String(),
			"source":            h.sc.source(),
			"agent channel":     h.sc.AgentChannel,
			"variant":           map[bool]string{true: "long", false: "short"}[h.opts.Long],
			"metrics poll":      metricsPoll.String(),
			"store poll":        storePoll.String(),
		},
		Phases: record.Phases{LoadEndMs: h.at(loadEnd), HealMs: h.at(healed), DrainEndMs: h.at(drainEnd), Drained: drained},
	}
	switch {
	case h.sc.user != nil:
		delete(r.Params, "agent channel")
		r.Params["agent config"] = h.sc.user.agentFile
		r.Params["collector config"] = h.sc.user.collectorFile
	case p.Collectors > 0:
		r.Params["collector channel"] = h.sc.CollectorChannel
		if h.sc.Group != "" {
			r.Params["sink group"] = h.sc.Group
			r.Params["max penalty"] = fmt.Sprintf("%dms", p.MaxPenalty)
		}
		r.Params["request-timeout"] = fmt.Sprintf("%dms", p.RequestTimeout)
	}
	if h.sc.source() == "taildir" {
		r.Params["rotate every"] = fmt.Sprintf("%d bytes", p.RotateBytes)
		rot := 0
		for _, f := range h.feeders {
			if ff, ok := f.(*fileFeeder); ok {
				rot += ff.Rotations()
			}
		}
		r.Params["rotations"] = strconv.Itoa(rot)
	}
	var retries int64
	for _, w := range h.writers {
		retries += w.retries
	}
	r.Params["write retries"] = strconv.FormatInt(retries, 10)

	for _, n := range h.allNodes() {
		rt := "process"
		if n.ctr != nil {
			rt = "container"
		}
		r.Topology.Nodes = append(r.Topology.Nodes, record.Node{Name: n.Name, Role: n.Role, Tier: n.Tier, Runtime: rt,
			Config: n.Name + ".conf", Groups: n.groups})
		text, err := os.ReadFile(n.ConfPath)
		if err == nil {
			r.Topology.Configs = append(r.Topology.Configs, record.Config{Name: n.Name + ".conf", Text: string(text)})
		}
	}
	r.Topology.Hops = append([]record.Hop(nil), h.hops...)
	if t := h.sc.user; t != nil {
		r.Topology.Configs = append(r.Topology.Configs,
			record.Config{Name: filepath.Base(t.agentFile) + " (as given)", Text: t.agentText},
			record.Config{Name: filepath.Base(t.collectorFile) + " (as given)", Text: t.collectorText})
	}
	for _, s := range h.stores {
		r.Topology.Stores = append(r.Topology.Stores, record.Store{Name: s.Name(), Kind: s.Kind(), Node: s.Node(), Location: s.Location()})
	}

	h.mu.Lock()
	r.Faults = append([]record.Fault(nil), h.faults...)
	h.mu.Unlock()
	sort.SliceStable(r.Faults, func(i, j int) bool { return r.Faults[i].InjectedMs < r.Faults[j].InjectedMs })

	n := int(end.Sub(h.start)/seriesStep) + 1
	h.ck.Series(&r.Series, n)
	h.obs.series(&r.Series, n)
	r.ActiveSinks = h.obs.activeSinks()
	r.Checker = h.ck.Result()

	rows, notes := h.ck.Failover(checker.Analysis{Start: h.start, EndMs: r.DurationMs, Faults: r.Faults, Topology: r.Topology, Samples: h.obs.sinkSamples()})
	r.Failover = rows
	for _, row := range rows {
		if row.DetectedMs != nil {
			h.timelineAt(*row.DetectedMs, record.MarkDetect, row.Target, "first failed batch towards %s (fault %d)", row.Target, row.Fault)
		}
		if row.FailedOverMs != nil {
			h.timelineAt(*row.FailedOverMs, record.MarkFailover, row.Target, "traffic of %v failed over from %s (fault %d)", row.Affected, row.Target, row.Fault)
		}
		if row.FailedBackMs != nil {
			h.timelineAt(*row.FailedBackMs, record.MarkFailback, row.Target, "traffic of %v back on %s (fault %d)", row.Affected, row.Target, row.Fault)
		}
	}
	panics := h.panics()
	h.mu.Lock()
	r.Anomalies = append(append([]string(nil), h.anomalies...), panics...)
	r.Timeline = append([]record.TimelineEntry(nil), h.timeline...)
	r.Notes = append(append([]string(nil), h.notes...), notes...)
	h.mu.Unlock()
	sort.SliceStable(r.Timeline, func(i, j int) bool { return r.Timeline[i].AtMs < r.Timeline[j].AtMs })
	if !drained {
		r.Notes = append(r.Notes, "The drain did not finish: some events were still in channels or unread when the harness gave up; they count as lost.")
	}
	if h.sc.Expect != nil {
		r.Expectations = h.sc.Expect(r)
	}
	return r
}

func (h *harness) timelineAt(ms int64, mark, node, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timeline = append(h.timeline, record.TimelineEntry{AtMs: ms, Mark: mark, Node: node, Text: fmt.Sprintf(format, args...)})
}
