// Package memory is Flume's memory channel: fast, bounded, and lost on a
// crash. Capacity, transactionCapacity, keep-alive, byteCapacity and
// byteCapacityBufferPercentage behave as in Flume (flume-facts §4.1), with
// one deliberate difference: Take never blocks (a sink that finds the channel
// empty backs off, and wakes early through Notify), where Flume's take waits
// up to keep-alive for each missing event and so delays partial batches.
package memory

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
)

// Config is the memory channel's configuration.
type Config struct {
	Capacity            int
	TransactionCapacity int
	KeepAlive           time.Duration
	// ByteCapacity is the budget for event bodies in bytes; 0 means no byte
	// limit. Flume defaults it to 80% of the JVM heap; a Go process has no
	// such cap, so Sluice leaves it unlimited unless set.
	ByteCapacity                 int64
	ByteCapacityBufferPercentage int
}

// DefaultConfig is Flume's defaults.
func DefaultConfig() Config {
	return Config{Capacity: 100, TransactionCapacity: 100, KeepAlive: 3 * time.Second, ByteCapacityBufferPercentage: 20}
}

// ParseConfig reads Flume's memory channel keys. Like Flume, an
// unparsable or non-positive number falls back to the default with a
// warning instead of failing the channel; transactionCapacity > capacity
// fails it, as Flume's checkState does.
func ParseConfig(r *config.Reader) (Config, error) {
	c := DefaultConfig()
	c.Capacity = int(lenient(r, "capacity", int64(c.Capacity), 1))
	c.TransactionCapacity = int(lenient(r, "transactionCapacity", int64(c.TransactionCapacity), 1))
	if c.TransactionCapacity > c.Capacity {
		r.Errorf("transactionCapacity", "%d is greater than capacity %d; Flume refuses to configure the channel; make transactionCapacity <= capacity", c.TransactionCapacity, c.Capacity)
	}
	c.KeepAlive = time.Duration(lenient(r, "keep-alive", int64(c.KeepAlive/time.Second), 0)) * time.Second
	c.ByteCapacityBufferPercentage = int(lenient(r, "byteCapacityBufferPercentage", int64(c.ByteCapacityBufferPercentage), 0))
	if c.ByteCapacityBufferPercentage > 100 {
		r.Errorf("byteCapacityBufferPercentage", "%d is over 100", c.ByteCapacityBufferPercentage)
	}
	c.ByteCapacity = lenient(r, "byteCapacity", 0, 0)
	return c, r.Err()
}

// lenient reads an integer key the way Flume's MemoryChannel does: a value
// that does not parse, or is below min, becomes def and earns a warning.
func lenient(r *config.Reader, key string, def, min int64) int64 {
	v, ok := r.Raw(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < min {
		r.Notef(config.Warning, key, "memory-default", fmt.Sprintf("set %s to an integer >= %d", key, min),
			"%s = %q is invalid; Flume (and Sluice) use the default %d instead", key, v, def)
		return def
	}
	return n
}

// Channel is a memory channel.
type Channel struct {
	name    string
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	counter *metrics.ChannelCounter
	slots   int64 // byte-capacity slots, MaxInt64 when unlimited

	mu        sync.Mutex
	q         ring
	inflight  int   // taken, not yet committed: still hold capacity
	usedSlots int64 // byte slots held by queued and in-flight events
	closed    bool
	// space is closed when capacity is released and data when events are
	// committed. Both are made only when someone waits on them, so a busy
	// channel nobody waits on allocates nothing per commit.
	space chan struct{}
	data  chan struct{}
}

// putBufs holds finished transactions' put buffers for the next ones, so a
// busy channel does not allocate one per transaction; one pool for every
// channel keeps the buffer in hand warm.
var putBufs = sync.Pool{New: func() any { return new([]event.Event) }}

// maxPooledPuts bounds the buffers kept (in events).
const maxPooledPuts = 1 << 16

var _ channel.Channel = (*Channel)(nil)
var _ channel.Notifier = (*Channel)(nil)

// New returns a memory channel; it must be started before use.
func New(name string, cfg Config, clk clock.Clock, reg *metrics.Registry, log *slog.Logger) *Channel {
	if clk == nil {
		clk = clock.Real()
	}
	if reg == nil {
		reg = metrics.NewRegistry(clk)
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Channel{name: name, cfg: cfg, clk: clk, log: log.With("channel", name)}
	c.slots = math.MaxInt64
	if cfg.ByteCapacity > 0 {
		s := int64(float64(cfg.ByteCapacity) * (1 - float64(cfg.ByteCapacityBufferPercentage)*0.01) / 100)
		if s >= 1 {
			c.slots = s
		}
	}
	c.counter = metrics.NewChannelCounter(reg, name, func() int64 { return int64(c.Len()) })
	return c
}

func (c *Channel) Name() string  { return c.name }
func (c *Channel) Capacity() int { return c.cfg.Capacity }

func (c *Channel) TransactionCapacity() int { return c.cfg.TransactionCapacity }

func (c *Channel) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.len()
}

func (c *Channel) Start() error {
	c.mu.Lock()
	c.closed = false
	c.mu.Unlock()
	c.counter.Start()
	c.counter.ChannelCapacity.Set(int64(c.cfg.Capacity))
	return nil
}

// Stop closes the channel. Events still in it are lost, and said so.
func (c *Channel) Stop() error {
	c.mu.Lock()
	n := c.q.len() + c.inflight
	c.closed = true
	c.signalSpace()
	c.mu.Unlock()
	if n > 0 {
		c.log.Warn("memory channel stopped with events in it; they are lost", "events", n)
	}
	c.counter.Stop()
	return nil
}

// Notify returns a channel closed at the next put commit.
func (c *Channel) Notify() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data == nil {
		c.data = make(chan struct{})
	}
	return c.data
}

// signalSpace and signalData wake whoever waits for room or for events;
// c.mu is held.
func (c *Channel) signalSpace() {
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
}

func (c *Channel) signalData() {
	if c.data != nil {
		close(c.data)
		c.data = nil
	}
}

func (c *Channel) Begin() (channel.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
	}
	return &txn{c: c}, nil
}

// recycle returns a finished transaction's put buffer to the pool, emptied
// so that it holds no event.
func (t *txn) recycle() {
	if t.buf == nil {
		return
	}
	if cap(t.puts) <= maxPooledPuts {
		clear(t.puts)
		*t.buf = t.puts[:0]
		putBufs.Put(t.buf)
	}
	t.buf = nil
}

type txn struct {
	c         *Channel
	buf       *[]event.Event // pooled; puts is built in it
	puts      []event.Event
	putSlots  int64
	takes     []event.Event
	takeSlots int64
	done      bool
}

func (t *txn) Put(events []event.Event) error {
	if t.done {
		return channel.ErrTxnDone
	}
	t.c.counter.EventPutAttemptCount.Add(int64(len(events)))
	if len(t.puts)+len(events) > t.c.cfg.TransactionCapacity {
		return channel.TxnCapacityError(t.c.name, "put", t.c.cfg.TransactionCapacity)
	}
	if t.buf == nil && len(events) > 0 {
		t.buf = putBufs.Get().(*[]event.Event)
		t.puts = (*t.buf)[:0]
	}
	t.puts = append(t.puts, events...)
	for _, e := range events {
		t.putSlots += channel.Cost(e)
	}
	return nil
}

func (t *txn) Take(max int) ([]event.Event, error) {
	if t.done {
		return nil, channel.ErrTxnDone
	}
	if max <= 0 {
		return nil, nil
	}
	if len(t.takes)+max > t.c.cfg.TransactionCapacity {
		return nil, channel.TxnCapacityError(t.c.name, "take", t.c.cfg.TransactionCapacity)
	}
	c := t.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
	}
	n := min(max, c.q.len())
	if t.takes == nil && n > 0 {
		t.takes = make([]event.Event, 0, n)
	}
	start := len(t.takes)
	t.takes = c.q.popFrontN(t.takes, n)
	c.inflight += n
	c.mu.Unlock()
	got := t.takes[start:]
	for _, e := range got {
		t.takeSlots += channel.Cost(e)
	}
	attempts := int64(n)
	if n < max {
		attempts++ // the attempt that found the channel empty, as Flume counts
	}
	c.counter.EventTakeAttemptCount.Add(attempts)
	return got, nil
}

func (t *txn) Commit() error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	// The keep-alive deadline is read from the clock only when the commit
	// has to wait for room: most commits find it.
	var deadline time.Time
	waiting := false
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("channel %s: commit: %w", c.name, channel.ErrClosed)
		}
		used := c.q.len() + c.inflight
		// Takes of this transaction free their room as the puts use it.
		needRoom := used-len(t.takes)+len(t.puts) <= c.cfg.Capacity || len(t.puts) == 0
		needBytes := c.usedSlots-t.takeSlots+t.putSlots <= c.slots || t.putSlots == 0
		if needRoom && needBytes {
			break
		}
		now := c.clk.Now()
		if !waiting {
			deadline, waiting = now.Add(c.cfg.KeepAlive), true
		}
		remaining := deadline.Sub(now)
		if remaining <= 0 {
			c.mu.Unlock()
			if !needRoom {
				return fmt.Errorf("channel %s: space for commit to queue couldn't be acquired; sinks are likely not keeping up with sources, or the buffer size is too tight: %w", c.name, channel.ErrFull)
			}
			return fmt.Errorf("channel %s: cannot commit transaction: byte capacity allocated to store event body %d reached: %w", c.name, c.slots*100, channel.ErrFull)
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		wait := c.space
		c.mu.Unlock()
		tm := c.clk.NewTimer(remaining)
		select {
		case <-wait:
		case <-tm.C():
		}
		tm.Stop()
		c.mu.Lock()
	}
	c.q.pushBackN(t.puts)
	c.inflight -= len(t.takes)
	c.usedSlots += t.putSlots - t.takeSlots
	if len(t.takes) > 0 {
		c.signalSpace()
	}
	if len(t.puts) > 0 {
		c.signalData()
	}
	puts, takes := len(t.puts), len(t.takes)
	c.mu.Unlock()
	t.recycle()
	if puts > 0 {
		c.counter.EventPutSuccessCount.Add(int64(puts))
	}
	if takes > 0 {
		c.counter.EventTakeSuccessCount.Add(int64(takes))
	}
	t.done = true
	t.puts, t.takes = nil, nil
	return nil
}

func (t *txn) Rollback() error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	c.mu.Lock()
	for i := len(t.takes) - 1; i >= 0; i-- {
		c.q.pushFront(t.takes[i])
	}
	c.inflight -= len(t.takes)
	if len(t.takes) > 0 {
		c.signalData()
	}
	c.mu.Unlock()
	t.recycle()
	t.done = true
	t.puts, t.takes = nil, nil
	return nil
}

// ring is a growable double-ended queue of events. Its size is a power of
// two (or zero), so positions wrap with a mask.
type ring struct {
	buf  []event.Event
	head int
	n    int
}

func (r *ring) len() int { return r.n }

// grow makes room for at least need more events.
func (r *ring) grow(need int) {
	size := max(len(r.buf), 64)
	for size < r.n+need {
		size *= 2
	}
	if size == len(r.buf) {
		return
	}
	nb := make([]event.Event, size)
	if r.n > 0 {
		k := copy(nb, r.buf[r.head:min(r.head+r.n, len(r.buf))])
		copy(nb[k:r.n], r.buf)
	}
	r.buf, r.head = nb, 0
}

func (r *ring) mask() int { return len(r.buf) - 1 }

// pushBackN appends events in order.
func (r *ring) pushBackN(events []event.Event) {
	if len(events) == 0 {
		return
	}
	if r.n+len(events) > len(r.buf) {
		r.grow(len(events))
	}
	tail := (r.head + r.n) & r.mask()
	k := copy(r.buf[tail:], events)
	copy(r.buf, events[k:])
	r.n += len(events)
}

func (r *ring) pushFront(e event.Event) {
	if r.n == len(r.buf) {
		r.grow(1)
	}
	r.head = (r.head - 1) & r.mask()
	r.buf[r.head] = e
	r.n++
}

// popFrontN appends the first n events (n <= len) to dst, removing them.
func (r *ring) popFrontN(dst []event.Event, n int) []event.Event {
	for n > 0 {
		seg := r.buf[r.head:min(r.head+n, len(r.buf))]
		dst = append(dst, seg...)
		clear(seg)
		r.head = (r.head + len(seg)) & r.mask()
		r.n -= len(seg)
		n -= len(seg)
	}
	return dst
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Channel,
		Name:    "memory",
		Aliases: []string{"org.apache.flume.channel.MemoryChannel"},
		Factory: registry.ChannelFactory(func(env registry.Env, r *config.Reader) (channel.Channel, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, env.Clock, env.Metrics, env.Log), nil
		}),
	})
}
