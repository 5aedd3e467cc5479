package interceptor

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/source"
)

// batch is 1000 log-line events of about 120 bytes.
func batch() []event.Event {
	out := make([]event.Event, 1000)
	for i := range out {
		out[i] = event.New([]byte(fmt.Sprintf("2024-03-05 07:08:09.250 INFO  [order-%06d] user=u%d action=pay amount=%d.%02d status=ok", i, i%97, i, i%100)))
	}
	return out
}

func benchChain(b *testing.B, chain source.Chain) {
	src := batch()
	work := make([]event.Event, len(src))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		for i := range src {
			work[i] = event.Event{Body: src[i].Body}
		}
		chain.Intercept(work)
	}
}

// The benchmarks report bytes/s as events/s (SetBytes is the batch size).
func BenchmarkTimestampHost(b *testing.B) {
	benchChain(b, source.Chain{&Timestamp{Header: "timestamp", Clock: clock.Real()}, &Static{Key: "dc", Value: "east"}})
}

func BenchmarkRegexFilter(b *testing.B) {
	benchChain(b, source.Chain{&RegexFilter{Regex: regexp.MustCompile(`status=(ok|retry)`)}})
}

func BenchmarkRegexExtractor(b *testing.B) {
	benchChain(b, source.Chain{&RegexExtractor{Regex: regexp.MustCompile(`user=(\w+) action=(\w+)`),
		Serializers: []Serializer{{Header: "user"}, {Header: "action"}}}})
}

func BenchmarkSearchReplace(b *testing.B) {
	re := regexp.MustCompile(`user=\w+`)
	parts, err := compileReplacement("user=***", re)
	if err != nil {
		b.Fatal(err)
	}
	benchChain(b, source.Chain{&SearchReplace{Search: re, Replace: parts}})
}

func BenchmarkUUID(b *testing.B) {
	u := &UUID{Header: "id", random: func(p []byte) {
		for i := range p {
			p[i] = byte(i)
		}
	}}
	benchChain(b, source.Chain{u})
}
