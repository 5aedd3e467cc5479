package selector

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// LoadBalancing sends each event to exactly one of the source's channels,
// in turn (round_robin) or at random, as LoadBalancingChannelSelector does.
// No channel is optional.
type LoadBalancing struct {
	all    []channel.Channel
	random bool
	next   atomic.Uint64
	// intn picks a random index; replaced in tests.
	intn func(n int) int
}

// NewLoadBalancing builds the selector; policy is round_robin or random.
func NewLoadBalancing(channels []channel.Channel, random bool) *LoadBalancing {
	return &LoadBalancing{all: channels, random: random, intn: rand.IntN}
}

func (s *LoadBalancing) Select(event.Event) (required, optional []channel.Channel) {
	if len(s.all) == 0 {
		return nil, nil
	}
	var i int
	if s.random {
		i = s.intn(len(s.all))
	} else {
		i = int((s.next.Add(1) - 1) % uint64(len(s.all)))
	}
	return s.all[i : i+1], nil
}

func (s *LoadBalancing) Channels() []channel.Channel { return s.all }

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Selector,
		Name:    "load_balancing",
		Aliases: []string{"org.apache.flume.channel.LoadBalancingChannelSelector"},
		Factory: registry.SelectorFactory(func(env registry.Env, r *config.Reader, chs []channel.Channel) (source.Selector, error) {
			r.Use("type")
			policy := r.String("policy", "round_robin")
			switch strings.ToUpper(policy) {
			case "ROUND_ROBIN":
				return NewLoadBalancing(chs, false), r.Err()
			case "RANDOM":
				return NewLoadBalancing(chs, true), r.Err()
			}
			r.Errorf("policy", "%q is not a policy; use round_robin or random (Flume removes the source)", policy)
			return nil, r.Err()
		}),
	})
}
