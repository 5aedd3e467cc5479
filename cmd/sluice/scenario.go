package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/reports"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios"
)

func init() {
	register("scenario", "run chaos scenarios against real agents: list | run NAME | run --agent-conf A --collector-conf C --fault F", runScenario)
}

func scenarioUsage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  sluice scenario list
  sluice scenario run NAME [--duration D] [--seed S] [--out DIR] [--long]
  sluice scenario run --agent-conf A --collector-conf C --fault FAULT [--agents N] [--duration D] [--seed S] [--out DIR]

Each run writes DIR/<scenario>/<UTC time>/ (run.json, report.html, report.md
with its chart SVGs, summary.json)
and points DIR/latest at it; the exit status is 1 when the checker finds the
run invalid or an expectation fails.`)
}

func runScenario(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		scenarioUsage(stderr)
		return 2
	}
	switch args[0] {
	case "list":
		return scenarioList(stdout)
	case "run":
		return scenarioRun(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		scenarioUsage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "sluice scenario: unknown subcommand %q\n", args[0])
	scenarioUsage(stderr)
	return 2
}

func scenarioList(w io.Writer) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tNAME\tRUNS HERE\tWHAT IT SHOWS")
	for _, sc := range scenarios.All() {
		num := "-"
		if sc.Number > 0 {
			num = fmt.Sprint(sc.Number)
		}
		can := "yes"
		if m := sc.Missing(); m != "" {
			can = "no: " + m
		} else if sc.Containers {
			can = "yes (Docker)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", num, sc.Name, can, sc.Description)
	}
	tw.Flush()
	if _, ok := scenarios.Lookup("containers"); !ok {
		fmt.Fprintln(w, "\nScenario 8 (collectors as Docker containers) runs under `go test ./scenarios/...`, or in a binary built with -tags containers.")
	}
	return 0
}

func scenarioRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scenario run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "length of the load phase (default: the scenario's)")
	seed := fs.Int64("seed", 0, "seed for the random choices of the run (default: from the clock)")
	out := fs.String("out", "runs", "directory runs are stored under")
	long := fs.Bool("long", false, "the soak variant: longer, faster, more faults")
	agentConf := fs.String("agent-conf", "", "your agents' Flume properties file")
	collectorConf := fs.String("collector-conf", "", "your collectors' Flume properties file")
	agentName := fs.String("agent-name", "", "agent name in --agent-conf (default: the only one)")
	collectorName := fs.String("collector-name", "", "agent name in --collector-conf (default: the only one)")
	agents := fs.Int("agents", 3, "how many agents to run from --agent-conf")
	fault := fs.String("fault", "", "with --agent-conf: the fault to inject ("+strings.Join(scenarios.UserFaults(), ", ")+")")
	work := fs.String("work", "", "keep channels, stores and tailed files here (default: a temporary directory, removed)")
	// Flags may follow the scenario name.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		if name != "" {
			fmt.Fprintf(stderr, "sluice scenario run: unexpected argument %q\n", fs.Arg(0))
			return 2
		}
		name = fs.Arg(0)
	}
	var sc *scenarios.Scenario
	switch {
	case *agentConf != "" || *collectorConf != "":
		if name != "" {
			fmt.Fprintln(stderr, "sluice scenario run: give a scenario NAME or --agent-conf/--collector-conf, not both")
			return 2
		}
		var err error
		sc, err = scenarios.FromConfigs(scenarios.UserConfig{
			AgentConf: *agentConf, CollectorConf: *collectorConf,
			AgentName: *agentName, CollectorName: *collectorName,
			Agents: *agents, Fault: *fault,
		})
		if err != nil {
			fmt.Fprintln(stderr, "sluice scenario run:", err)
			return 2
		}
	case name == "":
		scenarioUsage(stderr)
		return 2
	default:
		var ok bool
		if sc, ok = scenarios.Lookup(name); !ok {
			fmt.Fprintf(stderr, "sluice scenario run: no scenario %q; `sluice scenario list` shows them\n", name)
			return 2
		}
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "sluice scenario run: cannot find my own binary:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := scenarios.Options{Binary: bin, RunsDir: *out, WorkDir: *work, Seed: *seed, Load: *duration, Long: *long, Progress: stderr}
	if opts.Seed == 0 {
		opts.Seed = time.Now().UnixNano()
	}
	fmt.Fprintf(stderr, "scenario %s, seed %d\n", sc.Name, opts.Seed)
	r, dir, err := scenarios.Run(ctx, sc, opts)
	var skip *scenarios.SkipError
	if errors.As(err, &skip) {
		fmt.Fprintf(stderr, "sluice scenario run: %s cannot run here: %s\n", sc.Name, skip.Reason)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice scenario run:", err)
		return 1
	}
	return summarize(stdout, sc, r, dir)
}

// summarize prints the verdict, the failover table and where the report
// is, and returns the exit status.
func summarize(w io.Writer, sc *scenarios.Scenario, r *record.Run, dir string) int {
	c := r.Checker
	verdict := "VALID"
	if !c.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(w, "%s: %s — written %d, acknowledged %d, delivered %d, lost %d, duplicated %d, unexpected %d\n",
		r.Scenario, verdict, c.Attempted, c.Acknowledged, c.Delivered, c.Lost, c.Duplicated, c.Unexpected)
	l := c.Latency
	fmt.Fprintf(w, "latency: p50 %.1fms  p90 %.1fms  p99 %.1fms  p99.9 %.1fms  max %.1fms\n",
		float64(l.P50Us)/1000, float64(l.P90Us)/1000, float64(l.P99Us)/1000, float64(l.P999Us)/1000, float64(l.MaxUs)/1000)
	if len(r.Failover) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "fault\ttarget\tinjected\tdetected\tfailed over\thealed\tfailed back\tlongest gap\tlost\tdup")
		for _, f := range r.Failover {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2fs\t%d\t%d\n", f.Name, f.Target, off(&f.InjectedMs),
				off(f.DetectedMs), off(f.FailedOverMs), off(f.HealedMs), off(f.FailedBackMs), float64(f.LongestGapMs)/1000, f.Lost, f.Duplicated)
		}
		tw.Flush()
	}
	for _, e := range r.Expectations {
		mark := "ok  "
		if !e.Held {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s (%s)\n", mark, e.Claim, e.Detail)
	}
	problems := scenarios.Problems(sc, r)
	for _, p := range problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
	if dir != "" {
		fmt.Fprintf(w, "report: %s/%s\n", dir, reports.HTMLFile)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

func off(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("+%.3fs", float64(*v)/1000)
}
