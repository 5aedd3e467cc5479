package checker

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAttemptDeliver is one event through the checker: attempt, ack,
// one delivery (parse, verify, record).
func BenchmarkAttemptDeliver(b *testing.B) {
	c := New(Options{Start: t0})
	writers := make([]string, 100)
	for i := range writers {
		writers[i] = fmt.Sprintf("agent%dw0", i)
		c.Writer(writers[i], fmt.Sprintf("agent%d", i))
	}
	line := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := writers[i%len(writers)]
		seq := int64(i / len(writers))
		at := t0.Add(time.Duration(i) * time.Microsecond)
		line = Line(line[:0], w, seq, at.UnixNano(), 200)
		c.Attempt(w, seq, at, len(line))
		c.Ack(w, seq)
		c.Deliver("s", line, at.Add(time.Millisecond))
	}
}

// BenchmarkResult is the verdict over a million delivered events.
func BenchmarkResult(b *testing.B) {
	c := New(Options{Start: t0})
	const n = 1_000_000
	for i := 0; i < n; i++ {
		w := fmt.Sprintf("agent%dw0", i%100)
		at := t0.Add(time.Duration(i) * time.Microsecond)
		l := Line(nil, w, int64(i/100), at.UnixNano(), 64)
		c.Attempt(w, int64(i/100), at, len(l))
		c.Ack(w, int64(i/100))
		c.Deliver("s", l, at.Add(time.Millisecond))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.Result(); r.Delivered != n {
			b.Fatal(r.Delivered)
		}
	}
}
