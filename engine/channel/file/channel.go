// Package file is Flume's durable file channel: a write-ahead log of
// committed transactions in one or more data directories, plus periodic
// checkpoints of the queue, so that a commit that returned survives kill -9
// and power loss, and a restart reads a checkpoint and the log tail instead
// of the whole log.
//
// FORMAT.md in this directory specifies the files, what is synced when, and
// the assumptions about the disk that the crash safety rests on.
package file

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Options are the channel's collaborators.
type Options struct {
	FS      vfs.FS // vfs.OS{} when nil
	Clock   clock.Clock
	Metrics *metrics.Registry
	Log     *slog.Logger
}

// Channel is a file channel.
type Channel struct {
	name    string
	cfg     Config
	fs      vfs.FS
	clk     clock.Clock
	log     *slog.Logger
	segSize int64

	counter        *metrics.FileChannelCounter
	corruptRecords *metrics.Counter
	corruptEvents  *metrics.Counter
	tornTails      *metrics.Counter
	checkpoints    *metrics.Counter
	fsyncs         *metrics.Counter
	fsyncGauge     *metrics.Counter

	startMu  sync.Mutex // serialises Start and Stop
	opened   bool       // under startMu
	lastOpen openStats  // what the last Start found, for tests

	mu       sync.Mutex
	q        deque
	inflight int // events taken by open transactions
	reserved int // room held by put commits being written
	takers   map[*txn]struct{}
	segs     map[uint32]*segment
	needSync map[uint32]bool // replayed segments whose sync failed at start
	nextSeg  uint32
	closed   bool
	space    chan struct{} // closed when room is released
	data     chan struct{} // closed when events become available
	active   sync.WaitGroup

	nextESN   atomic.Uint64
	nextTxn   atomic.Uint64
	logBytes  atomic.Int64
	sinceCkpt atomic.Int64 // log bytes written since the last checkpoint
	lastCkpt  atomic.Int64 // Clock time of the last checkpoint, UnixNano
	broken    atomic.Int32 // writers that cannot write

	writers []*writer
	locks   []vfs.Locker
	readers *readCache
	ckptMu  sync.Mutex

	stopc chan struct{}
	bg    sync.WaitGroup
}

var (
	_ channel.Channel  = (*Channel)(nil)
	_ channel.Notifier = (*Channel)(nil)
)

// New returns a file channel; Start opens (and recovers) it. New does no
// I/O, so that `sluice check` can build it.
func New(name string, cfg Config, o Options) *Channel {
	if o.FS == nil {
		o.FS = vfs.OS{}
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry(o.Clock)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Channel{name: name, cfg: cfg, fs: o.FS, clk: o.Clock, log: o.Log.With("channel", name),
		closed: true, space: make(chan struct{}), data: make(chan struct{})}
	c.segSize = cfg.segmentSize()
	c.counter = metrics.NewFileChannelCounter(o.Metrics, name, func() int64 { return int64(c.Len()) })
	g := c.counter.Group
	c.corruptRecords = g.Extra("CorruptRecordsSkipped", metrics.KindCounter)
	c.corruptEvents = g.Extra("CorruptEventsDropped", metrics.KindCounter)
	c.tornTails = g.Extra("TornTailsRepaired", metrics.KindCounter)
	c.checkpoints = g.Extra("CheckpointCount", metrics.KindCounter)
	c.fsyncs = g.Extra("LogFsyncCount", metrics.KindCounter)
	c.fsyncGauge = g.Extra("FsyncPerTransaction", metrics.KindGauge)
	g.Func("UnsyncedEventCount", metrics.KindGauge, true, func() string { return fmt.Sprint(c.unsyncedEvents()) })
	g.Func("LogBytes", metrics.KindGauge, true, func() string { return fmt.Sprint(c.logBytes.Load()) })
	c.counter.Closed.Set(1)
	return c
}

func (c *Channel) Name() string             { return c.name }
func (c *Channel) Capacity() int            { return c.cfg.Capacity }
func (c *Channel) TransactionCapacity() int { return c.cfg.TransactionCapacity }

// Config returns the channel's configuration.
func (c *Channel) Config() Config { return c.cfg }

// Len is the number of committed events available to take.
func (c *Channel) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.len()
}

// Notify returns a channel closed when events next become available.
func (c *Channel) Notify() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data
}

// unsyncedEvents reads the writers' counts of events committed but not yet
// synced (always 0 with fsyncPerTransaction).
func (c *Channel) unsyncedEvents() int64 {
	var n int64
	for _, w := range c.writers {
		w.mu.Lock()
		if !w.leader {
			n += w.unsynced
		}
		w.mu.Unlock()
	}
	return n
}

// setBroken records a writer turning broken or recovering, for the
// Unhealthy gauge.
func (c *Channel) setBroken(delta int32) {
	if c.broken.Add(delta) > 0 {
		c.counter.Unhealthy.Set(1)
	} else {
		c.counter.Unhealthy.Set(0)
	}
}

// Start opens the directories, recovers the queue from the checkpoint and
// the log tail, and starts a new segment in every data directory.
func (c *Channel) Start() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.opened {
		return nil
	}
	c.counter.Start()
	c.counter.ChannelCapacity.Set(int64(c.cfg.Capacity))
	if c.cfg.FsyncPerTransaction {
		c.fsyncGauge.Set(1)
	}
	began := c.clk.Now()
	st, err := c.open()
	c.lastOpen = st
	if err != nil {
		c.closeFiles()
		c.counter.Closed.Set(1)
		c.counter.Unhealthy.Set(1)
		c.log.Error("file channel failed to start", "err", err)
		return fmt.Errorf("file channel %s: %w", c.name, err)
	}
	c.opened = true
	c.broken.Store(0)
	c.counter.Closed.Set(0)
	c.counter.Unhealthy.Set(0)
	c.log.Info("file channel started", "events", c.Len(), "checkpoint", st.checkpoint,
		"replayed_records", st.records, "corrupt_records", st.corrupt, "torn_tails", st.torn,
		"segments", st.segments, "took", c.clk.Now().Sub(began), "data_dirs", c.cfg.DataDirs)
	if !c.cfg.FsyncPerTransaction {
		c.log.Warn("file channel: fsyncPerTransaction is false: commits return before their events are on disk; a crash or power loss loses what was committed since the last fsync (at most fsyncInterval, see UnsyncedEventCount)",
			"fsyncInterval", c.cfg.FsyncInterval)
		c.stopc = make(chan struct{})
		c.bg.Add(1)
		go c.syncLoop(c.stopc)
	}
	return nil
}

// syncLoop bounds what an idle channel without fsyncPerTransaction has
// unsynced; commits also sync when fsyncInterval has passed, so this is
// only an optimisation.
func (c *Channel) syncLoop(stop chan struct{}) {
	defer c.bg.Done()
	t := c.clk.NewTicker(c.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C():
			c.syncWriters()
		}
	}
}

func (c *Channel) syncWriters() {
	for _, w := range c.writers {
		w.submit(&pending{}, false)
	}
}

// Stop waits for the commits in progress, syncs and closes the log, writes
// a checkpoint (checkpointOnClose) and releases the directories. Open
// transactions can still roll back; their commits fail with ErrClosed.
func (c *Channel) Stop() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if !c.opened {
		return nil
	}
	c.mu.Lock()
	c.closed = true
	close(c.space)
	c.space = make(chan struct{})
	c.mu.Unlock()
	c.active.Wait()
	if c.stopc != nil {
		close(c.stopc)
		c.bg.Wait()
		c.stopc = nil
	}
	var errs []error
	for _, w := range c.writers {
		if err := w.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.cfg.CheckpointOnClose {
		if err := c.checkpoint(true, false); err != nil {
			errs = append(errs, err)
		}
	}
	c.closeFiles()
	c.opened = false
	c.counter.Closed.Set(1)
	c.counter.Stop()
	c.log.Info("file channel stopped", "events", c.Len())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file channel %s: stop: %w", c.name, err)
	}
	return nil
}

func (c *Channel) closeFiles() {
	for _, w := range c.writers {
		if w != nil && w.f != nil {
			w.f.Close()
			w.f = nil
		}
	}
	if c.readers != nil {
		c.readers.closeAll()
	}
	for _, l := range c.locks {
		l.Unlock()
	}
	c.locks = nil
}

// Begin starts a transaction.
func (c *Channel) Begin() (channel.Transaction, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
	}
	return &txn{c: c, id: c.nextTxn.Add(1)}, nil
}

type txn struct {
	c     *Channel
	id    uint64
	bufs  *txnBufs // pooled, taken at the first need
	puts  []event.Event
	takes []ptr // under c.mu: checkpoints read them
	done  bool
	// Set by Commit for the writer's apply.
	firstESN uint64
	ext      []extent
}

// txnBufs are a transaction's working buffers: its puts, its encoded
// record, the extents and sizes of its events. None outlives the
// transaction (the writer copies the record into the log), so one pool for
// every channel serves them warm instead of allocating them per commit.
type txnBufs struct {
	puts  []event.Event
	rec   []byte
	ext   []extent
	sizes []int
	runs  []run
	pend  pending // the record handed to the writer, done when submit returns
}

var bufPool = sync.Pool{New: func() any { return new(txnBufs) }}

// maxPooledRecord bounds the record buffers kept.
const maxPooledRecord = 1 << 20

func (t *txn) buffers() *txnBufs {
	if t.bufs == nil {
		t.bufs = bufPool.Get().(*txnBufs)
	}
	return t.bufs
}

// release returns the buffers to the pool, holding no event.
func (t *txn) release() {
	b := t.bufs
	if b == nil {
		return
	}
	t.bufs = nil
	if cap(t.puts) > 0 {
		clear(t.puts)
		b.puts = t.puts[:0]
	}
	if cap(b.rec) > maxPooledRecord {
		b.rec = nil
	}
	b.pend = pending{}
	bufPool.Put(b)
}

func (t *txn) Put(events []event.Event) error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	c.counter.EventPutAttemptCount.Add(int64(len(events)))
	if len(t.puts)+len(events) > c.cfg.TransactionCapacity {
		return channel.TxnCapacityError(c.name, "put", c.cfg.TransactionCapacity)
	}
	if t.puts == nil && len(events) > 0 {
		t.puts = t.buffers().puts[:0]
	}
	t.puts = append(t.puts, events...)
	return nil
}

// Take never waits for events: it returns what the queue holds, up to max.
// The events are read from the log; one whose bytes fail their checksum is
// dropped, counted and logged rather than returned or left to block the
// head of the queue.
func (t *txn) Take(max int) ([]event.Event, error) {
	if t.done {
		return nil, channel.ErrTxnDone
	}
	if max <= 0 {
		return nil, nil
	}
	c := t.c
	if len(t.takes)+max > c.cfg.TransactionCapacity {
		return nil, channel.TxnCapacityError(c.name, "take", c.cfg.TransactionCapacity)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("channel %s: %w", c.name, channel.ErrClosed)
	}
	n := min(max, c.q.len())
	start := len(t.takes)
	if t.takes == nil && n > 0 {
		t.takes = make([]ptr, 0, n)
	}
	for i := 0; i < n; i++ {
		t.takes = append(t.takes, c.q.popFront())
	}
	c.inflight += n
	if n > 0 {
		c.takers[t] = struct{}{}
	}
	got := t.takes[start:]
	c.mu.Unlock()
	attempts := int64(n)
	if n < max {
		attempts++ // the attempt that found the channel empty, as Flume counts
	}
	c.counter.EventTakeAttemptCount.Add(attempts)
	if n == 0 {
		return nil, nil
	}
	evs, bad, err := c.read(got)
	if err != nil {
		// Put them back at once, so that a caller committing anyway does
		// not consume events it never received.
		c.mu.Lock()
		for i := len(t.takes) - 1; i >= start; i-- {
			c.q.pushFront(t.takes[i])
		}
		c.inflight -= n
		t.takes = t.takes[:start]
		if start == 0 {
			delete(c.takers, t)
		}
		c.mu.Unlock()
		c.counter.EventTakeErrorCount.Inc()
		return nil, fmt.Errorf("channel %s: take: %w", c.name, err)
	}
	if len(bad) > 0 {
		c.mu.Lock()
		keep := t.takes[:start]
		for i, p := range t.takes[start:] {
			if !slices.Contains(bad, i) {
				keep = append(keep, p)
			}
		}
		t.takes = keep
		c.inflight -= len(bad)
		if len(t.takes) == 0 {
			delete(c.takers, t)
		}
		close(c.space)
		c.space = make(chan struct{})
		c.mu.Unlock()
	}
	return evs, nil
}

func (t *txn) Commit() error {
	if t.done {
		return channel.ErrTxnDone
	}
	c := t.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("channel %s: commit: %w", c.name, channel.ErrClosed)
	}
	if len(t.puts) == 0 && len(t.takes) == 0 {
		c.mu.Unlock()
		t.finish()
		return nil
	}
	c.active.Add(1)
	c.mu.Unlock()
	defer c.active.Done()

	w := c.writers[t.id%uint64(len(c.writers))]
	nPuts := len(t.puts)
	if nPuts > 0 {
		if err := c.reserve(t); err != nil {
			return err
		}
	}
	bufs := t.buffers()
	sizes := slices.Grow(bufs.sizes[:0], nPuts)[:nPuts]
	bufs.sizes = sizes
	total := 0
	for i, e := range t.puts {
		sizes[i] = eventSize(e)
		total += sizes[i]
	}
	if nPuts > 0 {
		if err := c.checkSpace(w, total); err != nil {
			c.unreserve(nPuts)
			c.counter.EventPutErrorCount.Inc()
			return err
		}
		t.firstESN = c.nextESN.Add(uint64(nPuts)) - uint64(nPuts)
	}
	w.arrive()
	runs := takeRuns(t.takes, bufs.runs[:0])
	bufs.runs = runs
	rec, ext, err := encodeCommit(runs, t.puts, t.firstESN, sizes, bufs.ext[:0], bufs.rec)
	if err != nil {
		w.depart()
		c.unreserve(nPuts)
		return fmt.Errorf("channel %s: commit: %w", c.name, err)
	}
	t.ext, bufs.ext, bufs.rec = ext, ext, rec
	bufs.pend = pending{rec: rec, crc: crc(rec[frameHeaderSize:]), txn: t}
	p := &bufs.pend
	if err := w.submit(p, true); err != nil {
		c.unreserve(nPuts)
		if nPuts > 0 {
			c.counter.EventPutErrorCount.Inc()
		}
		if len(t.takes) > 0 {
			c.counter.EventTakeErrorCount.Inc()
		}
		if nPuts > 0 && errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("channel %s: commit: disk full: %w (%w)", c.name, channel.ErrFull, err)
		}
		return fmt.Errorf("channel %s: commit: %w", c.name, err)
	}
	c.counter.EventPutSuccessCount.Add(int64(nPuts))
	c.counter.EventTakeSuccessCount.Add(int64(len(t.takes)))
	t.finish()
	c.maybeCheckpoint()
	return nil
}

func (t *txn) finish() {
	t.done = true
	t.release()
	t.puts, t.ext = nil, nil
	t.takes = nil // the writer removed t from takers when it applied the commit
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
	delete(c.takers, t)
	if len(t.takes) > 0 {
		close(c.data)
		c.data = make(chan struct{})
	}
	t.takes = nil
	c.mu.Unlock()
	t.done = true
	t.release()
	t.puts, t.ext = nil, nil
	return nil
}

// checkSpace applies minimumRequiredSpace: below it puts are refused as a
// full channel (the source backs off and retries) while takes, which free
// space, go on.
func (c *Channel) checkSpace(w *writer, need int) error {
	free, err := c.fs.Free(w.dir)
	if err != nil {
		return nil // the write itself will tell
	}
	if int64(free) < c.cfg.MinimumRequiredSpace+int64(need) {
		return fmt.Errorf("channel %s: usable space exhausted in %s: only %d bytes remaining, required %d (minimumRequiredSpace) plus %d for this commit: %w",
			c.name, w.dir, free, c.cfg.MinimumRequiredSpace, need, channel.ErrFull)
	}
	return nil
}

// reserve holds room for t's puts, waiting up to keep-alive on the clock.
func (c *Channel) reserve(t *txn) error {
	// The deadline is read from the clock only when the commit has to
	// wait: most find room.
	var deadline time.Time
	waiting := false
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("channel %s: commit: %w", c.name, channel.ErrClosed)
		}
		used := c.q.len() + c.inflight + c.reserved
		// This transaction's takes free their room as its puts use it.
		if used-len(t.takes)+len(t.puts) <= c.cfg.Capacity {
			c.reserved += len(t.puts)
			c.mu.Unlock()
			return nil
		}
		now := c.clk.Now()
		if !waiting {
			deadline, waiting = now.Add(c.cfg.KeepAlive), true
		}
		remaining := deadline.Sub(now)
		if remaining <= 0 {
			c.mu.Unlock()
			return fmt.Errorf("channel %s: the channel has reached its capacity of %d; sinks are likely not keeping up with sources, or the capacity is too small: %w", c.name, c.cfg.Capacity, channel.ErrFull)
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
}

func (c *Channel) unreserve(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.reserved -= n
	close(c.space)
	c.space = make(chan struct{})
	c.mu.Unlock()
}

// apply makes durable records take effect, in log order: puts join the
// tail of the queue, takes release their room. The writer calls it before
// waking the committers, so a commit that returned is visible.
func (c *Channel) apply(w *writer, ps []*pending) {
	if len(ps) == 0 {
		return
	}
	c.mu.Lock()
	var freed, added bool
	for _, p := range ps {
		t := p.txn
		for i, e := range t.ext {
			c.q.pushBack(ptr{esn: t.firstESN + uint64(i), seg: p.seg, off: p.off + e.off, n: e.n})
		}
		if len(t.puts) > 0 {
			c.reserved -= len(t.puts)
			added = true
		}
		if len(t.takes) > 0 {
			c.inflight -= len(t.takes)
			freed = true
		}
		delete(c.takers, t)
		if s := c.segs[p.seg]; s != nil {
			if end := p.off + uint32(len(p.rec)); end > s.applied {
				s.applied = end
			}
		}
	}
	if freed {
		close(c.space)
		c.space = make(chan struct{})
	}
	if added {
		close(c.data)
		c.data = make(chan struct{})
	}
	c.mu.Unlock()
}

// newSegment allocates the next segment id in data directory dir.
func (c *Channel) newSegment(dir int, path string) *segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextSeg++
	s := &segment{id: c.nextSeg, dir: dir, path: filepath.Join(path, segName(c.nextSeg))}
	c.segs[s.id] = s
	return s
}

func (c *Channel) dropSegment(s *segment) {
	c.mu.Lock()
	delete(c.segs, s.id)
	c.mu.Unlock()
}

// seal marks s as no longer written: size bytes, the records before
// content (the rest is padding).
func (c *Channel) seal(s *segment, size, content int64) {
	c.mu.Lock()
	s.sealed, s.size, s.content = true, uint32(size), uint32(content)
	if s.applied < segHeaderLen {
		s.applied = segHeaderLen
	}
	if s.applied >= s.content {
		s.applied = s.size // only padding follows
	}
	c.mu.Unlock()
}

// read fetches and decodes the events at ps, reading each run of adjoining
// events with one call. It returns the indexes of events that could not be
// decoded (checksum mismatch, file too short or missing).
func (c *Channel) read(ps []ptr) ([]event.Event, []int, error) {
	total := 0
	for _, p := range ps {
		total += int(p.n)
	}
	buf := make([]byte, total)
	evs := make([]event.Event, 0, len(ps))
	var bad []int
	pos := 0
	for i := 0; i < len(ps); {
		j, size := i+1, int(ps[i].n)
		for j < len(ps) && ps[j-1].adjoins(ps[j]) {
			size += int(ps[j].n)
			j++
		}
		chunk := buf[pos : pos+size]
		got, err := c.readers.readAt(ps[i].seg, chunk, int64(ps[i].off))
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errMissing) {
			return nil, nil, err
		}
		at := 0
		for k := i; k < j; k++ {
			n := int(ps[k].n)
			var e event.Event
			derr := io.ErrUnexpectedEOF
			if at+n <= got {
				e, derr = decodeEvent(chunk[at : at+n])
			}
			if derr != nil {
				bad = append(bad, k)
				c.corruptEvents.Inc()
				c.counter.EventTakeErrorCount.Inc()
				c.log.Error("file channel: dropping an event that cannot be read back; it is lost", "segment", segName(ps[k].seg), "offset", ps[k].off, "length", ps[k].n, "esn", ps[k].esn, "err", derr)
			} else {
				evs = append(evs, e)
			}
			at += n
		}
		pos += size
		i = j
	}
	return evs, bad, nil
}

// Checkpoint writes a checkpoint now and deletes the segments it makes
// unnecessary. The channel also checkpoints by itself on the commit path
// every checkpointInterval (on its Clock) and after every few segments of
// log, so no goroutine is needed for it.
func (c *Channel) Checkpoint() error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("channel %s: checkpoint: %w", c.name, channel.ErrClosed)
	}
	return c.checkpoint(true, !c.cfg.FsyncPerTransaction)
}

func (c *Channel) maybeCheckpoint() {
	if c.sinceCkpt.Load() < c.cfg.checkpointBytes() && c.clk.Now().UnixNano()-c.lastCkpt.Load() < int64(c.cfg.CheckpointInterval) {
		return
	}
	c.checkpoint(false, !c.cfg.FsyncPerTransaction)
}

// checkpoint snapshots the queue at a consistent cut of the log and writes
// it atomically. With wait false it gives way to a checkpoint already
// running. syncFirst makes the writers sync, so that the checkpoint never
// points at unsynced records (needed only without fsyncPerTransaction).
func (c *Channel) checkpoint(wait, syncFirst bool) error {
	if wait {
		c.ckptMu.Lock()
	} else if !c.ckptMu.TryLock() {
		return nil
	}
	defer c.ckptMu.Unlock()
	if syncFirst {
		c.syncWriters()
	}
	if err := c.syncReplayed(); err != nil {
		c.counter.CheckpointWriteErrorCount.Inc()
		c.log.Error("file channel: checkpoint postponed: a segment replayed at start cannot be synced", "err", err)
		return fmt.Errorf("channel %s: checkpoint: %w", c.name, err)
	}
	c.sinceCkpt.Store(0)
	c.lastCkpt.Store(c.clk.Now().UnixNano())

	ck := &checkpoint{nextESN: c.nextESN.Load()}
	var complete []*segment
	c.mu.Lock()
	ck.maxSeg = c.nextSeg
	takers := make([]*txn, 0, len(c.takers))
	n := c.q.len()
	for t := range c.takers {
		takers = append(takers, t)
		n += len(t.takes)
	}
	slices.SortFunc(takers, func(a, b *txn) int { return cmpU64(a.id, b.id) })
	ck.ptrs = make([]ptr, 0, n)
	for _, t := range takers {
		ck.ptrs = append(ck.ptrs, t.takes...)
	}
	k := len(ck.ptrs)
	ck.ptrs = ck.ptrs[:k+c.q.len()]
	c.q.copyTo(ck.ptrs[k:])
	ck.segs = make([]segState, 0, len(c.segs))
	for _, s := range c.segs {
		ck.segs = append(ck.segs, segState{id: s.id, applied: s.applied})
		if s.complete() {
			complete = append(complete, s)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(ck.segs, func(a, b segState) int { return cmpU64(uint64(a.id), uint64(b.id)) })

	data := encodeCheckpoint(ck)
	if err := vfs.WriteFileAtomic(c.fs, filepath.Join(c.cfg.CheckpointDir, checkpointName), data, 0o644); err != nil {
		c.counter.CheckpointWriteErrorCount.Inc()
		c.log.Error("file channel: checkpoint failed; the log is kept until one succeeds, and a restart replays more of it", "err", err)
		return fmt.Errorf("channel %s: checkpoint: %w", c.name, err)
	}
	if c.cfg.UseDualCheckpoints {
		if err := vfs.WriteFileAtomic(c.fs, filepath.Join(c.cfg.BackupCheckpointDir, checkpointName), data, 0o644); err != nil {
			c.counter.CheckpointBackupWriteErrorCount.Inc()
			c.log.Error("file channel: backup checkpoint failed", "dir", c.cfg.BackupCheckpointDir, "err", err)
		}
	}
	c.checkpoints.Inc()
	if len(complete) > 0 {
		live := map[uint32]bool{}
		for _, p := range ck.ptrs {
			live[p.seg] = true
		}
		c.deleteSegments(complete, live)
	}
	return nil
}

// syncReplayed syncs the segments recovery replayed but could not sync, so
// that a checkpoint never counts unsynced records as applied.
func (c *Channel) syncReplayed() error {
	c.mu.Lock()
	var paths []*segment
	for id := range c.needSync {
		if s := c.segs[id]; s != nil {
			paths = append(paths, s)
		} else {
			delete(c.needSync, id)
		}
	}
	c.mu.Unlock()
	for _, s := range paths {
		f, err := openSegment(c.fs, s.path, false)
		if err != nil {
			return fmt.Errorf("open %s: %w", s.path, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", s.path, err)
		}
		c.mu.Lock()
		delete(c.needSync, s.id)
		c.mu.Unlock()
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deleteSegments removes the segments the last checkpoint made unneeded:
// complete, and not pointed at by any event it holds.
func (c *Channel) deleteSegments(cands []*segment, live map[uint32]bool) {
	dirs := map[string]bool{}
	for _, s := range cands {
		if live[s.id] {
			continue
		}
		c.mu.Lock()
		delete(c.segs, s.id)
		c.mu.Unlock()
		c.readers.forget(s.id)
		if err := c.fs.Remove(s.path); err != nil {
			c.log.Warn("file channel: cannot delete a consumed segment", "segment", s.path, "err", err)
			continue
		}
		c.logBytes.Add(-int64(s.size))
		dirs[filepath.Dir(s.path)] = true
	}
	for d := range dirs {
		if err := c.fs.SyncDir(d); err != nil {
			c.log.Warn("file channel: cannot sync a data directory after deleting segments", "dir", d, "err", err)
		}
	}
}
