// Package taildir is Flume's Taildir source (type TAILDIR): it follows the
// files of one or more file groups line by line and remembers where it is
// in a position file Flume itself can read, and read from.
//
// It keeps Flume's keys, defaults and position file, and fixes what Flume
// gets wrong (flume-facts §5.1, §10 items 1-4):
//
//   - A file is known by device, inode and a fingerprint of its first
//     bytes, not by name: a renamed file keeps its position (Flume re-reads
//     it), and a reused inode is a new file (Flume would skip into it).
//   - A file renamed to a name that no longer matches, or deleted, is read
//     to its end through the open handle, also after a restart when it is
//     still on disk.
//   - Truncation (copytruncate) is seen by size and by fingerprint, so a
//     file that regrew past the old position is not read from the middle.
//   - Positions advance only after the channel commit and are written
//     atomically (temp file, fsync, rename, fsync of the directory).
//   - inotify wakes the source at once when a file changes, where Flume
//     polls every 1-5 s; polling still guarantees correctness.
//   - Lines are bounded (maxLineLength): longer ones are split or
//     truncated, marked with a header and counted.
//
// Beside the position file Sluice keeps <positionFile>.sluice (device,
// fingerprints, long-line state; Flume never reads it) and
// <positionFile>.lock (held while running, so two agents cannot share
// positions). Stopping Sluice and starting Flume on the same position file,
// or the other way round, carries on where the other stopped.
//
// Rotation advice: let the file group's pattern match the rotated names
// too (written trade\\.log(\\.\\d+)? in a properties file, which halves
// backslashes), so that generations rotated several times
// while Sluice was down, or faster than it could read, are still read.
// Sluice keeps each renamed file's position and recognises copytruncate's
// copies by their content (a copy is read only from where its original
// stopped, once the original is truncated), so nothing is read twice; Flume
// re-reads both from their start. A copy outside the pattern is still found
// when its original is truncated, and what had not been read is read from
// it; only a generation born and truncated while Sluice was not looking is
// then out of reach.
//
// Exactly once within a run: while Sluice runs, every line is delivered
// once, through renames, deletes and copytruncate — also when a scan lists
// a copy while logrotate is still writing it (empty or half written): a
// file found while running is judged before its first read, and one whose
// bytes are a followed file's bytes at the same offsets waits as a copy
// (copies.go); and when the truncation is seen before the copy (listed
// after the pass's scan, or given the inode number of a file deleted since
// it), the truncated content is remembered for a minute, and its copy, once
// found, is read from where the original stopped. Across a kill, the lines
// delivered after the last position write (writePosInterval) are delivered
// again; nothing else is.
//
// What copytruncate loses by its nature, and Sluice cannot read:
//   - lines written to the file between the copy and the truncation: they
//     are in neither the copy nor the truncated file (logrotate's own
//     window; a writer that appends during the copy loses them under any
//     reader);
//   - with copies named outside the file group, a generation written and
//     truncated entirely while Sluice was not looking at the file — not
//     running, or not yet back to that file (a first pass through a large
//     backlog can take seconds) — when Sluice never saw its first bytes:
//     nothing identifies its copy (a pattern that matches the copies reads
//     it);
//   - not a loss but a duplicate: a copy, named inside the group, of a
//     file Sluice knew fewer than 16 bytes of is not told from a new file,
//     and is read again.
package taildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Source is a taildir source. Start, Process and Stop are called from one
// goroutine (the polling runner's); Wake and the counters may be read from
// any.
type Source struct {
	name string
	cfg  Config
	cp   *source.ChannelProcessor
	clk  clock.Clock
	fs   vfs.FS
	log  *slog.Logger
	ctr  *metrics.SourceCounter
	x    extras

	started bool
	lock    vfs.Locker
	listers []*lister
	files   map[fileKey]*tailFile
	order   []*tailFile // tracking order
	seq     uint64
	seen    map[fileKey]bool
	dirErr  map[string]string // last listing error per directory, logged once

	buf     []byte // read window: bodies of delivered events point into it
	bufFile *tailFile
	bufOff  int64 // file offset of buf[0]
	bufLen  int
	scratch []byte
	cmpA    []byte // two windows compared by samePrefix
	cmpB    []byte

	uncopied []uncopied // content truncated away whose copy was not found yet

	dirty     bool // positions changed since the last write
	urgent    bool // a file's identity changed: write without waiting
	lastWrite time.Time
	lastSum   string      // checksum of the Flume position file as last written or read
	full      atomic.Bool // the last delivery found a channel full

	wake  waker
	watch *watcher

	namesMu sync.Mutex
	names   map[string]bool // paths of tracked files, for the watcher's filter
}

// extras are Sluice's counters beside Flume's SourceCounter attributes.
type extras struct {
	open, tracked                           *metrics.Counter
	renamed, truncated, inodeReused, delete *metrics.Counter
	split, truncLines, partial, copied      *metrics.Counter
}

var _ source.Pollable = (*Source)(nil)

// New returns a taildir source delivering through cp. Nothing is opened
// until Start. env supplies the clock, file system, logger and metrics.
func New(name string, cfg Config, cp *source.ChannelProcessor, env registry.Env) *Source {
	if env.Clock == nil {
		env.Clock = clock.Real()
	}
	if env.FS == nil {
		env.FS = vfs.OS{}
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.Metrics == nil {
		env.Metrics = metrics.NewRegistry(env.Clock)
	}
	s := &Source{name: name, cfg: cfg, cp: cp, clk: env.Clock, fs: env.FS, log: env.Log}
	s.ctr = metrics.NewSourceCounter(env.Metrics, name)
	g := s.ctr.Group
	s.x = extras{
		open:        g.Extra("OpenFileCount", metrics.KindGauge),
		tracked:     g.Extra("TrackedFileCount", metrics.KindGauge),
		renamed:     g.Extra("FileRenameCount", metrics.KindCounter),
		truncated:   g.Extra("FileTruncateCount", metrics.KindCounter),
		inodeReused: g.Extra("InodeReuseCount", metrics.KindCounter),
		delete:      g.Extra("FileDeleteCount", metrics.KindCounter),
		split:       g.Extra("LongLineSplitCount", metrics.KindCounter),
		truncLines:  g.Extra("LongLineTruncateCount", metrics.KindCounter),
		partial:     g.Extra("PartialLineFlushCount", metrics.KindCounter),
		copied:      g.Extra("CopyRecoveredCount", metrics.KindCounter),
	}
	s.wake.init()
	return s
}

// Counter is the source's Flume counter group.
func (s *Source) Counter() *metrics.SourceCounter { return s.ctr }

func (s *Source) Name() string { return s.name }

// Start takes the position file's lock, reads the positions and finds the
// files to follow. A file group whose directory does not exist yet is
// logged and followed once it appears (Flume refuses to start instead).
func (s *Source) Start(ctx context.Context) error {
	if s.started {
		return fmt.Errorf("taildir source %s: already started", s.name)
	}
	pf := s.cfg.PositionFile
	if err := s.fs.MkdirAll(filepath.Dir(pf), 0o755); err != nil {
		return fmt.Errorf("taildir source %s: create the directory of positionFile %s: %w", s.name, pf, err)
	}
	lock, err := s.fs.Lock(pf + ".lock")
	if err != nil {
		return fmt.Errorf("taildir source %s: positionFile %s is in use: %w", s.name, pf, err)
	}
	ld, err := loadPositions(s.fs, pf)
	if err != nil {
		lock.Unlock()
		return fmt.Errorf("taildir source %s: %w", s.name, err)
	}
	for _, n := range ld.Notes {
		s.log.Warn(n)
	}
	s.lock = lock
	s.lastSum = ld.Sum
	s.files = map[fileKey]*tailFile{}
	s.order = nil
	s.seen = map[fileKey]bool{}
	s.dirErr = map[string]string{}
	s.listers = make([]*lister, len(s.cfg.Groups))
	for i := range s.cfg.Groups {
		s.listers[i] = &lister{g: &s.cfg.Groups[i], cache: s.cfg.CachePatternMatching}
	}
	s.scratch = make([]byte, fingerprintSize)
	s.bufFile, s.dirty, s.urgent, s.uncopied = nil, false, false, nil
	s.full.Store(false)
	s.ctr.Start()
	now := s.clk.Now()
	s.restore(now, ld)
	s.lastWrite = now
	s.updateGauges()
	if _, ok := s.fs.(vfs.OS); ok {
		w, err := newWatcher(s)
		if err != nil {
			s.log.Warn("inotify unavailable; polling only", "err", err)
		} else {
			s.watch = w
			s.watch.sync()
		}
	}
	s.started = true
	s.log.Info("taildir source started", "files", len(s.order), "positionFile", pf)
	return nil
}

// Stop writes the positions and closes every file. Lines read but not
// committed are read again by the next start.
func (s *Source) Stop(ctx context.Context) error {
	if !s.started {
		return nil
	}
	s.started = false
	if s.watch != nil {
		s.watch.close()
		s.watch = nil
	}
	err := s.save()
	if err != nil {
		s.ctr.GenericProcessingFail.Inc()
		err = fmt.Errorf("taildir source %s: write positions: %w", s.name, err)
	}
	for _, f := range s.order {
		s.closeFile(f)
	}
	s.updateGauges()
	if s.lock != nil {
		s.lock.Unlock()
		s.lock = nil
	}
	s.ctr.Stop()
	s.log.Info("taildir source stopped", "accepted", s.ctr.EventAcceptedCount.Load())
	return err
}

// Wake returns a channel closed when a watched file changes, so the runner
// polls at once instead of after its backoff. It returns nil (never
// fires) after a channel was full, so back-pressure keeps the backoff.
func (s *Source) Wake() <-chan struct{} {
	if s.full.Load() {
		return nil
	}
	return s.wake.ch()
}

// errDelivery stops a pass: the channel refused a batch.
var errDelivery = errors.New("delivery failed")

// Process follows every file once: it rescans the file groups, reads each
// changed file batch by batch, delivers each batch and advances the file's
// position after the commit, closes idle files and writes the positions
// when writePosInterval has passed. It returns Ready when a file had more
// than maxBatchCount batches waiting.
func (s *Source) Process(ctx context.Context) (source.Status, error) {
	if !s.started {
		return source.Backoff, fmt.Errorf("taildir source %s: not started", s.name)
	}
	s.wake.consume()
	s.full.Store(false)
	s.bufFile = nil // the files may have changed under the window
	now := s.clk.Now()
	s.scan(now)
	status := source.Backoff
	failed := false
	for _, f := range s.readOrder() {
		if ctx.Err() != nil {
			failed = true
			break
		}
		more, err := s.service(ctx, f, now, false)
		if errors.Is(err, errDelivery) {
			failed = true
			break
		}
		if more {
			status = source.Ready
		}
	}
	if !failed {
		s.closeIdle(ctx, now)
	}
	s.sweep()
	s.maybeSave(now)
	if s.watch != nil {
		s.watch.sync()
	}
	s.updateGauges()
	return status, nil
}

// readOrder is the tracked files oldest first (by modification time), so a
// rotated file's last lines go before the new file's first ones.
func (s *Source) readOrder() []*tailFile {
	out := slices.Clone(s.order)
	slices.SortStableFunc(out, func(a, b *tailFile) int { return a.modTime().Compare(b.modTime()) })
	return out
}

func (f *tailFile) modTime() time.Time {
	if f.h != nil && !f.mtime.IsZero() {
		return f.mtime
	}
	return f.statMtime
}

// follows returns the followed file with key, or nil. A deleted file whose
// handle is closed no longer holds its inode, which the kernel may have
// given to a new file since: its entry (kept until sweep) is not that file.
func (s *Source) follows(key fileKey) *tailFile {
	if f := s.files[key]; f != nil && !(f.gone && f.h == nil) {
		return f
	}
	return nil
}

// track adds f to the followed files.
func (s *Source) track(f *tailFile) {
	s.seq++
	f.seq = s.seq
	if f.hdrPath == "" {
		f.hdrPath = f.path
	}
	s.files[f.key] = f
	s.order = append(s.order, f)
	s.dirty = true
}

// sweep forgets files that are neither named by a group nor open: rotated
// files read to the end and closed, and deleted files.
func (s *Source) sweep() {
	kept := s.order[:0]
	for _, f := range s.order {
		if !f.matched && f.h == nil && (f.gone || f.statSize <= f.pos) {
			s.release(f)
			if s.files[f.key] == f { // not a new file at its reused inode
				delete(s.files, f.key)
			}
			s.dirty = true
			if s.bufFile == f {
				s.bufFile = nil
			}
			continue
		}
		kept = append(kept, f)
	}
	clear(s.order[len(kept):])
	s.order = kept
}

func (s *Source) updateGauges() {
	open := 0
	names := make(map[string]bool, len(s.order))
	for _, f := range s.order {
		if f.h != nil {
			open++
		}
		names[f.path] = true
	}
	s.x.open.Set(int64(open))
	s.x.tracked.Set(int64(len(s.order)))
	s.namesMu.Lock()
	s.names = names
	s.namesMu.Unlock()
}

func (s *Source) tracks(path string) bool {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	return s.names[path]
}

// openFile opens f by name and checks that the name still leads to f's
// inode (a rotation may have given it to another file since the scan).
func (s *Source) openFile(f *tailFile) (bool, error) {
	h, err := vfs.Open(s.fs, f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // the next scan sees where it went
		}
		return false, err
	}
	fi, err := h.Stat()
	if err != nil {
		h.Close()
		return false, err
	}
	if k, ok := identity(fi); !ok || k != f.key {
		h.Close()
		return false, nil
	}
	f.h = h
	f.size, f.mtime = -1, time.Time{}
	return true, nil
}

func (s *Source) closeFile(f *tailFile) {
	if f.h == nil {
		return
	}
	if err := f.h.Close(); err != nil {
		s.log.Warn("close failed", "file", f.path, "err", err)
	}
	f.h = nil
	if s.bufFile == f {
		s.bufFile = nil
	}
}

// restart makes f a new file read from its start: it was truncated, or its
// inode now belongs to another file.
func (s *Source) restart(f *tailFile) {
	f.pos, f.line = 0, lineState{}
	f.fp, f.fpLen, f.head = emptyPrint, 0, nil
	f.ctx, f.ctxEnd, f.ctxLen = 0, 0, 0
	f.hdrPath = f.path
	s.dirty = true
	// Until the new content's fingerprint is saved, a crash would leave only
	// the old one, which can no longer find this content's copy.
	s.urgent = true
	if s.bufFile == f {
		s.bufFile = nil
	}
}

// service brings f up to date: opens it when it changed, detects
// truncation and delivers what it holds. more reports that maxBatchCount
// stopped it with lines left.
func (s *Source) service(ctx context.Context, f *tailFile, now time.Time, flush bool) (more bool, err error) {
	if s.files[f.key] != f {
		return false, nil // deleted, and its inode now another file's
	}
	if f.copyOf != nil && f.partial && f.statSize != f.judged && f.statSize >= 0 {
		s.rejudge(f) // a copy being written has grown
	}
	if f.copyOf != nil {
		return false, nil // a copy waiting for its original's truncation
	}
	reopened := false
	if f.h == nil {
		if f.matched && f.statSize == f.pos && !f.statMtime.After(f.mtime) {
			return false, nil // closed and unchanged
		}
		if !f.matched && !f.gone {
			// A rotated file the scan no longer lists: look at it by name.
			fi, err := s.fs.Stat(f.path)
			if err != nil {
				return false, nil
			}
			if k, ok := identity(fi); !ok || k != f.key || fi.Size() <= f.pos {
				f.statSize = min(f.statSize, f.pos)
				return false, nil
			}
		}
		ok, err := s.openFile(f)
		if err != nil {
			s.ctr.EventReadFail.Inc()
			s.log.Error("open failed", "file", f.path, "err", err)
			return false, nil
		}
		if !ok {
			return false, nil
		}
		f.active = now
		reopened = true
	}
	fi, err := f.h.Stat()
	if err != nil {
		s.ctr.EventReadFail.Inc()
		s.log.Error("stat failed", "file", f.path, "err", err)
		s.closeFile(f)
		return false, nil
	}
	size, mtime := fi.Size(), fi.ModTime()
	if size != f.size || !mtime.Equal(f.mtime) {
		f.active = now
		if !s.verify(f, size, reopened) {
			return false, nil
		}
		f.size, f.mtime = size, mtime
	}
	if f.fresh && s.judge(f, size) {
		return false, nil // a copy of a followed file (see copies.go)
	}
	if f.pos >= size && !(flush && f.line.Discard) {
		return false, nil
	}
	return s.tail(ctx, f, now, flush)
}

// verify checks f's fingerprint against the file's first bytes, restarting
// f from its start when they differ or the file shrank below f's position.
// Before it does, the lines f had not read are looked for in a copy of the
// old content (copytruncate). It reports false when the file could not be
// read.
func (s *Source) verify(f *tailFile, size int64, reopened bool) bool {
	truncated := size < f.pos
	var fp uint64
	var n int64
	ok := false
	if !truncated {
		var err error
		if fp, n, ok, err = checkPrint(f.h, size, f.fp, f.fpLen, s.scratch); err != nil {
			s.ctr.EventReadFail.Inc()
			s.log.Error("read failed", "file", f.path, "err", err)
			s.closeFile(f)
			return false
		}
	}
	if !ok {
		if reopened && !truncated {
			s.log.Info("file at a known inode has other content (inode reused, or rewritten while closed); reading it from the start", "file", f.path, "pos", f.pos, "size", size)
			s.x.inodeReused.Inc()
		} else {
			s.log.Info("file truncated or rewritten (copytruncate?); reading it from the start", "file", f.path, "pos", f.pos, "size", size)
			s.x.truncated.Inc()
		}
		s.leftFile(f)
		s.restart(f)
		// Another file at a known inode may be anything, a copy of a
		// followed file too: judged before its first read.
		f.fresh = reopened
		var err error
		if fp, n, ok, err = checkPrint(f.h, size, emptyPrint, 0, s.scratch); err != nil || !ok {
			s.closeFile(f)
			return false
		}
	}
	if n != f.fpLen {
		s.dirty = true
		if n == fingerprintSize || f.fpLen == 0 {
			// The content's first bytes are known, or its identity is now
			// complete: save it (before delivering any of it), so that a
			// copy of it can be found even if Sluice dies soon.
			s.urgent = true
		}
	}
	f.fp, f.fpLen = fp, n
	return true
}

// minCopyPrint is the fewest first bytes by which a copy of a file not read
// yet is recognised: a log line or so.
const minCopyPrint = 16

// recoverCopy looks in old's directory for a copy of old's content as it
// was at old's position — what logrotate's copytruncate leaves before it
// truncates — and, if there is one, follows it from that position, so the
// lines not read before the truncation are read from the copy. The copy is
// recognised by old's first bytes and the bytes before a recent position;
// a file the groups already follow is left alone. It reports whether a
// copy was found.
func (s *Source) recoverCopy(old *tailFile) bool {
	if old.fpLen == 0 || (old.pos == 0 && old.fpLen < minCopyPrint) {
		return false // too little known to tell a copy
	}
	dir := filepath.Dir(old.path)
	entries, err := s.fs.ReadDir(dir)
	if err != nil {
		return false
	}
	var best *tailFile
	var bestTime time.Time
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() < old.pos {
			continue
		}
		key, ok := identity(info)
		if !ok || key == old.key || s.follows(key) != nil {
			continue
		}
		c := &tailFile{key: key, path: join(dir, e.Name())}
		if ok, _ := s.openFile(c); !ok {
			continue
		}
		fi, err := c.h.Stat()
		if err != nil || !old.isCopy(c.h, fi.Size(), s.scratch) || (best != nil && !fi.ModTime().After(bestTime)) {
			c.h.Close()
			continue
		}
		if best != nil {
			best.h.Close()
		}
		best, bestTime = c, fi.ModTime()
	}
	if best == nil {
		if old.h != nil && old.size > old.pos && !s.hasCopy(old) {
			s.log.Warn("no copy of the truncated file found; its lines not yet read are lost unless one is found soon", "file", old.path, "pos", old.pos, "size", old.size)
		}
		return false
	}
	c := best
	c.group = old.group
	c.continues(old)
	c.statSize, c.statMtime = -1, bestTime
	c.active = s.clk.Now()
	s.track(c)
	s.urgent = true
	s.x.copied.Inc()
	s.log.Info("reading the rest of a truncated file from its copy", "file", old.path, "copy", c.path, "pos", c.pos)
	return true
}

// leftFile is called when old's content is no longer in old's file
// (truncated, or its inode number given to other content): the lines not
// read before are looked for in a copy, and the copies waiting on old are
// released. When there is no copy, old is remembered for a while: its copy
// may not be listed yet, or be known as a deleted file whose inode number
// it was given, until the next scan renews that entry; found then, it is
// read from old's position (see fromUncopied), not from its start.
func (s *Source) leftFile(old *tailFile) {
	found := s.recoverCopy(old)
	if s.release(old) > 0 || found || old.pos == 0 || old.fpLen < minCopyPrint {
		return
	}
	u := *old
	u.h, u.copyOf, u.head = nil, nil, nil
	if len(s.uncopied) == maxUncopied {
		s.uncopied = slices.Delete(s.uncopied, 0, 1)
	}
	s.uncopied = append(s.uncopied, uncopied{old: &u, at: s.clk.Now()})
}

// uncopied is content that left its file (see leftFile) with no copy found
// then.
type uncopied struct {
	old *tailFile
	at  time.Time
}

// A copy is found by the next scan or two; uncopiedFor is ample for that
// under any poll interval, and maxUncopied bounds the memory and the
// comparisons a new file costs when many files are truncated at once.
const (
	uncopiedFor = time.Minute
	maxUncopied = 64
)

// fromUncopied reports whether f (found while running, not read yet, size
// bytes, open) is a copy of content remembered by leftFile; if it is, f is
// read from that content's last position.
func (s *Source) fromUncopied(f *tailFile, size int64) bool {
	now := s.clk.Now()
	s.uncopied = slices.DeleteFunc(s.uncopied, func(u uncopied) bool { return now.Sub(u.at) > uncopiedFor })
	for i := len(s.uncopied) - 1; i >= 0; i-- {
		old := s.uncopied[i].old
		if !old.isCopy(f.h, size, s.scratch) {
			continue
		}
		s.uncopied = slices.Delete(s.uncopied, i, i+1)
		f.continues(old)
		s.dirty, s.urgent = true, true
		s.x.copied.Inc()
		s.log.Info("reading the rest of a truncated file from its copy, found after the truncation", "file", old.path, "copy", f.path, "pos", f.pos)
		return true
	}
	return false
}

// continues makes c, a copy of old's content, read on from old's position
// under old's identity (a copy holds old's first bytes and the bytes before
// that position).
func (c *tailFile) continues(old *tailFile) {
	c.hdrPath = old.hdrPath
	c.pos, c.line = old.pos, old.line
	c.fp, c.fpLen = old.fp, old.fpLen
	c.ctx, c.ctxEnd, c.ctxLen = old.ctx, old.ctxEnd, old.ctxLen
}

// hasCopy reports whether a followed file holds old's content and is read
// from old's position by release: a copy waiting on old, or one found but
// not judged yet.
func (s *Source) hasCopy(old *tailFile) bool {
	for _, c := range s.order {
		if c != old && (c.copyOf == old || (c.fresh && s.copies(c, old))) {
			return true
		}
	}
	return false
}

// tail delivers f's lines from its position, batch by batch, until a
// batch comes back short (all read) or maxBatchCount batches were sent.
func (s *Source) tail(ctx context.Context, f *tailFile, now time.Time, flush bool) (more bool, err error) {
	for batches := int64(0); ; {
		if ctx.Err() != nil {
			return false, errDelivery
		}
		evs, next, st, stats, err := s.read(f, flush)
		if err != nil {
			s.ctr.EventReadFail.Inc()
			s.log.Error("read failed", "file", f.path, "err", err)
			s.closeFile(f)
			return false, nil
		}
		if len(evs) == 0 {
			if next != f.pos || st != f.line {
				f.pos, f.line = next, st // bytes dropped from a truncated line
				s.dirty = true
			}
			return false, nil
		}
		s.ctr.EventReceivedCount.Add(int64(len(evs)))
		s.ctr.AppendBatchReceivedCount.Inc()
		if s.urgent {
			// New content's identity (a complete fingerprint, a restart at
			// 0) is on disk before any of it is delivered: if Sluice is
			// killed and the file truncated before the next write, the
			// copy of this content is still recognised after the restart
			// and its unread lines are not lost.
			s.maybeSave(now)
		}
		if err := s.cp.ProcessBatch(evs); err != nil {
			s.ctr.ChannelWriteFail.Inc()
			if errors.Is(err, channel.ErrFull) {
				s.full.Store(true)
				s.log.Warn("channel full; will retry from the last committed position", "file", f.path, "pos", f.pos, "err", err)
			} else {
				s.log.Error("delivery failed; will retry from the last committed position", "file", f.path, "pos", f.pos, "err", err)
			}
			return false, errDelivery
		}
		f.pos, f.line = next, st
		f.active = now
		s.dirty = true
		s.rememberWindow(f)
		s.ctr.EventAcceptedCount.Add(int64(len(evs)))
		s.ctr.AppendBatchAcceptedCount.Inc()
		s.x.split.Add(stats.split)
		s.x.truncLines.Add(stats.truncated)
		s.x.partial.Add(stats.partial)
		// A busy file can keep one pass going for long; positions are due
		// every writePosInterval regardless (Flume writes them from a timer).
		s.maybeSave(s.clk.Now())
		if len(evs) < s.cfg.BatchSize {
			return false, nil
		}
		if batches++; batches >= s.cfg.MaxBatchCount {
			return true, nil
		}
	}
}

type readStats struct{ split, truncated, partial int64 }

// Read windows are sized to the bytes known to be there, from minWindow
// up to maxWindow (more only to hold one long line). Event bodies may be
// slices of a window (see event), so a window lives as long as such events.
const (
	minWindow = 4 << 10
	maxWindow = 1 << 20
)

// read returns the next batch of f from its committed position, the
// position and line state after it, and what it did to long and partial
// lines. Nothing of f changes: the caller commits after delivery.
//
// Bodies are not copied: each is a slice of the read window, capped at its
// length (so a body that grows is copied rather than overwriting its
// neighbour), and a window is never written again once read into; more
// data goes into the unused end of the window or into a new one.
func (s *Source) read(f *tailFile, flush bool) ([]event.Event, int64, lineState, readStats, error) {
	var stats readStats
	st := f.line
	pos := f.pos
	n := s.cfg.BatchSize
	max := s.cfg.MaxLineLength
	if s.bufFile != f || pos < s.bufOff || pos > s.bufOff+int64(s.bufLen) {
		s.bufFile, s.buf, s.bufOff, s.bufLen = f, nil, pos, 0
	}
	evs := make([]event.Event, 0, min(n, 1024))
	more := true
	for len(evs) < n {
		p := int(pos - s.bufOff)
		u, ok := scan(s.buf[p:s.bufLen], &st, max, s.cfg.LongLines, more, flush)
		if ok {
			if u.kind != kindDropped {
				evs = append(evs, s.event(f, p+u.start, p+u.end, pos+int64(u.start), u.kind, u.part))
			}
			switch u.kind {
			case kindSplit:
				if u.part == 1 {
					stats.split++
				}
			case kindTruncated:
				stats.truncated++
			case kindPartial:
				stats.partial++
			}
			pos += int64(u.next)
			continue
		}
		if !more {
			break
		}
		if len(s.buf)-s.bufLen < minWindow/4 {
			// Too little room left: a new window, starting with the
			// incomplete line (which no event refers to yet).
			rest := s.bufLen - p
			nb := make([]byte, s.windowSize(f, rest))
			copy(nb, s.buf[p:s.bufLen])
			s.buf, s.bufOff, s.bufLen = nb, pos, rest
		}
		k, err := f.h.ReadAt(s.buf[s.bufLen:], s.bufOff+int64(s.bufLen))
		s.bufLen += k
		if err != nil && err != io.EOF {
			s.bufFile = nil
			return nil, f.pos, f.line, stats, err
		}
		if k == 0 || err == io.EOF {
			more = false
		}
	}
	return evs, pos, st, stats, nil
}

// windowSize is the size of a new window that starts with rest bytes of an
// incomplete line: room for what the last stat said follows, doubling when
// that estimate ran out (the file is growing), and always room to finish a
// line of maxLineLength without copying it more than a few times.
func (s *Source) windowSize(f *tailFile, rest int) int {
	known := int(min(max(f.size-(s.bufOff+int64(s.bufLen)), 0), maxWindow))
	size := rest + known
	if known == 0 && s.buf != nil {
		size = 2 * len(s.buf)
	}
	size = min(max(size, minWindow), maxWindow)
	return max(size, rest+minWindow, min(2*rest, 2*(s.cfg.MaxLineLength+1)))
}

// event makes an event of buf[start:end], found at file offset off. The
// body is a slice of the window when the window is well filled (reading a
// backlog: no copy, and little memory held beyond the events' own bytes),
// a copy when it is mostly empty (following the live end of a file), so
// that events waiting in a channel never hold much more than their size.
func (s *Source) event(f *tailFile, start, end int, off int64, kind unitKind, part int) event.Event {
	var e event.Event
	if 4*s.bufLen < len(s.buf) {
		e.Body = append([]byte(nil), s.buf[start:end]...)
	} else {
		e.Body = s.buf[start:end:end]
	}
	g := f.group
	if s.cfg.ByteOffsetHeader || s.cfg.FileHeader || len(g.Headers) > 0 || kind >= kindSplit {
		h := make(map[string]string, len(g.Headers)+2)
		if s.cfg.ByteOffsetHeader {
			h[ByteOffsetHeader] = strconv.FormatInt(off, 10)
		}
		for k, v := range g.Headers {
			h[k] = v
		}
		if s.cfg.FileHeader {
			h[s.cfg.FileHeaderKey] = f.hdrPath
		}
		switch kind {
		case kindSplit:
			h[LongLineHeader] = "split-" + strconv.Itoa(part)
		case kindSplitLast:
			h[LongLineHeader] = "split-" + strconv.Itoa(part) + "-last"
		case kindTruncated:
			h[LongLineHeader] = "truncated"
		}
		e.Headers = h
	}
	return e
}

// closeIdle closes files that have not grown for idleTimeout, delivering a
// last line without newline first, as Flume does. A file whose last
// delivery fails stays open and is tried again.
func (s *Source) closeIdle(ctx context.Context, now time.Time) {
	for _, f := range s.order {
		if f.h == nil || now.Sub(f.active) < s.cfg.IdleTimeout {
			continue
		}
		more, err := s.service(ctx, f, now, true)
		if err != nil {
			return
		}
		if more || f.h == nil {
			continue
		}
		if fi, err := f.h.Stat(); err == nil && fi.Size() > f.pos {
			continue // grew while being drained: not idle after all
		}
		s.closeFile(f)
		f.statSize, f.statMtime = f.pos, f.mtime
		s.log.Debug("closed idle file", "file", f.path, "pos", f.pos)
	}
}

// maybeSave writes the positions when they changed and writePosInterval
// has passed since the last write.
func (s *Source) maybeSave(now time.Time) {
	if !s.dirty || (!s.urgent && now.Sub(s.lastWrite) < s.cfg.WritePosInterval) {
		return
	}
	s.lastWrite = now
	if err := s.save(); err != nil {
		s.ctr.GenericProcessingFail.Inc()
		s.log.Error("write positions failed; will retry", "positionFile", s.cfg.PositionFile, "err", err)
	}
}

// save writes every tracked file that can be found again after a restart:
// all but deleted ones. Flume writes only the files its groups name; the
// extra entries (rotated files still being read) are ignored by Flume.
func (s *Source) save() error {
	ps := make([]position, 0, len(s.order))
	for _, f := range s.order {
		if f.gone || f.copyOf != nil {
			// A waiting copy holds nothing the original does not: after a
			// restart it is recognised again (startCopy, judge), and a
			// position of its own would have it read twice.
			continue
		}
		s.remember(f)
		ps = append(ps, position{Dev: f.key.dev, HasDev: true, Inode: f.key.ino, Pos: f.pos, File: f.path,
			FP: f.fp, FPLen: f.fpLen, HasFP: true, Line: f.line, Ctx: f.ctx, CtxEnd: f.ctxEnd, CtxLen: f.ctxLen})
	}
	sum, err := savePositions(s.fs, s.cfg.PositionFile, ps, s.lastSum)
	s.lastSum = sum
	if err != nil {
		return err
	}
	s.dirty, s.urgent = false, false
	return nil
}

// remember hashes the bytes before f's position, so that a copy of the
// file up to there can be recognised after a truncation.
func (s *Source) remember(f *tailFile) {
	if f.h == nil || f.pos == f.ctxEnd || f.pos <= f.fpLen {
		return
	}
	if fi, err := f.h.Stat(); err != nil || fi.Size() < f.pos {
		return
	}
	n := min(f.pos, contextSize)
	if c, ok, err := hashAt(f.h, f.pos-n, n, s.scratch); err == nil && ok {
		f.ctx, f.ctxEnd, f.ctxLen = c, f.pos, n
	}
}

// rememberWindow is remember after a batch, from the read window when it
// still holds the bytes before the new position. A small read (a file
// growing a line at a time) starts its window at the old position, so
// those bytes are read from the file: without them a copy of this content
// is not recognised (copytruncate) until the next position write.
func (s *Source) rememberWindow(f *tailFile) {
	if f.pos <= f.fpLen {
		return
	}
	n := min(f.pos, contextSize)
	start := f.pos - n - s.bufOff
	if s.bufFile != f || start < 0 || f.pos > s.bufOff+int64(s.bufLen) {
		s.remember(f)
		return
	}
	f.ctx, f.ctxEnd, f.ctxLen = fnv64a(fnvOffset, s.buf[start:start+n]), f.pos, n
}

func init() {
	registry.Register(registry.Entry{
		Kind:         registry.Source,
		Name:         "taildir",
		Aliases:      []string{"org.apache.flume.source.taildir.TaildirSource"},
		BatchKey:     "batchSize",
		BatchDefault: 100,
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, cp, env), nil
		}),
	})
}
