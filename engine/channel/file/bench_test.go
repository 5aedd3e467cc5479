package file_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/engine/channel/file/filebench"
)

// BenchmarkPutTake moves b.N batches of 1000 256-byte events through a
// channel on the test's temporary directory, one producer and one consumer,
// fsync per commit. The raw disk figure is measured first in the same run.
func BenchmarkPutTake(b *testing.B) {
	const batch, size = 1000, 256
	r, err := filebench.Run(filebench.Options{Dir: b.TempDir(), Events: b.N * batch, Batch: batch, EventSize: size, RawFor: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(batch * size)
	b.ReportMetric(r.EventsPerSec, "events/s")
	b.ReportMetric(r.MBPerSec, "MB/s")
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
