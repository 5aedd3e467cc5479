package interceptor

import (
	"strconv"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Timestamp sets a header (timestamp) to the current time in epoch
// milliseconds, the header HDFS path escapes read.
type Timestamp struct {
	Header   string
	Preserve bool
	Clock    clock.Clock
}

func (t *Timestamp) Intercept(events []event.Event) []event.Event {
	now := strconv.FormatInt(t.Clock.Now().UnixMilli(), 10)
	for i := range events {
		setHeader(&events[i], t.Header, now, t.Preserve)
	}
	return events
}

func init() {
	register("timestamp", "org.apache.flume.interceptor.TimestampInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			clk := env.Clock
			if clk == nil {
				clk = clock.Real()
			}
			return &Timestamp{
				Header:   r.String("headerName", "timestamp"),
				Preserve: r.Bool("preserveExisting", false),
				Clock:    clk,
			}, nil
		})
}
