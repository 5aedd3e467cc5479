// Package hdfs is Flume's HDFS sink (type hdfs, flume-facts §6.2): events go
// to files under hdfs.path, bucketed by Flume's escape sequences, named
// <prefix>.<counter><suffix>, written under an in-use name and renamed when
// rolled (by interval, size, count or idle time) or at shutdown.
//
// The store is hdfs:// (github.com/colinmarc/hdfs/v2) or file:// (a local
// directory through engine/vfs); everything above the FileSystem interface is
// shared. A batch's files are flushed and synced (fsync, or hflush on HDFS)
// before the channel transaction commits.
//
// Two deliberate differences from Flume, which both stall or lose data
// there:
//   - a write error is returned from Process (Flume returns BACKOFF), so a
//     failover group switches to its next sink;
//   - an event without a usable timestamp header is not a poison pill:
//     hdfs.missingTimestamp = local (default) buckets it by the sink's clock,
//     fallback writes it under hdfs.fallbackPath, fail is Flume's behaviour.
//     Such events are counted (EventMissingTimestampCount).
package hdfs

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2/hadoopconf"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/escape"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Sink is an HDFS sink.
type Sink struct {
	name string
	cfg  Config
	ch   channel.Channel
	clk  clock.Clock
	log  *slog.Logger
	vfs  vfs.FS
	host string

	scheme, authority string
	pathT, prefixT    *escape.Template
	fallbackT         *escape.Template
	opts, localOpts   escape.Options

	counter   *metrics.SinkCounter
	missingTS *metrics.Counter
	rolls     *metrics.Counter
	closeFail *metrics.Counter

	// DialHDFS, if set, replaces the colinmarc client for hdfs:// paths
	// (tests use it to run the hdfs:// code path on another FileSystem).
	DialHDFS func(authority string) (FileSystem, error)

	mu      sync.Mutex
	fs      FileSystem
	buckets map[string]*bucket
	lru     *list.List // of *bucket, least recently used first
	pending []*pendingClose
	// lastCounter is the highest file counter used, so that a bucket
	// created again in the same millisecond never reuses a name.
	lastCounter int64
	wake        chan struct{}
	stop        chan struct{}
	done        chan struct{}
}

var _ sink.Sink = (*Sink)(nil)

// New returns an unstarted HDFS sink. fsys is the local file system for
// file:// paths (nil: the OS).
func New(name string, cfg Config, ch channel.Channel, env registry.Env) (*Sink, error) {
	if env.Clock == nil {
		env.Clock = clock.Real()
	}
	if env.Metrics == nil {
		env.Metrics = metrics.NewRegistry(env.Clock)
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.FS == nil {
		env.FS = vfs.OS{}
	}
	s := &Sink{name: name, cfg: cfg, ch: ch, clk: env.Clock, log: env.Log.With("sink", name), vfs: env.FS, host: env.Hostname}
	var rest string
	var err error
	s.scheme, s.authority, rest, err = splitURI(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("hdfs sink %s: hdfs.path: %w", name, err)
	}
	if s.pathT, err = escape.Compile(rest); err != nil {
		return nil, fmt.Errorf("hdfs sink %s: hdfs.path: %w", name, err)
	}
	if s.prefixT, err = escape.Compile(cfg.FilePrefix); err != nil {
		return nil, fmt.Errorf("hdfs sink %s: hdfs.filePrefix: %w", name, err)
	}
	if cfg.MissingTimestamp == MissingFallback {
		sc, au, fb, err := splitURI(cfg.FallbackPath)
		if err != nil {
			return nil, fmt.Errorf("hdfs sink %s: hdfs.fallbackPath: %w", name, err)
		}
		if sc != s.scheme || au != s.authority {
			return nil, fmt.Errorf("hdfs sink %s: hdfs.fallbackPath %q must be on the same file system as hdfs.path %q", name, cfg.FallbackPath, cfg.Path)
		}
		if s.fallbackT, err = escape.Compile(fb); err != nil {
			return nil, fmt.Errorf("hdfs sink %s: hdfs.fallbackPath: %w", name, err)
		}
	}
	if s.cfg.BatchSize <= 0 {
		s.cfg.BatchSize = 100
	}
	if s.cfg.MaxOpenFiles <= 0 {
		s.cfg.MaxOpenFiles = 5000
	}
	if s.cfg.TimeZone == nil {
		s.cfg.TimeZone = time.Local
	}
	s.opts = escape.Options{Location: s.cfg.TimeZone, Round: cfg.Round, RoundValue: cfg.RoundValue, RoundUnit: cfg.RoundUnit, UseLocalTime: cfg.UseLocalTimeStamp}
	s.localOpts = s.opts
	s.localOpts.UseLocalTime = true
	s.counter = metrics.NewSinkCounter(env.Metrics, name)
	s.missingTS = s.counter.Extra("EventMissingTimestampCount", metrics.KindCounter)
	s.rolls = s.counter.Extra("FileRollCount", metrics.KindCounter)
	s.closeFail = s.counter.Extra("FileCloseFailCount", metrics.KindCounter)
	return s, nil
}

func (s *Sink) Name() string { return s.name }

// Start picks the file system and starts the roll timer. An HDFS namenode
// that is down does not stop the agent: the sink connects on first use.
func (s *Sink) Start(ctx context.Context) error {
	s.opts.Host = s.hostInfo()
	s.localOpts.Host = s.opts.Host
	s.mu.Lock()
	s.buckets = map[string]*bucket{}
	s.lru = list.New()
	s.pending = nil
	s.wake = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	stop, done, wake := s.stop, s.done, s.wake
	s.mu.Unlock()
	s.counter.Start()
	go s.roller(stop, done, wake)
	return nil
}

// hostInfo resolves %[localhost], %[IP] and %[FQDN], only when a template
// uses them (the lookups are DNS queries).
func (s *Sink) hostInfo() escape.Host {
	h := escape.Host{Name: s.host, IP: s.host, FQDN: s.host}
	src := strings.ToLower(s.cfg.Path + s.cfg.FilePrefix + s.cfg.FallbackPath)
	if !strings.Contains(src, "%[ip]") && !strings.Contains(src, "%[fqdn]") {
		return h
	}
	if addrs, err := net.LookupHost(s.host); err == nil {
		for _, a := range addrs {
			if ip := net.ParseIP(a); ip != nil && !ip.IsLoopback() {
				h.IP = a
				break
			}
		}
		if names, err := net.LookupAddr(h.IP); err == nil && len(names) > 0 {
			h.FQDN = strings.TrimSuffix(names[0], ".")
		}
	}
	return h
}

// filesystem connects on first use.
func (s *Sink) filesystem() (FileSystem, error) {
	if s.fs != nil {
		return s.fs, nil
	}
	scheme, authority := s.scheme, s.authority
	if scheme == "" {
		// Flume resolves a bare path against fs.defaultFS, which is the
		// local file system unless the Hadoop configuration says otherwise.
		scheme = "file"
		if conf, err := hadoopconf.LoadFromEnvironment(); err == nil {
			if d := conf["fs.defaultFS"]; strings.HasPrefix(d, "hdfs://") {
				scheme, authority = "hdfs", strings.TrimSuffix(strings.TrimPrefix(d, "hdfs://"), "/")
			}
		}
	}
	if scheme == "file" {
		s.fs = localFS{s.vfs}
		return s.fs, nil
	}
	dial := s.DialHDFS
	if dial == nil {
		dial = func(a string) (FileSystem, error) { return dialHDFS(a) }
	}
	fs, err := dial(authority)
	if err != nil {
		s.counter.ConnectionFailedCount.Inc()
		return nil, err
	}
	s.fs = fs
	return fs, nil
}

func (s *Sink) deadline() time.Time {
	if s.cfg.CallTimeout <= 0 {
		return time.Time{}
	}
	return s.clk.Now().Add(s.cfg.CallTimeout)
}

// bucket is Flume's BucketWriter: the open file of one directory and prefix.
type bucket struct {
	key, dir, prefix string
	counter          int64
	file             File
	enc              encoder
	inUse, final     string
	events, bytes    int64
	openedAt         time.Time
	lastWrite        time.Time
	elem             *list.Element
	touched          bool
}

// pendingClose is a file whose close or rename failed, retried every
// retryInterval up to closeTries times (Flume's close retries).
type pendingClose struct {
	file         File // nil once closed; then only the rename is left
	inUse, final string
	tries        int
	next         time.Time
}

// Process writes one batch.
func (s *Sink) Process(ctx context.Context) (sink.Status, error) {
	var touched []*bucket
	st, err := sink.Deliver(s.ch, s.cfg.BatchSize, s.counter, func(events []event.Event) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		var err error
		touched, err = s.write(events)
		if err != nil {
			for _, b := range touched {
				s.abandon(b)
			}
			touched = nil
			return fmt.Errorf("hdfs sink %s: %d events rolled back: %w", s.name, len(events), err)
		}
		return nil
	})
	if st != sink.Ready {
		return st, err
	}
	// A file that reached its size or count closes now rather than when
	// the next event arrives (Flume's moment); the content is the same.
	s.mu.Lock()
	for _, b := range touched {
		if b.file != nil && s.full(b) {
			s.closeBucket(b, false)
		}
	}
	s.mu.Unlock()
	return sink.Ready, nil
}

// write appends events to their buckets, then flushes and syncs every file
// touched. It returns the touched buckets.
func (s *Sink) write(events []event.Event) ([]*bucket, error) {
	fsys, err := s.filesystem()
	if err != nil {
		return nil, err
	}
	now := s.clk.Now()
	var touched []*bucket
	defer func() {
		for _, b := range touched {
			b.touched = false
		}
	}()
	for _, e := range events {
		dir, prefix, err := s.resolve(e, now)
		if err != nil {
			return touched, err
		}
		b, err := s.bucketFor(dir, prefix, now)
		if err != nil {
			return touched, err
		}
		if !b.touched {
			b.touched = true
			touched = append(touched, b)
		}
		if b.file != nil && s.full(b) {
			if err := s.closeFile(b); err != nil {
				return touched, err
			}
		}
		if b.file == nil {
			if err := s.open(fsys, b, now); err != nil {
				return touched, err
			}
		}
		if err := b.enc.append(e); err != nil {
			return touched, fmt.Errorf("write %s: %w", b.inUse, err)
		}
		b.events++
		b.bytes += int64(len(e.Body))
	}
	for _, b := range touched {
		if b.file == nil {
			continue
		}
		if err := b.enc.flush(); err != nil {
			return touched, fmt.Errorf("write %s: %w", b.inUse, err)
		}
		if err := b.file.Sync(s.deadline()); err != nil {
			return touched, fmt.Errorf("sync %s: %w", b.inUse, err)
		}
		b.lastWrite = now
	}
	return touched, nil
}

// resolve expands the directory and file prefix for e.
func (s *Sink) resolve(e event.Event, now time.Time) (string, string, error) {
	dir, err := s.pathT.Expand(e.Headers, now, &s.opts)
	if err == nil {
		var prefix string
		if prefix, err = s.prefixT.Expand(e.Headers, now, &s.opts); err == nil {
			return dir, prefix, nil
		}
	}
	if !errors.Is(err, escape.ErrNoTimestamp) && !errors.Is(err, escape.ErrBadTimestamp) {
		return "", "", err
	}
	s.missingTS.Inc()
	dirT := s.pathT
	switch s.cfg.MissingTimestamp {
	case MissingFail:
		return "", "", fmt.Errorf("%w (hdfs.missingTimestamp = fail; the batch will fail until the event is removed: set hdfs.missingTimestamp = local or fallback)", err)
	case MissingFallback:
		dirT = s.fallbackT
	}
	if dir, err = dirT.Expand(e.Headers, now, &s.localOpts); err != nil {
		return "", "", err
	}
	prefix, err := s.prefixT.Expand(e.Headers, now, &s.localOpts)
	return dir, prefix, err
}

// bucketFor finds or creates the bucket for dir/prefix, closing the least
// recently used one past maxOpenFiles.
func (s *Sink) bucketFor(dir, prefix string, now time.Time) (*bucket, error) {
	key := dir + "/" + prefix
	if b, ok := s.buckets[key]; ok {
		s.lru.MoveToBack(b.elem)
		return b, nil
	}
	for len(s.buckets) >= s.cfg.MaxOpenFiles {
		old := s.lru.Front().Value.(*bucket)
		if old.touched {
			break // never evict a file holding part of this batch
		}
		s.log.Info("hdfs sink: closing the least recently used file: hdfs.maxOpenFiles reached", "file", old.inUse)
		s.closeBucket(old, true)
	}
	// Flume's counter starts at the writer's creation time in milliseconds.
	b := &bucket{key: key, dir: dir, prefix: prefix, counter: max(now.UnixMilli(), s.lastCounter)}
	b.elem = s.lru.PushBack(b)
	s.buckets[key] = b
	return b, nil
}

func (s *Sink) full(b *bucket) bool {
	return (s.cfg.RollCount > 0 && b.events >= s.cfg.RollCount) || (s.cfg.RollSize > 0 && b.bytes >= s.cfg.RollSize)
}

// open creates the bucket's next file.
func (s *Sink) open(fsys FileSystem, b *bucket, now time.Time) error {
	for attempt := 0; ; attempt++ {
		b.counter++
		name := b.prefix + "." + strconv.FormatInt(b.counter, 10)
		if s.cfg.FileSuffix != "" {
			name += s.cfg.FileSuffix
		} else {
			name += s.cfg.Format.Extension()
		}
		s.lastCounter = max(s.lastCounter, b.counter)
		b.inUse = path.Join(b.dir, s.cfg.InUsePrefix+name+s.cfg.InUseSuffix)
		b.final = path.Join(b.dir, name)
		// A rename must never replace a file: a local rename would.
		exists, err := fsys.Exists(b.final)
		if err != nil {
			s.counter.ConnectionFailedCount.Inc()
			return fmt.Errorf("stat %s: %w", b.final, err)
		}
		var f File
		if !exists {
			f, err = fsys.Create(b.inUse, s.deadline())
		}
		if exists || errors.Is(err, errExist) {
			if attempt < 1000 {
				continue // a file of an earlier run with the same counter
			}
			err = fmt.Errorf("%s: %w (1000 counters tried)", b.final, errExist)
		}
		if err != nil {
			s.counter.ConnectionFailedCount.Inc()
			return fmt.Errorf("create %s: %w", b.inUse, err)
		}
		b.file = f
		b.enc = s.cfg.Format.newEncoder(f, b.inUse+"@"+strconv.FormatInt(now.UnixNano(), 10), func() int64 { return s.clk.Now().UnixMilli() })
		b.events, b.bytes = 0, 0
		b.openedAt, b.lastWrite = now, now
		s.counter.ConnectionCreatedCount.Inc()
		s.kick()
		return nil
	}
}

// closeFile flushes, closes and renames the bucket's file. On failure the
// file goes to the retry list and the error is returned.
func (s *Sink) closeFile(b *bucket) error {
	f, enc, inUse, final := b.file, b.enc, b.inUse, b.final
	b.file, b.enc = nil, nil
	s.rolls.Inc()
	s.counter.ConnectionClosedCount.Inc()
	p := &pendingClose{file: f, inUse: inUse, final: final}
	if err := enc.flush(); err != nil {
		// What the encoder held belongs to the batch in hand, which fails;
		// what is already in the file was synced by earlier batches.
		s.retryLater(p, err)
		return fmt.Errorf("write %s: %w", inUse, err)
	}
	if err := s.finish(p); err != nil {
		s.retryLater(p, err)
		return err
	}
	return nil
}

// closeBucket closes the bucket's file (if any); with remove it also
// forgets the bucket (idle timeout, eviction, shutdown). Errors go to the
// retry list.
func (s *Sink) closeBucket(b *bucket, remove bool) {
	if b.file != nil {
		if err := s.closeFile(b); err != nil {
			s.log.Warn("hdfs sink: closing file failed; will retry", "file", b.inUse, "err", err, "retry_in", s.cfg.RetryInterval)
		}
	}
	if remove {
		delete(s.buckets, b.key)
		s.lru.Remove(b.elem)
	}
}

// abandon drops a bucket after a failed batch: its file may hold part of
// the failed batch (duplicated by the retry, never lost), and is closed
// and renamed like any other.
func (s *Sink) abandon(b *bucket) {
	b.touched = false
	if b.file != nil {
		f := b.file
		p := &pendingClose{file: f, inUse: b.inUse, final: b.final}
		b.file, b.enc = nil, nil
		s.counter.ConnectionClosedCount.Inc()
		if err := s.finish(p); err != nil {
			s.retryLater(p, err)
		}
	}
	delete(s.buckets, b.key)
	s.lru.Remove(b.elem)
}

// finish does what is left of a close: close the file, then rename it.
func (s *Sink) finish(p *pendingClose) error {
	p.tries++
	if p.file != nil {
		if err := p.file.Close(s.deadline()); err != nil {
			return fmt.Errorf("close %s: %w", p.inUse, err)
		}
		p.file = nil
	}
	if p.inUse == p.final {
		return nil
	}
	fsys, err := s.filesystem()
	if err != nil {
		return err
	}
	if exists, err := fsys.Exists(p.final); err != nil || exists {
		if err == nil {
			err = errExist
		}
		return fmt.Errorf("rename %s to %s: %w", p.inUse, p.final, err)
	}
	if err := fsys.Rename(p.inUse, p.final, s.deadline()); err != nil {
		return fmt.Errorf("rename %s to %s: %w", p.inUse, p.final, err)
	}
	return nil
}

func (s *Sink) retryLater(p *pendingClose, err error) {
	s.closeFail.Inc()
	if s.cfg.CloseTries > 0 && p.tries >= s.cfg.CloseTries {
		s.log.Error("hdfs sink: giving up closing file after hdfs.closeTries attempts; its synced data stays under the in-use name",
			"file", p.inUse, "tries", p.tries, "err", err)
		return
	}
	p.next = s.clk.Now().Add(s.cfg.RetryInterval)
	s.pending = append(s.pending, p)
	s.kick()
}

func (s *Sink) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// roller closes files on rollInterval and idleTimeout and retries failed
// closes, on the sink's clock.
func (s *Sink) roller(stop, done, wake chan struct{}) {
	defer close(done)
	for {
		s.mu.Lock()
		next, ok := s.nextDeadline()
		s.mu.Unlock()
		var timer clock.Timer
		var fire <-chan time.Time
		if ok {
			timer = s.clk.NewTimer(max(next.Sub(s.clk.Now()), 0))
			fire = timer.C()
		}
		select {
		case <-stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-wake:
			if timer != nil {
				timer.Stop()
			}
		case <-fire:
			s.mu.Lock()
			s.due(s.clk.Now())
			s.mu.Unlock()
		}
	}
}

func (s *Sink) nextDeadline() (time.Time, bool) {
	var next time.Time
	ok := false
	consider := func(t time.Time) {
		if !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	for _, b := range s.buckets {
		if b.file != nil && s.cfg.RollInterval > 0 {
			consider(b.openedAt.Add(s.cfg.RollInterval))
		}
		if s.cfg.IdleTimeout > 0 {
			consider(b.lastWrite.Add(s.cfg.IdleTimeout))
		}
	}
	for _, p := range s.pending {
		consider(p.next)
	}
	return next, ok
}

// due runs every roll, idle close and close retry whose time has come.
func (s *Sink) due(now time.Time) {
	for _, b := range s.buckets {
		if s.cfg.IdleTimeout > 0 && !now.Before(b.lastWrite.Add(s.cfg.IdleTimeout)) {
			s.closeBucket(b, true)
			continue
		}
		if b.file != nil && s.cfg.RollInterval > 0 && !now.Before(b.openedAt.Add(s.cfg.RollInterval)) {
			s.closeBucket(b, false)
		}
	}
	var keep []*pendingClose
	for _, p := range s.pending {
		if now.Before(p.next) {
			keep = append(keep, p)
			continue
		}
		if err := s.finish(p); err != nil {
			if s.cfg.CloseTries > 0 && p.tries >= s.cfg.CloseTries {
				s.log.Error("hdfs sink: giving up closing file after hdfs.closeTries attempts; its synced data stays under the in-use name",
					"file", p.inUse, "tries", p.tries, "err", err)
				continue
			}
			s.closeFail.Inc()
			p.next = now.Add(s.cfg.RetryInterval)
			keep = append(keep, p)
		}
	}
	s.pending = keep
}

// Stop closes and renames every open file, retrying failed closes once more.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop == nil {
		return nil
	}
	close(stop)
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range s.buckets {
		if b.file != nil {
			f, inUse, final := b.file, b.inUse, b.final
			b.file = nil
			s.counter.ConnectionClosedCount.Inc()
			if err := s.finish(&pendingClose{file: f, inUse: inUse, final: final}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.buckets = map[string]*bucket{}
	s.lru.Init()
	for _, p := range s.pending {
		if err := s.finish(p); err != nil {
			errs = append(errs, err)
		}
	}
	s.pending = nil
	if s.fs != nil {
		s.fs.Close()
		s.fs = nil
	}
	s.counter.Stop()
	if err := errors.Join(errs...); err != nil {
		s.log.Error("hdfs sink: files left under their in-use names at shutdown (their synced data is complete)", "err", err)
		return fmt.Errorf("hdfs sink %s: %w", s.name, err)
	}
	return nil
}

func init() {
	registry.Register(registry.Entry{
		Kind:         registry.Sink,
		Name:         "hdfs",
		Aliases:      []string{"org.apache.flume.sink.hdfs.HDFSEventSink"},
		BatchKey:     "hdfs.batchSize",
		BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, ch, env)
		}),
	})
}
