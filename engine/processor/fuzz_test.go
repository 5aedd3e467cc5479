package processor

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzJavaParseInt checks the Integer.parseInt model against Go's parser
// restricted to what Java accepts: ASCII digits with an optional sign,
// within int32.
func FuzzJavaParseInt(f *testing.F) {
	for _, s := range []string{"100", "+7", "-2147483648", "2147483648", " 1", "1_000", "0x10", "", "-", "+", "007", "100  # c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := javaParseInt(s)
		want, err := strconv.ParseInt(s, 10, 32)
		if ok != (err == nil) || (ok && int64(got) != want) {
			t.Fatalf("javaParseInt(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}

// FuzzGroupConfig feeds arbitrary processor values through config parsing:
// each either fails with an error naming the file, line and key, or builds
// a processor that runs.
func FuzzGroupConfig(f *testing.F) {
	f.Add("failover", "100  # primary", "30000", "round_robin", "true", "0")
	f.Add("failover", "-1", "-5", "random", "false", "5000")
	f.Add("load_balance", "", "", "ROUND_ROBIN", "TRUE", "-3")
	f.Add("load_balance", "7", "1", "com.example.X", "yes", "99999999999999999999")
	f.Fuzz(func(t *testing.T, typ, prio, maxPenalty, selector, backoff, maxTimeOut string) {
		for _, v := range []string{typ, prio, maxPenalty, selector, backoff, maxTimeOut} {
			if strings.ContainsAny(v, "\n\r\\") || !utf8.ValidString(v) {
				return // one line per value: the properties syntax is the config package's to fuzz
			}
		}
		typ = map[bool]string{true: "failover", false: "load_balance"}[strings.HasPrefix(typ, "f")]
		lines := []string{"a1.sinkgroups.g1.processor.type = " + typ}
		add := func(key, v string) {
			if strings.TrimSpace(v) != "" {
				lines = append(lines, "a1.sinkgroups.g1.processor."+key+" = "+v)
			}
		}
		add("priority.k1", prio)
		add("maxpenalty", maxPenalty)
		add("selector", selector)
		add("backoff", backoff)
		add("selector.maxTimeOut", maxTimeOut)
		text := conf("k1 k2", lines...)
		sinks := []string{"k1", "k2"}
		var err error
		var run func()
		if typ == "failover" {
			var cfg FailoverConfig
			cfg, err = ParseFailover(groupReader(t, text), sinks)
			run = func() {
				list, _ := mocks(t, sinks...)
				p := NewFailover(newFixture().env, "g1", list, cfg)
				p.Process(context.Background())
			}
		} else {
			var cfg LoadBalanceConfig
			cfg, err = ParseLoadBalance(groupReader(t, text), sinks)
			run = func() {
				list, _ := mocks(t, sinks...)
				p := NewLoadBalance(newFixture().env, "g1", list, cfg)
				p.Process(context.Background())
			}
		}
		if err != nil {
			if !strings.Contains(err.Error(), "agent.conf:") || !strings.Contains(err.Error(), "a1.sinkgroups.g1.processor.") {
				t.Fatalf("error without file:line and key: %v", err)
			}
			return
		}
		run()
		_ = lint(t, text)
	})
}
