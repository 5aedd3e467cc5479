package main

import (
	"fmt"
	"io"
	"sort"
)

// benches are the targets of `sluice bench`; each component's file adds its
// own with registerBench.
var benches = map[string]benchTarget{}

type benchTarget struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func registerBench(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	benches[name] = benchTarget{summary: summary, run: run}
}

func init() {
	register("bench", "measure throughput of a component (sluice bench <target> -h)", runBench)
}

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: sluice bench <target> [flags]\n\ntargets:")
		names := make([]string, 0, len(benches))
		for n := range benches {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-12s %s\n", n, benches[n].summary)
		}
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	b, ok := benches[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice bench: unknown target %q\n", args[0])
		return 2
	}
	return b.run(args[1:], stdout, stderr)
}
