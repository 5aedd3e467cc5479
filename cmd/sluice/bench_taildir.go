package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/file"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/source/taildir/taildirtest"
)

func init() {
	registerBench("taildir", "lines/s from one big file into a channel, and write-to-channel latency", runBenchTaildir)
}

func runBenchTaildir(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench taildir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice bench taildir [-size MiB] [-line BYTES] [-batch N] [-runs N] [-channel memory|file|both] [-latency N] [-dir DIR]")
		fmt.Fprintln(stderr, "\nTails one file of numbered lines from its start into a channel that a consumer\nempties, -runs times per channel, and prints the median: a memory channel, and\na file channel (fsync per commit) in -dir; then, with -latency N, writes N\nlines 20 ms apart and prints how long each took to reach a memory channel.")
		fs.PrintDefaults()
	}
	size := fs.Int64("size", 512, "file size in MiB")
	line := fs.Int("line", 256, "line length in bytes, newline included")
	batch := fs.Int("batch", 100, "the source's batchSize")
	runs := fs.Int("runs", 5, "throughput runs (the median is reported)")
	lat := fs.Int("latency", 200, "lines for the latency test (0 skips it)")
	dir := fs.String("dir", "", "directory for the test file and the file channel (default: a temporary one)")
	chans := fs.String("channel", "both", "channels to measure: memory, file or both")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *size <= 0 || *line < 16 || *batch <= 0 || *runs <= 0 || *lat < 0 {
		fmt.Fprintln(stderr, "sluice bench taildir: -size, -batch and -runs must be positive, -line at least 16")
		return 2
	}
	var kinds []string
	switch *chans {
	case "memory", "file":
		kinds = []string{*chans}
	case "both":
		kinds = []string{"memory", "file"}
	default:
		fmt.Fprintf(stderr, "sluice bench taildir: -channel %q: want memory, file or both\n", *chans)
		return 2
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "sluice-bench-taildir-")
		if err != nil {
			fmt.Fprintln(stderr, "sluice bench taildir:", err)
			return 1
		}
		defer os.RemoveAll(d)
		work = d
	}
	file := filepath.Join(work, "app.log")
	fmt.Fprintf(stdout, "writing %d MiB of %d-byte lines to %s\n", *size, *line, file)
	lines, err := taildirtest.WriteLines(file, *size<<20, *line)
	if err != nil {
		fmt.Fprintln(stderr, "sluice bench taildir:", err)
		return 1
	}
	defer os.Remove(file)

	newMemory := func() channel.Channel {
		cfg := memory.DefaultConfig()
		cfg.Capacity, cfg.TransactionCapacity = 100000, max(10000, *batch)
		ch := memory.New("c1", cfg, nil, nil, nil)
		ch.Start()
		return ch
	}
	for _, kind := range kinds {
		var rates []float64
		for i := 0; i < *runs; i++ {
			var ch channel.Channel
			chDir := filepath.Join(work, fmt.Sprintf("channel-%d", i))
			if kind == "file" {
				fc, err := newBenchFileChannel(chDir, *batch)
				if err != nil {
					fmt.Fprintln(stderr, "sluice bench taildir:", err)
					return 1
				}
				ch = fc
			} else {
				ch = newMemory()
			}
			r, err := taildirtest.Throughput(file, lines, ch, *batch, 5000)
			ch.Stop()
			os.RemoveAll(chDir)
			if err != nil {
				fmt.Fprintln(stderr, "sluice bench taildir:", err)
				return 1
			}
			rates = append(rates, r.LinesPerSec())
			fmt.Fprintf(stdout, "%s channel run %d: %d lines in %v: %.0f lines/s, %.0f MiB/s\n", kind, i+1, r.Lines, r.Elapsed.Round(time.Millisecond), r.LinesPerSec(), r.MBPerSec())
		}
		slices.Sort(rates)
		fmt.Fprintf(stdout, "taildir -> %s channel, batchSize %d: median %.0f lines/s (min %.0f, max %.0f) over %d runs\n",
			kind, *batch, rates[len(rates)/2], rates[0], rates[len(rates)-1], len(rates))
	}

	if *lat > 0 {
		ch := newMemory()
		ds, err := taildirtest.Latency(work, *lat, 20*time.Millisecond, ch)
		ch.Stop()
		if err != nil {
			fmt.Fprintln(stderr, "sluice bench taildir:", err)
			return 1
		}
		fmt.Fprintf(stdout, "latency, write to channel, %d lines 20 ms apart: p50 %v, p99 %v, max %v\n", len(ds),
			taildirtest.Quantile(ds, 0.5).Round(time.Microsecond), taildirtest.Quantile(ds, 0.99).Round(time.Microsecond), taildirtest.Quantile(ds, 1).Round(time.Microsecond))
	}
	return 0
}

// newBenchFileChannel starts a file channel in dir with Flume's defaults
// (fsync per commit), a transaction as large as the source's batch.
func newBenchFileChannel(dir string, batch int) (*file.Channel, error) {
	cfg := file.DefaultConfig()
	cfg.CheckpointDir = filepath.Join(dir, "checkpoint")
	cfg.DataDirs = []string{filepath.Join(dir, "data")}
	cfg.TransactionCapacity = max(10000, batch)
	cfg.MinimumRequiredSpace = 0
	ch := file.New("c1", cfg, file.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := ch.Start(); err != nil {
		return nil, fmt.Errorf("file channel in %s: %w", dir, err)
	}
	return ch, nil
}
