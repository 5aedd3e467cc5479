package config

import (
	"fmt"
	"os"
	"strings"
)

// substituter expands ${...} in values the way Flume 1.10+ does (MapResolver
// with Commons Text's StringSubstitutor):
//
//   - ${env:NAME} is an environment variable and ${sys:NAME} a system
//     property (-DNAME=value); the prefix is case-insensitive, and when the
//     lookup finds nothing the name is tried as a plain ${NAME};
//   - a plain ${NAME} is another property of the file. Flume only finds it
//     when that property happens to be resolved first (hash order), so the
//     result is a note; Sluice always resolves it. As an extension, a
//     plain ${NAME} that is no property falls back to -DNAME, and under
//     -DpropertiesImplementation=org.apache.flume.node.EnvVarResolverProperties
//     to the environment, as Flume's DefaultLookup does;
//   - ${NAME:-default} gives a default; $${...} is a literal ${...};
//     variables may nest (${env:${sys:which}}), and substituted text is
//     substituted again; a cycle is an error (Flume fails to load);
//   - anything unresolved stays as written, and is reported.
type substituter struct {
	a     *Agent
	props map[string]Property // raw key -> property
	opt   Options
	env   func(string) (string, bool)
	done  map[string]string
	busy  map[string]bool
	// cur is the property being resolved, for findings.
	cur Property
}

const envVarResolver = "org.apache.flume.node.EnvVarResolverProperties"

func newSubstituter(a *Agent, props map[string]Property, opt Options) *substituter {
	env := opt.Env
	if env == nil {
		env = os.LookupEnv
	}
	return &substituter{a: a, props: props, opt: opt, env: env, done: map[string]string{}, busy: map[string]bool{}}
}

// value returns the substituted value of the property with raw key key.
func (s *substituter) value(key string) string {
	if v, ok := s.done[key]; ok {
		return v
	}
	p := s.props[key]
	if !strings.Contains(p.Value, "${") {
		return p.Value
	}
	s.busy[key] = true
	prev := s.cur
	s.cur = p
	v := s.subst(p.Value, nil)
	s.cur = prev
	delete(s.busy, key)
	s.done[key] = v
	return v
}

// ours reports whether findings about the current property belong to the
// agent being built.
func (s *substituter) ours() bool {
	return strings.HasPrefix(javaTrim(s.cur.Key), s.a.Name+".")
}

func (s *substituter) note(sev Severity, rule, msg, fix string) {
	if s.ours() {
		s.a.Add(sev, s.cur.Pos, javaTrim(s.cur.Key), rule, msg, fix)
	}
}

// subst is StringSubstitutor.substitute over text. prior holds the chain of
// variables being expanded, for cycle detection.
func (s *substituter) subst(text string, prior []string) string {
	if !strings.Contains(text, "${") {
		return text
	}
	var out strings.Builder
	i := 0
	for i < len(text) {
		j := strings.Index(text[i:], "${")
		if j < 0 {
			out.WriteString(text[i:])
			break
		}
		j += i
		out.WriteString(text[i:j])
		// An escape is the character just before the prefix, even one
		// that came from an earlier substitution; the escape itself is
		// dropped and the '$' of the prefix kept, literally.
		if o := out.String(); len(o) > 0 && o[len(o)-1] == '$' {
			out.WriteByte('{')
			i = j + 2
			continue
		}
		end, ok := matchSuffix(text, j+2)
		if !ok {
			out.WriteString(text[j:])
			break
		}
		expr := s.subst(text[j+2:end], nil)
		name, def, hasDef := expr, "", false
		if d := strings.Index(expr, ":-"); d >= 0 {
			if p := strings.Index(expr, "${"); p < 0 || p > d {
				name, def, hasDef = expr[:d], expr[d+2:], true
			}
		}
		if prior == nil {
			prior = []string{text}
		}
		if contains(prior, name) {
			s.note(Error, "substitution-cycle",
				fmt.Sprintf("${%s} refers to itself (%s -> %s); Flume fails to load the configuration (\"Infinite loop in property interpolation\")", name, strings.Join(prior[1:], " -> "), name),
				"break the cycle")
			out.WriteString(text[j : end+1])
			i = end + 1
			continue
		}
		prior = append(prior, name)
		val, found := s.lookup(name)
		if !found && hasDef {
			val, found = def, true
		}
		if found {
			out.WriteString(s.subst(val, prior))
		} else {
			out.WriteString(text[j : end+1])
			if !isFilterRef(name) && !s.unsupported(name) {
				s.note(Warning, "unresolved-substitution",
					fmt.Sprintf("${%s} is not defined; the value keeps it literally", name),
					"set it, give a default with ${NAME:-default}, or write $${...} for a literal ${...}")
			}
		}
		prior = prior[:len(prior)-1]
		i = end + 1
	}
	return out.String()
}

// matchSuffix finds the '}' closing a variable whose name starts at from,
// counting nested "${".
func matchSuffix(text string, from int) (int, bool) {
	nested := 0
	for k := from; k < len(text); k++ {
		if strings.HasPrefix(text[k:], "${") {
			nested++
			k++
			continue
		}
		if text[k] == '}' {
			if nested == 0 {
				return k, true
			}
			nested--
		}
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookup is Commons Text's interpolator lookup, with Flume's lookups.
func (s *substituter) lookup(name string) (string, bool) {
	plain := true
	if i := strings.IndexByte(name, ':'); i >= 0 {
		prefix, rest := strings.ToLower(name[:i]), name[i+1:]
		switch prefix {
		case "env":
			if v, ok := s.env(rest); ok {
				return v, true
			}
		case "sys":
			if v, ok := s.sysProp(rest); ok {
				return v, true
			}
		case "java", "date":
			s.note(Warning, "unsupported-substitution",
				fmt.Sprintf("Sluice does not implement ${%s:...} lookups; Flume 1.10+ would substitute ${%s} and Sluice keeps it literally", prefix, name),
				"use ${env:NAME} or ${sys:NAME} (-DNAME=value)")
			return "", false
		}
		name, plain = rest, false
	}
	for k := range s.props {
		if k != name {
			continue
		}
		if s.busy[k] {
			s.note(Error, "substitution-cycle",
				fmt.Sprintf("${%s} refers back to the property being resolved; Flume fails to load the configuration (\"Infinite loop in property interpolation\")", name),
				"break the cycle")
			return "", false
		}
		s.note(Note, "property-reference",
			fmt.Sprintf("${%s} refers to another property; Flume 1.10+ resolves it only if that property happens to be resolved first (hash order), Sluice always does", name),
			"to behave the same in Flume, use ${env:NAME} or ${sys:NAME} (-DNAME=value)")
		cur := s.cur
		v := s.value(k)
		s.cur = cur
		return v, true
	}
	if plain {
		if v, ok := s.opt.Sys[name]; ok {
			return v, true
		}
		if s.opt.Sys["propertiesImplementation"] == envVarResolver {
			if v, ok := s.env(name); ok {
				return v, true
			}
		}
	}
	return "", false
}

// unsupported reports whether name uses a lookup Sluice does not implement
// (already reported by lookup).
func (s *substituter) unsupported(name string) bool {
	p, _, ok := strings.Cut(name, ":")
	p = strings.ToLower(p)
	return ok && (p == "java" || p == "date")
}

// sysProp looks up a Java system property: -D flags, then the few
// built-in ones configurations use.
func (s *substituter) sysProp(name string) (string, bool) {
	if v, ok := s.opt.Sys[name]; ok {
		return v, true
	}
	switch name {
	case "user.home":
		if h, err := os.UserHomeDir(); err == nil {
			return h, true
		}
	case "user.dir":
		if d, err := os.Getwd(); err == nil {
			return d, true
		}
	case "user.name":
		if u, ok := s.env("USER"); ok {
			return u, true
		}
	case "java.io.tmpdir":
		return os.TempDir(), true
	case "file.separator":
		return "/", true
	case "path.separator":
		return ":", true
	case "line.separator":
		return "\n", true
	}
	return "", false
}

// isFilterRef reports whether a variable name has the shape of a config
// filter reference, name['key'].
func isFilterRef(name string) bool {
	i := strings.IndexByte(name, '[')
	return i > 0 && strings.HasSuffix(name, "]")
}

// filter is one of the agent's config filters (Flume 1.10+
// <agent>.configfilters): ${name['KEY']} in a component's value is replaced
// by what the filter returns for KEY.
type filter struct {
	name string
	// lookup resolves a key; nil for filter types Sluice does not
	// implement (only env is).
	lookup func(string) (string, bool)
}

func (a *Agent) configFilters(flat map[string]Property, sub *substituter) []*filter {
	prefix := a.Name + ".configfilters"
	var listKey string
	for k := range flat {
		if javaTrim(k) == prefix {
			listKey = k
		}
	}
	if listKey == "" {
		return nil
	}
	types := map[string]Property{}
	for k, p := range flat {
		if rest, ok := strings.CutPrefix(javaTrim(k), prefix+"."); ok {
			if name, key, ok := strings.Cut(rest, "."); ok && key == "type" {
				p.Value = javaTrim(sub.value(k))
				types[javaTrim(name)] = p
			}
		}
	}
	var out []*filter
	list := flat[listKey]
	for _, name := range dedupe(splitWS(javaTrim(sub.value(listKey)))) {
		f := &filter{name: name}
		tp, ok := types[name]
		switch {
		case !ok:
			a.Add(Error, list.Pos, prefix, "no-config",
				fmt.Sprintf("config filter %s is listed but has no type; Flume drops it and ${%s[...]} stays literal", name, name),
				fmt.Sprintf("set %s.%s.type = env", prefix, name))
		case strings.EqualFold(tp.Value, "env") || tp.Value == "org.apache.flume.configfilter.EnvironmentVariableConfigFilter":
			f.lookup = sub.env
		case strings.EqualFold(tp.Value, "hadoop") || strings.EqualFold(tp.Value, "external") ||
			strings.HasPrefix(tp.Value, "org.apache.flume.configfilter."):
			a.Add(Error, tp.Pos, prefix+"."+name+".type", "unsupported-filter",
				fmt.Sprintf("Sluice does not implement the %s config filter; ${%s[...]} stays literal", tp.Value, name),
				"use the env filter or ${env:NAME}")
		default:
			a.Add(Error, tp.Pos, prefix+"."+name+".type", "unknown-type",
				fmt.Sprintf("config filter type %q is unknown; Flume knows env, hadoop and external", tp.Value), "")
		}
		out = append(out, f)
	}
	return out
}

// applyFilters rewrites ${name['key']}, ${name["key"]} and ${name[key]}
// (key of letters, digits, '-' and '_') as FlumeConfiguration.filterValue
// does: each filter scans the value once, and text it inserts is not
// scanned again.
func applyFilters(v string, filters []*filter) string {
	for _, f := range filters {
		if f.lookup == nil {
			continue
		}
		start := "${" + f.name + "["
		var out strings.Builder
		i := 0
		for {
			j := strings.Index(v[i:], start)
			if j < 0 {
				out.WriteString(v[i:])
				break
			}
			j += i
			out.WriteString(v[i:j])
			match, key, ok := filterRef(v[j:], len(start))
			if !ok {
				out.WriteString(start)
				i = j + len(start)
				continue
			}
			if val, found := f.lookup(key); found {
				out.WriteString(val)
			} else {
				out.WriteString(match)
			}
			i = j + len(match)
		}
		v = out.String()
	}
	return v
}

// filterRef matches the delimiter, key, delimiter and "]}" at s[at:].
func filterRef(s string, at int) (match, key string, ok bool) {
	delim := byte(0)
	if at < len(s) && (s[at] == '\'' || s[at] == '"') {
		delim = s[at]
		at++
	}
	k := at
	for k < len(s) && (s[k] == '-' || s[k] == '_' || (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')) {
		k++
	}
	if k == at {
		return "", "", false
	}
	key = s[at:k]
	if delim != 0 {
		if k >= len(s) || s[k] != delim {
			return "", "", false
		}
		k++
	}
	if !strings.HasPrefix(s[k:], "]}") {
		return "", "", false
	}
	return s[:k+2], key, true
}
