package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lint runs the rules that catch Flume's traps without needing the
// components to be implemented. They read the validated agent (and for a
// few rules every configured key), and only report; Build has already
// dropped what Flume drops.
func (a *Agent) lint() {
	a.lintValues()
	a.lintDocKeys()
	caps := a.lintChannelCapacity()
	a.lintBatchSizes(caps)
	a.lintGroups()
	a.lintHDFSTimestamp()
	a.lintMemoryChannels()
	a.lintSharedChannels()
}

// javaInt is Integer.parseInt: decimal, optional sign, 32 bits.
func javaInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	return n, err == nil
}

// javaLong is Long.parseLong.
func javaLong(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// inlineComment returns the text before a "#" that starts a would-be end
// of line comment: at the start of the value or after whitespace.
func inlineComment(v string) (before string, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
			return javaTrim(v[:i]), true
		}
	}
	return "", false
}

// oddSpaces are characters that look like spaces but are not whitespace to
// Java's Properties or String.trim, so they become part of keys and values.
var oddSpaces = map[rune]string{
	'\u00A0': "no-break space", '\u3000': "ideographic (full-width) space", '\u2002': "en space",
	'\u2003': "em space", '\u2009': "thin space", '\u200B': "zero-width space", '\u202F': "narrow no-break space",
	'\uFEFF': "zero-width no-break space", '\u0085': "next-line character", '\u1680': "ogham space mark",
	'\u2000': "en quad", '\u2001': "em quad", '\u2004': "three-per-em space", '\u2005': "four-per-em space",
	'\u2006': "six-per-em space", '\u2007': "figure space", '\u2008': "punctuation space", '\u200A': "hair space",
	'\u205F': "medium mathematical space",
}

func edgeOddSpace(s string) (rune, bool) {
	if s == "" {
		return 0, false
	}
	r, _ := utf8.DecodeRuneInString(s)
	if _, ok := oddSpaces[r]; ok {
		return r, true
	}
	r, _ = utf8.DecodeLastRuneInString(s)
	_, ok := oddSpaces[r]
	return r, ok
}

// lintValues looks at every key of the agent for the properties-file traps:
// end-of-line comments, which Java keeps in the value, and look-alike spaces.
func (a *Agent) lintValues() {
	for _, k := range a.sortedRawKeys() {
		p := a.Raw[k]
		full := a.Name + "." + k
		for _, r := range full {
			if name, ok := oddSpaces[r]; ok {
				a.Add(Error, p.Pos, full, "odd-space",
					fmt.Sprintf("key %q contains a %s (U+%04X); Java does not treat it as whitespace, so Flume does not recognise the key", full, name, r),
					"retype the line with plain spaces")
				break
			}
		}
		if r, ok := edgeOddSpace(p.Value); ok {
			a.Add(Error, p.Pos, full, "odd-space",
				fmt.Sprintf("the value of %s starts or ends with a %s (U+%04X); Java's trim keeps it, so Flume reads %q", full, oddSpaces[r], r, p.Value),
				"retype the value with plain spaces")
		}
		if p.Swallowed != "" {
			a.Add(Warning, p.Pos, full, "swallowed-escape",
				fmt.Sprintf("the value of %s is written with %s, but a backslash in a properties file escapes the next character, so Flume reads %q", full, p.Swallowed, p.Value),
				fmt.Sprintf("write a double backslash (\\%s) where a backslash is meant, as regular expressions and Windows paths need", p.Swallowed[1:]))
		}
		before, ok := inlineComment(p.Value)
		if !ok {
			continue
		}
		sev := Warning
		what := fmt.Sprintf("if \"#...\" is meant as a comment, the value is %q", before)
		if before != "" && !strings.ContainsAny(before, " \t") {
			sev = Error
			what = "Flume reads the whole text, not " + strconv.Quote(before)
		}
		if before == "" {
			what = "the whole value is the comment"
		}
		msg := fmt.Sprintf("the value of %s is %q: Java properties have no end-of-line comments, so the comment is part of the value; %s", full, p.Value, what)
		if c := a.commentConsequence(k, before); c != "" && sev == Error {
			msg += "; " + c
		}
		a.Add(sev, p.Pos, full, "inline-comment", msg, "move the comment to a line of its own starting with #")
	}
}

// commentConsequence says what Flume does with a value that has a comment
// glued to it, for the keys where that is known.
func (a *Agent) commentConsequence(key, before string) string {
	if _, numeric := javaLong(before); !numeric {
		if strings.HasSuffix(key, ".type") {
			return "Flume does not know that type"
		}
		return ""
	}
	if g, sub, ok := parseComponentKey(key, "sinkgroups."); ok {
		c := a.all[KindSinkGroup][g]
		if s, ok := strings.CutPrefix(sub, "processor.priority."); ok && c != nil && typeIs(c, "failover") {
			return fmt.Sprintf("Flume cannot parse a priority and gives %s an arbitrary negative one (hash order), so the failover order is not the one written", s)
		}
		if sub == "processor.maxpenalty" {
			return "Flume cannot parse it and uses the default, 30000"
		}
	}
	if n, sub, ok := parseComponentKey(key, "channels."); ok {
		if c := a.all[KindChannel][n]; c != nil && (sub == "capacity" || sub == "transactionCapacity") {
			if typeIs(c, "memory") {
				return "the memory channel cannot parse it and uses its default"
			}
			return "the channel cannot parse it and Flume drops the channel"
		}
	}
	return "a component that expects a number cannot parse it; Flume drops the component or uses a default"
}

// docKey is a key that Flume's documentation (or common copies of it)
// shows but the code does not read.
type docKey struct {
	kind  Kind
	typ   string // Flume alias or class the key belongs to
	wrong string // as documented; matched without case unless exact
	exact bool
	right string
	what  string
}

var docKeys = []docKey{
	{kind: KindSink, typ: "org.apache.flume.sink.kafka.KafkaSink", wrong: "kafka.flumeBatchSize", exact: true, right: "flumeBatchSize",
		what: "the Kafka sink reads flumeBatchSize (no kafka. prefix; the user guide's example is wrong), so the batch size stays at its default, 100"},
	{kind: KindSinkGroup, typ: "load_balance", wrong: "processor.selector.maxTimeOut", right: "processor.selector.maxTimeOut",
		what: "the load-balancing processor reads processor.selector.maxTimeOut with a capital O and T, so the back-off cap stays 30000 ms"},
	{kind: KindSinkGroup, typ: "failover", wrong: "processor.maxpenalty", right: "processor.maxpenalty",
		what: "the failover processor reads processor.maxpenalty in lower case, so the maximum penalty stays 30000 ms"},
	{kind: KindSink, typ: "thrift", wrong: "connection-reset-interval", exact: true, right: "reset-connection-interval",
		what: "the Thrift sink reads reset-connection-interval (the user guide has the words swapped), so connections are never reset"},
	{kind: KindChannel, typ: "org.apache.flume.channel.kafka.KafkaChannel", wrong: "pollTimeout", exact: true, right: "kafka.pollTimeout",
		what: "the Kafka channel reads kafka.pollTimeout, so the poll timeout stays 500 ms"},
	{kind: KindSource, typ: "multiport_syslogtcp", wrong: "readBufferSize", exact: true, right: "readBufferBytes",
		what: "the multiport syslog source reads readBufferBytes, so the buffer stays 1024 bytes"},
}

func (a *Agent) lintDocKeys() {
	for _, d := range docKeys {
		for _, c := range a.list(d.kind) {
			if !typeIs(c, d.typ) {
				continue
			}
			for _, k := range sortedKeysOf(c.Props) {
				if k == d.right || !(k == d.wrong || (!d.exact && strings.EqualFold(k, d.wrong))) {
					continue
				}
				f := NewFinding(Warning, c.KeyPos(k), c.FullKey(a.Name, k), "ignored-key",
					fmt.Sprintf("%s %s: Flume ignores %s; %s", c.Kind, c.Name, k, d.what), "rename it "+d.right)
				f.Component = c.String()
				a.Findings = append(a.Findings, f)
			}
		}
	}
}

// lintChannelCapacity applies the channels' own capacity rule: Flume refuses
// to configure a channel whose transactionCapacity exceeds its capacity. It
// returns the effective transactionCapacity of every channel that has one,
// as Flume computes it, for the batch-size rule.
func (a *Agent) lintChannelCapacity() map[string]int64 {
	out := map[string]int64{}
	for _, c := range a.Channels {
		t, ok := LookupFlumeType(KindChannel, c.Type)
		if !ok || t.TxnCapacity == 0 {
			continue
		}
		memory := t.Alias == "memory"
		num := func(key string, def int64) (int64, bool) {
			p, ok := c.Props[key]
			if !ok {
				return def, true
			}
			n, ok := javaInt(javaTrim(p.Value))
			if !ok {
				// The memory channel falls back to its default; the
				// file channel fails (and inline-comment says why).
				return def, memory
			}
			if n <= 0 {
				return def, true
			}
			return n, true
		}
		capacity, ok1 := num("capacity", int64(t.Capacity))
		txn, ok2 := num("transactionCapacity", int64(t.TxnCapacity))
		if !ok1 || !ok2 {
			continue
		}
		if txn > capacity {
			key := "transactionCapacity"
			if _, set := c.Props[key]; !set {
				key = "capacity"
			}
			a.addAbout(c, Error, key, "txn-capacity",
				fmt.Sprintf("channel %s: transactionCapacity %d is greater than capacity %d; Flume refuses to configure the channel and drops it, with every source and sink on it", c.Name, txn, capacity),
				"make transactionCapacity <= capacity")
			continue
		}
		out[c.Name] = txn
	}
	return out
}

// batchOf returns a component's batch size as Flume reads it, and the key
// it came from.
func batchOf(c *Component, t FlumeType) (int64, string, bool) {
	key := t.BatchKey
	p, ok := c.Props[key]
	if !ok && t.Class == "org.apache.flume.sink.kafka.KafkaSink" {
		if old, has := c.Props["batchSize"]; has {
			p, ok, key = old, true, "batchSize"
		}
	}
	if !ok {
		return int64(t.BatchDefault), key, true
	}
	parse := javaInt
	if t.Alias == "hdfs" || t.Alias == "hbase" || t.Alias == "asynchbase" || t.Alias == "hbase2" {
		parse = javaLong
	}
	n, ok := parse(javaTrim(p.Value))
	return n, key, ok
}

// lintBatchSizes applies AbstractConfigurationProvider's check: a source or
// sink whose batch size exceeds its channel's transactionCapacity is
// removed. A removed sink that belongs to a sink group is worse: loading the
// group then throws, and Flume runs nothing for the agent.
func (a *Agent) lintBatchSizes(txn map[string]int64) {
	group := map[string]string{}
	for _, g := range a.SinkGroups {
		for _, s := range g.Sinks {
			group[s] = g.Name
		}
	}
	check := func(c *Component, channels []string) {
		t, ok := LookupFlumeType(c.Kind, c.Type)
		if !ok || t.BatchKey == "" {
			return
		}
		n, key, ok := batchOf(c, t)
		if !ok {
			return
		}
		for _, ch := range channels {
			tc, ok := txn[ch]
			if !ok || n <= tc {
				continue
			}
			msg := fmt.Sprintf("%s %s: %s %d is greater than channel %s's transactionCapacity %d; Flume removes the %s (\"Incompatible %s and channel settings defined\")",
				c.Kind, c.Name, key, n, ch, tc, c.Kind, c.Kind)
			if g := group[c.Name]; g != "" {
				msg += fmt.Sprintf(", and because it is in sink group %s, Flume then fails to load the agent and runs nothing at all", g)
			}
			a.addAbout(c, Error, key, "batch-size", msg, fmt.Sprintf("make %s <= %d, or raise the channel's transactionCapacity", key, tc))
			return
		}
	}
	for _, s := range a.Sources {
		check(s, s.Channels)
	}
	for _, s := range a.Sinks {
		check(s, []string{s.Channel})
	}
}

// lintGroups checks what the sink processors will make of their groups.
func (a *Agent) lintGroups() {
	for _, g := range a.SinkGroups {
		switch {
		case typeIs(g, "default") && len(g.Sinks) > 1:
			a.addAbout(g, Error, "processor.type", "default-group",
				fmt.Sprintf("sink group %s uses the default processor with %d sinks; it takes exactly one, so Flume drops the group and its sinks do not run", g.Name, len(g.Sinks)),
				"use failover or load_balance, or leave the sinks out of any group")
		case typeIs(g, "load_balance") && len(g.Sinks) < 2:
			a.addAbout(g, Error, "processor.type", "load-balance-group",
				fmt.Sprintf("sink group %s load-balances a single sink; Flume requires more than one, drops the group, and the sink does not run", g.Name),
				"add sinks to the group, or remove the group")
		case typeIs(g, "failover"):
			a.lintFailover(g)
		}
	}
}

// lintFailover predicts FailoverSinkProcessor.configure: a priority that is
// not an integer becomes -1, -2, ... (in hash order), and a sink whose
// priority another sink already has is never added, so never used.
func (a *Agent) lintFailover(g *Component) {
	inGroup := map[string]bool{}
	for _, s := range g.Sinks {
		inGroup[s] = true
	}
	byPrio := map[int64][]string{}
	unparsed := 0
	for _, s := range g.Sinks {
		key := "processor.priority." + s
		p, ok := g.Props[key]
		if !ok {
			unparsed++
			continue
		}
		n, ok := javaInt(p.Value) // Flume does not trim here; Build already did
		if !ok {
			unparsed++
			if _, comment := inlineComment(p.Value); !comment {
				a.addAbout(g, Warning, key, "failover-priority",
					fmt.Sprintf("sink group %s: priority %q of sink %s is not an integer; Flume gives it an arbitrary negative priority (hash order), below every sink with a priority of 0 or more", g.Name, p.Value, s),
					"give every sink of a failover group a distinct integer priority")
			}
			continue
		}
		byPrio[n] = append(byPrio[n], s)
	}
	prios := make([]int64, 0, len(byPrio))
	for n := range byPrio {
		prios = append(prios, n)
	}
	sort.Slice(prios, func(i, j int) bool { return prios[i] > prios[j] })
	for _, n := range prios {
		sinks := byPrio[n]
		if len(sinks) > 1 {
			last := sinks[len(sinks)-1]
			a.addAbout(g, Error, "processor.priority."+last, "failover-duplicate-priority",
				fmt.Sprintf("sink group %s: sinks %s all have priority %d; Flume adds only the first it meets (hash order) and never uses the others, with only a log warning", g.Name, strings.Join(sinks, " and "), n),
				"give every sink of a failover group a distinct priority")
		}
		if unparsed > 0 && n < 0 && n >= -int64(unparsed) {
			a.addAbout(g, Warning, "processor.priority."+sinks[0], "failover-duplicate-priority",
				fmt.Sprintf("sink group %s: priority %d of sink %s can collide with the -1, -2, ... Flume gives the %d sink(s) without a valid priority; the colliding sink is then never used", g.Name, n, sinks[0], unparsed),
				"give every sink of a failover group a distinct priority of 0 or more")
		}
	}
	for _, k := range sortedKeysOf(g.Props) {
		s, ok := strings.CutPrefix(k, "processor.priority.")
		if ok && !inGroup[s] {
			a.addAbout(g, Warning, k, "failover-priority",
				fmt.Sprintf("sink group %s: %s names no sink of the group; it has no effect", g.Name, k),
				fmt.Sprintf("the group's sinks are %s", strings.Join(g.Sinks, " ")))
		}
	}
	if _, set := g.Props["processor.maxpenalty"]; set {
		if v := g.Props["processor.maxpenalty"].Value; !isJavaInt(v) {
			if _, comment := inlineComment(v); !comment {
				a.addAbout(g, Warning, "processor.maxpenalty", "failover-maxpenalty",
					fmt.Sprintf("sink group %s: maxpenalty %q is not an integer; Flume uses 30000", g.Name, v), "write a number of milliseconds")
			}
		}
	}
}

func isJavaInt(s string) bool { _, ok := javaInt(s); return ok }

// hdfsNeedsTimestamp reports whether an HDFS path or file prefix holds an
// escape that BucketPath resolves from the event's timestamp header: any
// %x with x a word character or '%' (flume-facts §6.2; the header check
// comes before the switch, so even %% and unknown letters need it).
func hdfsNeedsTimestamp(s string) (string, bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		c := s[i+1]
		if c == '%' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			return s[i : i+2], true
		}
	}
	return "", false
}

// timestampInterceptor reports whether a source's interceptor chain sets
// the timestamp header.
func timestampInterceptor(src *Component) bool {
	for _, name := range splitWS(src.Props["interceptors"].Value) {
		pre := "interceptors." + name + "."
		typ := strings.ToLower(src.Props[pre+"type"].Value)
		switch typ {
		case "timestamp", "org.apache.flume.interceptor.timestampinterceptor$builder":
			h, ok := src.Props[pre+"headerName"]
			if !ok || h.Value == "timestamp" {
				return true
			}
		case "static", "org.apache.flume.interceptor.staticinterceptor$builder":
			if src.Props[pre+"key"].Value == "timestamp" {
				return true
			}
		case "regex_extractor", "org.apache.flume.interceptor.regexextractorinterceptor$builder":
			for k, p := range src.Props {
				if strings.HasPrefix(k, pre+"serializers.") && strings.HasSuffix(k, ".name") && p.Value == "timestamp" {
					return true
				}
			}
		}
	}
	return false
}

// rpcSource reports whether a source receives events whose headers another
// agent or client set, so that a timestamp may already be there.
func rpcSource(s *Component) bool {
	return typeIs(s, "avro") || typeIs(s, "thrift") || typeIs(s, "http")
}

// stampsItself reports whether a source type sets the timestamp header on
// its own (the syslog sources do, from the message's date).
func stampsItself(s *Component) bool {
	return typeIs(s, "syslogtcp") || typeIs(s, "syslogudp") || typeIs(s, "multiport_syslogtcp")
}

// hdfsTimestampKey returns the key of an HDFS sink whose path or file
// prefix needs a timestamp header, and the escape, or "" when it needs none.
func hdfsTimestampKey(k *Component) (key, esc string) {
	if !typeIs(k, "hdfs") || strings.EqualFold(k.Props["hdfs.useLocalTimeStamp"].Value, "true") {
		return "", ""
	}
	for _, cand := range []string{"hdfs.path", "hdfs.filePrefix"} {
		if e, ok := hdfsNeedsTimestamp(k.Props[cand].Value); ok {
			return cand, e
		}
	}
	return "", ""
}

// feeding lists the surviving sources that put into channel ch.
func (a *Agent) feeding(ch string) []*Component {
	var out []*Component
	for _, s := range a.Sources {
		for _, c := range s.Channels {
			if c == ch {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

const hdfsTimestampFix = "add a timestamp interceptor to the source (preserveExisting = true keeps upstream timestamps), or set hdfs.useLocalTimeStamp = true"

func hdfsTimestampMessage(k *Component, key, esc string) string {
	return fmt.Sprintf("sink %s: %s %q uses %s, which needs a timestamp header on every event; an event without one fails in Flume (\"Expected timestamp in the Flume event headers\"), its batch is rolled back and retried forever, and the channel stops draining",
		k.Name, key, k.Props[key].Value, esc)
}

// lintHDFSTimestamp: an HDFS sink whose path or file prefix has a time
// escape needs a timestamp header on every event, unless
// hdfs.useLocalTimeStamp is true. A source that reads events itself (taildir,
// exec, ...) without a timestamp interceptor certainly delivers none: an
// error. A source that receives them (avro, thrift, http) may pass on
// timestamps set upstream: a warning here, which LintTopology makes an
// error when it sees that the upstream agents set none either.
func (a *Agent) lintHDFSTimestamp() {
	for _, k := range a.Sinks {
		key, esc := hdfsTimestampKey(k)
		if key == "" {
			continue
		}
		var certain, upstream []string
		for _, s := range a.feeding(k.Channel) {
			switch {
			case timestampInterceptor(s) || stampsItself(s):
			case rpcSource(s):
				upstream = append(upstream, s.Name)
			default:
				certain = append(certain, s.Name)
			}
		}
		switch {
		case len(certain) > 0:
			a.addAbout(k, Error, key, "hdfs-timestamp",
				hdfsTimestampMessage(k, key, esc)+fmt.Sprintf(", and source(s) %s feeding channel %s add none", strings.Join(certain, " "), k.Channel),
				hdfsTimestampFix)
		case len(upstream) > 0:
			a.addAbout(k, Warning, key, "hdfs-timestamp",
				hdfsTimestampMessage(k, key, esc)+fmt.Sprintf(", and source(s) %s feeding channel %s add none: every upstream agent must set it", strings.Join(upstream, " "), k.Channel),
				hdfsTimestampFix)
		}
	}
}

// lintMemoryChannels: a memory channel loses what it holds on a crash or
// restart; next to a durable channel or a failover group the configuration
// promises not to lose anything, and the memory channel breaks that.
// (Load-balancing groups are as often about throughput, so they do not
// count.)
func (a *Agent) lintMemoryChannels() {
	var durable []string
	for _, c := range a.Channels {
		if t, ok := LookupFlumeType(KindChannel, c.Type); ok && t.Durable {
			durable = append(durable, "channel "+c.Name)
		}
	}
	for _, g := range a.SinkGroups {
		if typeIs(g, "failover") {
			durable = append(durable, "failover group "+g.Name)
		}
	}
	if len(durable) == 0 {
		return
	}
	for _, c := range a.Channels {
		if (!typeIs(c, "memory") && !typeIs(c, "spillablememory")) || len(a.feeding(c.Name)) == 0 {
			continue // a channel no source feeds holds nothing to lose
		}
		a.addAbout(c, Warning, "type", "memory-channel",
			fmt.Sprintf("channel %s is a %s channel: every event in it is lost when the agent crashes or restarts, while this agent is otherwise built not to lose any (%s)", c.Name, c.Type, strings.Join(durable, ", ")),
			"use a file channel")
	}
}

// lintSharedChannels: consumers of different kinds on one channel split
// the events between them, so none of them gets every event. A consumer is
// a sink outside any group, or a whole sink group; several sinks of one type
// outside groups are the usual way to drain a channel in parallel.
func (a *Agent) lintSharedChannels() {
	group := map[string]string{}
	for _, g := range a.SinkGroups {
		for _, s := range g.Sinks {
			group[s] = g.Name
		}
	}
	type consumer struct{ kind, name string }
	byChannel := map[string][]consumer{}
	last := map[string]*Component{}
	seen := map[string]bool{}
	for _, s := range a.Sinks {
		c := consumer{kind: strings.ToLower(s.Type), name: fmt.Sprintf("sink %s (%s)", s.Name, s.Type)}
		if ft, ok := LookupFlumeType(KindSink, s.Type); ok {
			c.kind = ft.Class
		}
		if g := group[s.Name]; g != "" {
			if seen[s.Channel+"/"+g] {
				continue
			}
			seen[s.Channel+"/"+g] = true
			c = consumer{kind: "group " + g, name: "sink group " + g}
		}
		byChannel[s.Channel] = append(byChannel[s.Channel], c)
		last[s.Channel] = s
	}
	for _, ch := range sortedKeysOf(byChannel) {
		cs := byChannel[ch]
		kinds := map[string]bool{}
		var names []string
		for _, c := range cs {
			kinds[c.kind] = true
			names = append(names, c.name)
		}
		if len(kinds) < 2 {
			continue
		}
		a.addAbout(last[ch], Warning, "channel", "sinks-share-channel",
			fmt.Sprintf("%s take from the same channel %s: each event goes to only one of them, so none of them gets every event", strings.Join(names, " and "), ch),
			"to send every event to each, give each its own channel and list all the channels on the source (the replicating selector copies every event into each)")
	}
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LintTopology checks agents that talk to each other, for `sluice check`
// run on several files at once: an Avro sink whose port is an Avro
// source's port in another of the agents must use the same compression-type
// and ssl setting, or the source cannot read a single batch. Host names are
// not compared (a collector binds 0.0.0.0 and is reached by its DNS name),
// so the finding says which pair it assumed.
func LintTopology(agents []*Agent) []Finding {
	type end struct {
		a           *Agent
		c           *Component
		compression string
		ssl         bool
	}
	read := func(a *Agent, c *Component) end {
		comp := strings.ToLower(c.Props["compression-type"].Value)
		if comp == "" {
			comp = "none"
		}
		return end{a: a, c: c, compression: comp, ssl: strings.EqualFold(c.Props["ssl"].Value, "true")}
	}
	sources := map[int64][]end{}
	for _, a := range agents {
		for _, s := range a.Sources {
			if typeIs(s, "avro") {
				if p, ok := javaInt(s.Props["port"].Value); ok {
					sources[p] = append(sources[p], read(a, s))
				}
			}
		}
	}
	var out []Finding
	for _, a := range agents {
		for _, k := range a.Sinks {
			if !typeIs(k, "avro") {
				continue
			}
			p, ok := javaInt(k.Props["port"].Value)
			if !ok {
				continue
			}
			snd := read(a, k)
			for _, rcv := range sources[p] {
				if rcv.a == a {
					continue
				}
				var what []string
				key := "type"
				if snd.compression != rcv.compression {
					what = append(what, fmt.Sprintf("compression-type %s where the source expects %s", snd.compression, rcv.compression))
					key = "compression-type"
				}
				if snd.ssl != rcv.ssl {
					what = append(what, fmt.Sprintf("ssl %t where the source has ssl %t", snd.ssl, rcv.ssl))
					if key == "type" {
						key = "ssl"
					}
				}
				if len(what) == 0 {
					continue
				}
				f := NewFinding(Error, k.KeyPos(key), k.FullKey(a.Name, key), "avro-mismatch",
					fmt.Sprintf("sink %s of agent %s sends to port %d with %s (source %s of agent %s, %s); the source cannot read its batches, so every delivery through this sink fails",
						k.Name, a.Name, p, strings.Join(what, " and "), rcv.c.Name, rcv.a.Name, rcv.c.KeyPos("port")),
					"use the same compression-type and ssl settings on both ends")
				f.Component = k.String()
				out = append(out, f)
			}
		}
	}
	return append(out, hdfsTimestampTopology(agents)...)
}

// hdfsTimestampTopology follows an HDFS sink's events back over one Avro
// hop: when the agents sending to the Avro source that feeds it read their
// events without adding a timestamp, the sink's warning becomes an error.
func hdfsTimestampTopology(agents []*Agent) []Finding {
	var out []Finding
	for _, a := range agents {
		for _, k := range a.Sinks {
			key, esc := hdfsTimestampKey(k)
			if key == "" {
				continue
			}
			var bare []string
			seen := map[string]bool{}
			for _, s := range a.feeding(k.Channel) {
				port, ok := javaInt(s.Props["port"].Value)
				if !typeIs(s, "avro") || timestampInterceptor(s) || !ok {
					continue
				}
				for _, up := range agents {
					if up == a {
						continue
					}
					for _, us := range up.Sinks {
						if p, ok := javaInt(us.Props["port"].Value); !typeIs(us, "avro") || !ok || p != port {
							continue
						}
						for _, src := range up.feeding(us.Channel) {
							id := fmt.Sprintf("%s of agent %s", src.Name, up.Name)
							if !seen[id] && !timestampInterceptor(src) && !stampsItself(src) && !rpcSource(src) {
								seen[id] = true
								bare = append(bare, id)
							}
						}
					}
				}
			}
			if len(bare) == 0 {
				continue
			}
			f := NewFinding(Error, k.KeyPos(key), k.FullKey(a.Name, key), "hdfs-timestamp",
				hdfsTimestampMessage(k, key, esc)+fmt.Sprintf(", and the events come from source(s) %s, which add none", strings.Join(bare, ", ")),
				hdfsTimestampFix)
			f.Component = k.String()
			out = append(out, f)
		}
	}
	return out
}
