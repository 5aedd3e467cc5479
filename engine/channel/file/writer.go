package file

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// pending is one record waiting in a writer's group-commit queue, or a
// request to sync (rec == nil).
type pending struct {
	rec []byte
	crc uint32 // payload checksum, computed by the committer
	txn *txn   // whose puts and takes the record commits; nil for a sync
	// Set by the leader:
	seg  uint32
	off  uint32
	err  error
	done bool // under writer.mu
}

// writer appends records to the active segment of one data directory.
//
// Group commit is leader/follower with no goroutine of its own: a
// committer queues its record and, if no flush is running, becomes the
// leader, writes every queued record, syncs once, applies the durable ones
// to the channel in log order and wakes the others. Committers that queued
// meanwhile are served by the next leader, so the number of syncs per
// second is bounded by the disk, not by the number of transactions. The
// simulator's single goroutine is always its own leader.
type writer struct {
	c   *Channel
	idx int
	dir string

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*pending
	leader bool
	// arriving counts committers between choosing this writer and queueing
	// their record (encoding it, which takes no I/O and no lock). A new
	// leader waits for them, so that a consumer's small take record and a
	// producer's next put share one fsync instead of costing one each.
	arriving int

	// Owned by the leader (or by Start/Stop, when no commit runs).
	f        vfs.File
	seg      *segment
	size     int64 // bytes written to f
	content  int64 // end of the last record that is not padding
	durable  int64 // bytes of f known to be on disk
	broken   error // a failed write could not be undone; retried first
	lastSync time.Time
	unsynced int64  // events applied but not yet synced (fsyncPerTransaction=false)
	pad      []byte // the padding record of the last sync, reused
}

func newWriter(c *Channel, idx int, dir string) *writer {
	w := &writer{c: c, idx: idx, dir: dir}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// arrive announces a committer that will submit shortly; it must call
// submit or depart.
func (w *writer) arrive() {
	w.mu.Lock()
	w.arriving++
	w.mu.Unlock()
}

func (w *writer) departLocked() {
	w.arriving--
	if w.arriving == 0 {
		w.cond.Broadcast()
	}
}

func (w *writer) depart() {
	w.mu.Lock()
	w.departLocked()
	w.mu.Unlock()
}

// submit queues p and returns once it is durable (or, without
// fsyncPerTransaction, written) and applied, or failed. arrived says the
// caller announced itself with arrive.
func (w *writer) submit(p *pending, arrived bool) error {
	w.mu.Lock()
	w.queue = append(w.queue, p)
	if arrived {
		w.departLocked()
	}
	for !p.done {
		if w.leader {
			w.cond.Wait()
			continue
		}
		w.leader = true
		for w.arriving > 0 {
			w.cond.Wait()
		}
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		w.flush(batch)
		w.mu.Lock()
		for _, q := range batch {
			q.done = true
		}
		w.leader = false
		w.cond.Broadcast()
	}
	w.mu.Unlock()
	return p.err
}

// flush writes batch in order. Records become durable and are applied in
// order; at the first failure that record and every later one fail, and
// what was written for them is cut off again, so that a failed commit can
// never reappear after a crash.
func (w *writer) flush(batch []*pending) {
	c := w.c
	fsync := c.cfg.FsyncPerTransaction
	forceSync := false
	var written []*pending // written to the current segment, not yet synced
	var ok []*pending      // durable (or written, without fsync), to apply
	fail := func(rest []*pending, err error) {
		for _, p := range rest {
			p.err = err
		}
	}
	finish := func() { c.apply(w, ok) }

	if w.broken != nil {
		if err := w.repair(); err != nil {
			fail(batch, err)
			return
		}
	}
	if w.f == nil {
		// Start could not create the segment (a full disk, say): try again.
		if err := w.roll(); err != nil {
			fail(batch, err)
			return
		}
	}
	for i, p := range batch {
		if p.rec == nil {
			forceSync = true
			continue
		}
		if w.size > blockSize && w.size+int64(len(p.rec)) > c.segSize {
			if err := w.sync(len(written) > 0 || w.durable < w.size); err != nil {
				w.undo(err)
				fail(written, err)
				fail(batch[i:], err)
				written = nil
				finish()
				return
			}
			ok = append(ok, written...)
			written = nil
			if err := w.roll(); err != nil {
				fail(batch[i:], err)
				finish()
				return
			}
		}
		off := w.size
		putFrame(p.rec, frame{length: uint32(len(p.rec) - frameHeaderSize), typ: recCommit, seg: w.seg.id, off: uint32(off), crc: p.crc})
		if _, err := w.f.WriteAt(p.rec, off); err != nil {
			err = fmt.Errorf("write %s at %d: %w", w.seg.path, off, err)
			w.undo(err)
			fail(written, err)
			fail(batch[i:], err)
			if !fsync {
				// Without fsync the records written before this one were
				// already handed back as committed; keep them.
				ok = append(ok, written...)
			}
			finish()
			return
		}
		p.seg, p.off = w.seg.id, uint32(off)
		w.size += int64(len(p.rec))
		w.content = w.size
		c.logBytes.Add(int64(len(p.rec)))
		c.sinceCkpt.Add(int64(len(p.rec)))
		written = append(written, p)
	}
	syncNow := fsync || forceSync || c.clk.Now().Sub(w.lastSync) >= c.cfg.FsyncInterval
	if !syncNow {
		ok = append(ok, written...)
		for _, p := range written {
			w.unsynced += int64(len(p.txn.puts))
		}
		finish()
		return
	}
	if err := w.sync(len(written) > 0); err != nil {
		if fsync {
			w.undo(err)
			fail(written, err)
		} else {
			// The commits already returned; all that can be done is to say
			// so, and try again at the next sync.
			c.counter.Unhealthy.Set(1)
			c.log.Error("file channel: background fsync failed; events committed since the last successful fsync are not on disk yet and would be lost in a crash", "dir", w.dir, "unsynced_events", w.unsynced, "err", err)
			ok = append(ok, written...)
		}
		finish()
		return
	}
	ok = append(ok, written...)
	finish()
}

// sync makes everything written durable, padding it to a block boundary
// first.
func (w *writer) sync(needed bool) error {
	if !needed && w.durable == w.size {
		return nil
	}
	if n := padLen(w.size); n > 0 {
		w.pad = appendPad(w.pad[:0], w.seg.id, w.size, n)
		if _, err := w.f.WriteAt(w.pad, w.size); err != nil {
			return fmt.Errorf("write %s at %d: %w", w.seg.path, w.size, err)
		}
		w.size += n
		w.c.logBytes.Add(n)
		w.c.sinceCkpt.Add(n)
	}
	w.c.fsyncs.Inc()
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.seg.path, err)
	}
	w.durable = w.size
	w.lastSync = w.c.clk.Now()
	w.unsynced = 0
	return nil
}

// undo cuts the segment back to its durable length after a failed write or
// sync. Linux may drop the dirty pages of a failed fsync and report success
// to the next one, so the failed records' bytes must go: truncating and
// syncing the new length guarantees no replay will ever see them. If even
// that fails the writer is broken until a later attempt succeeds, and no
// record is written after the uncertain ones meanwhile.
func (w *writer) undo(cause error) {
	c := w.c
	to := w.durable
	if !c.cfg.FsyncPerTransaction {
		to = w.size // applied records stay
	}
	c.logBytes.Add(to - w.size)
	w.size = to
	w.content = min(w.content, to)
	if err := w.truncate(to); err != nil {
		if w.broken == nil {
			c.setBroken(1)
		}
		w.broken = fmt.Errorf("%w (and undoing it failed: %v)", cause, err)
		c.log.Error("file channel: cannot cut a failed write from the log; commits to this directory fail until it can", "dir", w.dir, "segment", w.seg.path, "err", w.broken)
		return
	}
	c.log.Warn("file channel: write failed; the transactions in it were not committed", "dir", w.dir, "segment", w.seg.path, "err", cause)
}

func (w *writer) truncate(to int64) error {
	if err := w.f.Truncate(to); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", w.seg.path, to, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.seg.path, err)
	}
	w.durable = to
	return nil
}

func (w *writer) repair() error {
	if err := w.truncate(w.size); err != nil {
		return fmt.Errorf("data directory %s is failing: %w", w.dir, w.broken)
	}
	w.broken = nil
	w.c.setBroken(-1)
	w.c.log.Info("file channel: log writable again", "dir", w.dir)
	return nil
}

// roll seals the active segment (already synced) and starts a new one. The
// new file's first record and its directory entry are durable before any
// commit is written to it.
func (w *writer) roll() error {
	c := w.c
	seg := c.newSegment(w.idx, w.dir)
	f, err := c.fs.OpenFile(seg.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		hdr := append(segmentRecord(seg.id), padRecord(seg.id, segHeaderLen, padLen(segHeaderLen))...)
		if _, err = f.WriteAt(hdr, 0); err == nil {
			if err = f.Sync(); err == nil {
				err = c.fs.SyncDir(filepath.Clean(w.dir))
			}
		}
		if err != nil {
			f.Close()
			c.fs.Remove(seg.path)
		}
	}
	if err != nil {
		c.dropSegment(seg)
		return fmt.Errorf("start segment %s: %w", seg.path, err)
	}
	c.logBytes.Add(blockSize)
	if w.f != nil {
		w.f.Close()
		c.seal(w.seg, w.size, w.content)
	}
	w.f, w.seg, w.size, w.durable, w.content = f, seg, blockSize, blockSize, segHeaderLen
	w.lastSync = c.clk.Now()
	return nil
}

// close syncs and closes the active segment and seals it.
func (w *writer) close() error {
	if w.f == nil {
		return nil
	}
	err := w.sync(false)
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.c.seal(w.seg, w.size, w.content)
	w.f = nil
	return err
}
