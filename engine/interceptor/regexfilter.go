package interceptor

import (
	"regexp"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// RegexFilter keeps the events whose body contains a match of Regex (Java's
// find(), not matches()), or with Exclude drops them.
type RegexFilter struct {
	Regex   *regexp.Regexp
	Exclude bool
}

func (f *RegexFilter) Intercept(events []event.Event) []event.Event {
	out := events[:0]
	for _, e := range events {
		if f.Regex.Match(e.Body) != f.Exclude {
			out = append(out, e)
		}
	}
	// Clear the tail so the dropped events' bodies are not kept alive.
	clear(events[len(out):])
	return out
}

func init() {
	register("regex_filter", "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			re := compile(r, "regex", r.String("regex", ".*"))
			return &RegexFilter{Regex: re, Exclude: r.Bool("excludeEvents", false)}, nil
		})
}
