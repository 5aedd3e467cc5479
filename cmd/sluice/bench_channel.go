package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/channel/file/filebench"
)

func init() {
	registerBench("channel", "file channel throughput against the raw disk (1 producer, 1 consumer, fsync per commit)", runBenchChannel)
}

func runBenchChannel(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice bench channel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory on the disk to measure; a new directory is made in it and removed after (default: the system temp dir)")
	events := fs.Int("events", 1000000, "events per run")
	batch := fs.Int("batch", 1000, "events per transaction")
	size := fs.Int("size", 256, "event body bytes")
	dataDirs := fs.Int("data-dirs", 1, "data directories (all under -dir, so on one disk)")
	noFsync := fs.Bool("no-fsync", false, "fsyncPerTransaction=false")
	raw := fs.Duration("raw", 5*time.Second, "how long to measure the raw disk in each run, in slices interleaved with the channel's")
	runs := fs.Int("runs", 1, "runs; the median is reported")
	reopen := fs.Int("reopen", 0, "instead of throughput: queue this many events and time reopening the channel")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *batch <= 0 || *size < 0 || *events <= 0 || *runs <= 0 {
		fmt.Fprintln(stderr, "sluice bench channel: -events, -batch and -runs must be > 0, -size >= 0")
		return 2
	}
	parent := *dir
	if parent == "" {
		parent = os.TempDir()
	}
	var results []filebench.Result
	for i := 0; i < *runs; i++ {
		d, err := os.MkdirTemp(parent, "sluice-bench-channel-")
		if err != nil {
			fmt.Fprintln(stderr, "sluice bench channel:", err)
			return 1
		}
		if *reopen > 0 {
			r, err := filebench.Reopen(nil, d, *reopen, *size)
			os.RemoveAll(d)
			if err != nil {
				fmt.Fprintln(stderr, "sluice bench channel:", err)
				return 1
			}
			fmt.Fprintln(stdout, r)
			continue
		}
		r, err := filebench.Run(filebench.Options{Dir: d, Events: *events, Batch: *batch, EventSize: *size,
			DataDirs: *dataDirs, NoFsync: *noFsync, RawFor: *raw})
		os.RemoveAll(d)
		if err != nil {
			fmt.Fprintln(stderr, "sluice bench channel:", err)
			return 1
		}
		fmt.Fprintf(stdout, "run %d: %v%s\n", i+1, r, loadNote())
		results = append(results, r)
	}
	if len(results) > 1 {
		med := func(f func(filebench.Result) float64) float64 {
			v := make([]float64, len(results))
			for i, r := range results {
				v[i] = f(r)
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(stdout, "median of %d runs: %.0f events/s, %.1f MB/s; raw disk %.1f MB/s; ratio %.0f%%\n", len(results),
			med(func(r filebench.Result) float64 { return r.EventsPerSec }), med(func(r filebench.Result) float64 { return r.MBPerSec }),
			med(func(r filebench.Result) float64 { return r.RawMBPerSec }), 100*med(func(r filebench.Result) float64 { return r.Ratio }))
	}
	return 0
}

// loadNote reports the machine's load, since on a shared machine it is
// what makes one run differ from the next.
func loadNote() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return fmt.Sprintf(" [load average %s on %d CPUs]", f[0], runtime.NumCPU())
}
