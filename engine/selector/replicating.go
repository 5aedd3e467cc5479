// Package selector holds Flume's channel selectors: replicating and
// multiplexing (flume-facts §7.1).
package selector

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Replicating sends every event to every channel; channels listed in
// selector.optional are best effort.
type Replicating struct {
	all, required, optional []channel.Channel
}

// NewReplicating builds a replicating selector; optional names channels
// (a subset of channels) whose failures are ignored.
func NewReplicating(channels []channel.Channel, optional []string) (*Replicating, error) {
	s := &Replicating{all: channels}
	opt := map[string]bool{}
	for _, n := range optional {
		if find(channels, n) == nil {
			return nil, fmt.Errorf("selector.optional names channel %s, which is not one of the source's channels (%s)", n, names(channels))
		}
		opt[n] = true
	}
	for _, c := range channels {
		if opt[c.Name()] {
			s.optional = append(s.optional, c)
		} else {
			s.required = append(s.required, c)
		}
	}
	return s, nil
}

func (s *Replicating) Select(event.Event) (required, optional []channel.Channel) {
	return s.required, s.optional
}

func (s *Replicating) Channels() []channel.Channel { return s.all }

// Uniform says every event goes to the same channels, so the channel
// processor can put batches whole; required and optional are in channel
// order, the order ProcessBatch commits in.
func (s *Replicating) Uniform() (required, optional []channel.Channel) {
	return s.required, s.optional
}

func find(chs []channel.Channel, name string) channel.Channel {
	for _, c := range chs {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

func names(chs []channel.Channel) string {
	var out []string
	for _, c := range chs {
		out = append(out, c.Name())
	}
	return strings.Join(out, " ")
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Selector,
		Name:    "replicating",
		Aliases: []string{"org.apache.flume.channel.ReplicatingChannelSelector"},
		Factory: registry.SelectorFactory(func(env registry.Env, r *config.Reader, chs []channel.Channel) (source.Selector, error) {
			r.Use("type")
			s, err := NewReplicating(chs, r.List("optional"))
			if err != nil {
				r.Errorf("optional", "%v", err)
				return nil, r.Err()
			}
			return s, r.Err()
		}),
	})
}
