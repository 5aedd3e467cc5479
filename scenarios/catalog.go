package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/disk"
	"github.com/sluicehq/sluice/faults/network"
	"github.com/sluicehq/sluice/faults/process"
	"github.com/sluicehq/sluice/reports/record"
)

var catalog = map[string]*Scenario{}

// Register adds a scenario to the catalog (scenarios/containers adds the
// container scenario this way).
func Register(sc *Scenario) {
	if _, dup := catalog[sc.Name]; dup {
		panic("scenario " + sc.Name + " registered twice")
	}
	catalog[sc.Name] = sc
}

// Lookup finds a scenario by name.
func Lookup(name string) (*Scenario, bool) {
	sc, ok := catalog[name]
	return sc, ok
}

// All lists the catalog, numbered scenarios first.
func All() []*Scenario {
	out := make([]*Scenario, 0, len(catalog))
	for _, sc := range catalog {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Number == 0) != (b.Number == 0) {
			return a.Number != 0
		}
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.Name < b.Name
	})
	return out
}

// cycles schedules one fault per period over the load: a single cycle in
// the short variant, a fault every minute in the long one.
func cycles(p *Plan, name, target string, f func(*Node) faults.Fault) {
	period := p.Load
	if p.Long {
		period = time.Minute
	}
	for at := time.Duration(0); at+period <= p.Load; at += period {
		p.Add(Step{Name: name, Target: target, At: at + period/5, For: period / 3, Fault: f})
	}
}

func kill(*Node) faults.Fault      { return process.Kill() }
func freeze(*Node) faults.Fault    { return process.Freeze() }
func blackhole(*Node) faults.Fault { return network.Blackhole() }

// seed is the seed topology of the issue: three agents with a failover
// group (priorities 100/80/60) over three collectors, file channels at
// both tiers.
func seed(name string, number int, desc string) *Scenario {
	return &Scenario{
		Name: name, Number: number, Description: desc,
		Agents: 3, Collectors: 3, Group: "failover", Priorities: []int{100, 80, 60},
		AgentChannel: "file", CollectorChannel: "file",
		Short: Variant{Load: 20 * time.Second, Drain: 60 * time.Second, Rate: 200},
		Long:  Variant{Load: 5 * time.Minute, Drain: 3 * time.Minute, Rate: 500, MaxPenalty: 8000},
	}
}

func init() {
	// 1. kill -9 the primary collector under load; restart it later.
	s1 := seed("kill-primary", 1, "kill -9 the primary collector under load and restart it later: traffic fails over to priority 80 and back after the penalty, nothing is lost.")
	s1.Nemesis = func(p *Plan) { cycles(p, "kill-primary", "collector1", kill) }
	s1.Expect = func(r *record.Run) []record.Expectation {
		return append(FailedOverTo(r, "collector1", "collector2"), FailedBack(r, "collector1")...)
	}
	Register(s1)

	// 2. partition the agents from the primary (black hole); heal.
	s2 := seed("partition-primary", 2, "black-hole every hop to the primary collector (bytes vanish, connections stay open), then heal: the agents fail over within request-timeout.")
	s2.Nemesis = func(p *Plan) { cycles(p, "blackhole-primary", "collector1", blackhole) }
	s2.Expect = func(r *record.Run) []record.Expectation {
		x := FailedOverTo(r, "collector1", "collector2")
		x = append(x, failoverWithin(r, "collector1", requestTimeout(r)+2*time.Second,
			"the slack over request-timeout covers the batch in flight, sink backoff and the 50ms store poll")...)
		return append(x, FailedBack(r, "collector1")...)
	}
	Register(s2)

	// 3. rolling restart of every collector, one at a time.
	s3 := seed("rolling-restart", 3, "restart every collector gracefully, one at a time, under load: nothing is lost, traffic moves off each restarting collector that carried it.")
	s3.Short.Load = 24 * time.Second
	s3.Nemesis = func(p *Plan) {
		gap := p.Load / 4
		for i := 1; i <= p.Collectors; i++ {
			p.Add(Step{Name: fmt.Sprintf("restart-collector%d", i), Target: fmt.Sprintf("collector%d", i),
				At: time.Duration(i-1)*gap + gap/2, For: gap / 3, Fault: func(*Node) faults.Fault { return process.Restart(20 * time.Second) }})
		}
	}
	s3.Expect = func(r *record.Run) []record.Expectation {
		return append(FailedOverTo(r, "collector1", "collector2"), FailedBack(r, "collector1")...)
	}
	Register(s3)

	// 4. kill -9 agents in a loop while writers rotate files.
	s4 := seed("kill-agents", 4, "kill -9 agents in a loop while the writers rotate their files: nothing is lost; each kill re-sends at most what was in flight.")
	s4.Short.RotateBytes = 256 << 10
	s4.Short.Load = 24 * time.Second
	s4.Nemesis = func(p *Plan) {
		every := p.Load / 6
		if p.Long {
			every = 10 * time.Second
		}
		for at := every / 2; at+every/2 < p.Load; at += every {
			a := fmt.Sprintf("agent%d", 1+p.Rand.IntN(p.Agents))
			jitter := time.Duration(p.Rand.Int64N(int64(every / 4)))
			p.Add(Step{Name: "kill-" + a, Target: a, At: at + jitter, For: every / 3, Fault: kill})
		}
	}
	s4.Expect = func(r *record.Run) []record.Expectation {
		return duplicatesPerFault(r, 2*100, "one sink batch re-sent (batch-size 100) plus the lines read since the last position save (writePosInterval 100ms), at most one source batch (batchSize 100)")
	}
	Register(s4)

	// 5. load_balance over three collectors, one flapping.
	Register(&Scenario{
		Name: "flapping-lb", Number: 5,
		Description: "load_balance (round_robin, backoff) over three collectors, one of them flapping (reset_peer on and off): nothing is lost, the load is spread.",
		Agents:      3, Collectors: 3, Group: "load_balance",
		AgentChannel: "file", CollectorChannel: "file",
		Short: Variant{Load: 24 * time.Second, Drain: 60 * time.Second, Rate: 200},
		Long:  Variant{Load: 5 * time.Minute, Drain: 3 * time.Minute, Rate: 500},
		Nemesis: func(p *Plan) {
			flap := 2 * time.Second
			for at := p.Load / 6; at+flap < p.Load*5/6; at += 2 * flap {
				p.Add(Step{Name: "flap-collector2", Target: "collector2", At: at, For: flap,
					Fault: func(*Node) faults.Fault { return network.ResetPeer(0) }})
			}
		},
		Expect: func(r *record.Run) []record.Expectation { return spread(r, 0.15) },
	})

	// 6. slow network: backlog builds in the agents' channels and drains.
	s6 := seed("slow-network", 6, "latency (200ms ± 50ms) and a 40 KB/s bandwidth cap on every hop to the primary: a backlog builds in the agents' file channels and drains after the heal.")
	s6.Short.RequestTimeout = 5000
	s6.Nemesis = func(p *Plan) {
		p.Add(Step{Name: "slow-primary", Target: "collector1", At: p.Load / 6, For: p.Load / 2,
			Fault: func(*Node) faults.Fault { return network.Slow(200*time.Millisecond, 50*time.Millisecond, 40) }})
	}
	s6.Expect = func(r *record.Run) []record.Expectation { return backlogBuiltAndDrained(r, "agents", 200) }
	Register(s6)

	// 7. frozen collector: SIGSTOP for longer than request-timeout.
	s7 := seed("frozen-collector", 7, "freeze the primary collector (SIGSTOP) for three times request-timeout, then thaw it (SIGCONT): the agents fail over, nothing is lost, the duplicates the thawed collector writes are counted.")
	s7.Nemesis = func(p *Plan) {
		period := p.Load
		if p.Long {
			period = time.Minute
		}
		for at := time.Duration(0); at+period <= p.Load; at += period {
			p.Add(Step{Name: "freeze-primary", Target: "collector1", At: at + period/5, For: 3 * time.Duration(p.RequestTimeout) * time.Millisecond, Fault: freeze})
		}
	}
	s7.Expect = func(r *record.Run) []record.Expectation {
		return append(FailedOverTo(r, "collector1", "collector2"), FailedBack(r, "collector1")...)
	}
	Register(s7)

	// Extras.
	Register(&Scenario{
		Name:        "smoke",
		Description: "no faults: agents with an http source and memory channel write their own file_roll store; the harness end to end.",
		Agents:      2, AgentChannel: "memory", Source: "http",
		Short: Variant{Load: 4 * time.Second, Drain: 30 * time.Second, Rate: 200},
		Long:  Variant{Load: time.Minute, Drain: time.Minute, Rate: 1000},
	})
	Register(&Scenario{
		Name: "lossy-memory-channel", Lossy: true,
		Description: "deliberately lossy: memory channels on the agents, every hop to the collectors black-holed, then every agent killed with events in its channel. The checker must find the run invalid and count what was lost.",
		Agents:      3, Collectors: 3, Group: "failover", Priorities: []int{100, 80, 60},
		// The collectors are never killed (and drain on SIGTERM), so their
		// memory channels lose nothing: what is lost is the agents'.
		AgentChannel: "memory", CollectorChannel: "memory", Source: "http",
		Short: Variant{Load: 12 * time.Second, Drain: 40 * time.Second, Rate: 200},
		Nemesis: func(p *Plan) {
			for i := 1; i <= p.Collectors; i++ {
				p.Add(Step{Name: fmt.Sprintf("blackhole-collector%d", i), Target: fmt.Sprintf("collector%d", i), At: p.Load / 6, For: p.Load / 2, Fault: blackhole})
			}
			for i := 1; i <= p.Agents; i++ {
				p.Add(Step{Name: fmt.Sprintf("kill-agent%d", i), Target: fmt.Sprintf("agent%d", i), At: p.Load / 2, For: p.Load / 12, Fault: kill})
			}
		},
		Expect: lossExpected,
	})
	Register(&Scenario{
		Name: "lossy-memory-disk", Lossy: true,
		Description: "deliberately lossy, one tier: agents with a memory channel write a file_roll store on a small tmpfs; the disk fills, events pile up in the memory channels, every agent is killed. The checker must find the run invalid and count what was lost.",
		Agents:      2, AgentChannel: "memory", Source: "http",
		Short: Variant{Load: 10 * time.Second, Drain: 30 * time.Second, Rate: 200},
		Nemesis: func(p *Plan) {
			p.Disk = func(n *Node) faults.Fault {
				if n.Role != record.RoleAgent {
					return nil
				}
				return disk.NewFull(n.Dir+"/store", 8<<20)
			}
			for i := 1; i <= p.Agents; i++ {
				a := fmt.Sprintf("agent%d", i)
				p.Add(Step{Name: "disk-full-" + a, Target: a, At: p.Load / 5, For: p.Load / 2, Fault: func(n *Node) faults.Fault { return n.disk }})
				p.Add(Step{Name: "kill-" + a, Target: a, At: p.Load / 2, For: p.Load / 10, Fault: kill})
			}
		},
		Expect: lossExpected,
	})
	// Issue 8, scenario 1: the seed collector tier's store failover.
	Register(&Scenario{
		Name:        "hdfs-kafka-failover",
		Description: "the seed collector tier, failover group hdfsSink(100, HDFS on file://) -> kafkaSink(80, a kfake cluster): the HDFS disk fills under load, every batch lands in Kafka, the disk is freed and traffic fails back to HDFS; both stores together hold every event.",
		Agents:      2, AgentChannel: "file", Source: "http", StoreTier: StoreTierHDFSKafka,
		Short: Variant{Load: 20 * time.Second, Drain: 40 * time.Second, Rate: 200, MaxPenalty: 2000},
		Long:  Variant{Load: 3 * time.Minute, Drain: 2 * time.Minute, Rate: 500, MaxPenalty: 8000},
		Nemesis: func(p *Plan) {
			p.Disk = func(n *Node) faults.Fault {
				if n.Role != record.RoleAgent {
					return nil
				}
				return disk.NewFull(hdfsMount(n.Dir), 16<<20)
			}
			// One store at a time: the failover table bounds a fault's
			// failover and failback by the next injection.
			period := p.Load / time.Duration(p.Agents)
			for i := 1; i <= p.Agents; i++ {
				a := fmt.Sprintf("agent%d", i)
				p.Add(Step{Name: "hdfs-disk-full-" + a, Target: a, Store: hdfsStoreName(a), At: time.Duration(i-1)*period + period/8, For: period / 3,
					Fault: func(n *Node) faults.Fault { return n.disk }})
			}
		},
		Expect: func(r *record.Run) []record.Expectation {
			var x []record.Expectation
			for i := 1; i <= 2; i++ {
				h := hdfsStoreName(fmt.Sprintf("agent%d", i))
				x = append(x, FailedOverTo(r, h, kafkaStoreName)...)
				x = append(x, FailedBack(r, h)...)
			}
			return x
		},
	})
	// Issue 8, scenario 2: Kafka broker outage and leader moves under
	// load, with the Kafka channel and the Kafka sink.
	Register(&Scenario{
		Name:        "kafka-broker-outage",
		Description: "agents with a Kafka channel and a Kafka sink on a three-broker kfake cluster: one broker goes away under load (its partitions and groups move) and comes back, then every partition leader moves; nothing is lost, duplicates are counted.",
		Agents:      2, AgentChannel: "kafka", Source: "http", StoreTier: StoreTierKafka,
		Short: Variant{Load: 16 * time.Second, Drain: 40 * time.Second, Rate: 200},
		Long:  Variant{Load: 3 * time.Minute, Drain: 2 * time.Minute, Rate: 500},
		Nemesis: func(p *Plan) {
			p.Add(Step{Name: "broker-outage", Target: "agent1", Store: kafkaStoreName, At: p.Load / 5, For: p.Load / 4,
				Fault: func(n *Node) faults.Fault { return &brokerOutage{c: n.h.kafka, node: 1} }})
			p.Add(Step{Name: "leader-moves", Target: "agent1", Store: kafkaStoreName, At: 3 * p.Load / 5, For: p.Load / 10,
				Fault: func(n *Node) faults.Fault {
					return &leaderMoves{c: n.h.kafka, topics: []string{storeTopic, channelTopic("agent1"), channelTopic("agent2")}}
				}})
		},
	})
	Register(&Scenario{
		Name:        "disk-full",
		Description: "the agents' file channels fill their disk (a size-limited tmpfs) under load: the source backs off, nothing is lost, the backlog drains once there is room again.",
		Agents:      2, Collectors: 2, Group: "failover", Priorities: []int{100, 80},
		AgentChannel: "file", CollectorChannel: "file",
		Short: Variant{Load: 20 * time.Second, Drain: 60 * time.Second, Rate: 200},
		Nemesis: func(p *Plan) {
			p.Disk = func(n *Node) faults.Fault {
				if n.Role != record.RoleAgent {
					return nil
				}
				return disk.NewFull(n.Dir+"/channel", 64<<20)
			}
			for i := 1; i <= p.Agents; i++ {
				a := fmt.Sprintf("agent%d", i)
				p.Add(Step{Name: "disk-full-" + a, Target: a, At: p.Load / 4, For: p.Load / 3, Fault: func(n *Node) faults.Fault { return n.disk }})
			}
		},
	})
}

// Expectations.

func requestTimeout(r *record.Run) time.Duration {
	var ms int
	fmt.Sscanf(r.Params["request-timeout"], "%dms", &ms)
	return time.Duration(ms) * time.Millisecond
}

func rowsFor(r *record.Run, target string) []record.FailoverRow {
	var out []record.FailoverRow
	for _, f := range r.Failover {
		if f.Target == target {
			out = append(out, f)
		}
	}
	return out
}

// FailedOverTo expects that, while target was down, the affected traffic went to
// another store, most of it to want.
func FailedOverTo(r *record.Run, target, want string) []record.Expectation {
	var x []record.Expectation
	for _, f := range rowsFor(r, target) {
		if len(f.Affected) == 0 {
			continue
		}
		claim := fmt.Sprintf("fault %d (%s): traffic of %s failed over, mostly to %s", f.Fault, f.Name, strings.Join(f.Affected, ", "), want)
		held := f.FailedOverMs != nil && len(f.Via) > 0 && storeNode(r, f.Via[0]) == want
		x = append(x, record.Expectation{Claim: claim, Held: held, Detail: fmt.Sprintf("via %v", f.Via)})
	}
	if len(x) == 0 {
		x = append(x, record.Expectation{Claim: fmt.Sprintf("traffic went through %s when it failed", target), Held: false})
	}
	return x
}

// FailedBack expects that, after the heal, the affected traffic came back.
// storeNode is the node whose store a Via entry ("store (n events)")
// names.
func storeNode(r *record.Run, via string) string {
	name, _, _ := strings.Cut(via, " (")
	for _, s := range r.Topology.Stores {
		if s.Name == name {
			return s.Node
		}
	}
	return name
}

func FailedBack(r *record.Run, target string) []record.Expectation {
	var x []record.Expectation
	for _, f := range rowsFor(r, target) {
		if len(f.Affected) == 0 {
			continue
		}
		d := "never"
		if f.FailedBackMs != nil && f.HealedMs != nil {
			d = fmt.Sprintf("%.2fs after the heal", float64(*f.FailedBackMs-*f.HealedMs)/1000)
		}
		x = append(x, record.Expectation{Claim: fmt.Sprintf("fault %d (%s): traffic failed back to %s after the heal", f.Fault, f.Name, target),
			Held: f.FailedBackMs != nil, Detail: d})
	}
	return x
}

func failoverWithin(r *record.Run, target string, limit time.Duration, why string) []record.Expectation {
	var x []record.Expectation
	for _, f := range rowsFor(r, target) {
		if len(f.Affected) == 0 {
			continue
		}
		held := f.FailedOverMs != nil && time.Duration(*f.FailedOverMs-f.InjectedMs)*time.Millisecond <= limit
		d := "no failover"
		if f.FailedOverMs != nil {
			d = fmt.Sprintf("failed over %.2fs after the injection; %s", float64(*f.FailedOverMs-f.InjectedMs)/1000, why)
		}
		x = append(x, record.Expectation{Claim: fmt.Sprintf("fault %d (%s): failover within %v", f.Fault, f.Name, limit), Held: held, Detail: d})
	}
	return x
}

func duplicatesPerFault(r *record.Run, budget int64, why string) []record.Expectation {
	var x []record.Expectation
	for _, f := range r.Failover {
		x = append(x, record.Expectation{
			Claim: fmt.Sprintf("fault %d (%s on %s): at most %d duplicates", f.Fault, f.Name, f.Target, budget),
			Held:  f.Duplicated <= budget, Detail: fmt.Sprintf("%d duplicates; the budget is %s", f.Duplicated, why)})
	}
	return x
}

// spread: every store received at least min of all arrivals.
func spread(r *record.Run, min float64) []record.Expectation {
	var total int64
	for _, v := range r.Checker.PerStore {
		total += v
	}
	var x []record.Expectation
	for _, s := range r.Topology.Stores {
		n := r.Checker.PerStore[s.Name]
		share := 0.0
		if total > 0 {
			share = float64(n) / float64(total)
		}
		x = append(x, record.Expectation{Claim: fmt.Sprintf("%s received at least %.0f%% of the events", s.Name, min*100),
			Held: share >= min, Detail: fmt.Sprintf("%.1f%% (%d of %d)", share*100, n, total)})
	}
	return x
}

// backlogBuiltAndDrained: the tier's backlog rose above min during the
// faults and was gone at the end.
func backlogBuiltAndDrained(r *record.Run, tier string, min int64) []record.Expectation {
	var peak int64
	b := r.Series.Backlog[tier]
	for _, v := range b {
		peak = max(peak, v)
	}
	last := int64(-1)
	if len(b) > 0 {
		last = b[len(b)-1]
	}
	return []record.Expectation{
		{Claim: fmt.Sprintf("a backlog of more than %d events built up in the %s' channels", min, tier), Held: peak > min, Detail: fmt.Sprintf("peak %d", peak)},
		{Claim: fmt.Sprintf("the %s' backlog drained", tier), Held: r.Phases.Drained && last == 0, Detail: fmt.Sprintf("last reading %d", last)},
	}
}

func lossExpected(r *record.Run) []record.Expectation {
	return []record.Expectation{{
		Claim:  "the checker finds the lossy configuration invalid and counts the lost events",
		Held:   !r.Checker.Valid && r.Checker.Lost > 0,
		Detail: fmt.Sprintf("valid=%v lost=%d", r.Checker.Valid, r.Checker.Lost),
	}}
}
