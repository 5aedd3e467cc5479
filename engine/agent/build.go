// Package agent builds a running pipeline from a validated Flume
// configuration, runs it, reloads it and shuts it down without losing what
// was acknowledged.
package agent

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
)

// Graph is a built, unstarted (or running) pipeline.
type Graph struct {
	Channels []*ChannelNode
	Sources  []*SourceNode
	Runners  []*RunnerNode
	Findings []config.Finding
}

// ChannelNode is a channel and the fingerprint of its configuration.
type ChannelNode struct {
	Name string
	FP   string
	Ch   channel.Channel
}

// SourceNode is a source with its runner (pollable sources) and fingerprint.
type SourceNode struct {
	Name   string
	FP     string
	Src    source.Source
	Runner *source.PollingRunner // nil for event-driven sources
}

// RunnerNode is a sink runner: a sink group, or a sink on its own.
type RunnerNode struct {
	Name     string // group name, or sink name for a lone sink
	FP       string
	Runner   *sink.Runner
	Channels []channel.Channel
}

// Channel returns the named channel, or nil.
func (g *Graph) Channel(name string) channel.Channel {
	for _, c := range g.Channels {
		if c.Name == name {
			return c.Ch
		}
	}
	return nil
}

func (g *Graph) add(sev config.Severity, pos config.Position, key, rule, msg, fix string) {
	g.Findings = append(g.Findings, config.Finding{Severity: sev, Pos: pos, File: pos.File, Line: pos.Line, Key: key, Rule: rule, Message: msg, Fix: fix})
}

// fingerprint hashes a component's keys and values, plus the fingerprints
// of what it depends on, so a reload can tell what changed.
func fingerprint(c *config.Component, deps ...string) string {
	keys := make([]string, 0, len(c.Props))
	for k := range c.Props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, c.Props[k].Value)
	}
	for _, d := range deps {
		fmt.Fprintf(h, "dep=%s\n", d)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// reuse holds components of a running graph that a rebuild may keep.
type reuse struct {
	channels map[string]*ChannelNode
	sources  map[string]*SourceNode
	runners  map[string]*RunnerNode
}

// Build constructs the pipeline for cfg. Components that fail to build are
// dropped, as Flume drops them, and each drop is a finding. When prev is
// given, components whose configuration (and dependencies) did not change
// are taken over from it instead of being built again.
func Build(cfg *config.Agent, env registry.Env, prev *Graph) *Graph {
	g := &Graph{}
	ru := reuse{channels: map[string]*ChannelNode{}, sources: map[string]*SourceNode{}, runners: map[string]*RunnerNode{}}
	if prev != nil {
		for _, c := range prev.Channels {
			ru.channels[c.Name+"/"+c.FP] = c
		}
		for _, s := range prev.Sources {
			ru.sources[s.Name+"/"+s.FP] = s
		}
		for _, r := range prev.Runners {
			ru.runners[r.Name+"/"+r.FP] = r
		}
	}
	chFP := map[string]string{}
	for _, c := range cfg.Channels {
		fp := fingerprint(c)
		if old, ok := ru.channels[c.Name+"/"+fp]; ok {
			g.Channels = append(g.Channels, old)
			chFP[c.Name] = fp
			continue
		}
		e, ok := registry.Lookup(registry.Channel, c.Type)
		if !ok {
			g.drop(cfg.Name, c, registry.UnknownTypeError(registry.Channel, c.Type))
			continue
		}
		r := config.NewReader(cfg.Name, c)
		r.Use("type")
		ch, err := e.Factory.(registry.ChannelFactory)(scoped(env, c), r)
		g.collect(cfg.Name, c, r)
		if err != nil {
			g.drop(cfg.Name, c, err)
			continue
		}
		g.Channels = append(g.Channels, &ChannelNode{Name: c.Name, FP: fp, Ch: ch})
		chFP[c.Name] = fp
	}
	used := map[string]bool{}

	for _, c := range cfg.Sources {
		var chans []channel.Channel
		var deps []string
		for _, n := range c.Channels {
			if ch := g.Channel(n); ch != nil {
				chans = append(chans, ch)
				deps = append(deps, chFP[n])
			}
		}
		if len(chans) == 0 {
			g.drop(cfg.Name, c, fmt.Errorf("none of its channels (%s) could be built", strings.Join(c.Channels, " ")))
			continue
		}
		fp := fingerprint(c, deps...)
		if old, ok := ru.sources[c.Name+"/"+fp]; ok {
			g.Sources = append(g.Sources, old)
			for _, n := range c.Channels {
				used[n] = true
			}
			continue
		}
		node, err := g.buildSource(cfg, c, env, chans)
		if err != nil {
			g.drop(cfg.Name, c, err)
			continue
		}
		node.FP = fp
		g.Sources = append(g.Sources, node)
		for _, ch := range chans {
			used[ch.Name()] = true
		}
	}

	built := map[string]sink.Sink{}
	sinkFP := map[string]string{}
	sinkCh := map[string]channel.Channel{}
	sinkCfg := map[string]*config.Component{}
	for _, c := range cfg.Sinks {
		ch := g.Channel(c.Channel)
		if ch == nil {
			g.drop(cfg.Name, c, fmt.Errorf("its channel %s could not be built", c.Channel))
			continue
		}
		sinkFP[c.Name] = fingerprint(c, chFP[c.Channel])
		sinkCh[c.Name] = ch
		sinkCfg[c.Name] = c
	}
	// A sink is built only when its runner is not reused.
	buildSink := func(c *config.Component) (sink.Sink, error) {
		if s, ok := built[c.Name]; ok {
			return s, nil
		}
		e, ok := registry.Lookup(registry.Sink, c.Type)
		if !ok {
			return nil, registry.UnknownTypeError(registry.Sink, c.Type)
		}
		ch := sinkCh[c.Name]
		r := config.NewReader(cfg.Name, c)
		r.Use("type", "channel")
		runnerKeys(r)
		s, err := e.Factory.(registry.SinkFactory)(scoped(env, c), r, ch)
		g.collect(cfg.Name, c, r)
		if err != nil {
			return nil, err
		}
		if err := checkBatch(cfg.Name, c, e, ch); err != nil {
			return nil, err
		}
		built[c.Name] = s
		return s, nil
	}

	grouped := map[string]bool{}
	for _, gc := range cfg.SinkGroups {
		for _, s := range gc.Sinks {
			grouped[s] = true
		}
		var deps []string
		for _, s := range gc.Sinks {
			if fp, ok := sinkFP[s]; ok {
				deps = append(deps, s+"="+fp)
			}
		}
		fp := fingerprint(gc, deps...)
		if old, ok := ru.runners["group:"+gc.Name+"/"+fp]; ok {
			g.Runners = append(g.Runners, old)
			for _, ch := range old.Channels {
				used[ch.Name()] = true
			}
			continue
		}
		var sinks []sink.Sink
		var chans []channel.Channel
		for _, name := range gc.Sinks {
			sc, ok := sinkCfg[name]
			if !ok {
				continue
			}
			s, err := buildSink(sc)
			if err != nil {
				g.drop(cfg.Name, sc, err)
				continue
			}
			sinks = append(sinks, s)
			chans = appendChannel(chans, sinkCh[name])
		}
		if len(sinks) == 0 {
			g.drop(cfg.Name, gc, fmt.Errorf("none of its sinks could be built"))
			continue
		}
		e, ok := registry.Lookup(registry.Processor, gc.Type)
		if !ok {
			g.drop(cfg.Name, gc, registry.UnknownTypeError(registry.Processor, gc.Type))
			continue
		}
		r := config.NewReader(cfg.Name, gc)
		r.Use("sinks", "processor.type")
		runnerKeys(r)
		p, err := e.Factory.(registry.ProcessorFactory)(scoped(env, gc), r.Sub("processor."), sinks)
		g.collect(cfg.Name, gc, r)
		if err != nil {
			g.drop(cfg.Name, gc, fmt.Errorf("%w; its sinks (%s) will not run", err, strings.Join(gc.Sinks, " ")))
			continue
		}
		g.Runners = append(g.Runners, g.newRunner("group:"+gc.Name, fp, p, chans, env, r))
		for _, ch := range chans {
			used[ch.Name()] = true
		}
	}
	for _, c := range cfg.Sinks {
		if grouped[c.Name] || sinkCh[c.Name] == nil {
			continue
		}
		fp := sinkFP[c.Name]
		if old, ok := ru.runners["sink:"+c.Name+"/"+fp]; ok {
			g.Runners = append(g.Runners, old)
			used[c.Channel] = true
			continue
		}
		s, err := buildSink(c)
		if err != nil {
			g.drop(cfg.Name, c, err)
			continue
		}
		r := config.NewReader(cfg.Name, c)
		g.Runners = append(g.Runners, g.newRunner("sink:"+c.Name, fp, sink.Single{S: s}, []channel.Channel{sinkCh[c.Name]}, env, r))
		used[c.Channel] = true
	}

	// Flume removes a channel nothing is connected to.
	kept := g.Channels[:0]
	for _, c := range g.Channels {
		if !used[c.Name] {
			cc := cfg.Component(config.KindChannel, c.Name)
			f := config.NewFinding(config.Error, cc.Pos, cc.FullKey(cfg.Name, "type"), "unused-channel",
				fmt.Sprintf("channel %s has no source or sink connected; Flume removes it", c.Name),
				"connect a source and a sink to it, or delete it")
			f.Component = cc.String()
			g.Findings = append(g.Findings, f)
			continue
		}
		kept = append(kept, c)
	}
	g.Channels = kept
	return g
}

func appendChannel(list []channel.Channel, c channel.Channel) []channel.Channel {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}

// runnerKeys are Sluice's sink-runner timing keys, settable per sink or
// per sink group (Flume hard-codes them).
var runnerKeyNames = []string{"runner.backoffIncrement", "runner.maxBackoff", "runner.errorBackoff"}

func runnerKeys(r *config.Reader) { r.Use(runnerKeyNames...) }

func (g *Graph) newRunner(name, fp string, p sink.Processor, chans []channel.Channel, env registry.Env, r *config.Reader) *RunnerNode {
	b := sink.BackoffConfig{
		Increment: r.Millis("runner.backoffIncrement", sink.FlumeBackoff.Increment),
		Max:       r.Millis("runner.maxBackoff", sink.FlumeBackoff.Max),
		OnError:   r.Millis("runner.errorBackoff", sink.FlumeBackoff.OnError),
	}
	run := &sink.Runner{Name: name, P: p, Clock: env.Clock, Log: env.Log, Backoff: b}
	if len(chans) == 1 {
		if n, ok := chans[0].(channel.Notifier); ok {
			run.Wake = n.Notify
		}
	}
	run.Idle = func() bool {
		for _, c := range chans {
			if c.Len() > 0 {
				return false
			}
		}
		return true
	}
	return &RunnerNode{Name: name, FP: fp, Runner: run, Channels: chans}
}

func (g *Graph) buildSource(cfg *config.Agent, c *config.Component, env registry.Env, chans []channel.Channel) (*SourceNode, error) {
	e, ok := registry.Lookup(registry.Source, c.Type)
	if !ok {
		return nil, registry.UnknownTypeError(registry.Source, c.Type)
	}
	r := config.NewReader(cfg.Name, c)
	r.Use("type", "channels")
	defer g.collect(cfg.Name, c, r)

	selType := r.String("selector.type", "replicating")
	se, ok := registry.Lookup(registry.Selector, selType)
	if !ok {
		r.Errorf("selector.type", "%v", registry.UnknownTypeError(registry.Selector, selType))
		return nil, r.Err()
	}
	sel, err := se.Factory.(registry.SelectorFactory)(scoped(env, c), r.Sub("selector."), chans)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	var chain source.Chain
	for _, name := range r.List("interceptors") {
		sub := r.Sub("interceptors." + name + ".")
		typ, ok := sub.Raw("type")
		if !ok {
			r.Errorf("interceptors."+name+".type", "interceptor %s has no type", name)
			continue
		}
		ie, ok := registry.Lookup(registry.Interceptor, typ)
		if !ok {
			r.Errorf("interceptors."+name+".type", "%v", registry.UnknownTypeError(registry.Interceptor, typ))
			continue
		}
		ic, err := ie.Factory.(registry.InterceptorFactory)(scoped(env, c), sub)
		if err != nil {
			return nil, fmt.Errorf("interceptor %s: %w", name, err)
		}
		chain = append(chain, ic)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	cp := &source.ChannelProcessor{Selector: sel, Interceptors: chain, Log: scoped(env, c).Log}
	src, err := e.Factory.(registry.SourceFactory)(scoped(env, c), r, cp)
	if err != nil {
		return nil, err
	}
	for _, ch := range chans {
		if err := checkBatch(cfg.Name, c, e, ch); err != nil {
			return nil, err
		}
	}
	node := &SourceNode{Name: c.Name, Src: src}
	if p, ok := src.(source.Pollable); ok {
		node.Runner = &source.PollingRunner{
			S: p, Clock: env.Clock, Log: scoped(env, c).Log,
			Increment: r.Millis("backoffSleepIncrement", time.Second),
			Max:       r.Millis("maxBackoffSleep", 5*time.Second),
		}
		if w, ok := src.(interface{ Wake() <-chan struct{} }); ok {
			node.Runner.Wake = w.Wake
		}
	}
	return node, nil
}

// checkBatch applies Flume's rule that a component whose batch size exceeds
// its channel's transactionCapacity is removed.
func checkBatch(agent string, c *config.Component, e *registry.Entry, ch channel.Channel) error {
	if e.BatchKey == "" {
		return nil
	}
	n := e.BatchDefault
	if p, ok := c.Props[e.BatchKey]; ok {
		if _, err := fmt.Sscan(p.Value, &n); err != nil {
			return nil // the factory reports the bad number
		}
	}
	if tc := ch.TransactionCapacity(); n > tc {
		return &config.FieldError{Pos: c.KeyPos(e.BatchKey), Key: c.FullKey(agent, e.BatchKey),
			Msg: fmt.Sprintf("%d is greater than channel %s's transactionCapacity %d; Flume removes the %s (\"Incompatible %s and channel settings\"); make %s <= %d",
				n, ch.Name(), tc, c.Kind, c.Kind, e.BatchKey, tc)}
	}
	return nil
}

func (g *Graph) drop(agent string, c *config.Component, err error) {
	what := c.String()
	// A bad value is reported at its own key and line, once per key, so
	// that it lines up with the lint finding on that key.
	if fes := config.FieldErrors(err); len(fes) > 0 {
		for _, fe := range fes {
			var why error = fe
			if len(fes) == 1 {
				why = err // keeps what the component said around it
			}
			f := config.NewFinding(config.Error, fe.Pos, fe.Key, config.RuleDropped,
				fmt.Sprintf("%s is not started: %v", what, why), "")
			f.Component = what
			g.Findings = append(g.Findings, f)
		}
		return
	}
	typeKey := "type"
	if c.Kind == config.KindSinkGroup {
		typeKey = "processor.type"
	}
	f := config.NewFinding(config.Error, c.Pos, c.FullKey(agent, typeKey), config.RuleDropped,
		fmt.Sprintf("%s is not started: %v", what, err), "")
	f.Component = what
	g.Findings = append(g.Findings, f)
}

// collect turns a Reader's notes and unread keys into findings.
func (g *Graph) collect(agent string, c *config.Component, r *config.Reader) {
	g.Findings = append(g.Findings, r.Notes()...)
	for _, k := range r.Unused() {
		p := c.Props[k]
		msg := fmt.Sprintf("%s %s (type %s) does not read %s; it has no effect", c.Kind, c.Name, c.Type, k)
		fix := ""
		if s := config.Suggest(k, r.UsedKeys()); s != "" {
			fix = "did you mean " + s + "?"
		}
		f := config.NewFinding(config.Warning, p.Pos, c.FullKey(agent, k), config.RuleUnknownKey, msg, fix)
		f.Component = c.String()
		g.Findings = append(g.Findings, f)
	}
}

// Lint builds cfg for checking only and returns every finding: Flume's
// drops and the lint rules from config.Build, build failures, unread keys
// and component notes, merged so that each problem is reported once.
func Lint(cfg *config.Agent, env registry.Env) []config.Finding {
	env.Check = true
	g := Build(cfg, env, nil)
	return config.Merge(append(append([]config.Finding(nil), cfg.Findings...), g.Findings...))
}

// scoped returns env with the logger naming the component.
func scoped(env registry.Env, c *config.Component) registry.Env {
	if env.Log != nil {
		env.Log = env.Log.With(string(c.Kind), c.Name)
	}
	return env
}
