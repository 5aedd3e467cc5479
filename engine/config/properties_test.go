package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

type kv struct{ k, v string }

// propertyCases are the rules of java.util.Properties.load, one or more
// cases each. Every expectation was checked against OpenJDK 17's
// Properties.load (TestJavaDifferential re-checks them when SLUICE_JAVA=1).
var propertyCases = []struct {
	name string
	in   string
	want []kv // in file order; nil with err set means the load fails
	err  bool
}{
	{name: "equals separator", in: "a=b", want: []kv{{"a", "b"}}},
	{name: "colon separator", in: "a:b", want: []kv{{"a", "b"}}},
	{name: "space separator", in: "a b", want: []kv{{"a", "b"}}},
	{name: "tab separator", in: "a\tb", want: []kv{{"a", "b"}}},
	{name: "form feed separator", in: "a\fb", want: []kv{{"a", "b"}}},
	{name: "whitespace around equals", in: "a = b", want: []kv{{"a", "b"}}},
	{name: "whitespace around colon", in: "a\t:\tb", want: []kv{{"a", "b"}}},
	{name: "second equals is value", in: "a==b", want: []kv{{"a", "=b"}}},
	{name: "spaced second equals is value", in: "a = = b", want: []kv{{"a", "= b"}}},
	{name: "colon then equals", in: "a :=b", want: []kv{{"a", "=b"}}},
	{name: "space then equals then equals", in: "a = =b", want: []kv{{"a", "=b"}}},
	{name: "key only", in: "a", want: []kv{{"a", ""}}},
	{name: "key and separator only", in: "a=", want: []kv{{"a", ""}}},
	{name: "key and spaces only", in: "a   ", want: []kv{{"a", ""}}},
	{name: "trailing whitespace kept", in: "a = b  \t", want: []kv{{"a", "b  \t"}}},
	{name: "leading whitespace skipped", in: "  \t\fa=b", want: []kv{{"a", "b"}}},
	{name: "hash comment", in: "# a=b\nc=d", want: []kv{{"c", "d"}}},
	{name: "bang comment", in: "! a=b\nc=d", want: []kv{{"c", "d"}}},
	{name: "indented comment", in: "   # a=b\nc=d", want: []kv{{"c", "d"}}},
	{name: "comment without space", in: "#a=b", want: nil},
	{name: "hash inside value is kept", in: "a = 100  # primary", want: []kv{{"a", "100  # primary"}}},
	{name: "hash inside key", in: "a#b=c", want: []kv{{"a#b", "c"}}},
	{name: "comment does not continue", in: "# note \\\na=b", want: []kv{{"a", "b"}}},
	{name: "continuation", in: "a = b\\\n   c", want: []kv{{"a", "bc"}}},
	{name: "continuation crlf", in: "a=b\\\r\n c", want: []kv{{"a", "bc"}}},
	{name: "continuation cr", in: "a=b\\\r c", want: []kv{{"a", "bc"}}},
	{name: "continuation in key", in: "ab\\\n  cd=e", want: []kv{{"abcd", "e"}}},
	{name: "escaped backslash does not continue", in: "a=b\\\\\nc=d", want: []kv{{"a", "b\\"}, {"c", "d"}}},
	{name: "three backslashes continue", in: "a=b\\\\\\\nc", want: []kv{{"a", "b\\c"}}},
	{name: "blank line ends continuation", in: "a=b\\\n\nc=d", want: []kv{{"a", "b"}, {"c", "d"}}},
	{name: "whitespace line ends continuation", in: "a=b\\\n   \nc=d", want: []kv{{"a", "b"}, {"c", "d"}}},
	{name: "continuation at end of file", in: "a=b\\", want: []kv{{"a", "b"}}},
	{name: "continued hash is value", in: "a=b\\\n#c", want: []kv{{"a", "b#c"}}},
	{name: "continued bang is value", in: "a=b\\\n  !c", want: []kv{{"a", "b!c"}}},
	{name: "empty continuation then comment", in: "\\\n#c=d\ne=f", want: []kv{{"e", "f"}}},
	{name: "continuation of backslash-only line", in: "a=b\\\n  \\\n  c", want: []kv{{"a", "bc"}}},
	{name: "escaped space starts continued line", in: "a=b\\\n\\ c", want: []kv{{"a", "b c"}}},
	{name: "escapes tnrf", in: `a=\t\n\r\f`, want: []kv{{"a", "\t\n\r\f"}}},
	{name: "unknown escape is the character", in: `a=\x\q\"`, want: []kv{{"a", `xq"`}}},
	{name: "escaped separator in value", in: `a=\=\:`, want: []kv{{"a", "=:"}}},
	{name: "escaped space in key", in: `a\ b=c`, want: []kv{{"a b", "c"}}},
	{name: "escaped equals in key", in: `a\=b=c`, want: []kv{{"a=b", "c"}}},
	{name: "escaped colon in key", in: `a\:b c`, want: []kv{{"a:b", "c"}}},
	{name: "escaped hash starts key", in: `\#a=b`, want: []kv{{"#a", "b"}}},
	{name: "escaped trailing space in key", in: `a\ =b`, want: []kv{{"a ", "b"}}},
	{name: "escaped backslash in key", in: `a\\=b`, want: []kv{{`a\`, "b"}}},
	{name: "unicode escapes", in: `a=\u0041\u00e9\u00E9`, want: []kv{{"a", "Aéé"}}},
	{name: "unicode escape in key", in: `\u0061=b`, want: []kv{{"a", "b"}}},
	{name: "surrogate pair escapes", in: `a=\uD83D\uDE00`, want: []kv{{"a", "😀"}}},
	{name: "short unicode escape fails", in: `a=\u12`, err: true},
	{name: "bad hex in unicode escape fails", in: `a=\u12G4`, err: true},
	{name: "bad unicode escape in key fails", in: `\uzzzz=b`, err: true},
	{name: "utf-8 text", in: "主=值 # 注释", want: []kv{{"主", "值 # 注释"}}},
	{name: "lf lines", in: "a=b\nc=d\n", want: []kv{{"a", "b"}, {"c", "d"}}},
	{name: "cr lines", in: "a=b\rc=d\r", want: []kv{{"a", "b"}, {"c", "d"}}},
	{name: "crlf lines", in: "a=b\r\nc=d\r\n", want: []kv{{"a", "b"}, {"c", "d"}}},
	{name: "mixed line ends", in: "a=b\r\n\rc=d\n\r\ne=f", want: []kv{{"a", "b"}, {"c", "d"}, {"e", "f"}}},
	{name: "duplicates kept in order", in: "a=1\na=2", want: []kv{{"a", "1"}, {"a", "2"}}},
	{name: "empty file", in: "", want: nil},
	{name: "blank lines only", in: "\n \t\n\r\n", want: nil},
	{name: "byte-order mark is part of the key", in: "\uFEFFa=b", want: []kv{{"\uFEFFa", "b"}}},
	{name: "byte-order mark before a comment", in: "\uFEFF# c\nd=e", want: []kv{{"\uFEFF#", "c"}, {"d", "e"}}},
	{name: "no-break space is not whitespace", in: "a\u00A0=\u00A0b", want: []kv{{"a\u00A0", "\u00A0b"}}},
	{name: "ideographic space is not whitespace", in: "a\u3000b", want: []kv{{"a\u3000b", ""}}},
}

func TestParsePropertiesJavaRules(t *testing.T) {
	for _, tc := range propertyCases {
		t.Run(tc.name, func(t *testing.T) {
			props, err := ParseProperties("t.properties", strings.NewReader(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("parsed %q without error: %+v", tc.in, props)
				}
				if !strings.Contains(err.Error(), "t.properties:1") {
					t.Errorf("error %q does not name the file and line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tc.in, err)
			}
			var got []kv
			for _, p := range props {
				got = append(got, kv{p.Key, p.Value})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseProperties(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("ParseProperties(%q)[%d] = %q, want %q", tc.in, i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParsePropertiesLineNumbers(t *testing.T) {
	in := "# header\n\n a = 1\nb = 2 \\\n   continued\n\\\n\nc=3\r\nd=4\re=5\n   \\\n  f=6"
	props, err := ParseProperties("x.conf", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 3, "b": 4, "c": 8, "d": 9, "e": 10, "f": 12}
	if len(props) != len(want) {
		t.Fatalf("got %d properties, want %d: %+v", len(props), len(want), props)
	}
	for _, p := range props {
		if p.Pos.Line != want[p.Key] || p.Pos.File != "x.conf" {
			t.Errorf("%s at %s, want x.conf:%d", p.Key, p.Pos, want[p.Key])
		}
	}
	if props[1].Value != "2 continued" {
		t.Errorf("b = %q", props[1].Value)
	}
}

func TestParsePropertiesLatin1(t *testing.T) {
	// "a=caf\xe9" is not UTF-8; Flume 1.10+ reads every file as ISO-8859-1.
	props, err := ParseProperties("l.conf", bytes.NewReader([]byte("a=caf\xe9\n# \xff\nb=\\u00e9")))
	if err != nil {
		t.Fatal(err)
	}
	if len(props) != 2 || props[0].Value != "café" || props[1].Value != "é" || !props[0].Latin1 {
		t.Fatalf("got %+v", props)
	}
	props, err = ParseProperties("u.conf", strings.NewReader("a=café"))
	if err != nil || props[0].Latin1 || props[0].Value != "café" {
		t.Fatalf("UTF-8 file: %+v, %v", props, err)
	}
}

func TestParsePropertiesLimits(t *testing.T) {
	big := strings.Repeat("x", MaxLineBytes+10)
	if _, err := ParseProperties("big.conf", strings.NewReader("a="+big)); err == nil || !strings.Contains(err.Error(), "big.conf:1") {
		t.Errorf("overlong line: err = %v", err)
	}
	huge := strings.Repeat("a=b\n", MaxFileBytes/4+1)
	if _, err := ParseProperties("huge.conf", strings.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "huge.conf") {
		t.Errorf("oversized file: err = %v", err)
	}
	// A read error is reported with the file name, and nothing half-read
	// is returned as if it were the whole file.
	boom := errors.New("disk on fire")
	props, err := ParseProperties("r.conf", iotest.TimeoutReader(iotest.ErrReader(boom)))
	if err == nil || !strings.Contains(err.Error(), "r.conf") || props != nil {
		t.Errorf("read error: %v, %v", props, err)
	}
}

func TestJavaTrimAndSplit(t *testing.T) {
	if got := javaTrim(" \t\x00a b\x1f\n"); got != "a b" {
		t.Errorf("javaTrim = %q", got)
	}
	if got := javaTrim("\u00A0a\u3000"); got != "\u00A0a\u3000" {
		t.Errorf("javaTrim removed a non-ASCII space: %q", got)
	}
	if got := splitWS("a \t b\u00A0c\nd"); strings.Join(got, "|") != "a|b\u00A0c|d" {
		t.Errorf("splitWS = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range propertyCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("agent.sources = r1\nagent.sources.r1.type = seq\nagent.sources.r1.channels = c1\n" +
		"agent.channels = c1\nagent.channels.c1.type = memory\nagent.sinks = k1\n" +
		"agent.sinks.k1.type = logger\nagent.sinks.k1.channel = c1\nagent.sinkgroups = g\n" +
		"agent.sinkgroups.g.sinks = k1\nagent.sinkgroups.g.processor.type = failover # x\n" +
		"agent.sinks.k1.path = ${env:HOME:-/tmp}/$${x}/${agent.sinks.k1.type}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ParseProperties("fuzz.conf", bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range props {
			if p.Pos.Line < 1 || p.Pos.Line > bytes.Count(data, []byte("\n"))+bytes.Count(data, []byte("\r"))+1 {
				t.Fatalf("line %d out of range", p.Pos.Line)
			}
		}
		// Whatever was parsed must survive Flume's validation and the
		// lint rules without a panic, for every agent it names.
		for _, name := range AgentNames(props) {
			a := Build(props, name, Options{Env: func(string) (string, bool) { return "", false }})
			Merge(a.Findings)
		}
	})
}
