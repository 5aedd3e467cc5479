// Package scenarios runs chaos scenarios against real Sluice processes and
// proves what they lose: N agents and M collectors, each a real `sluice
// agent` process (or container) with a generated Flume properties file,
// every agent -> collector hop through an in-process toxiproxy; writers
// append unique, sequenced, timestamped lines at a set rate; a nemesis
// injects a schedule of faults under load, then heals; the harness drains
// every channel and the checker (scenarios/checker) reads every store back.
// Every run writes a run record (reports/record) and a recovery report
// (reports), stored as runs/<scenario>/<UTC time>/ with a latest link.
//
// The shape is Jepsen's two phases: faults under load, then heal,
// quiesce and drain (../shared/reference/anchors.md A1, D5, E).
package scenarios

import (
	"context"
	"errors"
	"fmt"
	"github.com/twmb/franz-go/pkg/kfake"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/network"
	"github.com/sluicehq/sluice/reports"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios/checker"
	"github.com/sluicehq/sluice/scenarios/store"
)

// Options configure one run.
type Options struct {
	// Binary is the sluice binary process nodes run.
	Binary string
	// RunsDir receives runs/<scenario>/<UTC time>/ (empty: the record is
	// built but not stored).
	RunsDir string
	// WorkDir holds the nodes' channels, stores and tailed files (empty:
	// a temporary directory removed after the run).
	WorkDir string
	Seed    int64
	// Load overrides the scenario's load phase; Long selects its soak
	// variant.
	Load time.Duration
	Long bool
	// Progress, if set, receives a live progress line every second.
	Progress io.Writer
	// Containers runs container nodes (scenarios/containers).
	Containers Containers
	Log        *slog.Logger
}

// Containers starts nodes as containers.
type Containers interface {
	// Start runs node n (its config written at n.ConfPath, its directory
	// n.Dir) as a container whose source listens on sourcePort and metrics
	// on metricsPort inside it, and returns once it is ready.
	Start(ctx context.Context, n *Node, sourcePort, metricsPort int) (ContainerNode, error)
}

// SkipError says why a scenario cannot run here (a component it needs is
// not built yet, no Docker engine, not root).
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "scenario skipped: " + e.Reason }

// Timings of the harness.
const (
	storePoll   = 50 * time.Millisecond  // arrival-time resolution
	metricsPoll = 250 * time.Millisecond // detection-time resolution
	seriesStep  = time.Second
)

type harness struct {
	sc      *Scenario
	plan    *Plan
	opts    Options
	log     *slog.Logger
	work    string
	runDir  string
	start   time.Time
	rng     *rand.Rand
	proxies *network.Server

	nodeLogDir string
	agents     []*Node
	collectors []*Node
	nodes      map[string]*Node
	stores     []Store
	hops       []record.Hop
	feeders    []feeder
	writers    []*writer
	ck         *checker.Checker
	obs        *observer

	closers []func() // run after the run (an in-process Kafka broker)
	// kafka is the storage tier's in-process Kafka cluster.
	kafka      *kfake.Cluster
	kafkaAddrs []string

	mu        sync.Mutex
	anomalies []string
	faults    []record.Fault
	active    map[int]string
	timeline  []record.TimelineEntry
	notes     []string
}

func (h *harness) at(t time.Time) int64 { return t.Sub(h.start).Milliseconds() }

func (h *harness) mark(t time.Time, mark, node, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timeline = append(h.timeline, record.TimelineEntry{AtMs: h.at(t), Mark: mark, Node: node, Text: fmt.Sprintf(format, args...)})
}

func (h *harness) note(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notes = append(h.notes, fmt.Sprintf(format, args...))
}

// Run runs sc and returns its record and run directory ("" when
// opts.RunsDir is empty). A scenario that cannot run here returns a
// *SkipError. The run is complete and stored even when the checker finds
// it invalid: that is a result, not an error.
func Run(ctx context.Context, sc *Scenario, opts Options) (*record.Run, string, error) {
	if why := sc.missing(opts); why != "" {
		return nil, "", &SkipError{Reason: why}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Seed == 0 {
		opts.Seed = time.Now().UnixNano()
	}
	h := &harness{sc: sc, opts: opts, log: opts.Log, nodes: map[string]*Node{}, active: map[int]string{},
		rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x5c1ce))}
	h.plan = sc.plan(opts, h.rng)
	h.start = time.Now()
	work := opts.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "sluice-scenario-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(d)
		work = d
	}
	h.work = work
	h.nodeLogDir = filepath.Join(work, "logs")
	if opts.RunsDir != "" {
		h.runDir = filepath.Join(opts.RunsDir, sc.Name, reports.DirName(h.start))
		h.nodeLogDir = filepath.Join(h.runDir, "nodes")
	}
	if err := os.MkdirAll(h.nodeLogDir, 0o755); err != nil {
		return nil, "", err
	}
	h.proxies = network.NewServer()
	defer h.proxies.Close()
	defer func() {
		for i := len(h.closers) - 1; i >= 0; i-- {
			h.closers[i]()
		}
	}()
	h.ck = checker.New(checker.Options{Start: h.start, Interval: seriesStep, Resolution: storePoll})

	cleanup, err := h.setup(ctx)
	defer cleanup()
	if err != nil {
		var skip *SkipError
		if errors.As(err, &skip) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("scenario %s: setup: %w", sc.Name, err)
	}
	r, err := h.run(ctx)
	if err != nil {
		return r, "", fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if opts.RunsDir == "" {
		return r, "", nil
	}
	dir, err := reports.Save(opts.RunsDir, r)
	return r, dir, err
}

// setup builds the topology and starts every node. The returned cleanup
// stops whatever was started, whatever happened.
func (h *harness) setup(ctx context.Context) (func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	p := h.plan
	build := h.buildGenerated
	if h.sc.user != nil {
		build = h.buildUser
	}
	if err := build(); err != nil {
		return cleanup, err
	}
	// Faults bound to a node's directory are set up before it writes
	// there.
	for _, n := range h.allNodes() {
		if p.Disk == nil {
			break
		}
		f := p.Disk(n)
		if f == nil {
			continue
		}
		if err := f.Setup(ctx); err != nil {
			if errors.Is(err, faults.ErrUnsupported) {
				return cleanup, &SkipError{Reason: err.Error()}
			}
			return cleanup, err
		}
		n.disk = f
		undo = append(undo, func() { f.Cleanup(context.Background()) })
	}

	// Collectors first (the agents' proxies point at them), then agents.
	for _, group := range [][]*Node{h.collectors, h.agents} {
		errs := make([]error, len(group))
		var wg sync.WaitGroup
		for i, n := range group {
			undo = append(undo, func() { n.Stop(context.Background(), 5*time.Second); closeNode(n) })
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = h.startNode(ctx, n)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return cleanup, err
		}
	}
	for _, n := range h.allNodes() {
		h.mark(time.Now(), record.MarkRecover, n.Name, "started (%s)", h.runtime(n))
	}
	return cleanup, nil
}

// buildGenerated creates the nodes of a catalogued scenario, with the
// harness's own configuration files.
func (h *harness) buildGenerated() error {
	sc, p := h.sc, h.plan
	src := sc.source()
	for i := 1; i <= p.Collectors; i++ {
		n := &Node{h: h, Name: fmt.Sprintf("collector%d", i), Role: record.RoleCollector, Tier: "collectors"}
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
		storeDir := filepath.Join(n.Dir, "store")
		bind := "127.0.0.1"
		if sc.Containers {
			n.sourcePort, bind = 4141, "0.0.0.0"
		}
		n.conf = func() string {
			n.mu.Lock()
			defer n.mu.Unlock()
			return collectorConf{Name: n.Name, Dir: n.Dir, Bind: bind, Port: n.sourcePort, Channel: sc.CollectorChannel, StoreDir: storeDir, BatchSize: 100}.text()
		}
		h.collectors = append(h.collectors, n)
		h.nodes[n.Name] = n
		h.stores = append(h.stores, NewFileRoll(n.Name, n.Name, storeDir))
	}
	for i := 1; i <= p.Agents; i++ {
		n := &Node{h: h, Name: fmt.Sprintf("agent%d", i), Role: record.RoleAgent, Tier: "agents"}
		n.Dir = filepath.Join(h.work, n.Name)
		n.ConfPath = filepath.Join(n.Dir, n.Name+".conf")
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
		if src == "http" {
			port, err := freePort()
			if err != nil {
				return err
			}
			n.sourcePort = port
		}
		ac := agentConf{Name: n.Name, Dir: n.Dir, Source: src, Bind: "127.0.0.1", Channel: sc.AgentChannel,
			Group: sc.Group, MaxPenalty: p.MaxPenalty, BatchSize: 100,
			RequestTimeout: p.RequestTimeout, ConnectTimeout: p.RequestTimeout}
		g := record.SinkGroup{Name: "g1", Processor: sc.Group}
		for j, c := range h.collectors {
			px, err := h.proxies.NewProxy(fmt.Sprintf("%s-k%d", n.Name, j+1), fmt.Sprintf("127.0.0.1:%d", c.sourcePort))
			if err != nil {
				return err
			}
			c.proxies = append(c.proxies, px)
			sk := sinkConf{Name: fmt.Sprintf("k%d", j+1), Host: "127.0.0.1", Port: portOf(px.Addr())}
			h.hops = append(h.hops, record.Hop{From: n.Name, Sink: sk.Name, To: c.Name, Via: "toxiproxy " + px.Addr()})
			ac.Sinks = append(ac.Sinks, sk)
			prio := 0
			if j < len(sc.Priorities) {
				prio = sc.Priorities[j]
			}
			ac.Priorities = append(ac.Priorities, prio)
			g.Sinks = append(g.Sinks, record.GroupSink{Name: sk.Name, Priority: prio, Target: c.Name})
		}
		if len(h.collectors) > 0 {
			n.groups = []record.SinkGroup{g}
		} else if sc.StoreTier != "" {
			if h.kafka == nil {
				topics := []string{storeTopic}
				for j := 1; j <= p.Agents; j++ {
					topics = append(topics, channelTopic(fmt.Sprintf("agent%d", j)))
				}
				c, err := startKafka(topics...)
				if err != nil {
					return err
				}
				h.closers = append(h.closers, c.Close)
				h.kafka = c
				h.kafkaAddrs = c.ListenAddrs()
				h.stores = append(h.stores, newKafkaStore(h.kafkaAddrs))
			}
			ac.Group, ac.Kafka = sc.StoreTier, h.kafkaAddrs
			if sc.StoreTier == StoreTierHDFSKafka {
				n.groups = []record.SinkGroup{{Name: "g1", Processor: "failover", Sinks: []record.GroupSink{
					{Name: "hdfsSink", Priority: 100, Target: hdfsStoreName(n.Name)},
					{Name: "kafkaSink", Priority: 80, Target: kafkaStoreName}}}}
				h.stores = append(h.stores, newHDFSStore(n.Name, n.Dir))
			} else {
				n.groups = []record.SinkGroup{{Name: "kafkaSink", Processor: "default", Sinks: []record.GroupSink{
					{Name: "kafkaSink", Target: kafkaStoreName}}}}
			}
		} else {
			ac.Group = "store"
			storeDir := filepath.Join(n.Dir, "store")
			h.stores = append(h.stores, NewFileRoll(n.Name, n.Name, storeDir))
		}
		n.conf = func() string {
			n.mu.Lock()
			c := ac
			c.HTTPPort = n.sourcePort
			n.mu.Unlock()
			return c.text()
		}
		// The tailed directory exists before the agent starts (taildir
		// needs the file group's directory).
		if src == "taildir" {
			if err := os.MkdirAll(filepath.Join(n.Dir, "logs"), 0o755); err != nil {
				return err
			}
		}
		h.agents = append(h.agents, n)
		h.nodes[n.Name] = n
	}
	return nil
}

func closeNode(n *Node) {
	if n.proc != nil {
		n.proc.Close()
	}
}

func (h *harness) runtime(n *Node) string {
	if n.ctr != nil {
		return "container"
	}
	if n.proc != nil {
		return fmt.Sprintf("pid %d", n.proc.Pid())
	}
	return "process"
}

func (h *harness) startNode(ctx context.Context, n *Node) error {
	if h.sc.Containers && n.Role == record.RoleCollector {
		if err := os.WriteFile(n.ConfPath, []byte(n.conf()), 0o644); err != nil {
			return err
		}
		c, err := h.opts.Containers.Start(ctx, n, 4141, 41414)
		if err != nil {
			return err
		}
		n.ctr = c
		return n.Restarted(ctx)
	}
	return n.Start(ctx)
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	var p int
	fmt.Sscan(addr[i+1:], &p)
	return p
}

func (h *harness) allNodes() []*Node {
	return append(append([]*Node(nil), h.collectors...), h.agents...)
}

// target is what faults act on for n: the node itself, or its container.
func (n *Node) target() faults.Target {
	if n.ctr != nil {
		return n.ctr
	}
	return n
}

func (h *harness) run(ctx context.Context) (*record.Run, error) {
	p := h.plan
	all := h.allNodes()
	h.obs = newObserver(h.start, seriesStep, all)
	h.obs.onChange = func(at time.Time, node, group, from, to string) {
		h.mark(at, record.MarkNote, node, "%s active sink %s -> %s", group, orNone(from), orNone(to))
	}

	// Background: store polling and metrics observation until the end.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgWG sync.WaitGroup
	bgWG.Add(2)
	go func() { defer bgWG.Done(); h.pollStores(bg) }()
	go func() { defer bgWG.Done(); h.obs.run(bg, metricsPoll) }()
	bgWG.Add(1)
	go func() { defer bgWG.Done(); h.watch(bg) }()
	if h.opts.Progress != nil {
		bgWG.Add(1)
		go func() { defer bgWG.Done(); h.progress(bg) }()
	}
	stopped := false
	stopBackground := func() {
		if !stopped {
			stopped = true
			stopBG()
			bgWG.Wait()
		}
	}
	defer stopBackground()

	// Phase 1: load with faults.
	if err := h.startWriters(); err != nil {
		return nil, err
	}
	loadStart := time.Now()
	h.mark(loadStart, record.MarkPhase, "", "load starts: %d writers, %d events/s per agent, for %v", len(h.writers), p.Rate, p.Load)
	loadCtx, endLoad := context.WithCancel(ctx)
	var wwg sync.WaitGroup
	for _, w := range h.writers {
		wwg.Add(1)
		go func() { defer wwg.Done(); w.run(loadCtx) }()
	}
	loadOver := make(chan struct{})
	var swg sync.WaitGroup
	for _, st := range p.Steps {
		swg.Add(1)
		go func() { defer swg.Done(); h.step(ctx, loadStart, loadOver, st) }()
	}
	select {
	case <-time.After(p.Load):
	case <-ctx.Done():
	}
	endLoad()
	wwg.Wait()
	loadEnd := time.Now()
	h.mark(loadEnd, record.MarkPhase, "", "load ends")

	// Phase 2: heal, quiesce, drain.
	close(loadOver)
	swg.Wait()
	healed := time.Now()
	h.mark(healed, record.MarkPhase, "", "every fault healed")
	drained := h.drain(ctx, p.Drain)
	drainEnd := time.Now()
	if drained {
		h.mark(drainEnd, record.MarkPhase, "", "drained: every channel empty, every acknowledged event read back")
	} else {
		h.mark(drainEnd, record.MarkPhase, "", "drain gave up after %v", p.Drain)
	}
	stopBackground()
	for _, f := range h.feeders {
		f.Close()
	}
	// Stop every node gracefully; then read every store to its end.
	for _, group := range [][]*Node{h.agents, h.collectors} {
		var wg sync.WaitGroup
		for _, n := range group {
			wg.Add(1)
			go func() { defer wg.Done(); n.Stop(context.Background(), 15*time.Second) }()
		}
		wg.Wait()
	}
	end := time.Now()
	for _, s := range h.stores {
		err := s.Finish(func(l []byte) { h.ck.Deliver(s.Name(), l, end) }, func() { h.ck.Torn(s.Name()) })
		if err != nil {
			h.note("reading store %s: %v", s.Name(), err)
		}
		if ts, ok := s.(*tailerStore); ok {
			if kt, ok := ts.t.(*store.KafkaTail); ok && kt.Replaced() > 0 {
				h.note("The tail of %s replaced its Kafka client %d times: it had stopped short of records the topic held.", s.Name(), kt.Replaced())
			}
		}
	}
	return h.record(end, loadEnd, healed, drainEnd, drained), nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (h *harness) startWriters() error {
	p := h.plan
	for _, n := range h.agents {
		var f feeder
		switch h.sc.source() {
		case "taildir":
			ff, err := newFileFeeder(filepath.Join(n.Dir, "logs"), p.RotateBytes)
			if err != nil {
				return err
			}
			f = ff
		default:
			f = newHTTPFeeder(n.SourceAddr)
		}
		h.feeders = append(h.feeders, f)
		for i := 0; i < p.WritersPerAgent; i++ {
			name := fmt.Sprintf("%sw%d", n.Name, i)
			h.ck.Writer(name, n.Name)
			h.writers = append(h.writers, &writer{name: name, node: n.Name, rate: float64(p.Rate) / float64(p.WritersPerAgent),
				lineSize: p.LineSize, feed: f, ck: h.ck})
		}
	}
	return nil
}

func (h *harness) pollStores(ctx context.Context) {
	t := time.NewTicker(storePoll)
	defer t.Stop()
	for {
		now := time.Now()
		for _, s := range h.stores {
			if err := s.Poll(func(l []byte) { h.ck.Deliver(s.Name(), l, now) }); err != nil {
				h.log.Warn("store poll", "store", s.Name(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step runs one nemesis step: inject at its offset, heal after its
// duration (or when the load ends).
func (h *harness) step(ctx context.Context, loadStart time.Time, loadOver <-chan struct{}, st Step) {
	select {
	case <-time.After(time.Until(loadStart.Add(st.At))):
	case <-loadOver:
		return
	case <-ctx.Done():
		return
	}
	n := h.nodes[st.Target]
	if n == nil {
		h.note("step %s: no node %q", st.Name, st.Target)
		return
	}
	f := st.Fault(n)
	name := st.Name
	if name == "" {
		name = f.Name()
	}
	downOnPurpose := f.Kind() == faults.Process || f.Kind() == faults.Container
	if downOnPurpose {
		n.faulted.Add(1)
		defer n.faulted.Add(-1)
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
	err := f.Inject(ictx, n.target())
	cancel()
	injected := time.Now()
	h.mu.Lock()
	target := n.Name
	if st.Store != "" {
		target = st.Store
	}
	rec := record.Fault{ID: len(h.faults) + 1, Name: name, Kind: string(f.Kind()), Action: f.Action(), Target: target,
		Params: f.Params(), InjectedMs: h.at(injected)}
	if err != nil {
		rec.Error = err.Error()
	}
	h.faults = append(h.faults, rec)
	id := rec.ID
	h.active[id] = name + "@" + n.Name
	h.mu.Unlock()
	mk := record.MarkFault
	if f.Action() == "SIGKILL" || f.Action() == "kill" {
		mk = record.MarkCrash
	}
	if err != nil {
		h.mark(injected, mk, n.Name, "%s (%s) FAILED: %v", name, f.Action(), err)
	} else {
		h.mark(injected, mk, n.Name, "%s (%s)%s", name, f.Action(), h.pidNote(n))
	}
	if st.For > 0 {
		select {
		case <-time.After(time.Until(injected.Add(st.For))):
		case <-ctx.Done():
		}
	} else {
		select {
		case <-loadOver:
		case <-ctx.Done():
		}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 120*time.Second)
	herr := f.Heal(hctx, n.target())
	cancel()
	at := time.Now()
	h.mu.Lock()
	for i := range h.faults {
		if h.faults[i].ID == id {
			h.faults[i].HealedMs = record.Ms(h.at(at))
			if herr != nil {
				h.faults[i].Error = strings.TrimPrefix(h.faults[i].Error+"; heal: "+herr.Error(), "; ")
			}
		}
	}
	delete(h.active, id)
	h.mu.Unlock()
	hm := record.MarkHeal
	if f.Kind() == faults.Process || f.Kind() == faults.Container {
		hm = record.MarkRecover
	}
	if herr != nil {
		h.mark(at, hm, n.Name, "heal %s FAILED: %v", name, herr)
	} else {
		h.mark(at, hm, n.Name, "healed %s%s", name, h.pidNote(n))
	}
}

// watch reports a node process that exits while no fault holds it down.
func (h *harness) watch(ctx context.Context) {
	t := time.NewTicker(metricsPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range h.allNodes() {
			p := n.proc
			if p == nil || p.Running() || n.faulted.Load() > 0 || n.stopping.Load() {
				continue
			}
			if inc := p.Incarnation(); inc != n.reported {
				n.reported = inc
				msg := fmt.Sprintf("%s (incarnation %d) exited without a fault: %v", n.Name, inc, p.Err())
				h.mu.Lock()
				h.anomalies = append(h.anomalies, msg)
				h.mu.Unlock()
				h.mark(time.Now(), record.MarkCrash, n.Name, "exited without a fault: %v", p.Err())
			}
		}
	}
}

// panics lists the first panic or fatal error in each node's log.
func (h *harness) panics() []string {
	var out []string
	for _, n := range h.allNodes() {
		b, err := os.ReadFile(n.LogPath())
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
				if len(l) > 200 {
					l = l[:200]
				}
				out = append(out, fmt.Sprintf("%s log: %s", n.Name, l))
				break
			}
		}
	}
	return out
}

func (h *harness) pidNote(n *Node) string {
	if n.proc != nil && n.proc.Running() {
		return fmt.Sprintf(" [pid %d]", n.proc.Pid())
	}
	return ""
}

// drain waits until every acknowledged event was read back and every
// channel is empty (every node answering), or the deadline passes. It
// gives up early once every channel has been empty, and nothing new was
// read back, for stuckAfter: what is missing then is not coming.
func (h *harness) drain(ctx context.Context, limit time.Duration) bool {
	const stuckAfter = 8 * time.Second
	deadline := time.Now().Add(limit)
	quiet := 0
	lastOut, lastChange := int64(-1), time.Now()
	rechecked := false
	for time.Now().Before(deadline) && ctx.Err() == nil {
		backlog, all := h.obs.fresh(ctx)
		out := h.ck.Outstanding()
		if out != lastOut || backlog != 0 || !all {
			lastOut, lastChange = out, time.Now()
		}
		if all && backlog == 0 && out == 0 {
			// Twice in a row, a store poll apart, so late copies land too.
			quiet++
			if quiet >= 2 {
				return true
			}
		} else {
			quiet = 0
		}
		if time.Since(lastChange) > stuckAfter && !rechecked {
			// Before calling them lost, read the stores whole once more.
			rechecked = true
			if h.recheckStores(ctx) > 0 {
				lastChange = time.Now()
				continue
			}
		}
		if time.Since(lastChange) > stuckAfter {
			h.note("Drain stopped early: every channel was empty and %d acknowledged events stayed unread for %v.", out, stuckAfter)
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(4 * storePoll):
		}
	}
	if !rechecked && h.ck.Outstanding() > 0 {
		h.recheckStores(ctx)
	}
	return false
}

// recheckStores reads every store that can be read whole again (a Kafka
// topic) and delivers what its tail never returned, noting it: the tail
// follows with one consumer whose position a leader move can carry past
// records. It returns the number found.
func (h *harness) recheckStores(ctx context.Context) int {
	found := 0
	for _, s := range h.stores {
		r, ok := s.(*tailerStore)
		if !ok {
			continue
		}
		now := time.Now()
		n, where, err := r.Recheck(ctx, func(l []byte) { h.ck.Deliver(s.Name(), l, now) })
		if err != nil {
			h.note("Final read of %s: %v", s.Name(), err)
		}
		if n > 0 {
			h.note("A final read of %s found %d records its tail had not returned (at %s); they count as delivered when that read found them.", s.Name(), n, where)
		}
		found += n
	}
	return found
}

func (h *harness) progress(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(h.opts.Progress)
			return
		case <-t.C:
		}
		k := h.ck.Counts()
		_, tiers := h.obs.Backlog()
		var bl []string
		for _, t := range sortedKeys(tiers) {
			bl = append(bl, fmt.Sprintf("%s=%d", t, tiers[t]))
		}
		h.mu.Lock()
		var act []string
		for _, a := range h.active {
			act = append(act, a)
		}
		h.mu.Unlock()
		sort.Strings(act)
		if len(act) == 0 {
			act = []string{"none"}
		}
		fmt.Fprintf(h.opts.Progress, "\r[%6.1fs] written %d delivered %d dup %d backlog %s faults active: %s   ",
			time.Since(h.start).Seconds(), k.Attempted, k.Delivered, k.Duplicated, strings.Join(bl, " "), strings.Join(act, ", "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
