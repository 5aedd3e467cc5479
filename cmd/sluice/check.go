package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

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

func runCheck(args []string, stdout, stderr io.Writer) int {
	args, sys := splitSysProps(args)
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files multiFlag
	fs.Var(&files, "f", "Flume properties file (repeatable)")
	fs.Var(&files, "conf-file", "Flume properties file (long form)")
	name := fs.String("n", "", "agent to check (default: every agent in the file)")
	fs.StringVar(name, "name", "", "agent to check (long form)")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, a := range fs.Args() {
		files = append(files, a)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "sluice check: -f FILE is required")
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
	agents := []string{*name}
	if *name == "" {
		agents = config.AgentNames(props)
	}
	if len(agents) == 0 {
		fmt.Fprintf(stderr, "sluice check: %v configure no agent (no key has the form <agent>.sources = ...)\n", []string(files))
		return 1
	}
	clk := clock.Real()
	var all []config.Finding
	for _, n := range agents {
		cfg := config.Build(props, n, config.Options{Sys: sys})
		env := registry.Env{Agent: n, Clock: clk, FS: vfs.OS{}, Metrics: metrics.NewRegistry(clk), Hostname: "localhost", Check: true}
		all = append(all, agent.Lint(cfg, env)...)
	}
	errs := 0
	for _, f := range all {
		if f.Severity == config.Error {
			errs++
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if all == nil {
			all = []config.Finding{}
		}
		enc.Encode(all)
	} else {
		for _, f := range all {
			fmt.Fprintln(stdout, f)
		}
		fmt.Fprintf(stdout, "%d error(s), %d finding(s) in %d agent(s)\n", errs, len(all), len(agents))
	}
	if errs > 0 {
		return 1
	}
	return 0
}
