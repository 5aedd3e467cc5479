package taildir_test

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/source/taildir/taildirtest"
)

// benchFile is one file of 256-byte lines shared by the throughput
// benchmarks: 512 MiB, or SLUICE_TAILDIR_BENCH_MB.
var benchFile struct {
	once  sync.Once
	path  string
	lines int64
	err   error
}

func sharedFile(b *testing.B) (string, int64) {
	benchFile.once.Do(func() {
		mb := int64(512)
		if v, err := strconv.ParseInt(os.Getenv("SLUICE_TAILDIR_BENCH_MB"), 10, 64); err == nil && v > 0 {
			mb = v
		}
		dir, err := os.MkdirTemp("", "taildir-bench-file-")
		if err != nil {
			benchFile.err = err
			return
		}
		benchFile.path = filepath.Join(dir, "app.log")
		benchFile.lines, benchFile.err = taildirtest.WriteLines(benchFile.path, mb<<20, 256)
	})
	if benchFile.err != nil {
		b.Fatal(benchFile.err)
	}
	return benchFile.path, benchFile.lines
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFile.path != "" {
		os.RemoveAll(filepath.Dir(benchFile.path))
	}
	os.Exit(code)
}

// BenchmarkMemoryChannel is lines/s from one file of 256-byte lines into a
// memory channel emptied by a concurrent consumer. One iteration reads the
// whole file.
func BenchmarkMemoryChannel(b *testing.B) {
	path, lines := sharedFile(b)
	for _, batch := range []int{100, 1000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			var total taildirtest.Result
			for i := 0; i < b.N; i++ {
				cfg := memory.DefaultConfig()
				cfg.Capacity, cfg.TransactionCapacity = 100000, 10000
				ch := memory.New("c1", cfg, nil, nil, nil)
				ch.Start()
				r, err := taildirtest.Throughput(path, lines, ch, batch, 5000)
				ch.Stop()
				if err != nil {
					b.Fatal(err)
				}
				total.Lines += r.Lines
				total.Bytes += r.Bytes
				total.Elapsed += r.Elapsed
			}
			b.SetBytes(total.Bytes / int64(b.N))
			b.ReportMetric(total.LinesPerSec(), "lines/s")
		})
	}
}

// BenchmarkLatency is the delay from a line's write to its arrival in the
// channel under light load (one line every 20 ms, the source asleep in
// Flume's 1-5 s backoff between them): p50 and p99 of b.N lines.
func BenchmarkLatency(b *testing.B) {
	cfg := memory.DefaultConfig()
	ch := memory.New("c1", cfg, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	ds, err := taildirtest.Latency(b.TempDir(), b.N, 20*time.Millisecond, ch)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(taildirtest.Quantile(ds, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(taildirtest.Quantile(ds, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(taildirtest.Quantile(ds, 1).Microseconds())/1000, "max-ms")
}
