package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/vfs"
)

// Kind is a component kind.
type Kind string

const (
	KindSource    Kind = "source"
	KindChannel   Kind = "channel"
	KindSink      Kind = "sink"
	KindSinkGroup Kind = "sinkgroup"
)

// plural is the key segment Flume uses for each kind.
func (k Kind) plural() string { return string(k) + "s" }

func (k Kind) String() string {
	if k == KindSinkGroup {
		return "sink group"
	}
	return string(k)
}

var kinds = []Kind{KindSource, KindChannel, KindSink, KindSinkGroup}

// Component is one configured source, channel, sink or sink group.
type Component struct {
	Kind Kind
	Name string
	Type string
	// Props holds the component's keys relative to its prefix
	// ("hostname", "selector.type", "processor.priority.k1").
	Props map[string]Property
	// Pos is where the component's type was set (or its first key).
	Pos Position

	Channels []string // a source's channels that survived validation
	Channel  string   // a sink's channel
	Sinks    []string // a sink group's sinks that survived validation
}

// Prop returns a property by relative key.
func (c *Component) Prop(key string) (Property, bool) {
	p, ok := c.Props[key]
	return p, ok
}

// KeyPos returns where key was set, or the component's position.
func (c *Component) KeyPos(key string) Position {
	if p, ok := c.Props[key]; ok {
		return p.Pos
	}
	return c.Pos
}

// FullKey is the key as written in the file.
func (c *Component) FullKey(agent, key string) string {
	return agent + "." + c.Kind.plural() + "." + c.Name + "." + key
}

// String names the component for messages ("sink group g1").
func (c *Component) String() string { return c.Kind.String() + " " + c.Name }

// typeKey is the key that holds the component's type.
func (c *Component) typeKey() string {
	if c.Kind == KindSinkGroup {
		return "processor.type"
	}
	return "type"
}

// Agent is the validated configuration of one agent. Components that
// Flume would drop are absent, and each drop is explained in Findings.
type Agent struct {
	Name       string
	Files      []string
	Sources    []*Component
	Channels   []*Component
	Sinks      []*Component
	SinkGroups []*Component
	Findings   []Finding
	// Raw are the agent's own properties after merging, substitution and
	// trimming, keyed by the key without the agent prefix.
	Raw map[string]Property
	// all holds every component configured, listed or not, surviving or
	// not, so that lint rules can talk about dropped ones too.
	all map[Kind]map[string]*Component
}

// Add records a finding.
func (a *Agent) Add(sev Severity, pos Position, key, rule, msg, fix string) {
	a.Findings = append(a.Findings, NewFinding(sev, pos, key, rule, msg, fix))
}

func (a *Agent) addAbout(c *Component, sev Severity, key, rule, msg, fix string) {
	f := NewFinding(sev, c.KeyPos(key), c.FullKey(a.Name, key), rule, msg, fix)
	f.Component = c.String()
	a.Findings = append(a.Findings, f)
}

func (a *Agent) list(kind Kind) []*Component {
	switch kind {
	case KindSource:
		return a.Sources
	case KindChannel:
		return a.Channels
	case KindSink:
		return a.Sinks
	}
	return a.SinkGroups
}

// Component finds a surviving component by kind and name.
func (a *Agent) Component(kind Kind, name string) *Component {
	for _, c := range a.list(kind) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Errors reports whether any finding is an error.
func (a *Agent) Errors() bool { return HasErrors(a.Findings) }

// Options steer Build.
type Options struct {
	// Sys holds -Dk=v system properties, for ${sys:k} (and, as a Sluice
	// extension, ${k} when no property k exists).
	Sys map[string]string
	// Env looks up environment variables; nil uses the process environment.
	Env func(string) (string, bool)
}

// LoadFiles reads and merges properties files; later files override
// earlier ones, as Flume does with several --conf-file.
func LoadFiles(fsys vfs.FS, paths ...string) ([]Property, error) {
	var all []Property
	for _, p := range paths {
		f, err := vfs.Open(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		props, err := ParseProperties(p, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		all = append(all, props...)
	}
	return all, nil
}

const bom = "\uFEFF"

// AgentNames lists the agents a set of properties configures: the part of
// each key before its first dot, for keys Flume would not ignore outright.
func AgentNames(props []Property) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range props {
		k := strings.TrimPrefix(javaTrim(p.Key), bom)
		i := strings.IndexByte(k, '.')
		if i <= 0 || i == len(k)-1 || javaTrim(p.Value) == "" {
			continue
		}
		if n := k[:i]; !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Build validates the configuration of agent from props with Flume's
// hierarchy and drop rules (flume-facts §8.1–8.2, FlumeConfiguration and
// AbstractConfigurationProvider), then runs the lint rules. It never fails:
// what Flume would drop is dropped and explained in Findings (as errors); an
// agent with nothing left has no components and an error saying why.
func Build(props []Property, agent string, opt Options) *Agent {
	a := &Agent{Name: agent, Raw: map[string]Property{}}
	files := map[string]bool{}
	latin1 := map[string]bool{}
	// java.util.Properties keeps the last value of a key.
	flat := map[string]Property{}
	var order []string
	for _, p := range props {
		if !files[p.Pos.File] && p.Pos.File != "" {
			files[p.Pos.File] = true
			a.Files = append(a.Files, p.Pos.File)
		}
		if p.Latin1 && !latin1[p.Pos.File] {
			latin1[p.Pos.File] = true
			a.Add(Note, Position{File: p.Pos.File, Line: 1}, "", "latin1",
				fmt.Sprintf("%s is not valid UTF-8; it is read as ISO-8859-1, as Flume 1.10+ reads every file", p.Pos.File),
				"save the file as UTF-8 if it holds non-ASCII text")
		}
		if old, ok := flat[p.Key]; ok {
			if strings.HasPrefix(javaTrim(p.Key), agent+".") {
				a.Add(Warning, p.Pos, p.Key, "duplicate-key",
					fmt.Sprintf("%s is set twice; this value replaces the one at %s", p.Key, old.Pos),
					"delete one of the two lines")
			}
		} else {
			order = append(order, p.Key)
		}
		flat[p.Key] = p
	}
	sub := newSubstituter(a, flat, opt)
	filters := a.configFilters(flat, sub)
	byName := map[string]Property{} // trimmed name -> property
	// An agent with lists of its own is a real one, not a misspelling.
	misspelt := map[string]bool{}
	for raw := range flat {
		n := javaTrim(raw)
		for _, l := range []string{".sources", ".channels", ".sinks"} {
			if other, ok := strings.CutSuffix(n, l); ok && !strings.Contains(other, ".") {
				misspelt[other] = true
			}
		}
	}
	for _, raw := range order {
		p := flat[raw]
		name := javaTrim(raw)
		if i := strings.IndexByte(name, '.'); i <= 0 {
			if strings.HasPrefix(name, bom+"#") || strings.HasPrefix(name, bom+"!") {
				continue // a comment after a byte-order mark: Flume ignores it too
			}
			a.Add(Warning, p.Pos, name, "no-agent",
				fmt.Sprintf("%q does not start with an agent name and a dot; Flume ignores it", name),
				fmt.Sprintf("write %s.<sources|channels|sinks|sinkgroups>...", agent))
			continue
		} else if other := name[:i]; other != agent && !misspelt[other] && Suggest(other, []string{agent}) == agent {
			misspelt[other] = true
			a.Add(Warning, p.Pos, name, "agent-name",
				fmt.Sprintf("%s starts with %q, which looks like a misspelling of agent %s; Flume treats %s as another agent, and %s never sees these keys", name, other, agent, other, agent),
				fmt.Sprintf("write %s.%s", agent, name[i+1:]))
		}
		if rest, ok := strings.CutPrefix(name, bom); ok && strings.HasPrefix(rest, agent+".") {
			a.Add(Error, p.Pos, rest, "byte-order-mark",
				fmt.Sprintf("the file starts with a UTF-8 byte-order mark, so the first key is read as \"\\uFEFF%s\" and Flume ignores it", rest),
				"save the file without a byte-order mark (UTF-8 without BOM)")
			continue
		}
		i := strings.IndexByte(name, '.')
		if i < 0 || name[:i] != agent {
			continue
		}
		p.Value = javaTrim(sub.value(raw))
		if p.Value == "" {
			a.Add(Warning, p.Pos, name, "empty-value", fmt.Sprintf("%s has an empty value; Flume ignores it", name), "give it a value or delete the line")
			continue
		}
		p.Key = name[i+1:]
		if p.Key == "" {
			a.Add(Error, p.Pos, name, "invalid-key", fmt.Sprintf("%s names no property; Flume ignores it", name), "")
			continue
		}
		if old, ok := byName[name]; ok {
			a.Add(Error, p.Pos, name, "ambiguous-key",
				fmt.Sprintf("%q and %q (at %s) are the same key once Flume trims them; which value Flume uses depends on hash order", raw, old.Key, old.Pos),
				"delete one of them")
			continue
		}
		if !isListKey(p.Key) {
			p.Value = applyFilters(p.Value, filters)
		}
		keep := p
		keep.Key = raw
		byName[name] = keep
		a.Raw[p.Key] = p
	}
	a.structure()
	a.lint()
	return a
}

// parseComponentKey splits "sources.r1.type" as FlumeConfiguration's
// parseConfigKey does: the name ends at the first dot after at least one
// character, and name and key must both be non-empty.
func parseComponentKey(key, prefix string) (name, sub string, ok bool) {
	if !strings.HasPrefix(key, prefix) || len(key) <= len(prefix)+1 {
		return "", "", false
	}
	j := strings.IndexByte(key[len(prefix)+1:], '.')
	if j < 0 {
		return "", "", false
	}
	end := len(prefix) + 1 + j
	name, sub = key[len(prefix):end], key[end+1:]
	if name == "" || sub == "" {
		return "", "", false
	}
	return javaTrim(name), sub, true
}

// agentKeys are the agent-level keys Flume knows, for "did you mean".
var agentKeys = []string{"sources", "channels", "sinks", "sinkgroups", "configfilters"}

// isListKey reports whether key (without the agent prefix) is one of the
// agent-level lists or a config filter's own key, which Flume's config
// filters do not rewrite.
func isListKey(key string) bool {
	for _, k := range agentKeys {
		if key == k {
			return true
		}
	}
	return strings.HasPrefix(key, "configfilters.")
}

func (a *Agent) structure() {
	lists := map[Kind][]string{}
	listSet := map[Kind]bool{}
	listPos := map[Kind]Position{}
	comps := map[Kind]map[string]*Component{}
	for _, k := range kinds {
		comps[k] = map[string]*Component{}
	}
	a.all = comps
	keys := a.sortedRawKeys()
	// Findings about a missing list point at the agent's first line.
	if len(keys) > 0 {
		for _, kind := range kinds {
			listPos[kind] = a.Raw[keys[0]].Pos
		}
	}
	for _, k := range keys {
		p := a.Raw[k]
		full := a.Name + "." + k
		matched := false
		for _, kind := range kinds {
			pl := kind.plural()
			if k == pl {
				if kind == KindSinkGroup {
					// validateGroups tokenizes on spaces only.
					lists[kind] = strings.FieldsFunc(p.Value, func(r rune) bool { return r == ' ' })
				} else {
					lists[kind] = splitWS(p.Value)
				}
				listSet[kind] = true
				listPos[kind] = p.Pos
				matched = true
				break
			}
			if name, sub, ok := parseComponentKey(k, pl+"."); ok {
				matched = true
				c := comps[kind][name]
				if c == nil {
					c = &Component{Kind: kind, Name: name, Props: map[string]Property{}, Pos: p.Pos}
					comps[kind][name] = c
				}
				c.Props[sub] = p
				if sub == c.typeKey() {
					c.Type = p.Value
					c.Pos = p.Pos
				}
				break
			}
		}
		if matched || k == "configfilters" {
			continue
		}
		if _, _, ok := parseComponentKey(k, "configfilters."); ok {
			continue
		}
		first, _, _ := strings.Cut(k, ".")
		fix := fmt.Sprintf("write %s.<sources|channels|sinks|sinkgroups>.<name>.<key>", a.Name)
		if s := Suggest(first, agentKeys); s != "" {
			fix = "did you mean " + a.Name + "." + s + strings.TrimPrefix(k, first) + "?"
		}
		a.Add(Error, p.Pos, full, "invalid-key",
			fmt.Sprintf("%s is not a sources, channels, sinks or sinkgroups key of a named component; Flume ignores it", full), fix)
	}

	// Components configured but never listed are ignored by Flume.
	for _, kind := range kinds {
		listed := map[string]bool{}
		for _, n := range lists[kind] {
			listed[n] = true
		}
		for _, name := range sortedNames(comps[kind]) {
			if !listed[name] {
				c := comps[kind][name]
				first := c.Pos
				a.Add(Error, first, c.FullKey(a.Name, c.typeKey()), "not-listed",
					fmt.Sprintf("%s is configured but not listed in %s.%s; Flume ignores it", c, a.Name, kind.plural()),
					fmt.Sprintf("add %s to %s.%s, or delete its keys", name, a.Name, kind.plural()))
			}
		}
	}

	// Channels.
	valid := map[string]bool{}
	for _, name := range dedupe(lists[KindChannel]) {
		c := comps[KindChannel][name]
		if c == nil {
			a.Add(Error, listPos[KindChannel], a.Name+".channels", "no-config",
				fmt.Sprintf("channel %s is listed but has no properties; Flume drops it", name),
				fmt.Sprintf("set %s.channels.%s.type", a.Name, name))
			continue
		}
		if c.Type == "" {
			a.addAbout(c, Error, "type", "no-type", fmt.Sprintf("channel %s has no type; Flume drops it", name), "set its type, e.g. file or memory")
			continue
		}
		valid[name] = true
		a.Channels = append(a.Channels, c)
	}
	if !listSet[KindChannel] {
		a.Add(Error, listPos[KindChannel], a.Name+".channels", "no-channels",
			fmt.Sprintf("agent %s lists no channels; Flume runs nothing for it (\"No configuration found for this host:%s\")", a.Name, a.Name),
			fmt.Sprintf("add %s.channels = c1 and configure it", a.Name))
	}

	// Sources.
	for _, name := range dedupe(lists[KindSource]) {
		c := comps[KindSource][name]
		switch {
		case c == nil:
			a.Add(Error, listPos[KindSource], a.Name+".sources", "no-config",
				fmt.Sprintf("source %s is listed but has no properties; Flume drops it", name), fmt.Sprintf("set %s.sources.%s.type", a.Name, name))
			continue
		case c.Type == "":
			a.addAbout(c, Error, "type", "no-type", fmt.Sprintf("source %s has no type; Flume drops it", name), "set its type, e.g. taildir or avro")
			continue
		}
		chp, ok := c.Props["channels"]
		if !ok {
			if _, ok := c.Props["channel"]; ok {
				a.addAbout(c, Error, "channel", "source-channel",
					fmt.Sprintf("source %s sets \"channel\"; sources take \"channels\" (plural), so Flume drops it (\"No channels set\")", name),
					"rename the key to channels")
				continue
			}
			a.addAbout(c, Error, "channels", "no-channels", fmt.Sprintf("source %s has no channels; Flume drops it", name),
				fmt.Sprintf("set %s.sources.%s.channels", a.Name, name))
			continue
		}
		for _, ch := range dedupe(splitWS(chp.Value)) {
			if valid[ch] {
				c.Channels = append(c.Channels, ch)
			} else {
				a.addAbout(c, Error, "channels", "unknown-channel",
					fmt.Sprintf("source %s names channel %s, which is not an active channel; Flume leaves it out of the source's channels", name, ch),
					fmt.Sprintf("list %s in %s.channels and configure it, or remove it here", ch, a.Name))
			}
		}
		if len(c.Channels) == 0 {
			a.addAbout(c, Error, "channels", "no-channels",
				fmt.Sprintf("source %s has no active channel left; Flume drops it (\"No Channels configured for %s\")", name, name), "")
			continue
		}
		a.Sources = append(a.Sources, c)
	}

	// Sinks.
	validSink := map[string]bool{}
	for _, name := range dedupe(lists[KindSink]) {
		c := comps[KindSink][name]
		switch {
		case c == nil:
			a.Add(Error, listPos[KindSink], a.Name+".sinks", "no-config",
				fmt.Sprintf("sink %s is listed but has no properties; Flume drops it", name), fmt.Sprintf("set %s.sinks.%s.type", a.Name, name))
			continue
		case c.Type == "":
			a.addAbout(c, Error, "type", "no-type", fmt.Sprintf("sink %s has no type; Flume drops it", name), "set its type, e.g. avro or hdfs")
			continue
		}
		chp, ok := c.Props["channel"]
		if !ok {
			if _, ok := c.Props["channels"]; ok {
				a.addAbout(c, Error, "channels", "sink-channels",
					fmt.Sprintf("sink %s sets \"channels\"; sinks take \"channel\" (singular), so Flume drops it (\"No channel configured for sink: %s\")", name, name),
					"rename the key to channel")
				continue
			}
			a.addAbout(c, Error, "channel", "no-channel", fmt.Sprintf("sink %s has no channel; Flume drops it", name),
				fmt.Sprintf("set %s.sinks.%s.channel", a.Name, name))
			continue
		}
		if !valid[chp.Value] {
			fix := ""
			if len(splitWS(chp.Value)) > 1 {
				fix = "a sink takes exactly one channel; to feed several sinks, give each its own channel and list them all on the source"
			}
			a.addAbout(c, Error, "channel", "unknown-channel",
				fmt.Sprintf("sink %s: channel %s not in active set; Flume drops the sink", name, chp.Value), fix)
			continue
		}
		c.Channel = chp.Value
		validSink[name] = true
		a.Sinks = append(a.Sinks, c)
	}

	// Sink groups (validateGroups, validGroupSinks).
	claimed := map[string]string{}
	for _, name := range dedupe(lists[KindSinkGroup]) {
		c := comps[KindSinkGroup][name]
		if c == nil {
			a.Add(Error, listPos[KindSinkGroup], a.Name+".sinkgroups", "no-config",
				fmt.Sprintf("sink group %s is listed but has no properties; Flume drops it", name),
				fmt.Sprintf("set %s.sinkgroups.%s.sinks and processor.type", a.Name, name))
			continue
		}
		sp, ok := c.Props["sinks"]
		if !ok {
			a.addAbout(c, Error, "sinks", "no-sinks",
				fmt.Sprintf("sink group %s has no sinks key; Flume fails with a NullPointerException while validating it and loads no configuration at all", name),
				fmt.Sprintf("set %s.sinkgroups.%s.sinks", a.Name, name))
			continue
		}
		for _, s := range dedupe(splitWS(sp.Value)) {
			switch {
			case claimed[s] != "":
				a.addAbout(c, Error, "sinks", "sink-in-two-groups",
					fmt.Sprintf("sink %s is also in sink group %s; Flume keeps it in one of the two groups (which one depends on hash order) and drops it from the other; Sluice keeps it in %s", s, claimed[s], claimed[s]),
					"a sink can belong to one group only")
			case !validSink[s]:
				a.addAbout(c, Error, "sinks", "unknown-sink",
					fmt.Sprintf("sink group %s names sink %s, which is not an active sink; Flume leaves it out of the group", name, s), "")
			default:
				claimed[s] = name
				c.Sinks = append(c.Sinks, s)
			}
		}
		if len(c.Sinks) == 0 {
			a.addAbout(c, Error, "sinks", "no-sinks", fmt.Sprintf("sink group %s has no valid sinks left; Flume drops it", name), "")
			continue
		}
		if c.Type == "" {
			a.addAbout(c, Error, "processor.type", "no-type",
				fmt.Sprintf("sink group %s has no processor.type; Flume drops the group, and its sinks (%s) do not run at all", name, strings.Join(c.Sinks, " ")),
				"set processor.type = failover, load_balance or default")
			continue
		}
		a.SinkGroups = append(a.SinkGroups, c)
	}

	if len(a.Channels) == 0 || (len(a.Sources) == 0 && len(a.Sinks) == 0) {
		if listSet[KindChannel] {
			why := "no channel survived validation"
			if len(a.Channels) > 0 {
				why = "it has no valid source and no valid sink"
			}
			a.Add(Error, listPos[KindChannel], a.Name+".channels", "empty-agent",
				fmt.Sprintf("agent %s is invalid: %s; Flume runs nothing for it", a.Name, why), "fix the errors above")
		}
		a.Sources, a.Channels, a.Sinks, a.SinkGroups = nil, nil, nil, nil
		return
	}

	// AbstractConfigurationProvider removes a channel nothing connects to.
	used := map[string]bool{}
	for _, s := range a.Sources {
		for _, ch := range s.Channels {
			used[ch] = true
		}
	}
	for _, s := range a.Sinks {
		used[s.Channel] = true
	}
	kept := a.Channels[:0]
	for _, c := range a.Channels {
		if !used[c.Name] {
			a.addAbout(c, Error, "type", "unused-channel",
				fmt.Sprintf("channel %s has no source or sink connected; Flume removes it", c.Name),
				"connect a source and a sink to it, or delete it")
			continue
		}
		kept = append(kept, c)
	}
	a.Channels = kept
}

// sortedRawKeys orders the agent's keys by file and line, so findings come
// out in reading order.
func (a *Agent) sortedRawKeys() []string {
	keys := make([]string, 0, len(a.Raw))
	for k := range a.Raw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := a.Raw[keys[i]].Pos, a.Raw[keys[j]].Pos
		if pi.File != pj.File {
			return pi.File < pj.File
		}
		if pi.Line != pj.Line {
			return pi.Line < pj.Line
		}
		return keys[i] < keys[j]
	})
	return keys
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func sortedNames(m map[string]*Component) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
