package config

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// build parses text as a.conf and builds agent "a" with an empty
// environment.
func build(t *testing.T, text string) *Agent {
	t.Helper()
	return buildEnv(t, text, nil, nil)
}

func buildEnv(t *testing.T, text string, env, sys map[string]string) *Agent {
	t.Helper()
	props, err := ParseProperties("a.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return Build(props, "a", Options{Sys: sys, Env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
}

// names lists surviving components of a kind, sorted.
func names(list []*Component) string {
	var out []string
	for _, c := range list {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// rules lists "line:rule" of every finding (errors and warnings unless
// notes is set), sorted.
func rules(a *Agent, notes bool) []string {
	var out []string
	for _, f := range a.Findings {
		if f.Severity == Note && !notes {
			continue
		}
		out = append(out, fmt.Sprintf("%d:%s", f.Line, f.Rule))
	}
	sort.Strings(out)
	return out
}

func has(a *Agent, line int, rule string, sev Severity) *Finding {
	for i, f := range a.Findings {
		if f.Line == line && f.Rule == rule && f.Severity == sev {
			return &a.Findings[i]
		}
	}
	return nil
}

const base = `a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.type = seq
a.sources.r1.channels = c1
a.channels.c1.type = memory
a.sinks.k1.type = logger
a.sinks.k1.channel = c1
`

func TestBuildValidConfig(t *testing.T) {
	a := build(t, base)
	if got := rules(a, true); len(got) != 0 {
		t.Fatalf("findings on a clean config: %v", a.Findings)
	}
	if names(a.Sources) != "r1" || names(a.Channels) != "c1" || names(a.Sinks) != "k1" {
		t.Fatalf("components: %s / %s / %s", names(a.Sources), names(a.Channels), names(a.Sinks))
	}
	r1 := a.Component(KindSource, "r1")
	if r1.Type != "seq" || r1.Pos.Line != 4 || strings.Join(r1.Channels, " ") != "c1" {
		t.Errorf("r1 = %+v", r1)
	}
	if k1 := a.Component(KindSink, "k1"); k1.Channel != "c1" || k1.KeyPos("channel").Line != 8 {
		t.Errorf("k1 = %+v", k1)
	}
}

// TestBuildFlumeRules covers the hierarchy rules of §8.1 and the drop rules
// of §8.2, one case each: which components survive and which findings (by
// line and rule) explain the rest.
func TestBuildFlumeRules(t *testing.T) {
	cases := []struct {
		name                   string
		text                   string
		sources, chans, sinks  string
		groups                 string
		want                   []string // line:rule, sorted
		skipComponentsCheck    bool
		wantMessageContains    string
		wantMessageContainsAt  int
		wantMessageContainsFor string
	}{
		{name: "values and keys are trimmed", text: base + "a.sinks.k1.maxBytesToLog = 16   \t\n",
			sources: "r1", chans: "c1", sinks: "k1"},
		{name: "names end at the first dot", text: strings.Replace(base, "a.sources.r1.channels", "a.sources.r1.x.channels", 1),
			sources: "", chans: "c1", sinks: "k1", want: []string{"4:no-channels"}},
		{name: "keys of other agents are ignored", text: base + "b.sources = x\nb.channels.c9.type = file\n",
			sources: "r1", chans: "c1", sinks: "k1"},
		{name: "key without agent prefix", text: base + "sources = r9\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:no-agent"}},

		{name: "unknown agent-level key with did-you-mean", text: base + "a.sink.k2.type = null\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:invalid-key"},
			wantMessageContains: "did you mean a.sinks.k2.type", wantMessageContainsAt: 9, wantMessageContainsFor: "invalid-key"},
		{name: "component key without sub-key is invalid", text: base + "a.sources.r1 = x\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:invalid-key"}},
		{name: "empty value is ignored", text: strings.Replace(base, "a.sinks.k1.channel = c1", "a.sinks.k1.channel =", 1),
			sources: "r1", chans: "c1", sinks: "", want: []string{"8:empty-value", "7:no-channel"}},
		{name: "sink with channels instead of channel", text: strings.Replace(base, "k1.channel = c1", "k1.channels = c1", 1),
			sources: "r1", chans: "c1", sinks: "", want: []string{"8:sink-channels"}},
		{name: "source with channel instead of channels", text: strings.Replace(base, "r1.channels = c1", "r1.channel = c1", 1),
			sources: "", chans: "c1", sinks: "k1", want: []string{"5:source-channel"}},
		{name: "later duplicate wins", text: base + "a.channels.c1.type = file\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:duplicate-key"}},
		{name: "keys that trim to the same name", text: base + "a.sinks.k1.channel\\ = c2\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:ambiguous-key"}},
		{name: "lists split on any whitespace", text: strings.Replace(base, "a.channels = c1", "a.channels = c1\t c2", 1) + "a.channels.c2.type=memory\na.sinks.k1.x=1\na.sources.r1.channels = c1\tc2\n",
			sources: "r1", chans: "c1 c2", sinks: "k1", want: []string{"11:duplicate-key"}},
		{name: "sink groups split on spaces only", text: base + "a.sinkgroups = g1\tg2\na.sinkgroups.g1.sinks = k1\na.sinkgroups.g1.processor.type = failover\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"11:not-listed", "9:no-config"}},
		{name: "no channels key", text: "a.sources = r1\na.sources.r1.type = seq\na.sources.r1.channels = c1\n",
			want: []string{"1:no-channels", "3:unknown-channel", "3:no-channels"}, skipComponentsCheck: true},
		{name: "listed channel without properties", text: strings.Replace(base, "a.channels = c1", "a.channels = c1 c2", 1),
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"2:no-config"}},
		{name: "channel without type", text: strings.Replace(base, "a.channels.c1.type = memory", "a.channels.c1.capacity = 10", 1),
			want: []string{"2:empty-agent", "5:unknown-channel", "5:no-channels", "6:no-type", "8:unknown-channel"}, skipComponentsCheck: true},
		{name: "source without type", text: strings.Replace(base, "a.sources.r1.type = seq\n", "", 1),
			sources: "", chans: "c1", sinks: "k1", want: []string{"4:no-type"}},
		{name: "source keeps its valid channels", text: strings.Replace(base, "r1.channels = c1", "r1.channels = c1 c9", 1),
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"5:unknown-channel"}},
		{name: "source with no valid channel", text: strings.Replace(base, "r1.channels = c1", "r1.channels = c9", 1),
			sources: "", chans: "c1", sinks: "k1", want: []string{"5:no-channels", "5:unknown-channel"}},
		{name: "sink without type", text: strings.Replace(base, "a.sinks.k1.type = logger\n", "", 1),
			sources: "r1", chans: "c1", sinks: "", want: []string{"7:no-type"}},
		{name: "sink on a channel not in the active set", text: strings.Replace(base, "k1.channel = c1", "k1.channel = c1 c2", 1),
			sources: "r1", chans: "c1", sinks: "", want: []string{"8:unknown-channel"}},
		{name: "no sources and no sinks", text: "a.channels = c1\na.channels.c1.type = memory\n",
			want: []string{"1:empty-agent"}, skipComponentsCheck: true},
		{name: "configured but not listed", text: base + "a.sinks.k2.type = null\na.sinks.k2.channel = c1\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:not-listed"}},
		{name: "channel nothing connects to", text: strings.Replace(base, "a.channels = c1", "a.channels = c1 c2", 1) + "a.channels.c2.type = memory\n",
			sources: "r1", chans: "c1", sinks: "k1", want: []string{"9:unused-channel"}},
		{name: "sink group", text: base + "a.sinks = k1 k2\na.sinks.k2.type = null\na.sinks.k2.channel = c1\na.sinkgroups = g1\na.sinkgroups.g1.sinks = k1 k2\na.sinkgroups.g1.processor.type = load_balance\n",
			sources: "r1", chans: "c1", sinks: "k1 k2", groups: "g1", want: []string{"9:duplicate-key"}},
		{name: "group names an unknown sink", text: base + "a.sinkgroups = g1\na.sinkgroups.g1.sinks = k1 k9\na.sinkgroups.g1.processor.type = failover\n",
			sources: "r1", chans: "c1", sinks: "k1", groups: "g1", want: []string{"10:unknown-sink", "6:memory-channel"}},
		{name: "group with no valid sink", text: base + "a.sinkgroups = g1\na.sinkgroups.g1.sinks = k9\na.sinkgroups.g1.processor.type = failover\n",
			sources: "r1", chans: "c1", sinks: "k1", groups: "", want: []string{"10:no-sinks", "10:unknown-sink"}},
		{name: "group without sinks key", text: base + "a.sinkgroups = g1\na.sinkgroups.g1.processor.type = failover\n",
			sources: "r1", chans: "c1", sinks: "k1", groups: "", want: []string{"10:no-sinks"},
			wantMessageContains: "NullPointerException", wantMessageContainsAt: 10, wantMessageContainsFor: "no-sinks"},
		{name: "group without processor type", text: base + "a.sinkgroups = g1\na.sinkgroups.g1.sinks = k1\n",
			sources: "r1", chans: "c1", sinks: "k1", groups: "", want: []string{"10:no-type"}},
		{name: "sink in two groups", text: base + "a.sinks = k1 k2\na.sinks.k2.type = null\na.sinks.k2.channel = c1\na.sinkgroups = g1 g2\n" +
			"a.sinkgroups.g1.sinks = k1 k2\na.sinkgroups.g1.processor.type = failover\na.sinkgroups.g2.sinks = k2\na.sinkgroups.g2.processor.type = failover\n",
			sources: "r1", chans: "c1", sinks: "k1 k2", groups: "g1", want: []string{"15:no-sinks", "15:sink-in-two-groups", "9:duplicate-key", "6:memory-channel"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := build(t, tc.text)
			got := rules(a, false)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("findings %v, want %v\n%s", got, want, dumpFindings(a))
			}
			if !tc.skipComponentsCheck {
				if names(a.Sources) != tc.sources || names(a.Channels) != tc.chans || names(a.Sinks) != tc.sinks || names(a.SinkGroups) != tc.groups {
					t.Errorf("survivors %q/%q/%q/%q, want %q/%q/%q/%q", names(a.Sources), names(a.Channels), names(a.Sinks), names(a.SinkGroups),
						tc.sources, tc.chans, tc.sinks, tc.groups)
				}
			} else if len(a.Sources)+len(a.Channels)+len(a.Sinks) != 0 {
				t.Errorf("an invalid agent kept components")
			}
			if tc.wantMessageContains != "" {
				found := false
				for _, f := range a.Findings {
					if f.Line == tc.wantMessageContainsAt && f.Rule == tc.wantMessageContainsFor && strings.Contains(f.Message+f.Fix, tc.wantMessageContains) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s finding at line %d says %q\n%s", tc.wantMessageContainsFor, tc.wantMessageContainsAt, tc.wantMessageContains, dumpFindings(a))
				}
			}
			for _, f := range a.Findings {
				if f.Severity != Note && (f.File == "" || f.Message == "" || f.Rule == "") {
					t.Errorf("finding without file, message or rule: %+v", f)
				}
			}
		})
	}
}

func dumpFindings(a *Agent) string {
	var b strings.Builder
	for _, f := range a.Findings {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func TestBuildMisspeltAgent(t *testing.T) {
	text := strings.ReplaceAll(base, "a.", "agent.") + "agnet.sinks.k1.batchSize = 9\nagnet.sinks.k2.type = null\nother.sinks = x\n"
	props, _ := ParseProperties("m.conf", strings.NewReader(text))
	a := Build(props, "agent", Options{})
	if got := strings.Join(rules(a, true), " "); got != "9:agent-name" {
		t.Errorf("findings %s\n%s", got, dumpFindings(a))
	}
	// An agent with lists of its own is not a misspelling.
	props, _ = ParseProperties("m.conf", strings.NewReader(text+"agnet.sources = r1\n"))
	if a := Build(props, "agent", Options{}); len(a.Findings) != 0 {
		t.Errorf("findings:\n%s", dumpFindings(a))
	}
}

func TestBuildMergesFiles(t *testing.T) {
	p1, _ := ParseProperties("one.conf", strings.NewReader(base))
	p2, _ := ParseProperties("two.conf", strings.NewReader("a.channels.c1.type = file\n"))
	a := Build(append(p1, p2...), "a", Options{})
	c1 := a.Component(KindChannel, "c1")
	if c1 == nil || c1.Type != "file" || c1.Pos.File != "two.conf" {
		t.Fatalf("c1 = %+v", c1)
	}
	if strings.Join(a.Files, " ") != "one.conf two.conf" {
		t.Errorf("files %v", a.Files)
	}
	if f := has(a, 1, "duplicate-key", Warning); f == nil || f.File != "two.conf" || !strings.Contains(f.Message, "one.conf:6") {
		t.Errorf("override not reported: %s", dumpFindings(a))
	}
}

func TestBuildByteOrderMark(t *testing.T) {
	a := build(t, "\uFEFF"+base)
	if f := has(a, 1, "byte-order-mark", Error); f == nil {
		t.Fatalf("no byte-order-mark error:\n%s", dumpFindings(a))
	}
	if len(a.Sources) != 0 {
		t.Errorf("the BOM-prefixed sources list was used")
	}
	// A BOM before a comment line is harmless, as in Flume.
	a = build(t, "\uFEFF# comment\n"+base)
	if got := rules(a, true); len(got) != 0 {
		t.Errorf("findings: %v", got)
	}
	props, _ := ParseProperties("x", strings.NewReader("\uFEFFa.sources = r1\nb.x = 1\n"))
	if got := strings.Join(AgentNames(props), " "); got != "a b" {
		t.Errorf("AgentNames = %q", got)
	}
}

func TestBuildLatin1Note(t *testing.T) {
	props, err := ParseProperties("l.conf", strings.NewReader(base+"a.sinks.k1.x = caf\xe9\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := Build(props, "a", Options{})
	if f := has(a, 1, "latin1", Note); f == nil {
		t.Errorf("no latin1 note:\n%s", dumpFindings(a))
	}
	if v := a.Component(KindSink, "k1").Props["x"].Value; v != "café" {
		t.Errorf("x = %q", v)
	}
}
