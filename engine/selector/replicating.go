// Package selector holds Flume's channel selectors, which decide for each
// event the channels it must reach (required) and may reach (optional):
// replicating, multiplexing and load_balancing (flume-facts §7.1, Flume's
// ReplicatingChannelSelector, MultiplexingChannelSelector and
// LoadBalancingChannelSelector).
package selector

import (
	"strings"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Replicating sends every event to every channel of the source; channels
// named in selector.optional are best effort.
type Replicating struct {
	all, required, optional []channel.Channel
}

// NewReplicating builds a replicating selector over channels. optional
// names the best-effort ones; names that are not among channels are
// returned as unknown and otherwise ignored (Flume puts a null channel in
// its optional list for them, which fails, is logged and ignored on every
// batch).
func NewReplicating(channels []channel.Channel, optional []string) (s *Replicating, unknown []string) {
	s = &Replicating{all: channels}
	opt := map[string]bool{}
	for _, n := range optional {
		if find(channels, n) == nil {
			unknown = append(unknown, n)
			continue
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
	return s, unknown
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

// splitJava is Java's value.split("\\s+") on a trimmed value.
func splitJava(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Selector,
		Name:    "replicating",
		Aliases: []string{"org.apache.flume.channel.ReplicatingChannelSelector"},
		Factory: registry.SelectorFactory(func(env registry.Env, r *config.Reader, chs []channel.Channel) (source.Selector, error) {
			r.Use("type")
			s, unknown := NewReplicating(chs, splitJava(r.String("optional", "")))
			for _, n := range unknown {
				r.Notef(config.Warning, "optional", "selector-unknown-channel",
					"list only the source's channels ("+names(chs)+")",
					"selector.optional names channel %s, which is not one of the source's channels; it is ignored (Flume logs an error for it on every batch)", n)
			}
			return s, r.Err()
		}),
	})
}
