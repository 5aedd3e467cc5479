package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"
)

func init() {
	register("check", "lint a Flume properties file for the traps Flume falls into", runCheck)
}

// checkReport is the --format json output.
type checkReport struct {
	Files    []string         `json:"files"`
	Agents   []string         `json:"agents"`
	Errors   int              `json:"errors"`
	Warnings int              `json:"warnings"`
	Notes    int              `json:"notes"`
	Findings []config.Finding `json:"findings"`
}

// runCheck validates a configuration the way Flume would load it and
// reports, for every agent in it (or the one named with -n), what Flume
// would drop or get wrong: each finding with file:line, severity, rule and
// fix. Components are built (never started) to check their own keys. The
// exit code is 1 when there is an error, 2 on bad usage.
func runCheck(args []string, stdout, stderr io.Writer) int {
	args, sys := splitSysProps(args)
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice check -f FILE [-f FILE...] [-n AGENT] [--format text|json] [-Dname=value...]")
		fs.PrintDefaults()
	}
	var files multiFlag
	fs.Var(&files, "f", "Flume properties file (repeatable; later files override earlier)")
	fs.Var(&files, "conf-file", "Flume properties file (long form)")
	name := fs.String("n", "", "agent to check (default: every agent in the files)")
	fs.StringVar(name, "name", "", "agent to check (long form)")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files = append(files, fs.Args()...)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "sluice check: -f FILE is required")
		fs.Usage()
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "sluice check: --format %q: use text or json\n", *format)
		return 2
	}
	props, err := config.LoadFiles(vfs.OS{}, files...)
	if err != nil {
		fmt.Fprintln(stderr, "sluice check:", err)
		return 1
	}
	found := config.AgentNames(props)
	agents := found
	if *name != "" {
		agents = []string{*name}
		if !slices.Contains(found, *name) {
			list := strings.Join(found, ", ")
			if list == "" {
				list = "none"
			}
			fmt.Fprintf(stderr, "sluice check: %s configures no agent %q (no key starts with %q); agents found: %s\n",
				strings.Join(files, ", "), *name, *name+".", list)
			return 1
		}
	}
	if len(agents) == 0 {
		fmt.Fprintf(stderr, "sluice check: %s configures no agent (no key has the form <agent>.sources = ...)\n", strings.Join(files, ", "))
		return 1
	}
	clk := clock.Real()
	var all []config.Finding
	var cfgs []*config.Agent
	for _, n := range agents {
		cfg := config.Build(props, n, config.Options{Sys: sys})
		env := registry.Env{Agent: n, Clock: clk, FS: vfs.OS{}, Metrics: metrics.NewRegistry(clk), Hostname: "localhost", Check: true}
		all = append(all, agent.Lint(cfg, env)...)
		cfgs = append(cfgs, cfg)
	}
	all = append(all, config.LintTopology(cfgs)...)
	all = config.Merge(all)
	rep := checkReport{Files: files, Agents: agents, Findings: all}
	for _, f := range all {
		switch f.Severity {
		case config.Error:
			rep.Errors++
		case config.Warning:
			rep.Warnings++
		default:
			rep.Notes++
		}
	}
	if *format == "json" {
		if rep.Findings == nil {
			rep.Findings = []config.Finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "sluice check:", err)
			return 1
		}
	} else {
		for _, f := range all {
			fmt.Fprintln(stdout, f)
		}
		fmt.Fprintf(stdout, "%s: %d error(s), %d warning(s), %d note(s) in agent(s) %s\n",
			strings.Join(files, ", "), rep.Errors, rep.Warnings, rep.Notes, strings.Join(agents, ", "))
	}
	if rep.Errors > 0 {
		return 1
	}
	return 0
}
