package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sluicehq/sluice/reports"
	"github.com/sluicehq/sluice/sim"
)

func init() {
	register("sim", "simulate a whole fleet on virtual time: faults, zero-loss check, capacity planning", runSim)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "seed of the run (0: pick one and print it)")
	agents := fs.Int("agents", 2000, "number of agents (application servers)")
	collectors := fs.Int("collectors", 3, "number of collectors")
	duration := fs.Duration("duration", 0, "fault phase in virtual time (default 10m, or warm-up + outage + 30m with --outage)")
	rate := fs.String("rate", "10/s", "events per second per agent (10/s, 600/m)")
	spread := fs.Float64("rate-spread", 0, "vary each agent's rate by up to this fraction (0.2 = ±20%)")
	faults := fs.String("faults", "swarm", "fault kinds: swarm (the seed picks), none, all, or a list: "+strings.Join(sim.FaultKindNames(), ","))
	faultRate := fs.Float64("fault-rate", 1, "scale how often faults happen")
	var outages listFlag
	fs.Var(&outages, "outage", "planned outage TARGET:LENGTH[@START] (collector01:30m, hdfs:10m@5m, all-collectors:5m); repeatable; turns random faults off unless --faults is given")
	chCap := fs.Int("channel-capacity", 0, "capacity of every agent channel (default: the config's)")
	cchCap := fs.Int("collector-channel-capacity", 0, "capacity of every collector channel (default: the config's)")
	agentCh := fs.String("agent-channel", "", "channel type of the default agent config: file or memory (default file when built in)")
	collCh := fs.String("collector-channel", "", "channel type of the default collector config")
	agentConf := fs.String("agent-conf", "", "agent Flume properties file (default: the seed topology's)")
	collConf := fs.String("collector-conf", "", "collector Flume properties file (default: the seed topology's)")
	allowLoss := fs.Bool("allow-loss", false, "crash nodes even when their channels are memory channels")
	drain := fs.Duration("drain-timeout", 30*time.Minute, "how long the liveness phase may take to drain")
	out := fs.String("out", "", "directory for record.json, report.html, report.md, summary.json and sim.md (default runs/sim/<UTC time>)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o := sim.Options{Seed: *seed, Agents: *agents, Collectors: *collectors, Duration: *duration, RateSpread: *spread,
		FaultRate: *faultRate, ChannelCapacity: *chCap, CollectorChannelCapacity: *cchCap, AgentChannel: *agentCh,
		CollectorChannel: *collCh, AllowLoss: *allowLoss, DrainTimeout: *drain}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano()) & (1<<53 - 1)
	}
	var err error
	if o.Rate, err = sim.ParseRate(*rate); err != nil {
		fmt.Fprintf(stderr, "sluice sim: --rate: %v\n", err)
		return 2
	}
	if o.Faults, err = sim.ParseFaults(*faults); err != nil {
		fmt.Fprintf(stderr, "sluice sim: --faults: %v\n", err)
		return 2
	}
	warmup := 5 * time.Minute
	var longest time.Duration
	for _, s := range outages {
		x, err := sim.ParseOutage(s, warmup)
		if err != nil {
			fmt.Fprintf(stderr, "sluice sim: --outage: %v\n", err)
			return 2
		}
		o.Outages = append(o.Outages, x)
		longest = max(longest, x.Start+x.Length)
	}
	if len(o.Outages) > 0 {
		if *faults == "swarm" {
			o.Faults = []string{}
		}
		if o.Duration == 0 {
			o.Duration = longest + 30*time.Minute
		}
	}
	for _, c := range []struct {
		path string
		dst  *string
	}{{*agentConf, &o.AgentConf}, {*collConf, &o.CollectorConf}} {
		if c.path == "" {
			continue
		}
		b, err := os.ReadFile(c.path)
		if err != nil {
			fmt.Fprintf(stderr, "sluice sim: %v\n", err)
			return 2
		}
		*c.dst = string(b)
	}
	wallStart := time.Now()
	var last time.Time
	if !*quiet {
		o.Progress = func(p sim.Progress) {
			if now := time.Now(); now.Sub(last) >= time.Second {
				last = now
				fmt.Fprintf(stderr, "\rsim %s %v/%v written %d delivered %d backlog agents %d collectors %d faults %d   ",
					p.Phase, p.Now.Round(time.Second), p.Total, p.Written, p.Delivered, p.AgentBacklog, p.CollectorBacklog, p.FaultsActive)
			}
		}
	}
	// The simulation allocates short-lived batches at a high rate and holds
	// little (about 1 GB for the seed fleet): a larger GC target halves its
	// CPU time, and a soft memory limit keeps that from growing the heap to
	// five times what is live on a long run. GOGC and GOMEMLIMIT override.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(simMemoryLimit))
	}
	rec, err := sim.Run(o)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice sim: %v\n", err)
		return 2
	}
	wall := time.Since(wallStart)
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", "sim", time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "sluice sim: %v\n", err)
		return 2
	}
	js, err := rec.JSON()
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "record.json"), js, 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "sim.md"), []byte(rec.Markdown()), 0o644)
	}
	if err == nil {
		// The recovery report with charts, as for a scenario run.
		err = reports.WriteReports(dir, rec.Record)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice sim: write the run record: %v\n", err)
		return 2
	}
	r := rec.Record
	c := r.Checker
	fmt.Fprintf(stdout, "seed %d: %d agents, %d collectors, %v virtual in %v wall (%d steps)\n", r.Seed, o.Agents, o.Collectors,
		(time.Duration(r.DurationMs) * time.Millisecond).Round(time.Second), wall.Round(time.Millisecond), rec.Stats.Steps)
	fmt.Fprintf(stdout, "written %d, delivered %d, lost %d, duplicated %d, unexpected %d; latency p50 %v p99 %v max %v\n",
		c.Attempted, c.Delivered, c.Lost, c.Duplicated, c.Unexpected, us(c.Latency.P50Us), us(c.Latency.P99Us), us(c.Latency.MaxUs))
	fmt.Fprintf(stdout, "faults: %d; drained: %v", len(r.Faults), r.Phases.Drained)
	if r.Phases.Drained {
		fmt.Fprintf(stdout, " %v after the heal", time.Duration(r.Phases.DrainEndMs-r.Phases.HealMs)*time.Millisecond)
	}
	fmt.Fprintln(stdout)
	if rec.Capacity != nil {
		fmt.Fprintln(stdout, "\ncapacity:")
		for _, l := range rec.Capacity.Answer {
			fmt.Fprintf(stdout, "  - %s\n", l)
		}
	}
	for _, n := range r.Notes {
		if !strings.HasPrefix(n, "capacity: ") {
			fmt.Fprintf(stdout, "note: %s\n", n)
		}
	}
	fmt.Fprintf(stdout, "run record: %s\nreport: %s\n", filepath.Join(dir, "record.json"), filepath.Join(dir, reports.HTMLFile))
	if !rec.Valid {
		fmt.Fprint(stdout, rec.Failure())
		return 1
	}
	return 0
}

func us(v int64) time.Duration { return (time.Duration(v) * time.Microsecond).Round(time.Millisecond) }

// simMemoryLimit is the soft heap limit `sluice sim` sets unless
// GOMEMLIMIT is given.
const simMemoryLimit = 3 << 30
