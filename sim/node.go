package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/sim/disk"
	"github.com/sluicehq/sluice/sim/network"
	"github.com/sluicehq/sluice/sim/sched"
)

type role int

const (
	roleAgent role = iota
	roleCollector
)

type state int

const (
	up state = iota
	down
	frozen
)

// node is one simulated host running a Flume agent (an application
// server's agent or a collector) built from its properties file by the real
// engine components.
type node struct {
	w     *world
	name  string
	role  role
	host  network.Host
	disk  *disk.Disk
	cfg   *config.Agent
	state state
	// hostDown: the whole host is gone (connections black-holed), not only
	// the process (connections refused).
	hostDown bool
	gen      int

	reg      *metrics.Registry
	channels []*chanNode
	sources  []*sourceActor
	runners  []*runnerActor

	// agents
	drainedBefore map[string]int64 // sink drain counts of earlier incarnations
	failedBefore  map[string]int64 // sink failure counts (sinkFailures) of earlier incarnations
	writer        *writer
	tail          *tailSource
	// collectors
	endpoint *endpoint
	cidx     int // index in world.collectors
}

// chanNode is a built channel and the runners its put commits wake.
type chanNode struct {
	ch        channel.Channel
	keepAlive time.Duration // configured; the simulator charges it on a full put
	durable   bool
	waiters   []*runnerActor
}

// woke is called after a put commit: runners parked on the channel run now,
// as sink.Runner's Wake does.
func (c *chanNode) woke() {
	for _, r := range c.waiters {
		if r.parked {
			r.parked = false
			r.backoffs = 0
			w := r.n.w
			at := max(w.s.Now(), r.busyUntil)
			if r.ev.Pending() && r.ev.At() > at {
				w.s.AtTime(r.ev, at)
			}
		}
	}
}

func (n *node) durable() bool {
	for _, c := range n.channels {
		if !c.durable {
			return false
		}
	}
	return len(n.channels) > 0
}

// sourceActor drives a source the way source.PollingRunner does, on
// virtual time: READY polls again at once, the n-th consecutive BACKOFF
// waits min(n*increment, max), an error waits max; a full channel retries
// after taildir's doubling interval (1, 2, 4, 5 s).
type sourceActor struct {
	n        *node
	src      *tailSource
	ev       *sched.Event
	event    sched.Event // ev points here
	inc, max time.Duration
	backoffs int
	retry    time.Duration
}

// Run is one poll.
func (a *sourceActor) Run() {
	w := a.n.w
	w.meter.Elapsed = 0
	st, err := a.src.poll(w.s.Now())
	var wait time.Duration
	switch {
	case errors.Is(err, errFull):
		if a.retry == 0 {
			a.retry = time.Second
		}
		wait = a.retry
		a.retry = min(a.retry*2, 5*time.Second)
	case err != nil:
		a.backoffs, wait = 0, a.max
	case st == source.Ready:
		a.backoffs, a.retry = 0, 0
	default:
		a.retry = 0
		a.backoffs++
		wait = min(time.Duration(a.backoffs)*a.inc, a.max)
	}
	w.s.After(a.ev, w.meter.Elapsed+wait)
	if a.n.role == roleAgent {
		w.polled(a.n, a.src)
	}
}

// runnerActor drives a sink processor the way sink.Runner does, on virtual
// time: READY runs again as soon as the work in hand is done, the n-th
// consecutive BACKOFF waits min(n*Increment, Max) unless a put commit on
// the channel wakes it, and an error waits OnError (or less, when the error
// says when retrying can help).
//
// The time a Process call takes (RPC round trips, request timeouts, disk
// service) is not waited inside the call, which cannot block: it is charged
// to the meter and the runner's next step starts after it.
type runnerActor struct {
	n         *node
	name      string
	p         sink.Processor
	ev        *sched.Event
	event     sched.Event // ev points here
	backoff   sink.BackoffConfig
	backoffs  int
	wake      *chanNode
	parked    bool
	busyUntil time.Duration
	group     string
	sinkNames []string
	keys      []string // "runner/sink", the series names
	actIDs    []int32  // keys interned for the sample views
	avro      []*avroSink
	active    int // index of the sink that delivered last, -1 before any
}

// Run is one step of the sink processor.
func (a *runnerActor) Run() {
	w := a.n.w
	w.meter.Elapsed = 0
	w.running = a
	st, err := a.p.Process(context.Background())
	w.running = nil
	el := w.meter.Elapsed
	a.parked = false
	var wait time.Duration
	switch {
	case err != nil:
		a.backoffs = 0
		wait = a.backoff.OnError
		if d, ok := retryAfter(err); ok && d < wait {
			wait = d
		}
	case st == sink.Backoff:
		a.backoffs++
		wait = min(time.Duration(a.backoffs)*a.backoff.Increment, a.backoff.Max)
		a.parked = a.wake != nil
	default:
		a.backoffs = 0
	}
	a.busyUntil = w.s.Now() + el
	w.s.After(a.ev, el+wait)
	if a.n.role == roleAgent {
		w.stepped(a.n, a)
	}
}

// retryAfter mirrors sink.Runner: an error that knows when retrying can
// help (a group whose sinks are all penalized) shortens the error sleep.
func retryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0), true
	}
	return 0, false
}

// build constructs the node's components from its configuration through
// the engine's registry, as agent.Build does, except that the Avro hop,
// the tailed log and the stores are the simulator's.
func (n *node) build() error {
	w := n.w
	n.gen++
	n.reg = metrics.NewRegistry(w.s.Clock())
	env := registry.Env{Agent: n.cfg.Name, Clock: w.s.Clock(), FS: n.disk.FS(), Log: w.log, Metrics: n.reg, Hostname: n.name}
	byName := map[string]*chanNode{}
	n.channels, n.sources, n.runners = nil, nil, nil
	for _, c := range n.cfg.Channels {
		e, ok := registry.Lookup(registry.Channel, c.Type)
		if !ok {
			return fmt.Errorf("%s: channel %s: %w", n.name, c.Name, registry.UnknownTypeError(registry.Channel, c.Type))
		}
		keep := 3 * time.Second
		if p, ok := c.Props["keep-alive"]; ok {
			var s int
			if _, err := fmt.Sscan(p.Value, &s); err == nil {
				keep = time.Duration(s) * time.Second
			}
		}
		over := map[string]string{"keep-alive": "0"}
		if _, ok := c.Props["maxFileSize"]; !ok && e.Name == "file" {
			// The simulated disk is memory: an agent's 64 MiB segment
			// would never fill, so nothing it consumed would ever be
			// deleted and 2000 agents would hold their whole hour of log.
			// Smaller segments keep the disk close to the backlog.
			over["maxFileSize"] = fmt.Sprint(simSegmentSize)
		}
		capa := w.opts.ChannelCapacity
		if n.role == roleCollector {
			capa = w.opts.CollectorChannelCapacity
		}
		if capa > 0 {
			over["capacity"] = fmt.Sprint(capa)
			if p, ok := c.Props["transactionCapacity"]; ok {
				var tc int
				if _, err := fmt.Sscan(p.Value, &tc); err == nil && tc > capa {
					over["transactionCapacity"] = fmt.Sprint(capa)
				}
			}
		}
		cc := withProps(c, over)
		r := config.NewReader(n.cfg.Name, cc)
		r.Use("type")
		ch, err := e.Factory.(registry.ChannelFactory)(env, r)
		if err != nil {
			return fmt.Errorf("%s: channel %s: %w", n.name, c.Name, err)
		}
		if err := ch.Start(); err != nil {
			return fmt.Errorf("%s: start channel %s: %w", n.name, c.Name, err)
		}
		cn := &chanNode{ch: ch, keepAlive: keep, durable: e.Name == "file"}
		n.channels = append(n.channels, cn)
		byName[c.Name] = cn
	}
	for _, c := range n.cfg.Sources {
		if err := n.buildSource(env, c, byName); err != nil {
			return fmt.Errorf("%s: source %s: %w", n.name, c.Name, err)
		}
	}
	sinks := map[string]sink.Sink{}
	for _, c := range n.cfg.Sinks {
		cn := byName[c.Channel]
		if cn == nil {
			return fmt.Errorf("%s: sink %s: channel %s was not built", n.name, c.Name, c.Channel)
		}
		s, err := n.buildSink(env, c, cn)
		if err != nil {
			return fmt.Errorf("%s: sink %s: %w", n.name, c.Name, err)
		}
		sinks[c.Name] = s
	}
	grouped := map[string]bool{}
	for _, gc := range n.cfg.SinkGroups {
		var members []sink.Sink
		var chans []*chanNode
		for _, name := range gc.Sinks {
			if s, ok := sinks[name]; ok {
				members = append(members, s)
				grouped[name] = true
				chans = appendChan(chans, byName[componentChannel(n.cfg, name)])
			}
		}
		r := config.NewReader(n.cfg.Name, gc)
		r.Use("sinks", "processor.type")
		p, err := buildProcessor(env, gc.Type, r, members)
		if err != nil {
			return fmt.Errorf("%s: sink group %s: %w", n.name, gc.Name, err)
		}
		n.addRunner(gc.Name, p, chans, r)
	}
	for _, c := range n.cfg.Sinks {
		if grouped[c.Name] {
			continue
		}
		r := config.NewReader(n.cfg.Name, c)
		n.addRunner(c.Name, sink.Single{S: sinks[c.Name]}, []*chanNode{byName[c.Channel]}, r)
	}
	for _, r := range n.runners {
		if err := r.p.Start(context.Background()); err != nil {
			return fmt.Errorf("%s: start %s: %w", n.name, r.name, err)
		}
	}
	return nil
}

func componentChannel(cfg *config.Agent, sinkName string) string {
	for _, c := range cfg.Sinks {
		if c.Name == sinkName {
			return c.Channel
		}
	}
	return ""
}

func appendChan(list []*chanNode, c *chanNode) []*chanNode {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}

// withProps returns a copy of c with some values replaced.
func withProps(c *config.Component, over map[string]string) *config.Component {
	cc := *c
	cc.Props = make(map[string]config.Property, len(c.Props)+len(over))
	for k, v := range c.Props {
		cc.Props[k] = v
	}
	for k, v := range over {
		p := cc.Props[k]
		p.Key, p.Value = k, v
		if p.Pos.File == "" {
			p.Pos = c.Pos
		}
		cc.Props[k] = p
	}
	return &cc
}

func (n *node) addRunner(name string, p sink.Processor, chans []*chanNode, r *config.Reader) {
	w := n.w
	a := &runnerActor{n: n, name: name, p: p, active: -1,
		backoff: sink.BackoffConfig{
			Increment: r.Millis("runner.backoffIncrement", sink.FlumeBackoff.Increment),
			Max:       r.Millis("runner.maxBackoff", sink.FlumeBackoff.Max),
			OnError:   r.Millis("runner.errorBackoff", sink.FlumeBackoff.OnError),
		}}
	for _, s := range p.Sinks() {
		a.sinkNames = append(a.sinkNames, s.Name())
		a.keys = append(a.keys, name+"/"+s.Name())
		if k, ok := s.(*avroSink); ok {
			k.runner, k.index = a, len(a.sinkNames)-1
			a.avro = append(a.avro, k)
		}
		if k, ok := s.(*storeSink); ok {
			k.runner, k.index = a, len(a.sinkNames)-1
		}
	}
	a.event.Init(a)
	a.ev = &a.event
	if len(chans) == 1 {
		if _, ok := chans[0].ch.(channel.Notifier); ok {
			a.wake = chans[0]
			chans[0].waiters = append(chans[0].waiters, a)
		}
	}
	_ = w
	n.runners = append(n.runners, a)
}

func (n *node) buildSource(env registry.Env, c *config.Component, byName map[string]*chanNode) error {
	r := config.NewReader(n.cfg.Name, c)
	r.Use("type", "channels")
	var chans []channel.Channel
	var nodes []*chanNode
	for _, name := range c.Channels {
		if cn := byName[name]; cn != nil {
			chans = append(chans, cn.ch)
			nodes = append(nodes, cn)
		}
	}
	if len(chans) == 0 {
		return fmt.Errorf("none of its channels (%s) was built", strings.Join(c.Channels, " "))
	}
	selType := r.String("selector.type", "replicating")
	se, ok := registry.Lookup(registry.Selector, selType)
	if !ok {
		return registry.UnknownTypeError(registry.Selector, selType)
	}
	sel, err := se.Factory.(registry.SelectorFactory)(env, r.Sub("selector."), chans)
	if err != nil {
		return fmt.Errorf("selector: %w", err)
	}
	var chain source.Chain
	for _, name := range r.List("interceptors") {
		sub := r.Sub("interceptors." + name + ".")
		typ, _ := sub.Raw("type")
		ie, ok := registry.Lookup(registry.Interceptor, typ)
		if !ok {
			return fmt.Errorf("interceptor %s: %w", name, registry.UnknownTypeError(registry.Interceptor, typ))
		}
		ic, err := ie.Factory.(registry.InterceptorFactory)(env, sub)
		if err != nil {
			return fmt.Errorf("interceptor %s: %w", name, err)
		}
		chain = append(chain, ic)
	}
	cp := &source.ChannelProcessor{Selector: sel, Interceptors: chain, Log: env.Log}
	switch n.role {
	case roleAgent:
		if n.tail != nil {
			return fmt.Errorf("the simulator runs one tailing source per agent")
		}
		batch := r.Int("batchSize", 100)
		for _, cn := range nodes {
			if tc := cn.ch.TransactionCapacity(); batch > tc {
				return fmt.Errorf("batchSize %d is greater than channel %s's transactionCapacity %d; Flume removes the source", batch, cn.ch.Name(), tc)
			}
		}
		n.tail = &tailSource{n: n, w: n.writer, cp: cp, chans: nodes, batch: batch}
		a := &sourceActor{n: n, src: n.tail,
			inc: r.Millis("backoffSleepIncrement", time.Second),
			max: r.Millis("maxBackoffSleep", 5*time.Second)}
		a.event.Init(a)
		a.ev = &a.event
		n.sources = append(n.sources, a)
	case roleCollector:
		if t := strings.ToLower(c.Type); t != "avro" && t != "org.apache.flume.source.avrosource" {
			return fmt.Errorf("a collector's source must be avro (the simulated hop), not %s", c.Type)
		}
		port := r.Int("port", 0)
		n.endpoint = &endpoint{n: n, port: port, cp: cp, chans: nodes}
	}
	return nil
}

func (n *node) buildSink(env registry.Env, c *config.Component, cn *chanNode) (sink.Sink, error) {
	r := config.NewReader(n.cfg.Name, c)
	r.Use("type", "channel")
	counter := metrics.NewSinkCounter(n.reg, c.Name)
	counter.Start()
	typ := strings.ToLower(c.Type)
	var batch int
	var s sink.Sink
	switch typ {
	case "avro", "org.apache.flume.sink.avrosink":
		k := &avroSink{n: n, name: c.Name, ch: cn.ch, counter: counter, drainKey: "agent/" + c.Name,
			hostname:       r.Required("hostname", "the collector to send to"),
			port:           r.Int("port", 0),
			connectTimeout: flumeTimeout(r.Millis("connect-timeout", 20*time.Second)),
			requestTimeout: flumeTimeout(r.Millis("request-timeout", 20*time.Second)),
			commitFirst:    n.w.opts.commitBeforeDeliver,
			drainID:        -1, failID: -1,
		}
		k.batch = r.Int("batch-size", 100)
		batch, s = k.batch, k
	default:
		store := storeKind(typ)
		key := map[string]string{"hdfs": "hdfs.batchSize", "kafka": "kafka.flumeBatchSize"}[store]
		if key == "" {
			key = "batchSize"
		}
		k := &storeSink{n: n, name: c.Name, ch: cn.ch, counter: counter, store: n.w.store(store),
			batch: r.Int(key, 100), flumeBackoff: store == "hdfs"}
		k.write = func(events []event.Event) error { return k.store.write(n, events) }
		batch, s = k.batch, k
	}
	if tc := cn.ch.TransactionCapacity(); batch > tc {
		return nil, fmt.Errorf("batch size %d is greater than channel %s's transactionCapacity %d; Flume removes the sink", batch, cn.ch.Name(), tc)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// simSegmentSize is the file channels' segment size on simulated disks
// when the configuration sets no maxFileSize.
const simSegmentSize = 256 << 10

// flumeTimeout applies NettyAvroRpcClient's rule: values below 1 s are
// replaced by the 20 s default (flume-facts §1.9).
func flumeTimeout(d time.Duration) time.Duration {
	if d < time.Second {
		return 20 * time.Second
	}
	return d
}

func storeKind(typ string) string {
	switch {
	case typ == "hdfs" || strings.Contains(typ, "hdfs"):
		return "hdfs"
	case strings.Contains(typ, "kafka"):
		return "kafka"
	}
	return typ
}

func buildProcessor(env registry.Env, typ string, r *config.Reader, sinks []sink.Sink) (sink.Processor, error) {
	if len(sinks) == 0 {
		return nil, fmt.Errorf("none of its sinks was built")
	}
	e, ok := registry.Lookup(registry.Processor, typ)
	if !ok {
		return nil, registry.UnknownTypeError(registry.Processor, typ)
	}
	return e.Factory.(registry.ProcessorFactory)(env, r.Sub("processor."), sinks)
}

// schedule starts the node's actors at random offsets within a second (or
// a poll interval), so 2000 agents do not all act at the same instant.
func (n *node) schedule() {
	w := n.w
	for _, a := range n.sources {
		w.s.After(a.ev, time.Duration(w.startRng.Int64N(int64(a.max))))
	}
	for _, a := range n.runners {
		w.s.After(a.ev, time.Duration(w.startRng.Int64N(int64(time.Second))))
	}
}

func (n *node) unschedule() {
	for _, a := range n.sources {
		n.w.s.Cancel(a.ev)
	}
	for _, a := range n.runners {
		n.w.s.Cancel(a.ev)
		a.parked = false
	}
}

// crash is kill -9: actors stop mid-flight, open transactions vanish,
// memory channels lose what they held; the disk loses what was not synced
// (a power cut of the host, when the whole host goes).
func (n *node) crash(host bool) {
	if n.state == down {
		return
	}
	n.unschedule()
	n.state, n.hostDown = down, host
	for _, c := range n.channels {
		if !c.durable {
			n.w.stats.crashLostInChannels += uint64(c.ch.Len())
		}
	}
	for _, r := range n.runners {
		for _, k := range r.avro {
			if n.drainedBefore == nil {
				n.drainedBefore, n.failedBefore = map[string]int64{}, map[string]int64{}
			}
			n.drainedBefore[k.name] += k.counter.EventDrainSuccessCount.Load()
			n.failedBefore[k.name] += sinkFailures(k.counter)
		}
	}
	n.channels, n.sources, n.runners = nil, nil, nil
	if n.endpoint != nil {
		n.endpoint.frozenQueue = nil
	}
	// A killed process keeps its page-cache writes unless the host goes
	// too; the simulator always takes the harsher view and recovers from
	// what was synced, torn tail included.
	n.disk.Crash()
	if n.tail != nil {
		n.tail.pos = n.tail.saved
	}
	n.w.refreshView(n)
}

// restart starts the process again from its configuration: file channels
// replay their logs from the disk; the tailing source resumes from its
// saved position.
func (n *node) restart() error {
	if n.state != down {
		return nil
	}
	tail := n.tail
	n.tail = nil
	defer n.w.refreshView(n)
	if err := n.build(); err != nil {
		return err
	}
	if tail != nil && n.tail != nil {
		n.tail.pos, n.tail.saved = tail.pos, tail.saved
	}
	n.state, n.hostDown = up, false
	n.schedule()
	return nil
}

func (n *node) freeze() {
	if n.state != up {
		return
	}
	n.unschedule()
	n.state = frozen
	n.w.refreshView(n)
}

// thaw resumes a frozen node: requests its socket buffers held while it
// was stopped are processed now (their senders gave up long ago, so what
// they put is duplicated when the sender retries), and its actors resume.
func (n *node) thaw() {
	if n.state != frozen {
		return
	}
	n.state = up
	if e := n.endpoint; e != nil {
		q := e.frozenQueue
		e.frozenQueue = nil
		w := n.w
		for _, batch := range q {
			w.meter.Elapsed = 0
			e.appendBatch(batch)
		}
	}
	n.schedule()
	n.w.refreshView(n)
}
