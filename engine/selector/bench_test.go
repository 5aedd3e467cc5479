package selector

import (
	"testing"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/source"
)

// BenchmarkChannelProcessor measures a 100-event batch through a
// multiplexing selector into two memory channels (one transaction each);
// bytes/s reads as events/s.
func BenchmarkChannelProcessor(b *testing.B) {
	chs := memChannels(b, 1<<20, "c1", "c2")
	sel, err := NewMultiplexing(chs, MultiplexingConfig{Header: "dc", Mapping: map[string]string{"east": "c1", "west": "c2"}, Default: "c1"})
	if err != nil {
		b.Fatal(err)
	}
	cp := &source.ChannelProcessor{Selector: sel}
	batch := make([]event.Event, 100)
	for i := range batch {
		dc := "east"
		if i%2 == 1 {
			dc = "west"
		}
		batch[i] = event.Event{Headers: map[string]string{"dc": dc}, Body: []byte("a log line of moderate length for the benchmark")}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	n := 0
	for b.Loop() {
		if err := cp.ProcessBatch(batch); err != nil {
			b.Fatal(err)
		}
		if n++; n%1000 == 0 {
			for _, c := range chs {
				tx, _ := c.Begin()
				for {
					evs, _ := tx.Take(c.TransactionCapacity())
					if len(evs) == 0 {
						break
					}
				}
				tx.Commit()
			}
		}
	}
}
