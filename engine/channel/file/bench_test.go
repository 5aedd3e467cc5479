package file_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel/file/filebench"
)

// BenchmarkPutTake moves b.N batches of 1000 256-byte events through a
// channel on the test's temporary directory, one producer and one consumer,
// fsync per commit. The raw disk figure is measured first in the same run.
func BenchmarkPutTake(b *testing.B) {
	const batch, size = 1000, 256
	dir := b.TempDir()
	var raw float64
	measureRaw := func() {
		if b.N < 100 { // not for the framework's probing runs
			return
		}
		b.StopTimer()
		mb, err := filebench.RawDisk(nil, dir, batch*size, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		raw += mb / 2
		b.StartTimer()
	}
	measureRaw()
	r, err := filebench.Run(filebench.Options{Dir: dir, Events: b.N * batch, Batch: batch, EventSize: size})
	if err != nil {
		b.Fatal(err)
	}
	measureRaw()
	b.SetBytes(batch * size)
	b.ReportMetric(r.EventsPerSec, "events/s")
	b.ReportMetric(r.FsyncsPerBatch, "fsyncs/batch")
	if raw > 0 {
		b.ReportMetric(raw, "raw-MB/s")
		b.ReportMetric(100*r.MBPerSec/raw, "%-of-raw")
	}
}

// BenchmarkRawDisk is the disk's bandwidth for write + fsync of the same
// 256 KB blocks, to read BenchmarkPutTake against.
func BenchmarkRawDisk(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReopen1M times reopening a channel holding 1,000,000 queued
// 256-byte events, after a crash (checkpoint plus log tail) and after a
// clean stop. Filling the channel is not timed.
func BenchmarkReopen1M(b *testing.B) {
	for b.Loop() {
		r, err := filebench.Reopen(nil, b.TempDir(), 1000000, 256)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.Crash.Seconds(), "crash-reopen-s")
		b.ReportMetric(r.Clean.Seconds(), "clean-reopen-s")
	}
}
