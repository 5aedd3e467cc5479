package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/vfs"
	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/network"
	"github.com/sluicehq/sluice/faults/process"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios/store"
)

// UserConfig is an operator's own pair of Flume configurations, run
// through a scenario: every agent runs the agent file, one collector runs
// the collector file for each distinct Avro destination the agents send
// to; hostnames and ports are rewritten to local proxies, paths to the
// run's directories, and stores the checker cannot read back here (HDFS,
// Kafka) become file_roll directories.
type UserConfig struct {
	AgentConf, CollectorConf string
	// AgentName and CollectorName pick the agent in each file when it
	// holds several.
	AgentName, CollectorName string
	Agents                   int
	// Fault is one of UserFaults().
	Fault string
}

type userFault struct {
	name, desc string
	target     string // "primary" or "agent"
	fault      func(*Node) faults.Fault
}

var userFaults = []userFault{
	{"kill-primary", "kill -9 the primary collector, restart it later", "primary", kill},
	{"partition-primary", "black-hole every hop to the primary collector, then heal", "primary", blackhole},
	{"freeze-primary", "SIGSTOP the primary collector, then SIGCONT", "primary", freeze},
	{"restart-primary", "restart the primary collector gracefully", "primary", func(*Node) faults.Fault { return process.Restart(30 * time.Second) }},
	{"slow-primary", "200ms latency and 40 KB/s on every hop to the primary", "primary", func(*Node) faults.Fault {
		return network.Slow(200*time.Millisecond, 50*time.Millisecond, 40)
	}},
	{"kill-agent", "kill -9 the first agent, restart it later", "agent", kill},
	{"none", "no fault: a baseline", "", nil},
}

// UserFaults lists the faults a user configuration can be run with.
func UserFaults() []string {
	out := make([]string, len(userFaults))
	for i, f := range userFaults {
		out[i] = f.name
	}
	return out
}

// userTopology is what the harness needs to know of the user's files.
type userTopology struct {
	agentFile, collectorFile string
	agentText, collectorText string
	agent, collector         *config.Agent
	source                   *config.Component
	// targets are the distinct Avro destinations of the agent's sinks, in
	// the order their first sink appears; sinkTarget maps each Avro sink
	// to its target index.
	targets    []string
	sinkTarget map[string]int
	groups     []record.SinkGroup // targets named "collector<i+1>"
	primary    int
	// checked are the collector sinks whose output the checker reads;
	// unchecked the other terminal sinks (rewritten, run, not read).
	checked, unchecked []string
	replaced           map[string]string // sink -> original type, for sinks turned into file_roll
	batch              map[string]string // replaced sink -> its batch size
	// kept HDFS and Kafka sinks: HDFS writes to file:// under the
	// collector's directory, Kafka to an in-process broker.
	hdfs  map[string]hdfsStore
	kafka map[string]store.KafkaTopic
	// usesKafka: some component talks to Kafka (an in-process broker is
	// started and every bootstrap.servers points at it).
	usesKafka bool
}

type hdfsStore struct {
	path   string // hdfs.path without scheme and authority, escapes kept
	format hdfs.Format
	prefix string // hdfs.inUsePrefix
	suffix string // hdfs.inUseSuffix
}

// FromConfigs builds a scenario from an operator's configuration files.
func FromConfigs(uc UserConfig) (*Scenario, error) {
	if uc.AgentConf == "" || uc.CollectorConf == "" {
		return nil, errors.New("--agent-conf and --collector-conf are both required")
	}
	var uf *userFault
	for i := range userFaults {
		if userFaults[i].name == uc.Fault {
			uf = &userFaults[i]
		}
	}
	if uf == nil {
		return nil, fmt.Errorf("--fault %q: use one of %s", uc.Fault, strings.Join(UserFaults(), ", "))
	}
	if uc.Agents <= 0 {
		uc.Agents = 3
	}
	t := &userTopology{agentFile: uc.AgentConf, collectorFile: uc.CollectorConf, sinkTarget: map[string]int{}, replaced: map[string]string{}, batch: map[string]string{},
		hdfs: map[string]hdfsStore{}, kafka: map[string]store.KafkaTopic{}}
	var err error
	if t.agent, t.agentText, err = load(uc.AgentConf, uc.AgentName); err != nil {
		return nil, err
	}
	if t.collector, t.collectorText, err = load(uc.CollectorConf, uc.CollectorName); err != nil {
		return nil, err
	}
	if err := t.analyse(); err != nil {
		return nil, err
	}
	sc := &Scenario{
		Name:        "user-" + uc.Fault,
		Description: fmt.Sprintf("%s and %s (agent %q, collector %q) with fault %s: %s.", filepath.Base(uc.AgentConf), filepath.Base(uc.CollectorConf), t.agent.Name, t.collector.Name, uf.name, uf.desc),
		Agents:      uc.Agents, Collectors: len(t.targets),
		Source: t.source.Type,
		Short:  Variant{Load: 30 * time.Second, Drain: 2 * time.Minute, Rate: 200},
		Long:   Variant{Load: 5 * time.Minute, Drain: 5 * time.Minute, Rate: 500},
		user:   t,
	}
	if len(t.groups) > 0 {
		sc.Group = t.groups[0].Processor
	}
	primary := fmt.Sprintf("collector%d", t.primary+1)
	if uf.fault != nil {
		target := primary
		if uf.target == "agent" {
			target = "agent1"
		}
		sc.Nemesis = func(p *Plan) {
			p.Add(Step{Name: uf.name, Target: target, At: p.Load / 5, For: p.Load / 3, Fault: uf.fault})
		}
		if uf.target == "primary" && uf.name != "slow-primary" && sc.Group == "failover" && len(t.groups[0].Sinks) > 1 {
			second := t.groups[0].Sinks[1].Target
			sc.Expect = func(r *record.Run) []record.Expectation {
				return append(FailedOverTo(r, primary, second), FailedBack(r, primary)...)
			}
		}
	}
	return sc, nil
}

func load(path, name string) (*config.Agent, string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	props, err := config.LoadFiles(vfs.OS{}, path)
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		names := config.AgentNames(props)
		if len(names) != 1 {
			return nil, "", fmt.Errorf("%s holds agents %s: say which with --agent-name / --collector-name", path, strings.Join(names, ", "))
		}
		name = names[0]
	}
	cfg := config.Build(props, name, config.Options{})
	var errs []string
	for _, f := range cfg.Findings {
		if f.Severity == config.Error {
			errs = append(errs, f.String())
		}
	}
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("%s: Flume would drop parts of agent %q; fix these first (sluice check -f %s):\n  %s", path, name, path, strings.Join(errs, "\n  "))
	}
	return cfg, string(text), nil
}

func (t *userTopology) analyse() error {
	a := t.agent
	if len(a.Sources) != 1 {
		return fmt.Errorf("%s: agent %s has %d sources; the workload feeds exactly one (taildir or http)", t.agentFile, a.Name, len(a.Sources))
	}
	t.source = a.Sources[0]
	switch strings.ToLower(t.source.Type) {
	case "taildir", "org.apache.flume.source.taildir.taildirsource":
		t.source.Type = "taildir"
	case "http", "org.apache.flume.source.http.httpsource":
		t.source.Type = "http"
	default:
		return fmt.Errorf("%s: source %s is %s; the workload can feed taildir or http sources", t.agentFile, t.source.Name, t.source.Type)
	}
	// Avro destinations.
	for _, s := range a.Sinks {
		if !isType(s.Type, "avro", "org.apache.flume.sink.AvroSink") {
			continue
		}
		host, _ := s.Prop("hostname")
		port, _ := s.Prop("port")
		dest := host.Value + ":" + port.Value
		i := -1
		for j, d := range t.targets {
			if d == dest {
				i = j
			}
		}
		if i < 0 {
			i = len(t.targets)
			t.targets = append(t.targets, dest)
		}
		t.sinkTarget[s.Name] = i
	}
	if len(t.targets) == 0 {
		return fmt.Errorf("%s: agent %s has no avro sink; nothing goes to the collectors", t.agentFile, a.Name)
	}
	// Sink groups, and the primary destination.
	best := -1
	for _, g := range a.SinkGroups {
		proc := strings.ToLower(g.Type)
		switch {
		case strings.Contains(proc, "failover"):
			proc = "failover"
		case strings.Contains(proc, "load"):
			proc = "load_balance"
		}
		sg := record.SinkGroup{Name: g.Name, Processor: proc}
		for _, sn := range g.Sinks {
			gs := record.GroupSink{Name: sn}
			if i, ok := t.sinkTarget[sn]; ok {
				gs.Target = fmt.Sprintf("collector%d", i+1)
			}
			if p, ok := g.Prop("processor.priority." + sn); ok {
				gs.Priority, _ = strconv.Atoi(strings.TrimSpace(p.Value))
			}
			sg.Sinks = append(sg.Sinks, gs)
		}
		sort.SliceStable(sg.Sinks, func(i, j int) bool { return sg.Sinks[i].Priority > sg.Sinks[j].Priority })
		if len(sg.Sinks) > 0 && best < 0 {
			if i, ok := t.sinkTarget[sg.Sinks[0].Name]; ok {
				best = i
			}
		}
		t.groups = append(t.groups, sg)
	}
	if best >= 0 {
		t.primary = best
	}
	// The collector: one avro source; its stores.
	c := t.collector
	if len(c.Sources) != 1 || !isType(c.Sources[0].Type, "avro", "org.apache.flume.source.AvroSource") {
		return fmt.Errorf("%s: collector %s must have exactly one avro source (what the agents send to)", t.collectorFile, c.Name)
	}
	src := c.Sources[0]
	optional := map[string]bool{}
	if p, ok := src.Prop("selector.optional"); ok {
		for _, ch := range strings.Fields(p.Value) {
			optional[ch] = true
		}
	}
	checkedChannel := ""
	for _, ch := range src.Channels {
		if optional[ch] {
			continue
		}
		for _, s := range c.Sinks {
			if s.Channel == ch && terminal(s.Type) {
				checkedChannel = ch
				break
			}
		}
		if checkedChannel != "" {
			break
		}
	}
	if checkedChannel == "" {
		return fmt.Errorf("%s: no store behind a required channel of source %s (file_roll, hdfs or kafka sinks); nothing to read back", t.collectorFile, src.Name)
	}
	for _, s := range c.Sinks {
		if isType(s.Type, "avro", "org.apache.flume.sink.AvroSink") {
			return fmt.Errorf("%s: sink %s sends on over Avro; a third tier is not supported", t.collectorFile, s.Name)
		}
		if !terminal(s.Type) {
			continue
		}
		switch {
		case isType(s.Type, "file_roll", "org.apache.flume.sink.RollingFileSink"):
		case isHDFS(s.Type) && built(registry.Sink, "hdfs"):
			t.hdfs[s.Name] = hdfsOf(c.Name, s)
		case isKafka(s.Type) && built(registry.Sink, "kafka") && kafkaTopicOf(s) != "":
			useFlume, _ := s.Prop("useFlumeEventFormat")
			t.kafka[s.Name] = store.KafkaTopic{Label: "kafka:" + kafkaTopicOf(s), Topic: kafkaTopicOf(s),
				FlumeFormat: strings.EqualFold(strings.TrimSpace(useFlume.Value), "true")}
		default:
			t.replaced[s.Name] = s.Type
			t.batch[s.Name] = "100" // must stay within the channel's transactionCapacity
			for _, k := range []string{"hdfs.batchSize", "flumeBatchSize", "batchSize", "kafka.flumeBatchSize"} {
				if p, ok := s.Prop(k); ok {
					if _, err := strconv.Atoi(strings.TrimSpace(p.Value)); err == nil {
						t.batch[s.Name] = strings.TrimSpace(p.Value)
						break
					}
				}
			}
		}
		if s.Channel == checkedChannel {
			t.checked = append(t.checked, s.Name)
		} else {
			t.unchecked = append(t.unchecked, s.Name)
		}
	}
	for _, cfg := range []*config.Agent{t.agent, t.collector} {
		for k := range cfg.Raw {
			if strings.HasSuffix(k, "bootstrap.servers") || strings.HasSuffix(k, ".brokerList") {
				if sk, ok := sinkOf(k); ok && cfg == t.collector && t.replaced[sk] != "" {
					continue
				}
				t.usesKafka = true
			}
		}
	}
	return nil
}

// topics lists the Kafka topics the configurations name: sinks' and
// channels' kafka.topic (with Flume's defaults) and sources' kafka.topics.
func (t *userTopology) topics() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(s, "%{") && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, cfg := range []*config.Agent{t.agent, t.collector} {
		for _, s := range cfg.Sinks {
			if isKafka(s.Type) && t.replaced[s.Name] == "" {
				add(kafkaTopicOf(s))
			}
		}
		for _, c := range cfg.Channels {
			if isType(c.Type, "kafka", "org.apache.flume.channel.kafka.KafkaChannel") {
				topic := "flume-channel"
				if p, ok := c.Prop("kafka.topic"); ok {
					topic = p.Value
				}
				add(topic)
			}
		}
		for _, s := range cfg.Sources {
			if p, ok := s.Prop("kafka.topics"); ok {
				for _, x := range strings.Split(p.Value, ",") {
					add(x)
				}
			}
		}
	}
	return out
}

// sinkOf names the sink a key belongs to ("sinks.k1.x" -> k1).
func sinkOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "sinks.")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, ".")
	return name, true
}

func built(kind registry.Kind, name string) bool {
	_, ok := registry.Lookup(kind, name)
	return ok
}

func isHDFS(t string) bool { return isType(t, "hdfs", "org.apache.flume.sink.hdfs.HDFSEventSink") }
func isKafka(t string) bool {
	return isType(t, "kafka", "org.apache.flume.sink.kafka.KafkaSink")
}

// kafkaTopicOf is a Kafka sink's topic, "" when it depends on the events
// (%{header}) and so cannot be read back as one topic.
func kafkaTopicOf(s *config.Component) string {
	topic := "default-flume-topic"
	for _, k := range []string{"kafka.topic", "topic"} {
		if p, ok := s.Prop(k); ok && strings.TrimSpace(p.Value) != "" {
			topic = strings.TrimSpace(p.Value)
			break
		}
	}
	if strings.Contains(topic, "%{") {
		return ""
	}
	return topic
}

// hdfsOf reads an HDFS sink's path and file format, as the sink itself
// does.
func hdfsOf(agent string, s *config.Component) hdfsStore {
	h := hdfsStore{format: hdfs.Format{FileType: "DataStream", Serializer: "TEXT", AppendNewline: true}, suffix: ".tmp"}
	if cfg, err := hdfs.ParseConfig(config.NewReader(agent, s)); err == nil {
		h.format, h.prefix, h.suffix = cfg.Format, cfg.InUsePrefix, cfg.InUseSuffix
	}
	p, _ := s.Prop("hdfs.path")
	path := strings.TrimSpace(p.Value)
	for _, scheme := range []string{"hdfs://", "file://"} {
		if rest, ok := strings.CutPrefix(path, scheme); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				path = rest[i:]
			} else {
				path = "/"
			}
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	h.path = path
	return h
}

func isType(t string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(t, n) {
			return true
		}
	}
	return false
}

// terminal reports whether a sink type is a store the harness can stand
// in for with a file_roll directory.
func terminal(t string) bool {
	return isType(t, "file_roll", "org.apache.flume.sink.RollingFileSink", "hdfs", "org.apache.flume.sink.hdfs.HDFSEventSink",
		"kafka", "org.apache.flume.sink.kafka.KafkaSink")
}

// needs lists the component types the rewritten files use.
func (t *userTopology) needs() [][2]string {
	var out [][2]string
	for _, cfg := range []*config.Agent{t.agent, t.collector} {
		for _, s := range cfg.Sources {
			out = append(out, [2]string{string(registry.Source), s.Type})
		}
		for _, c := range cfg.Channels {
			out = append(out, [2]string{string(registry.Channel), c.Type})
		}
		for _, s := range cfg.Sinks {
			if cfg == t.collector && t.replaced[s.Name] != "" {
				continue // becomes file_roll
			}
			out = append(out, [2]string{string(registry.Sink), s.Type})
		}
		for _, g := range cfg.SinkGroups {
			out = append(out, [2]string{string(registry.Processor), g.Type})
		}
	}
	return append(out, [2]string{string(registry.Sink), "file_roll"})
}

// rewrite renders cfg's properties for node name: every key under the new
// agent name, edit applied (it returns the new value, or drop).
func rewrite(cfg *config.Agent, name, from string, edit func(key, value string) (string, bool), extra [][2]string) string {
	keys := make([]string, 0, len(cfg.Raw))
	for k := range cfg.Raw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := cfg.Raw[keys[i]].Pos, cfg.Raw[keys[j]].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, agent %q, rewritten by the scenario harness for node %s:\n# hostnames and ports point at local proxies, paths at the run's directories.\n", from, cfg.Name, name)
	for _, k := range keys {
		v, keep := edit(k, cfg.Raw[k].Value)
		if keep {
			fmt.Fprintf(&b, "%s = %s\n", escapeKey(name+"."+k), escapeValue(v))
		}
	}
	for _, kv := range extra {
		fmt.Fprintf(&b, "%s = %s\n", escapeKey(name+"."+kv[0]), escapeValue(kv[1]))
	}
	return b.String()
}

func escapeKey(k string) string {
	r := strings.NewReplacer(`\`, `\\`, " ", `\ `, ":", `\:`, "=", `\=`, "#", `\#`, "!", `\!`, "\n", `\n`)
	return r.Replace(k)
}

func escapeValue(v string) string {
	v = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(v)
	if strings.HasPrefix(v, " ") || strings.HasPrefix(v, "\t") {
		v = `\` + v
	}
	return v
}

// channelPaths rewrites a file channel's directories into dir.
func channelPaths(rest, value, dir string) (string, bool, bool) {
	ch, key, ok := strings.Cut(rest, ".")
	if !ok {
		return value, true, false
	}
	base := filepath.Join(dir, "channel", ch)
	switch key {
	case "checkpointDir":
		return filepath.Join(base, "checkpoint"), true, true
	case "backupCheckpointDir":
		return filepath.Join(base, "backup"), true, true
	case "dataDirs":
		n := len(strings.Split(value, ","))
		var ds []string
		for i := 1; i <= n; i++ {
			ds = append(ds, filepath.Join(base, fmt.Sprintf("data%d", i)))
		}
		return strings.Join(ds, ","), true, true
	}
	return value, true, false
}

// buildUser creates the nodes of a user-configuration scenario.
func (h *harness) buildUser() error {
	t := h.sc.user
	p := h.plan
	var brokers string
	if t.usesKafka {
		// Producers do not create topics; the broker starts with every
		// topic the files name.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.SeedTopics(3, t.topics()...))
		if err != nil {
			return fmt.Errorf("start an in-process Kafka broker: %w", err)
		}
		h.closers = append(h.closers, c.Close)
		brokers = strings.Join(c.ListenAddrs(), ",")
		h.note("Kafka: every bootstrap.servers points at an in-process broker (franz-go kfake) at %s.", brokers)
	}
	kafkaKey := func(k string) bool {
		return brokers != "" && (strings.HasSuffix(k, "bootstrap.servers") || strings.HasSuffix(k, ".brokerList"))
	}
	for i := range t.targets {
		n := &Node{h: h, Name: fmt.Sprintf("collector%d", i+1), Role: record.RoleCollector, Tier: "collectors"}
		n.Dir = filepath.Join(h.work, n.Name)
		n.ConfPath = filepath.Join(n.Dir, n.Name+".conf")
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		n.sourcePort = port
		srcName := t.collector.Sources[0].Name
		n.conf = func() string {
			n.mu.Lock()
			port := n.sourcePort
			n.mu.Unlock()
			return rewrite(t.collector, n.Name, t.collectorFile, func(k, v string) (string, bool) {
				switch {
				case k == "sources."+srcName+".bind":
					return "127.0.0.1", true
				case k == "sources."+srcName+".port":
					return strconv.Itoa(port), true
				case strings.HasPrefix(k, "sinks."):
					sk, key, _ := strings.Cut(strings.TrimPrefix(k, "sinks."), ".")
					if _, ok := t.replaced[sk]; ok {
						return v, key == "channel"
					}
					if key == "sink.directory" {
						return filepath.Join(n.Dir, "store-"+sk), true
					}
					if hs, ok := t.hdfs[sk]; ok && key == "hdfs.path" {
						return "file://" + filepath.Join(n.Dir, "hdfs-"+sk) + hs.path, true
					}
					if kafkaKey(k) {
						return brokers, true
					}
				case kafkaKey(k):
					return brokers, true
				case strings.HasPrefix(k, "channels."):
					v, keep, _ := channelPaths(strings.TrimPrefix(k, "channels."), v, n.Dir)
					return v, keep
				}
				return v, true
			}, t.storeKeys(n.Dir))
		}
		h.collectors = append(h.collectors, n)
		h.nodes[n.Name] = n
		for _, sk := range t.checked {
			name := n.Name + "/" + sk
			if hs, ok := t.hdfs[sk]; ok {
				root := filepath.Join(n.Dir, "hdfs-"+sk)
				h.stores = append(h.stores, &tailerStore{kind: "hdfs", node: n.Name, loc: "file://" + root,
					t: &store.HDFSTail{Dir: store.HDFSDir{Label: name, Dir: root, Format: hs.format, InUseSuffix: hs.suffix}, InUsePrefix: hs.prefix}})
				continue
			}
			if _, ok := t.kafka[sk]; ok {
				continue // one store for the topic, below
			}
			h.stores = append(h.stores, NewFileRoll(name, n.Name, filepath.Join(n.Dir, "store-"+sk)))
		}
	}
	for i := 1; i <= p.Agents; i++ {
		n := &Node{h: h, Name: fmt.Sprintf("agent%d", i), Role: record.RoleAgent, Tier: "agents", groups: t.groups}
		n.Dir = filepath.Join(h.work, n.Name)
		n.ConfPath = filepath.Join(n.Dir, n.Name+".conf")
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
		if t.source.Type == "http" {
			port, err := freePort()
			if err != nil {
				return err
			}
			n.sourcePort = port
		}
		proxyPort := map[int]int{}
		for j, c := range h.collectors {
			px, err := h.proxies.NewProxy(fmt.Sprintf("%s-%s", n.Name, c.Name), fmt.Sprintf("127.0.0.1:%d", c.sourcePort))
			if err != nil {
				return err
			}
			c.proxies = append(c.proxies, px)
			proxyPort[j] = portOf(px.Addr())
			for sk, tj := range t.sinkTarget {
				if tj == j {
					h.hops = append(h.hops, record.Hop{From: n.Name, Sink: sk, To: c.Name, Via: "toxiproxy " + px.Addr()})
				}
			}
		}
		sort.Slice(h.hops, func(a, b int) bool {
			return h.hops[a].From < h.hops[b].From || h.hops[a].From == h.hops[b].From && h.hops[a].Sink < h.hops[b].Sink
		})
		src := t.source.Name
		n.conf = func() string {
			n.mu.Lock()
			port := n.sourcePort
			n.mu.Unlock()
			first, unused := true, 0
			return rewrite(t.agent, n.Name, t.agentFile, func(k, v string) (string, bool) {
				switch {
				case k == "sources."+src+".bind":
					return "127.0.0.1", true
				case k == "sources."+src+".port":
					return strconv.Itoa(port), true
				case k == "sources."+src+".positionFile":
					return filepath.Join(n.Dir, "taildir_position.json"), true
				case strings.HasPrefix(k, "sources."+src+".filegroups.") && !strings.Contains(strings.TrimPrefix(k, "sources."+src+".filegroups."), "."):
					// The first file group is the workload's log; the others
					// watch an empty directory.
					if first {
						first = false
						return filepath.Join(n.Dir, "logs", `app\.log`), true
					}
					unused++
					d := filepath.Join(n.Dir, fmt.Sprintf("logs-unused-%d", unused))
					os.MkdirAll(d, 0o755)
					return filepath.Join(d, `none\.log`), true
				case strings.HasPrefix(k, "channels."):
					v, keep, _ := channelPaths(strings.TrimPrefix(k, "channels."), v, n.Dir)
					return v, keep
				case strings.HasPrefix(k, "sinks."):
					sk, key, _ := strings.Cut(strings.TrimPrefix(k, "sinks."), ".")
					if j, ok := t.sinkTarget[sk]; ok {
						switch key {
						case "hostname":
							return "127.0.0.1", true
						case "port":
							return strconv.Itoa(proxyPort[j]), true
						}
					}
					if key == "sink.directory" {
						return filepath.Join(n.Dir, "out-"+sk), true
					}
				}
				return v, true
			}, nil)
		}
		h.agents = append(h.agents, n)
		h.nodes[n.Name] = n
	}
	// A checked Kafka sink: its topic, once, fed by every collector.
	topics := map[string]bool{}
	for _, sk := range t.checked {
		if kt, ok := t.kafka[sk]; ok && !topics[kt.Topic] {
			topics[kt.Topic] = true
			kt.Brokers = strings.Split(brokers, ",")
			h.stores = append(h.stores, &tailerStore{kind: "kafka", node: "kafka", loc: brokers + "/" + kt.Topic, t: &store.KafkaTail{Topic: kt}})
		}
	}
	// The workload writes the tailed directory; it must exist when the
	// agent starts.
	if t.source.Type == "taildir" {
		for _, n := range h.agents {
			if err := os.MkdirAll(filepath.Join(n.Dir, "logs"), 0o755); err != nil {
				return err
			}
		}
	}
	h.note("Configurations from %s (agent %q) and %s (collector %q), rewritten: hostnames and ports point at local proxies, paths at the run's directories.",
		t.agentFile, t.agent.Name, t.collectorFile, t.collector.Name)
	for _, sk := range sortedKeys(t.replaced) {
		h.note("Collector sink %s (%s) was replaced by a file_roll directory the checker reads back (this build has no such sink, or its topic depends on the events).", sk, t.replaced[sk])
	}
	for _, sk := range sortedKeys(t.hdfs) {
		h.note("Collector sink %s (hdfs) writes to file:// under each collector's directory.", sk)
	}
	if len(t.unchecked) > 0 {
		h.note("Collector sinks %s run but are not read back: they drain an optional or second replicated channel, and every event already has to reach %s.",
			strings.Join(t.unchecked, ", "), strings.Join(t.checked, ", "))
	}
	return nil
}

// storeKeys are the keys of the sinks replaced by file_roll.
func (t *userTopology) storeKeys(dir string) [][2]string {
	var out [][2]string
	for _, sk := range sortedKeys(t.replaced) {
		out = append(out,
			[2]string{"sinks." + sk + ".type", "file_roll"},
			[2]string{"sinks." + sk + ".sink.directory", filepath.Join(dir, "store-"+sk)},
			[2]string{"sinks." + sk + ".sink.rollInterval", "0"},
			[2]string{"sinks." + sk + ".sink.batchSize", t.batch[sk]},
		)
	}
	return out
}
