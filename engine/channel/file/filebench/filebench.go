// Package filebench measures the file channel against the disk it runs on:
// one producer and one consumer moving fixed-size events in fixed-size
// batches with a commit (and fsync) per batch, beside the raw bandwidth of
// the same disk for write + fsync of blocks of the batch's size. `sluice
// bench channel` and the package's Go benchmarks both use it.
package filebench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/file"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Options describe a run.
type Options struct {
	Dir       string // a fresh directory; the channel and the raw file go there
	Events    int
	Batch     int
	EventSize int // body bytes; events have no headers
	DataDirs  int // 1 unless set
	// NoFsync runs with fsyncPerTransaction=false.
	NoFsync bool
	// RawFor is how long the raw-disk measurement runs in total, in slices
	// interleaved with the channel's (0: skip it).
	RawFor time.Duration
	FS     vfs.FS // vfs.OS{} when nil
}

// Result is what a run measured.
type Result struct {
	Events       int
	Elapsed      time.Duration
	EventsPerSec float64
	// MBPerSec counts event bodies (10^6 bytes).
	MBPerSec float64
	// RawMBPerSec is write + fsync of Batch*EventSize-byte blocks.
	RawMBPerSec float64
	// Ratio is MBPerSec / RawMBPerSec.
	Ratio float64
	// FsyncsPerBatch counts log fsyncs per put batch: group commit lets a
	// consumer's take commit share the producer's fsync, so 1 is ideal.
	FsyncsPerBatch float64
}

func fsyncs(reg *metrics.Registry) int64 {
	g, ok := reg.Lookup("CHANNEL.bench")
	if !ok {
		return 0
	}
	for _, v := range g.Values() {
		if v.Name == "LogFsyncCount" {
			n, _ := strconv.ParseInt(v.Value, 10, 64)
			return n
		}
	}
	return 0
}

func (r Result) String() string {
	s := fmt.Sprintf("%d events in %v: %.0f events/s, %.1f MB/s of event bodies, %.2f fsyncs per batch", r.Events, r.Elapsed.Round(time.Millisecond), r.EventsPerSec, r.MBPerSec, r.FsyncsPerBatch)
	if r.RawMBPerSec > 0 {
		s += fmt.Sprintf("; raw disk (write+fsync of equal blocks, interleaved): %.1f MB/s; ratio %.0f%%", r.RawMBPerSec, 100*r.Ratio)
	}
	return s
}

// Config is the channel configuration a run uses: Flume's defaults, in dir.
func Config(dir string, dataDirs int, noFsync bool) file.Config {
	c := file.DefaultConfig()
	c.CheckpointDir = filepath.Join(dir, "checkpoint")
	c.DataDirs = nil
	for i := 0; i < max(dataDirs, 1); i++ {
		c.DataDirs = append(c.DataDirs, filepath.Join(dir, fmt.Sprintf("data%d", i+1)))
	}
	c.FsyncPerTransaction = !noFsync
	c.MinimumRequiredSpace = file.MinRequiredSpaceFloor
	return c
}

// Run measures the channel and the raw disk. On a shared machine the disk's
// speed comes and goes, so the two are interleaved: the events are moved in
// ten slices with a raw-disk slice before, between and after them, and
// each side is the total of its slices.
func Run(o Options) (Result, error) {
	if o.FS == nil {
		o.FS = vfs.OS{}
	}
	var res Result
	slices := 10
	if o.RawFor <= 0 || o.Events < slices*o.Batch {
		slices = 1
	}
	var rawBytes float64
	var rawTime time.Duration
	raw := func() error {
		if o.RawFor <= 0 {
			return nil
		}
		d := o.RawFor / time.Duration(slices+1)
		mb, err := RawDisk(o.FS, o.Dir, o.Batch*o.EventSize, d)
		rawBytes += mb * d.Seconds()
		rawTime += d
		return err
	}
	reg := metrics.NewRegistry(nil)
	ch := file.New("bench", Config(o.Dir, o.DataDirs, o.NoFsync), file.Options{FS: o.FS, Metrics: reg, Log: quietLog()})
	if err := ch.Start(); err != nil {
		return res, err
	}
	defer ch.Stop()
	before := fsyncs(reg)
	for i := 0; i < slices; i++ {
		if err := raw(); err != nil {
			return res, err
		}
		n := o.Events / slices
		if i == slices-1 {
			n = o.Events - n*(slices-1)
		}
		r, err := Move(ch, n, o.Batch, o.EventSize)
		if err != nil {
			return res, err
		}
		res.Elapsed += r.Elapsed
	}
	if err := raw(); err != nil {
		return res, err
	}
	res.Events = o.Events
	res.EventsPerSec = float64(o.Events) / res.Elapsed.Seconds()
	res.MBPerSec = res.EventsPerSec * float64(o.EventSize) / 1e6
	res.FsyncsPerBatch = float64(fsyncs(reg)-before) / (float64(o.Events) / float64(o.Batch))
	if rawTime > 0 {
		res.RawMBPerSec = rawBytes / rawTime.Seconds()
		res.Ratio = res.MBPerSec / res.RawMBPerSec
	}
	return res, nil
}

// Move runs one producer and one consumer through ch until n events went
// in and came out.
func Move(ch channel.Channel, n, batch, size int) (Result, error) {
	clk := clock.Real()
	events := make([]event.Event, batch)
	body := make([]byte, size)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	for i := range events {
		events[i] = event.New(body)
	}
	notify, _ := ch.(channel.Notifier)
	began := clk.Now()
	errc := make(chan error, 1)
	go func() {
		for put := 0; put < n; {
			k := min(batch, n-put)
			tx, err := ch.Begin()
			if err != nil {
				errc <- err
				return
			}
			tx.Put(events[:k])
			if err := tx.Commit(); err != nil {
				tx.Rollback()
				if errors.Is(err, channel.ErrFull) {
					continue
				}
				errc <- err
				return
			}
			put += k
		}
		errc <- nil
	}()
	var produceErr error
	produced := false
	for taken := 0; taken < n; {
		tx, err := ch.Begin()
		if err != nil {
			return Result{}, err
		}
		got, err := tx.Take(batch)
		if err != nil {
			tx.Rollback()
			return Result{}, err
		}
		if len(got) == 0 {
			tx.Rollback()
			if !produced {
				var wake <-chan struct{}
				if notify != nil {
					wake = notify.Notify()
				}
				select {
				case produceErr = <-errc:
					produced = true
					if produceErr != nil {
						return Result{}, produceErr
					}
				case <-wake:
				}
			}
			continue
		}
		if err := tx.Commit(); err != nil {
			tx.Rollback()
			return Result{}, err
		}
		taken += len(got)
	}
	if !produced {
		if err := <-errc; err != nil {
			return Result{}, err
		}
	}
	el := clk.Now().Sub(began)
	return Result{Events: n, Elapsed: el, EventsPerSec: float64(n) / el.Seconds(),
		MBPerSec: float64(n) * float64(size) / el.Seconds() / 1e6}, nil
}

// RawDisk measures write + fsync of block-sized appends to a new file in
// dir for about d, in MB/s.
func RawDisk(fsys vfs.FS, dir string, block int, d time.Duration) (float64, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	clk := clock.Real()
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	name := filepath.Join(dir, "raw-disk-test")
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer fsys.Remove(name)
	defer f.Close()
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i)
	}
	began := clk.Now()
	written := 0
	for clk.Now().Sub(began) < d {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		written += block
	}
	return float64(written) / clk.Now().Sub(began).Seconds() / 1e6, nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ReopenResult is what Reopen measured.
type ReopenResult struct {
	Events int
	// Crash is a start after the channel stopped without a checkpoint on
	// close, as after kill -9, with every event still in the log after the
	// last checkpoint: the worst case.
	Crash time.Duration
	// Clean is a start after a clean stop, which wrote a checkpoint.
	Clean time.Duration
}

func (r ReopenResult) String() string {
	return fmt.Sprintf("reopen with %d events queued: %v after a crash (all of them replayed from the log), %v after a clean stop (checkpoint)",
		r.Events, r.Crash.Round(time.Millisecond), r.Clean.Round(time.Millisecond))
}

// Reopen fills a channel in dir with n events of size bytes and times
// reopening it.
func Reopen(fsys vfs.FS, dir string, n, size int) (ReopenResult, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	res := ReopenResult{Events: n}
	cfg := Config(dir, 1, false)
	// The worst case: no checkpoint but the empty one at the start, so the
	// crash start replays every event from the log (by default a
	// checkpoint every four segments bounds that to about 256 MB).
	cfg.CheckpointOnClose = false
	cfg.CheckpointBytes = 1 << 62
	cfg.CheckpointInterval = 1 << 62
	open := func(cfg file.Config) (*file.Channel, time.Duration, error) {
		ch := file.New("bench", cfg, file.Options{FS: fsys, Metrics: metrics.NewRegistry(nil), Log: quietLog()})
		began := clock.Real().Now()
		err := ch.Start()
		return ch, clock.Real().Now().Sub(began), err
	}
	ch, _, err := open(cfg)
	if err != nil {
		return res, err
	}
	body := make([]byte, size)
	batch := make([]event.Event, 1000)
	for i := range batch {
		batch[i] = event.New(body)
	}
	for put := 0; put < n; put += len(batch) {
		tx, err := ch.Begin()
		if err != nil {
			return res, err
		}
		tx.Put(batch[:min(len(batch), n-put)])
		if err := tx.Commit(); err != nil {
			tx.Rollback()
			ch.Stop()
			return res, err
		}
	}
	if err := ch.Stop(); err != nil {
		return res, err
	}
	cfg = Config(dir, 1, false)
	for i, d := range []*time.Duration{&res.Crash, &res.Clean} {
		ch, took, err := open(cfg)
		if err != nil {
			return res, err
		}
		*d = took
		if ch.Len() != n {
			ch.Stop()
			return res, fmt.Errorf("reopen %d: %d events, want %d", i+1, ch.Len(), n)
		}
		if err := ch.Stop(); err != nil {
			return res, err
		}
	}
	return res, nil
}
