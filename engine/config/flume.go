package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/vfs"
)

// Severity ranks a finding.
type Severity int

const (
	Note Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	default:
		return "error"
	}
}

// MarshalText makes severities readable in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one problem found in a configuration: where, how bad, what
// Flume would do, and how to fix it.
type Finding struct {
	Severity Severity `json:"severity"`
	Pos      Position `json:"-"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Key      string   `json:"key,omitempty"`
	Rule     string   `json:"rule"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s: [%s] %s", f.Pos, f.Severity, f.Rule, f.Message)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

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

	Channels []string // a source's channels
	Channel  string   // a sink's channel
	Sinks    []string // a sink group's sinks
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
	// Raw are the agent's own properties after merging and substitution,
	// keyed by the key without the agent prefix.
	Raw map[string]Property
}

// Add records a finding.
func (a *Agent) Add(sev Severity, pos Position, key, rule, msg, fix string) {
	a.Findings = append(a.Findings, Finding{Severity: sev, Pos: pos, File: pos.File, Line: pos.Line, Key: key, Rule: rule, Message: msg, Fix: fix})
}

// Component finds a surviving component by kind and name.
func (a *Agent) Component(kind Kind, name string) *Component {
	var list []*Component
	switch kind {
	case KindSource:
		list = a.Sources
	case KindChannel:
		list = a.Channels
	case KindSink:
		list = a.Sinks
	case KindSinkGroup:
		list = a.SinkGroups
	}
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Errors reports whether any finding is an error.
func (a *Agent) Errors() bool {
	for _, f := range a.Findings {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Options steer Load.
type Options struct {
	// Sys holds -Dk=v system properties, for ${sys:k} and ${k}.
	Sys map[string]string
	// Env looks up environment variables; nil uses os.LookupEnv.
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

// AgentNames lists the agents a set of properties configures.
func AgentNames(props []Property) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range props {
		if i := strings.IndexByte(p.Key, '.'); i > 0 {
			n := strings.TrimSpace(p.Key[:i])
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Build validates the configuration of agent from props with Flume's
// hierarchy and drop rules (flume-facts §8.1–8.2). It never fails: what Flume
// would drop is dropped and explained in Findings (as errors); an agent with
// nothing left has no components and an error saying why.
func Build(props []Property, agent string, opt Options) *Agent {
	a := &Agent{Name: agent, Raw: map[string]Property{}}
	files := map[string]bool{}
	// Later duplicates override earlier ones, as java.util.Properties does.
	flat := map[string]Property{}
	var order []string
	for _, p := range props {
		if !files[p.Pos.File] && p.Pos.File != "" {
			files[p.Pos.File] = true
			a.Files = append(a.Files, p.Pos.File)
		}
		if old, ok := flat[p.Key]; ok && strings.HasPrefix(p.Key, agent+".") {
			a.Add(Warning, p.Pos, p.Key, "duplicate-key",
				fmt.Sprintf("%s is set twice; this value replaces the one at %s", p.Key, old.Pos),
				"delete one of the two lines")
		} else if !ok {
			order = append(order, p.Key)
		}
		flat[p.Key] = p
	}
	all := flat
	for _, k := range order {
		p := all[k]
		i := strings.IndexByte(k, '.')
		if i < 0 || strings.TrimSpace(k[:i]) != agent {
			continue
		}
		p.Key = strings.TrimSpace(k[i+1:])
		p.Value = substitute(a, p, all, opt)
		p.Value = strings.TrimSpace(p.Value)
		if p.Value == "" {
			a.Add(Warning, p.Pos, k, "empty-value", fmt.Sprintf("%s has an empty value; Flume ignores it", k), "give it a value or delete the line")
			continue
		}
		a.Raw[p.Key] = p
	}
	a.structure()
	return a
}

func (a *Agent) structure() {
	lists := map[Kind][]string{}
	listPos := map[Kind]Position{}
	comps := map[Kind]map[string]*Component{}
	for _, k := range []Kind{KindSource, KindChannel, KindSink, KindSinkGroup} {
		comps[k] = map[string]*Component{}
	}
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
	// Findings about a missing list point at the agent's first line.
	first := Position{}
	if len(keys) > 0 {
		first = a.Raw[keys[0]].Pos
	}
	for _, kind := range []Kind{KindSource, KindChannel, KindSink, KindSinkGroup} {
		listPos[kind] = first
	}
	for _, k := range keys {
		p := a.Raw[k]
		full := a.Name + "." + k
		matched := false
		for _, kind := range []Kind{KindSource, KindChannel, KindSink, KindSinkGroup} {
			pl := kind.plural()
			if k == pl {
				lists[kind] = strings.Fields(p.Value)
				listPos[kind] = p.Pos
				matched = true
				break
			}
			if rest, ok := strings.CutPrefix(k, pl+"."); ok {
				matched = true
				name, sub, ok := strings.Cut(rest, ".")
				if !ok || name == "" || sub == "" {
					a.Add(Error, p.Pos, full, "invalid-key", fmt.Sprintf("%s names no %s property; Flume ignores it", full, kind),
						fmt.Sprintf("write %s.%s.<name>.<key>", a.Name, pl))
					break
				}
				c := comps[kind][name]
				if c == nil {
					c = &Component{Kind: kind, Name: name, Props: map[string]Property{}, Pos: p.Pos}
					comps[kind][name] = c
				}
				c.Props[sub] = p
				if sub == "type" || (kind == KindSinkGroup && sub == "processor.type") {
					c.Type = p.Value
					c.Pos = p.Pos
				}
				break
			}
		}
		if !matched && k != "configfilters" && !strings.HasPrefix(k, "configfilters.") {
			a.Add(Error, p.Pos, full, "invalid-key", fmt.Sprintf("%s is not a sources/channels/sinks/sinkgroups key; Flume ignores it", full), "")
		}
	}

	// Components configured but never listed are ignored by Flume.
	for _, kind := range []Kind{KindSource, KindChannel, KindSink, KindSinkGroup} {
		listed := map[string]bool{}
		for _, n := range lists[kind] {
			listed[n] = true
		}
		for _, name := range sortedNames(comps[kind]) {
			if !listed[name] {
				c := comps[kind][name]
				a.Add(Error, c.Pos, c.FullKey(a.Name, "type"), "not-listed",
					fmt.Sprintf("%s %s is configured but not listed in %s.%s; Flume ignores it", kind, name, a.Name, kind.plural()),
					fmt.Sprintf("add %s to %s.%s or delete its keys", name, a.Name, kind.plural()))
			}
		}
	}

	// Channels.
	valid := map[string]bool{}
	seen := map[string]bool{}
	for _, name := range lists[KindChannel] {
		if seen[name] {
			continue
		}
		seen[name] = true
		c := comps[KindChannel][name]
		if c == nil {
			a.Add(Error, listPos[KindChannel], a.Name+".channels", "no-config",
				fmt.Sprintf("channel %s is listed but has no properties; Flume drops it", name),
				fmt.Sprintf("set %s.channels.%s.type", a.Name, name))
			continue
		}
		if c.Type == "" {
			a.Add(Error, c.Pos, c.FullKey(a.Name, "type"), "no-type",
				fmt.Sprintf("channel %s has no type; Flume drops it", name), "set its type, e.g. memory or file")
			continue
		}
		valid[name] = true
		a.Channels = append(a.Channels, c)
	}
	if len(lists[KindChannel]) == 0 {
		a.Add(Error, listPos[KindChannel], a.Name+".channels", "no-channels",
			fmt.Sprintf("agent %s lists no channels; Flume runs nothing for it (\"No configuration found for this host:%s\")", a.Name, a.Name),
			fmt.Sprintf("add %s.channels = c1 and configure it", a.Name))
	}

	// Sources.
	seen = map[string]bool{}
	for _, name := range lists[KindSource] {
		if seen[name] {
			continue
		}
		seen[name] = true
		c := comps[KindSource][name]
		switch {
		case c == nil:
			a.Add(Error, listPos[KindSource], a.Name+".sources", "no-config",
				fmt.Sprintf("source %s is listed but has no properties; Flume drops it", name), fmt.Sprintf("set %s.sources.%s.type", a.Name, name))
			continue
		case c.Type == "":
			a.Add(Error, c.Pos, c.FullKey(a.Name, "type"), "no-type", fmt.Sprintf("source %s has no type; Flume drops it", name), "set its type")
			continue
		}
		chp, ok := c.Props["channels"]
		if !ok {
			fix := fmt.Sprintf("set %s.sources.%s.channels", a.Name, name)
			if p, ok := c.Props["channel"]; ok {
				a.Add(Error, p.Pos, c.FullKey(a.Name, "channel"), "source-channel",
					fmt.Sprintf("source %s uses \"channel\"; sources take \"channels\" (plural), so Flume drops it", name),
					"rename the key to channels")
				continue
			}
			a.Add(Error, c.Pos, c.FullKey(a.Name, "channels"), "no-channels", fmt.Sprintf("source %s has no channels; Flume drops it", name), fix)
			continue
		}
		for _, ch := range strings.Fields(chp.Value) {
			if valid[ch] {
				c.Channels = append(c.Channels, ch)
			} else {
				a.Add(Error, chp.Pos, c.FullKey(a.Name, "channels"), "unknown-channel",
					fmt.Sprintf("source %s names channel %s, which is not an active channel", name, ch),
					fmt.Sprintf("list %s in %s.channels and configure it", ch, a.Name))
			}
		}
		if len(c.Channels) == 0 {
			a.Add(Error, chp.Pos, c.FullKey(a.Name, "channels"), "no-channels",
				fmt.Sprintf("source %s has no active channel left; Flume drops it", name), "")
			continue
		}
		a.Sources = append(a.Sources, c)
	}

	// Sinks.
	seen = map[string]bool{}
	for _, name := range lists[KindSink] {
		if seen[name] {
			continue
		}
		seen[name] = true
		c := comps[KindSink][name]
		switch {
		case c == nil:
			a.Add(Error, listPos[KindSink], a.Name+".sinks", "no-config",
				fmt.Sprintf("sink %s is listed but has no properties; Flume drops it", name), fmt.Sprintf("set %s.sinks.%s.type", a.Name, name))
			continue
		case c.Type == "":
			a.Add(Error, c.Pos, c.FullKey(a.Name, "type"), "no-type", fmt.Sprintf("sink %s has no type; Flume drops it", name), "set its type")
			continue
		}
		chp, ok := c.Props["channel"]
		if !ok {
			if p, ok := c.Props["channels"]; ok {
				a.Add(Error, p.Pos, c.FullKey(a.Name, "channels"), "sink-channels",
					fmt.Sprintf("sink %s uses \"channels\"; sinks take \"channel\" (singular), so Flume drops it (\"No channel configured for sink\")", name),
					"rename the key to channel")
				continue
			}
			a.Add(Error, c.Pos, c.FullKey(a.Name, "channel"), "no-channel", fmt.Sprintf("sink %s has no channel; Flume drops it", name),
				fmt.Sprintf("set %s.sinks.%s.channel", a.Name, name))
			continue
		}
		if !valid[chp.Value] {
			a.Add(Error, chp.Pos, c.FullKey(a.Name, "channel"), "unknown-channel",
				fmt.Sprintf("sink %s: channel %s not in active set; Flume drops the sink", name, chp.Value), "")
			continue
		}
		c.Channel = chp.Value
		a.Sinks = append(a.Sinks, c)
	}

	// Sink groups.
	claimed := map[string]string{}
	validSink := map[string]bool{}
	for _, s := range a.Sinks {
		validSink[s.Name] = true
	}
	seen = map[string]bool{}
	for _, name := range lists[KindSinkGroup] {
		if seen[name] {
			continue
		}
		seen[name] = true
		c := comps[KindSinkGroup][name]
		if c == nil {
			a.Add(Error, listPos[KindSinkGroup], a.Name+".sinkgroups", "no-config",
				fmt.Sprintf("sink group %s is listed but has no properties; Flume drops it", name), "")
			continue
		}
		sp, ok := c.Props["sinks"]
		if !ok {
			a.Add(Error, c.Pos, c.FullKey(a.Name, "sinks"), "no-sinks", fmt.Sprintf("sink group %s has no sinks; Flume drops it", name), "")
			continue
		}
		for _, s := range strings.Fields(sp.Value) {
			switch {
			case !validSink[s]:
				a.Add(Error, sp.Pos, c.FullKey(a.Name, "sinks"), "unknown-sink",
					fmt.Sprintf("sink group %s names sink %s, which is not an active sink; Flume drops it from the group", name, s), "")
			case claimed[s] != "":
				a.Add(Error, sp.Pos, c.FullKey(a.Name, "sinks"), "sink-in-two-groups",
					fmt.Sprintf("sink %s is already in sink group %s; Flume drops it from group %s", s, claimed[s], name),
					"a sink can belong to one group only")
			default:
				claimed[s] = name
				c.Sinks = append(c.Sinks, s)
			}
		}
		if len(c.Sinks) == 0 {
			a.Add(Error, sp.Pos, c.FullKey(a.Name, "sinks"), "no-sinks", fmt.Sprintf("sink group %s has no valid sinks left; Flume drops it", name), "")
			continue
		}
		if c.Type == "" {
			a.Add(Error, c.Pos, c.FullKey(a.Name, "processor.type"), "no-type",
				fmt.Sprintf("sink group %s has no processor.type; Flume drops the group and its sinks do not run", name),
				"set processor.type = failover, load_balance or default")
			continue
		}
		a.SinkGroups = append(a.SinkGroups, c)
	}

	if len(a.Channels) == 0 || (len(a.Sources) == 0 && len(a.Sinks) == 0) {
		if len(a.Channels) > 0 || len(lists[KindChannel]) > 0 {
			a.Add(Error, listPos[KindChannel], a.Name+".channels", "empty-agent",
				fmt.Sprintf("agent %s has no valid channel, or no valid source and no valid sink; Flume runs nothing", a.Name), "")
		}
		a.Sources, a.Channels, a.Sinks, a.SinkGroups = nil, nil, nil, nil
	}
}

func sortedNames(m map[string]*Component) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// substitute expands ${env:NAME}, ${sys:NAME} and ${NAME} (another property
// of the file, or a system property) in a value, as Flume 1.10+ does with
// Commons Text. An unresolvable reference is left as written and noted.
func substitute(a *Agent, p Property, all map[string]Property, opt Options) string {
	v := p.Value
	if !strings.Contains(v, "${") {
		return v
	}
	env := opt.Env
	if env == nil {
		env = os.LookupEnv
	}
	var sb strings.Builder
	for depth := 0; ; {
		i := strings.Index(v, "${")
		if i < 0 {
			sb.WriteString(v)
			break
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			sb.WriteString(v)
			break
		}
		ref := v[i+2 : i+j]
		sb.WriteString(v[:i])
		val, ok := "", false
		switch {
		case strings.HasPrefix(ref, "env:"):
			val, ok = env(ref[4:])
		case strings.HasPrefix(ref, "sys:"):
			val, ok = opt.Sys[ref[4:]]
		default:
			if q, found := all[ref]; found && depth < 8 {
				val, ok = q.Value, true
			} else {
				val, ok = opt.Sys[ref]
			}
		}
		if !ok {
			a.Add(Warning, p.Pos, p.Key, "unresolved-substitution",
				fmt.Sprintf("${%s} in %s is not defined; the value keeps it literally", ref, p.Key), "define it, or escape it")
			val = "${" + ref + "}"
		}
		sb.WriteString(val)
		v = v[i+j+1:]
		depth++
	}
	return sb.String()
}
