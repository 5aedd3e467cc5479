package file

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/vfs"
)

// lockName is the lock file in every directory, as Flume names it.
const lockName = "in_use.lock"

type openStats struct {
	checkpoint string
	records    int
	corrupt    int
	torn       int
	segments   int
}

// open locks the directories and rebuilds the queue: the checkpoint's
// queue, then every record written after the checkpoint's cut (puts join
// the tail, takes remove their events), repairing torn tails and skipping
// corrupt records on the way. It then starts a fresh segment per data
// directory and, if it replayed anything, writes a checkpoint so that the
// next start is fast.
func (c *Channel) open() (openStats, error) {
	var st openStats
	cfg := c.cfg
	c.logBytes.Store(0)
	if err := cfg.Validate(); err != nil {
		return st, err
	}
	ckDirs := []string{cfg.CheckpointDir}
	if cfg.UseDualCheckpoints {
		ckDirs = append(ckDirs, cfg.BackupCheckpointDir)
	}
	for _, d := range append(slices.Clone(ckDirs), cfg.DataDirs...) {
		if err := c.fs.MkdirAll(d, 0o755); err != nil {
			return st, fmt.Errorf("create directory %s: %w", d, err)
		}
		l, err := c.fs.Lock(filepath.Join(d, lockName))
		if err != nil {
			return st, fmt.Errorf("directory %s is in use, by another agent or another channel of this one: %w", d, err)
		}
		c.locks = append(c.locks, l)
	}

	var flume []string
	for _, d := range ckDirs {
		for _, n := range flumeCheckpointFiles {
			if vfs.Exists(c.fs, filepath.Join(d, n)) {
				flume = append(flume, filepath.Join(d, n))
			}
		}
	}
	all := map[uint32]*segment{}
	for i, d := range cfg.DataDirs {
		segs, fl, err := listSegments(c.fs, d)
		if err != nil {
			return st, fmt.Errorf("list data directory %s: %w", d, err)
		}
		for _, n := range fl {
			flume = append(flume, filepath.Join(d, n))
		}
		for id, path := range segs {
			if prev := all[id]; prev != nil {
				return st, fmt.Errorf("segment %s is in two data directories (%s and %s); a segment is written once, so one is a copy: remove the copy that does not belong", segName(id), prev.path, path)
			}
			all[id] = &segment{id: id, dir: i, path: path}
		}
	}
	if len(flume) > 0 {
		sort.Strings(flume)
		return st, fmt.Errorf("the directories hold Apache Flume file-channel data (%s); Sluice cannot read Flume's format: let Flume drain the channel first (stop its sources and let its sinks empty it), then remove those files, or point checkpointDir and dataDirs at new directories", strings.Join(flume, ", "))
	}

	ck := c.loadCheckpoint(&st, len(all) > 0)
	applied := map[uint32]uint32{}
	if ck != nil {
		for _, s := range ck.segs {
			applied[s.id] = s.applied
		}
	}

	ids := make([]uint32, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	type chunk struct {
		first    uint64
		from, to int
	}
	var (
		chunks   []chunk
		tailPtrs []ptr
		taken    []run
		maxESN   uint64
		haveESN  bool
		cr       commitRec
	)
	needSync := map[uint32]bool{}
	seen := func(esn uint64) {
		if !haveESN || esn > maxESN {
			maxESN, haveESN = esn, true
		}
	}
	for _, id := range ids {
		s := all[id]
		from, known := applied[id]
		if ck != nil && !known && id <= ck.maxSeg {
			// Deleted after a checkpoint, and the deletion was lost in a
			// crash: its events were all taken.
			if err := c.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return st, fmt.Errorf("remove consumed segment %s: %w", s.path, err)
			}
			c.log.Info("file channel: removed a consumed segment whose deletion a crash undid", "segment", s.path)
			delete(all, id)
			continue
		}
		st.segments++
		f, err := openSegment(c.fs, s.path, true)
		if err != nil {
			return st, fmt.Errorf("open segment: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return st, fmt.Errorf("stat segment %s: %w", s.path, err)
		}
		size := fi.Size()
		if size > 1<<32-1 {
			f.Close()
			return st, fmt.Errorf("%s is %d bytes, larger than any segment Sluice writes, so it is not one: move it out of the data directory", s.path, size)
		}
		if int64(from) > size {
			st.corrupt++
			c.corruptRecords.Inc()
			c.log.Error("file channel: segment is shorter than the checkpoint recorded; the disk lost data it had acknowledged as synced, and events in the lost part will be dropped when taken",
				"segment", s.path, "size", size, "checkpointed", from)
			from = uint32(size)
		}
		if from > 0 {
			r := &segReader{f: f, size: size}
			if _, err := r.recordAt(id, 0); err != nil {
				c.log.Warn("file channel: segment header is damaged; reading on from the checkpoint", "segment", s.path, "err", err)
			}
		}
		res, err := scan(f, id, int64(from), size, func(rec record) error {
			if rec.h.typ != recCommit {
				return nil
			}
			st.records++
			if err := decodeCommit(rec.payload, &cr); err != nil {
				st.corrupt++
				c.corruptRecords.Inc()
				c.log.Error("file channel: skipping a record whose checksum is right but whose content is not; its events are lost", "segment", s.path, "offset", rec.off, "err", err)
				return nil
			}
			for _, r := range cr.takes {
				taken = append(taken, r)
				seen(r.start + uint64(r.count) - 1)
			}
			if len(cr.events) > 0 {
				ch := chunk{first: cr.firstESN, from: len(tailPtrs)}
				base := uint32(rec.off) + frameHeaderSize
				for i, e := range cr.events {
					tailPtrs = append(tailPtrs, ptr{esn: cr.firstESN + uint64(i), seg: id, off: base + e.off, n: e.n})
				}
				ch.to = len(tailPtrs)
				chunks = append(chunks, ch)
				seen(cr.firstESN + uint64(len(cr.events)) - 1)
			}
			return nil
		})
		if err != nil {
			f.Close()
			return st, fmt.Errorf("replay %s: %w", s.path, err)
		}
		for _, sp := range res.corrupt {
			st.corrupt++
			c.corruptRecords.Inc()
			c.log.Error("file channel: skipped corrupt bytes inside the log; events in them are lost, takes in them will be delivered again",
				"segment", s.path, "from", sp.from, "to", sp.to)
		}
		synced := false
		if res.torn != nil {
			st.torn++
			c.tornTails.Inc()
			name, err := repairTail(c.fs, f, s.path, *res.torn)
			if err != nil {
				// The segment is never appended to again and nothing past
				// the last whole record is read, so the repair can wait for
				// the next start.
				c.log.Error("file channel: cannot cut a torn tail off the log; it is ignored now and cut at the next start",
					"segment", s.path, "offset", res.torn.from, "err", err)
			} else {
				synced = true
				c.log.Warn("file channel: cut a torn tail off the log (a write the crash interrupted; it was never acknowledged)",
					"segment", s.path, "offset", res.torn.from, "bytes", res.torn.to-res.torn.from, "saved_to", name)
			}
			size = res.torn.from
		}
		if res.end > int64(from) && !synced {
			// What was just replayed may still be only in the page cache (a
			// previous process wrote it, died before its fsync, and the
			// machine kept running); no checkpoint may count it as applied
			// before it is on disk.
			if err := f.Sync(); err != nil {
				c.log.Warn("file channel: cannot sync a replayed segment; checkpoints wait until it can be", "segment", s.path, "err", err)
				needSync[id] = true
			}
		}
		f.Close()
		s.sealed, s.size, s.content, s.applied = true, uint32(size), uint32(size), uint32(size)
		c.logBytes.Add(size)
	}

	var ptrs []ptr
	if ck != nil {
		ptrs = ck.ptrs
		for _, p := range ptrs {
			seen(p.esn)
		}
	}
	slices.SortFunc(chunks, func(a, b chunk) int { return cmpU64(a.first, b.first) })
	for _, ch := range chunks {
		ptrs = append(ptrs, tailPtrs[ch.from:ch.to]...)
	}
	if len(taken) > 0 {
		ptrs = removeTaken(ptrs, taken)
	}
	missing := map[uint32]int{}
	kept := ptrs[:0]
	for _, p := range ptrs {
		s := all[p.seg]
		switch {
		case s == nil:
			missing[p.seg]++
		case p.off < segHeaderLen || p.n < eventFixed || uint64(p.off)+uint64(p.n) > uint64(s.size):
			// The bytes it points at are gone (a damaged disk or
			// checkpoint): the event cannot be delivered.
			c.corruptEvents.Inc()
			c.log.Error("file channel: dropping a queued event whose bytes are not in its segment; it is lost",
				"segment", s.path, "offset", p.off, "length", p.n, "segment_size", s.size)
			continue
		}
		kept = append(kept, p)
	}
	ptrs = kept
	if len(missing) > 0 {
		var names []string
		n := 0
		for id, k := range missing {
			names = append(names, segName(id))
			n += k
		}
		sort.Strings(names)
		return st, fmt.Errorf("%d queued events are in segments that are in none of dataDirs (%s): if a data directory was dropped from dataDirs, add it back; to start without those events, delete %s and the queue is rebuilt from the segments that remain (events taken since may be delivered again)",
			n, strings.Join(names, ", "), filepath.Join(cfg.CheckpointDir, checkpointName))
	}

	next := uint64(0)
	if haveESN {
		next = maxESN + 1
	}
	if ck != nil && ck.nextESN > next {
		next = ck.nextESN
	}
	c.nextESN.Store(next)
	maxSeg := uint32(0)
	if ck != nil {
		maxSeg = ck.maxSeg
	}
	if len(ids) > 0 && ids[len(ids)-1] > maxSeg {
		maxSeg = ids[len(ids)-1]
	}

	c.mu.Lock()
	c.q = deque{}
	c.q.reset(ptrs)
	c.segs = all
	c.needSync = needSync
	c.nextSeg = maxSeg
	c.inflight, c.reserved = 0, 0
	c.takers = map[*txn]struct{}{}
	c.mu.Unlock()
	c.readers = newReadCache(c)
	c.writers = make([]*writer, 0, len(cfg.DataDirs))
	for i, d := range cfg.DataDirs {
		w := newWriter(c, i, d)
		if err := w.roll(); err != nil {
			// The queue is recovered and can be read; the writer retries
			// at the first commit, so a full disk does not keep the agent
			// from starting (puts are refused as full meanwhile).
			c.log.Warn("file channel: cannot start a log segment; commits to this directory fail until it can", "dir", d, "err", err)
		}
		c.writers = append(c.writers, w)
	}
	if n := len(ptrs); n > cfg.Capacity {
		c.log.Warn("file channel: holds more events than its capacity (was capacity lowered?); puts fail until sinks drain it below capacity", "events", n, "capacity", cfg.Capacity)
	}
	c.mu.Lock()
	c.closed = false
	c.mu.Unlock()
	c.sinceCkpt.Store(0)
	c.lastCkpt.Store(c.clk.Now().UnixNano())
	if ck == nil || st.records > 0 || st.torn > 0 || st.corrupt > 0 {
		// Errors are counted and logged; the channel works without it.
		c.checkpoint(true, false)
	}
	return st, nil
}

// removeTaken drops the events named by take runs.
func removeTaken(ptrs []ptr, runs []run) []ptr {
	slices.SortFunc(runs, func(a, b run) int { return cmpU64(a.start, b.start) })
	merged := runs[:1]
	for _, r := range runs[1:] {
		last := &merged[len(merged)-1]
		if end := last.start + uint64(last.count); r.start <= end {
			if e := r.start + uint64(r.count); e > end {
				last.count = uint32(e - last.start)
			}
			continue
		}
		merged = append(merged, r)
	}
	out := ptrs[:0]
	for _, p := range ptrs {
		i := sort.Search(len(merged), func(i int) bool { return merged[i].start+uint64(merged[i].count) > p.esn })
		if i < len(merged) && merged[i].start <= p.esn {
			continue
		}
		out = append(out, p)
	}
	return out
}

// loadCheckpoint reads the checkpoint, falling back to the backup; nil
// means a full replay of every segment.
func (c *Channel) loadCheckpoint(st *openStats, haveSegs bool) *checkpoint {
	primary := filepath.Join(c.cfg.CheckpointDir, checkpointName)
	ck, perr := readCheckpoint(c.fs, primary)
	if ck != nil {
		st.checkpoint = primary
		return ck
	}
	if perr != nil {
		c.log.Error("file channel: checkpoint is unreadable", "checkpoint", primary, "err", perr)
		if err := c.fs.Rename(primary, primary+".corrupt"); err == nil {
			c.log.Warn("file channel: kept the unreadable checkpoint for inspection", "saved_to", primary+".corrupt")
		}
	}
	if c.cfg.UseDualCheckpoints {
		backup := filepath.Join(c.cfg.BackupCheckpointDir, checkpointName)
		bk, berr := readCheckpoint(c.fs, backup)
		if bk != nil {
			if perr != nil || haveSegs {
				c.log.Warn("file channel: recovering from the backup checkpoint", "backup", backup)
			}
			st.checkpoint = backup
			return bk
		}
		if berr != nil {
			c.log.Error("file channel: backup checkpoint is unreadable too", "backup", backup, "err", berr)
		}
	}
	switch {
	case perr != nil:
		st.checkpoint = "none (unreadable): full replay"
		c.log.Warn("file channel: rebuilding the queue from every log segment; no committed event is lost, but events taken since the oldest kept segment was written may be delivered again")
	case haveSegs:
		st.checkpoint = "none: full replay"
		c.log.Warn("file channel: no checkpoint; rebuilding the queue from every log segment; events taken since the oldest kept segment was written may be delivered again")
	default:
		st.checkpoint = "none: new channel"
	}
	return nil
}

func readCheckpoint(fsys vfs.FS, path string) (*checkpoint, error) {
	b, err := vfs.ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(b)
}
