package interceptor

import (
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Static sets one fixed header. Unlike the other interceptors it keeps an
// existing value by default (preserveExisting = true), as Flume's does.
type Static struct {
	Key, Value string
	Preserve   bool
}

func (s *Static) Intercept(events []event.Event) []event.Event {
	for i := range events {
		setHeader(&events[i], s.Key, s.Value, s.Preserve)
	}
	return events
}

func init() {
	register("static", "org.apache.flume.interceptor.StaticInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			return &Static{
				Key:      r.String("key", "key"),
				Value:    r.String("value", "value"),
				Preserve: r.Bool("preserveExisting", true),
			}, nil
		})
}
