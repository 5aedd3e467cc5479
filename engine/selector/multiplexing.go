package selector

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// DefaultHeader is the header a multiplexing selector reads when
// selector.header is not set.
const DefaultHeader = "flume.selector.header"

// Multiplexing routes each event by the value of one header: the channels
// mapped to that value are required, the ones listed as optional for it
// are best effort. An event without the header, with a blank one, or with
// an unmapped value goes to the default channels (which may be none).
type Multiplexing struct {
	all      []channel.Channel
	header   string
	mapping  map[string][]channel.Channel
	optional map[string][]channel.Channel
	deflt    []channel.Channel
}

// MultiplexingConfig is the selector's configuration with channel names,
// as written under selector.* (mapping.<value>, optional.<value>, default).
type MultiplexingConfig struct {
	Header   string
	Mapping  map[string]string
	Optional map[string]string
	Default  string
}

// NewMultiplexing builds the selector as MultiplexingChannelSelector.configure
// does: channel lists are split on single spaces (so two spaces in a row
// name a channel "" and fail, as in Flume), every name must be one of the
// source's channels, a mapping needs at least one channel, and the optional
// channels of a value exclude the ones it already requires.
func NewMultiplexing(channels []channel.Channel, cfg MultiplexingConfig) (*Multiplexing, error) {
	s := &Multiplexing{all: channels, header: cfg.Header, mapping: map[string][]channel.Channel{}, optional: map[string][]channel.Channel{}}
	if s.header == "" {
		s.header = DefaultHeader
	}
	var err error
	if s.deflt, err = lookup(channels, cfg.Default); err != nil {
		return nil, &KeyError{Key: "default", Err: err}
	}
	for _, v := range sortedKeys(cfg.Mapping) {
		chs, err := lookup(channels, cfg.Mapping[v])
		if err != nil {
			return nil, &KeyError{Key: "mapping." + v, Err: err}
		}
		if len(chs) == 0 {
			return nil, &KeyError{Key: "mapping." + v, Err: fmt.Errorf("no channel configured for header value %q", v)}
		}
		s.mapping[v] = chs
	}
	for _, v := range sortedKeys(cfg.Optional) {
		chs, err := lookup(channels, cfg.Optional[v])
		if err != nil {
			return nil, &KeyError{Key: "optional." + v, Err: err}
		}
		req, ok := s.mapping[v]
		if !ok {
			req = s.deflt
		}
		var opt []channel.Channel
		for _, c := range chs {
			if !contains(req, c) && !contains(opt, c) {
				opt = append(opt, c)
			}
		}
		s.optional[v] = opt
	}
	return s, nil
}

// KeyError is a configuration error on one of the selector's keys
// (relative to selector.).
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// lookup resolves a channel list the way AbstractChannelSelector does.
func lookup(channels []channel.Channel, list string) ([]channel.Channel, error) {
	if list == "" {
		return nil, nil
	}
	var out []channel.Channel
	for _, n := range strings.Split(list, " ") {
		c := find(channels, n)
		if c == nil {
			if n == "" {
				return nil, fmt.Errorf("%q has two spaces in a row; Flume splits channel lists on single spaces, looks for a channel named \"\" and removes the source", list)
			}
			return nil, fmt.Errorf("channel %q is not one of the source's channels (%s); Flume removes the source", n, names(channels))
		}
		out = append(out, c)
	}
	return out, nil
}

func contains(list []channel.Channel, c channel.Channel) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isBlank is Java's s.trim().length() == 0.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > ' ' {
			return false
		}
	}
	return true
}

func (s *Multiplexing) Select(e event.Event) (required, optional []channel.Channel) {
	v, ok := e.Headers[s.header]
	if !ok || isBlank(v) {
		required = s.deflt
	} else if chs, ok := s.mapping[v]; ok {
		required = chs
	} else {
		required = s.deflt
	}
	if ok {
		optional = s.optional[v]
	}
	return required, optional
}

func (s *Multiplexing) Channels() []channel.Channel { return s.all }

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Selector,
		Name:    "multiplexing",
		Aliases: []string{"org.apache.flume.channel.MultiplexingChannelSelector"},
		Factory: registry.SelectorFactory(func(env registry.Env, r *config.Reader, chs []channel.Channel) (source.Selector, error) {
			r.Use("type")
			cfg := MultiplexingConfig{
				Header:   r.String("header", DefaultHeader),
				Mapping:  r.Prefix("mapping."),
				Optional: r.Prefix("optional."),
				Default:  r.String("default", ""),
			}
			s, err := NewMultiplexing(chs, cfg)
			if ke, ok := err.(*KeyError); ok {
				r.Errorf(ke.Key, "%v", ke.Err)
				return nil, r.Err()
			}
			if len(cfg.Mapping) == 0 && cfg.Default == "" {
				r.Notef(config.Warning, "type", "selector-routes-nothing", "set selector.mapping.<value> and selector.default",
					"the multiplexing selector has no mapping and no default, so every event goes to no channel and is dropped")
			}
			return s, r.Err()
		}),
	})
}
