package config

import (
	"strings"
	"testing"
)

// TestSubstitution follows Commons Text's StringSubstitutor as Flume 1.10+
// configures it (MapResolver).
func TestSubstitution(t *testing.T) {
	env := map[string]string{"HOME": "/home/f", "PORT": "4141", "EMPTY": "", "WHICH": "PORT",
		"DOLLAR": "$", "LOOP": "${env:LOOP}", "REF": "${env:HOME}/x"}
	sys := map[string]string{"collector.port": "5000", "flume.dir": "/var/flume"}
	cases := []struct {
		name, value, want string
		rule              string // expected finding on the line, "" for none
		sev               Severity
	}{
		{name: "env", value: "${env:HOME}/data", want: "/home/f/data"},
		{name: "env prefix is case-insensitive", value: "${ENV:PORT}", want: "4141"},
		{name: "empty env is a value", value: "x${env:EMPTY}y", want: "xy"},
		{name: "sys", value: "${sys:collector.port}", want: "5000"},
		{name: "plain name falls back to -D (Sluice)", value: "${flume.dir}/cp", want: "/var/flume/cp"},
		{name: "default", value: "${env:NOPE:-/tmp/x}", want: "/tmp/x"},
		{name: "empty default", value: "a${env:NOPE:-}b", want: "ab"},
		{name: "default not used when set", value: "${env:PORT:-1}", want: "4141"},
		{name: "escaped", value: "$${env:HOME}", want: "${env:HOME}"},
		{name: "escaped then real", value: "$${x}-${env:PORT}", want: "${x}-4141"},
		{name: "nested variable name", value: "${env:${env:WHICH}}", want: "4141"},
		{name: "substituted text is substituted again", value: "${env:REF}", want: "/home/f/x"},
		{name: "escape can come from a substitution", value: "${env:DOLLAR}${env:PORT}", want: "${env:PORT}"},
		{name: "no closing brace", value: "${env:HOME", want: "${env:HOME"},
		{name: "two variables", value: "${env:HOME}:${env:PORT}", want: "/home/f:4141"},
		{name: "unresolved stays", value: "${env:NOPE}", want: "${env:NOPE}", rule: "unresolved-substitution", sev: Warning},
		{name: "unknown prefix tries the plain name", value: "${foo:PORT}", want: "${foo:PORT}", rule: "unresolved-substitution", sev: Warning},
		{name: "cycle", value: "${env:LOOP}", want: "${env:LOOP}", rule: "substitution-cycle", sev: Error},
		{name: "date lookup unsupported", value: "${date:yyyy}", want: "${date:yyyy}", rule: "unsupported-substitution", sev: Warning},
		{name: "property reference", value: "${a.sinks.k1.type}", want: "logger", rule: "property-reference", sev: Note},
		{name: "config filter reference left alone", value: "${f1['KEY']}", want: "${f1['KEY']}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := buildEnv(t, base+"a.sinks.k1.v = "+tc.value+"\n", env, sys)
			k1 := a.Component(KindSink, "k1")
			if k1 == nil {
				t.Fatalf("k1 dropped:\n%s", dumpFindings(a))
			}
			if got := k1.Props["v"].Value; got != tc.want {
				t.Errorf("%q -> %q, want %q", tc.value, got, tc.want)
			}
			var got []string
			for _, f := range a.Findings {
				got = append(got, f.Rule)
			}
			if tc.rule == "" {
				if len(got) != 0 {
					t.Errorf("unexpected findings:\n%s", dumpFindings(a))
				}
				return
			}
			if f := has(a, 9, tc.rule, tc.sev); f == nil {
				t.Errorf("no %s %s at line 9:\n%s", tc.sev, tc.rule, dumpFindings(a))
			}
		})
	}
}

func TestSubstitutionPropertyChains(t *testing.T) {
	text := base + "a.sinks.k1.dir = ${a.sinks.k1.root}/logs\na.sinks.k1.root = ${env:HOME}\n" +
		"a.sinks.k1.p = ${a.sinks.k1.q}\na.sinks.k1.q = ${a.sinks.k1.p}\n"
	a := buildEnv(t, text, map[string]string{"HOME": "/h"}, nil)
	k1 := a.Component(KindSink, "k1")
	if got := k1.Props["dir"].Value; got != "/h/logs" {
		t.Errorf("dir = %q", got)
	}
	if has(a, 11, "substitution-cycle", Error) == nil && has(a, 12, "substitution-cycle", Error) == nil {
		t.Errorf("property cycle not reported:\n%s", dumpFindings(a))
	}
}

func TestSubstitutionEnvVarResolverProperties(t *testing.T) {
	env := map[string]string{"PORT": "4141"}
	a := buildEnv(t, base+"a.sinks.k1.v = ${PORT}\n", env, nil)
	if v := a.Component(KindSink, "k1").Props["v"].Value; v != "${PORT}" {
		t.Errorf("plain ${PORT} read the environment without EnvVarResolverProperties: %q", v)
	}
	a = buildEnv(t, base+"a.sinks.k1.v = ${PORT}\n", env, map[string]string{"propertiesImplementation": envVarResolver})
	if v := a.Component(KindSink, "k1").Props["v"].Value; v != "4141" {
		t.Errorf("with EnvVarResolverProperties: %q", v)
	}
}

func TestSubstitutionAppliesBeforeTrim(t *testing.T) {
	a := buildEnv(t, base+"a.sinks.k1.v = ${env:PAD}\n", map[string]string{"PAD": "  x  "}, nil)
	if v := a.Component(KindSink, "k1").Props["v"].Value; v != "x" {
		t.Errorf("v = %q", v)
	}
	// A list may come from the environment too.
	a = buildEnv(t, strings.Replace(base, "a.sinks = k1", "a.sinks = ${env:SINKS}", 1), map[string]string{"SINKS": "k1"}, nil)
	if names(a.Sinks) != "k1" {
		t.Errorf("sinks %q:\n%s", names(a.Sinks), dumpFindings(a))
	}
}

func TestConfigFilters(t *testing.T) {
	env := map[string]string{"SECRET": "s3cr3t", "USER": "flume"}
	text := base + "a.configfilters = f1 f2\na.configfilters.f1.type = env\na.configfilters.f2.type = hadoop\n" +
		"a.sinks.k1.password = ${f1['SECRET']}\na.sinks.k1.user = ${f1[USER]}-${f1[\"USER\"]}\n" +
		"a.sinks.k1.missing = ${f1['NOPE']}\na.sinks.k1.other = ${f2['X']}\na.sinks.k1.bad = ${f1['a b']}\n"
	a := buildEnv(t, text, env, nil)
	k1 := a.Component(KindSink, "k1")
	want := map[string]string{"password": "s3cr3t", "user": "flume-flume", "missing": "${f1['NOPE']}", "other": "${f2['X']}", "bad": "${f1['a b']}"}
	for k, v := range want {
		if got := k1.Props[k].Value; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if has(a, 11, "unsupported-filter", Error) == nil {
		t.Errorf("hadoop filter not reported:\n%s", dumpFindings(a))
	}
	for _, f := range a.Findings {
		if f.Rule == "invalid-key" || f.Rule == "unresolved-substitution" {
			t.Errorf("config filter keys misreported: %s", f)
		}
	}
}
