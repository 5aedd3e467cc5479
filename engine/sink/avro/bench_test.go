package avro_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
)

// BenchmarkHop: avro sink -> avro source over loopback, memory channels at
// both ends, 256-byte events, batch 1000 (`sluice bench avro` runs the same
// hop with a producer and consumer running concurrently).
func BenchmarkHop(b *testing.B) {
	for _, mode := range []string{"none", "deflate"} {
		b.Run(mode, func(b *testing.B) {
			col := newCollector(b, map[string]string{"compression-type": mode})
			ch := newChannel(b, "c1", 1000, 1000)
			s := newSink(b, ch, map[string]string{"hostname": "127.0.0.1", "port": col.port(), "batch-size": "1000", "compression-type": mode}, registry.Env{})
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Stop(context.Background())
			body := make([]byte, 256)
			for i := range body {
				body[i] = byte('a' + i%26)
			}
			batch := make([]event.Event, 1000)
			b.SetBytes(int64(len(batch) * len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range batch {
					batch[j] = event.Event{Headers: map[string]string{"seq": strconv.Itoa(j)}, Body: body}
				}
				tx, _ := ch.Begin()
				tx.Put(batch)
				tx.Commit()
				if _, err := s.Process(context.Background()); err != nil {
					b.Fatal(err)
				}
				tx, _ = col.ch.Begin()
				tx.Take(1000)
				tx.Commit()
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
