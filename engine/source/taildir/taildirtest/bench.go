// Package taildirtest measures the taildir source on the real file system:
// throughput from one large file into a channel, and the delay from a
// line's write to its commit. `go test -bench` and `sluice bench taildir`
// both use it.
package taildirtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/source/taildir"
	"github.com/sluicehq/sluice/engine/vfs"
)

// WriteLines creates path holding about size bytes of numbered lines of
// lineLen bytes each, newline included, and returns how many it wrote.
func WriteLines(path string, size int64, lineLen int) (int64, error) {
	if lineLen < 16 {
		return 0, fmt.Errorf("lines of %d bytes are too short to number; use at least 16", lineLen)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := make([]byte, lineLen)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	line[lineLen-1] = '\n'
	n := size / int64(lineLen)
	for i := int64(0); i < n; i++ {
		strconv.AppendInt(line[:0], 1e12+i, 10) // 13 digits, in place
		if _, err := w.Write(line); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

// Result is one throughput run.
type Result struct {
	Lines   int64
	Bytes   int64
	Elapsed time.Duration
}

// LinesPerSec is the rate at which the source committed lines.
func (r Result) LinesPerSec() float64 { return float64(r.Lines) / r.Elapsed.Seconds() }

// MBPerSec is the rate in MiB of file read.
func (r Result) MBPerSec() float64 { return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSource(file, stateDir string, ch channel.Channel, batch int, reg *metrics.Registry) (*taildir.Source, error) {
	g, err := taildir.NewGroup("bench", filepath.Join(filepath.Dir(file), regexp.QuoteMeta(filepath.Base(file))))
	if err != nil {
		return nil, err
	}
	cfg := taildir.DefaultConfig()
	cfg.Groups = []taildir.Group{g}
	cfg.PositionFile = filepath.Join(stateDir, "taildir_position.json")
	cfg.BatchSize = batch
	sel, _ := selector.NewReplicating([]channel.Channel{ch}, nil)
	return taildir.New("bench", cfg, &source.ChannelProcessor{Selector: sel},
		registry.Env{Clock: clock.Real(), FS: vfs.OS{}, Log: quiet(), Metrics: reg}), nil
}

// drain takes from ch until stop is closed, in transactions of up to take
// events, waking at once on new commits when ch can say so. It returns how
// many events it took through taken.
func drain(ch channel.Channel, take int, stop <-chan struct{}, taken *atomic.Int64, each func([]byte)) error {
	n, _ := ch.(channel.Notifier)
	for {
		var wake <-chan struct{}
		if n != nil {
			wake = n.Notify()
		}
		tx, err := ch.Begin()
		if err != nil {
			return err
		}
		evs, err := tx.Take(take)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			tx.Rollback()
			return err
		}
		if each != nil {
			for _, e := range evs {
				each(e.Body)
			}
		}
		taken.Add(int64(len(evs)))
		if len(evs) > 0 {
			continue
		}
		select {
		case <-stop:
			return nil
		case <-wake:
		case <-time.After(time.Millisecond):
		}
	}
}

// Throughput tails file (holding lines lines) from its start into ch, which
// a consumer empties as fast as it can, and times the source from start to
// the commit of the last line. ch must be started; take is the consumer's
// batch (at most ch's transactionCapacity).
func Throughput(file string, lines int64, ch channel.Channel, batch, take int) (Result, error) {
	state, err := os.MkdirTemp("", "taildir-bench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(state)
	reg := metrics.NewRegistry(nil)
	src, err := newSource(file, state, ch, batch, reg)
	if err != nil {
		return Result{}, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return Result{}, err
	}
	stop := make(chan struct{})
	var taken atomic.Int64
	var wg sync.WaitGroup
	var drainErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		drainErr = drain(ch, take, stop, &taken, nil)
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	ctx := context.Background()
	start := time.Now()
	if err := src.Start(ctx); err != nil {
		return Result{}, err
	}
	defer src.Stop(ctx)
	for src.Counter().EventAcceptedCount.Load() < lines {
		if _, err := src.Process(ctx); err != nil {
			return Result{}, err
		}
		if drainErr != nil {
			return Result{}, drainErr
		}
	}
	return Result{Lines: lines, Bytes: fi.Size(), Elapsed: time.Since(start)}, nil
}

// Latency starts the source under a polling runner with Flume's backoff
// (1 s steps up to 5 s) and writes n lines to a file in dir, one every gap,
// each stamped with its write time. It returns, for each line, the time
// from its write until a consumer of ch saw it. ch must be started.
func Latency(dir string, n int, gap time.Duration, ch channel.Channel) ([]time.Duration, error) {
	file := filepath.Join(dir, "latency.log")
	w, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	state := filepath.Join(dir, "state")
	src, err := newSource(file, state, ch, 100, metrics.NewRegistry(nil))
	if err != nil {
		return nil, err
	}
	run := &source.PollingRunner{S: src, Clock: clock.Real(), Log: quiet(), Wake: src.Wake}
	ctx := context.Background()
	if err := run.Start(ctx); err != nil {
		return nil, err
	}
	defer run.Stop(ctx)

	var mu sync.Mutex
	var out []time.Duration
	var bad error
	stop := make(chan struct{})
	var taken atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		drain(ch, 100, stop, &taken, func(body []byte) {
			ns, err := strconv.ParseInt(string(body), 10, 64)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = fmt.Errorf("unexpected line %q", body)
				return
			}
			out = append(out, time.Since(time.Unix(0, ns)))
		})
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for i := 0; i < n; i++ {
		time.Sleep(gap) // light load: the source has gone back to sleep
		if _, err := fmt.Fprintf(w, "%d\n", time.Now().UnixNano()); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for taken.Load() < int64(n) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d lines arrived within 30 s", taken.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		return nil, bad
	}
	return slices.Clone(out), nil
}

// Quantile returns the q-quantile (0..1) of ds.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return s[i]
}
