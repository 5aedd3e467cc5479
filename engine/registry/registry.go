// Package registry maps component type names — Sluice's, Flume's aliases
// and Flume's fully qualified class names — to factories. Component packages
// register themselves in init; the agent and `sluice check` build through it.
//
// Factories must do no I/O and start no goroutine: `sluice check` builds
// every component of a configuration to validate it without running it.
// Opening files, binding ports and connecting happen in Start.
package registry

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Env is what every factory gets from the agent.
type Env struct {
	Agent    string
	Clock    clock.Clock
	FS       vfs.FS
	Log      *slog.Logger
	Metrics  *metrics.Registry
	Hostname string
	// Check is true when building for `sluice check`: nothing will start.
	Check bool
}

type (
	ChannelFactory     func(env Env, r *config.Reader) (channel.Channel, error)
	SourceFactory      func(env Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error)
	SinkFactory        func(env Env, r *config.Reader, ch channel.Channel) (sink.Sink, error)
	ProcessorFactory   func(env Env, r *config.Reader, sinks []sink.Sink) (sink.Processor, error)
	SelectorFactory    func(env Env, r *config.Reader, channels []channel.Channel) (source.Selector, error)
	InterceptorFactory func(env Env, r *config.Reader) (source.Interceptor, error)
)

// Kind is the kind of component a factory builds.
type Kind string

const (
	Channel     Kind = "channel"
	Source      Kind = "source"
	Sink        Kind = "sink"
	Processor   Kind = "sink processor"
	Selector    Kind = "channel selector"
	Interceptor Kind = "interceptor"
)

// Entry is one registered type.
type Entry struct {
	Kind    Kind
	Name    string   // canonical Sluice name, e.g. "avro"
	Aliases []string // Flume aliases and class names
	// BatchKey names the key holding the component's batch size, checked
	// against its channel's transactionCapacity ("" for none).
	BatchKey     string
	BatchDefault int
	Factory      any
}

var (
	mu      sync.RWMutex
	entries = map[Kind]map[string]*Entry{}
)

// Register adds a type. Lookups ignore case, as Flume's alias lookup does;
// Sluice also ignores case for class names, which Flume does not.
func Register(e Entry) {
	mu.Lock()
	defer mu.Unlock()
	m := entries[e.Kind]
	if m == nil {
		m = map[string]*Entry{}
		entries[e.Kind] = m
	}
	for _, n := range append([]string{e.Name}, e.Aliases...) {
		k := strings.ToLower(n)
		if _, dup := m[k]; dup {
			panic(fmt.Sprintf("registry: %s type %q registered twice", e.Kind, n))
		}
		m[k] = &e
	}
}

// Lookup finds a type by any of its names.
func Lookup(kind Kind, name string) (*Entry, bool) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := entries[kind][strings.ToLower(strings.TrimSpace(name))]
	return e, ok
}

// Names lists the canonical names of a kind, sorted.
func Names(kind Kind) []string {
	mu.RLock()
	defer mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for _, e := range entries[kind] {
		if !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out
}

// UnknownTypeError explains a type name nothing is registered under.
func UnknownTypeError(kind Kind, name string) error {
	return fmt.Errorf("unknown %s type %q; Sluice implements %s", kind, name, strings.Join(Names(kind), ", "))
}
