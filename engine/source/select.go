package source

import (
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
)

// Selector chooses the channels an event must reach (required) and may
// reach (optional). Implementations are in package selector.
type Selector interface {
	Select(e event.Event) (required, optional []channel.Channel)
	// Channels lists every channel the selector can return, in order.
	Channels() []channel.Channel
}

// Uniform is implemented by selectors that send every event to the same
// channels (replicating). The channel processor then puts a batch whole,
// instead of selecting and regrouping it event by event.
type Uniform interface {
	Uniform() (required, optional []channel.Channel)
}

// Interceptor rewrites or filters a batch before it reaches the channels.
// It may modify events in place and return a shorter slice; it must not
// keep references to the batch. Implementations are in package interceptor.
type Interceptor interface {
	Intercept(events []event.Event) []event.Event
}

// Chain applies interceptors in order.
type Chain []Interceptor

func (c Chain) Intercept(events []event.Event) []event.Event {
	for _, i := range c {
		events = i.Intercept(events)
		if len(events) == 0 {
			return events
		}
	}
	return events
}
